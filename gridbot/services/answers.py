"""The community's own answers to simple questions (config/answers.yaml, edited by the secretary): office hours,
the service centre's phone, common procedures (居住证, 低保, 医保/社保, 老年证, 开证明, 计生, 户口).

Matching only: `find_answer(book, text)` says which answer fits a resident's question, `wants_person` whether they
asked for a person instead. Replying is the chat handler's (handlers/tickets.py). The same file holds the words
that mark a complaint about a member (`complaints:`, read by services/complaints.py).
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_yaml

log = logging.getLogger(__name__)
FILE = "answers.yaml"


@dataclass(frozen=True)
class Answer:
    name: str
    words: tuple[str, ...]
    text: str
    must: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnswerBook:
    answers: tuple[Answer, ...] = ()
    ask_person: tuple[str, ...] = ()
    question_cues: tuple[str, ...] = ()
    complaint_roles: dict[str, str] = field(default_factory=dict)
    complaint_words: tuple[str, ...] = ()


def _words(node: Any, where: str) -> tuple[str, ...]:
    if node is None:
        return ()
    if not isinstance(node, list) or not all(isinstance(w, str | int) for w in node):
        raise ConfigError(f"{FILE}: {where} 应为词的列表 (must be a list of words)")
    return tuple(str(w).strip() for w in node if str(w).strip())


def parse(data: Any) -> AnswerBook:
    """The book from the file's data; ConfigError naming the entry when it is malformed."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{FILE}: 顶层应为映射 (top level must be a mapping)")
    values = {k: str(v) for k, v in (data.get("community") or {}).items()}
    entries = []
    for i, entry in enumerate(data.get("answers") or [], start=1):
        if not isinstance(entry, dict) or not entry.get("answer") or not entry.get("words"):
            raise ConfigError(f"{FILE}: answers 第 {i} 条要有 words 和 answer (entry {i} needs words and answer)")
        name = str(entry.get("name") or f"#{i}")
        try:
            text = str(entry["answer"]).format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"{FILE}: answers “{name}” 的 answer 引用了未定义的 {exc} "
                              f"(unknown placeholder)") from None
        entries.append(Answer(name, _words(entry["words"], f"answers “{name}”.words"), text,
                              _words(entry.get("must"), f"answers “{name}”.must")))
    complaints = data.get("complaints") or {}
    roles = complaints.get("roles") or {}
    if not isinstance(roles, dict):
        raise ConfigError(f"{FILE}: complaints.roles 应为“称呼: 角色”的映射 (must map word -> role)")
    return AnswerBook(tuple(entries), _words(data.get("ask_person"), "ask_person"),
                      _words(data.get("question_cues"), "question_cues"),
                      {str(k): str(v) for k, v in roles.items()}, _words(complaints.get("words"), "complaints.words"))


def load(config_dir: Path) -> AnswerBook:
    """config/answers.yaml as a book (re-read when the file changes). A missing or broken file answers nothing:
    every question goes to a person as before, and the log says why (once per change of the file)."""
    try:
        return _parsed(load_yaml(config_dir, FILE))
    except ConfigError as err:
        log.warning("answers disabled: %s", err)
        return AnswerBook()


_CACHE: dict[int, AnswerBook] = {}


def _parsed(data: Any) -> AnswerBook:
    key = id(data)                      # load_yaml returns the same object until the file changes
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = parse(data)
    return _CACHE[key]


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").replace(" ", "").lower()


def wants_person(book: AnswerBook, text: str) -> bool:
    """"找人", "转人工", "电话打不通": the resident asks for a person, not for an answer."""
    plain = _norm(text)
    return any(_norm(w) in plain for w in book.ask_person)


def is_question(book: AnswerBook, text: str) -> bool:
    plain = _norm(text)
    return any(_norm(c) in plain for c in book.question_cues)


def find_answer(book: AnswerBook, text: str) -> Answer | None:
    """The answer for a question, or None (not a question, a person asked for, or nothing fits).
    The entry with the most words found wins; on a tie, the one with the longest word found."""
    if not is_question(book, text) or wants_person(book, text):
        return None
    plain = _norm(text)
    best: tuple[int, int, int] | None = None
    found: Answer | None = None
    for order, entry in enumerate(book.answers):
        hits = [w for w in entry.words if _norm(w) in plain]
        if not hits or (entry.must and not any(_norm(w) in plain for w in entry.must)):
            continue
        rank = (len(hits), max(len(w) for w in hits), -order)
        if best is None or rank > best:
            best, found = rank, entry
    return found


# clauses of a message: cut at sentence and clause marks and where the resident goes on to another matter
_CLAUSES = re.compile(r"[？?。！!；;，,\s]+|另外|还有|此外|顺便|再就是")


def rest_of(answer: Answer, text: str) -> str:
    """What the message says besides the question `answer` answers: its other clauses ("请问社区几点上班？另外3栋楼道灯
    坏了" -> "3栋楼道灯坏了"), "" when it only asks. The caller decides whether the rest tells a problem."""
    keep = [c for c in _CLAUSES.split(text or "") if c.strip()
            and not any(_norm(w) in _norm(c) for w in (*answer.words, *answer.must))]
    return "，".join(keep)
