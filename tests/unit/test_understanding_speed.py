"""The understanding's speed-ups change no answer: what a pattern needs is sound, the guarded address searches find
what the plain ones find, the answers built without their dataclass __init__ equal the ones built with it, and
understand() (the rules and model looked up once a second) answers as the engine does. The rules' pattern index
against running every pattern: tests/unit/test_understanding.py."""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from operator import add
from pathlib import Path
from re import _parser as sre_parse  # type: ignore[attr-defined]  # CPython's (3.11+) regex parser: private, no stub
from typing import Any

import pytest

import gridbot.understanding as understanding
from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.understanding import (
    Combined,
    Engine,
    Understander,
    Understanding,
    address,
    combine,
    get_engine,
    understand,
    use_instance_dir,
)
from gridbot.understanding.corpus import load_corpus, splits_present
from gridbot.understanding.model import Prediction
from gridbot.understanding.needs import chars_needed, prefilter
from gridbot.understanding.understander import _MENTION_RE, _normalise

ODD = ["", " ", "@张三 ", "@李四 3栋2单元101漏水", "[捂脸]", "😀", "3-2-101 13812345678", "ＡＢＣ１２３", "火",
       "电梯困人了！！！快来", "二期A区3栋502 0571-88886666", "110101199003071234 身份证丢了", "住1203的", "对门302"]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [ex.text for split in splits_present() if split != "all" for ex in load_corpus(split)] + ODD


@pytest.fixture(scope="module")
def rules() -> Understander:
    return Understander.from_config_dir(DEFAULT_CONFIG_DIR)


def _holds(need: Any, body: str) -> bool:
    keys = set(body) | set(map(add, body, body[1:]))
    return any(all(not req.isdisjoint(keys) for req in alternative) for alternative in need)


@pytest.mark.parametrize(("pattern", "matching", "other"), [
    ("电梯.{0,4}困", "电梯里被困", "电梯坏了"),
    ("上个?月", "上月", "上个星期"),
    ("(?<!差点)(摔|跌)倒|滑倒", "奶奶跌倒了", "奶奶倒水"),
    ("(?i:ab)c", "ABc", "ab"),
    ("[火烟]情", "烟情", "火灾"),
    ("(?=.*急)漏水", "漏水很急", "漏水了"),
    ("a(b|c)+d", "acbd", "ad"),
    ("x|y?", "", ""),
])
def test_what_a_pattern_needs_is_what_it_needs(pattern: str, matching: str, other: str) -> None:
    rx = re.compile(pattern)
    need = prefilter(sre_parse.parse(pattern))
    assert rx.search(matching)
    if need:
        assert _holds(need, matching), pattern
        assert rx.search(other) is None and not _holds(need, other), pattern
    else:
        assert pattern == "x|y?"     # a branch that needs nothing: no check


def test_every_configured_pattern_needs_only_what_its_matches_hold(rules: Understander, texts: list[str]) -> None:
    bodies = [_MENTION_RE.sub(" ", _normalise(t) + " ").strip() for t in texts]
    checked = 0
    for rx, *_ in rules._all_patterns:
        for body in bodies:
            if rx.search(body):
                checked += 1
                assert not rx.need or _holds(rx.need, body), (rx.rx.pattern, body)
    assert checked > 1000


def test_the_guarded_address_searches_find_what_the_plain_ones_find(texts: list[str]) -> None:
    pairs = [(address._full_search, address._FULL_RE), (address._dash_search, address._DASH_RE),
             (address._dash_unit_search, address._DASH_UNIT_RE), (address._unit_room_search, address._UNIT_ROOM_RE),
             (address._room_only_search, address._ROOM_ONLY_RE)]
    for guarded, rx in pairs:
        assert chars_needed(rx), rx.pattern      # each is guarded
        for text in texts:
            text = _normalise(text).translate(address._FINANCIAL)
            got, want = guarded(text), rx.search(text)
            assert (got and got.span()) == (want and want.span()), (rx.pattern, text)


def _rebuilt(obj: Any) -> Any:
    return type(obj)(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})


def test_answers_built_without_their_init_equal_the_dataclasses(rules: Understander, texts: list[str]) -> None:
    engine = Engine(rules, instance_dir=None)
    model = engine.model
    for text in texts:
        u, p = rules.understand(text), model.predict(text)
        both = combine(u, p, rules, text)
        for obj, cls in ((u, Understanding), (p, Prediction), (both, Combined)):
            assert type(obj) is cls
            again = _rebuilt(obj)
            assert again == obj and vars(again) == vars(obj), text
        assert both.to_dict() == _rebuilt(both).to_dict()


def test_understand_answers_as_the_engine_and_follows_the_instance_dir(tmp_path: Path, texts: list[str]) -> None:
    """The app's entry point (understand) and the engine the bench measures answer alike on every corpus message
    (a merge once left understand() without the message text the urgent vote weighs)."""
    try:
        use_instance_dir(None)
        for text in ODD + texts:
            assert understand(text).to_dict() == get_engine().understand(text).to_dict()
        first = understanding._hot
        understand("火")
        assert understanding._hot is first            # within RECHECK_S: nothing looked up again
        use_instance_dir(tmp_path)                    # a new instance dir: looked up at the next message
        understand("火")
        assert understanding._hot is not first and understanding._hot[2] == tmp_path
    finally:
        use_instance_dir(None)


def test_the_segmentation_gives_jiebas_words_on_every_split(rules: Understander, texts: list[str]) -> None:
    """The pair table (a character and the pair it starts in one look-up) keeps jieba's words, cold and warm."""
    fresh = Understander.from_config_dir(DEFAULT_CONFIG_DIR)
    for text in texts + ["a", "ab", "火", "火灾", "电梯困人", "１２３", "x#y", "3-1-302"]:
        want = rules.tokenizer.lcut(text, HMM=False)
        assert fresh.tokens(text) == want, text
        assert fresh.tokens(text) == want, text


def test_the_skipped_substitutions_would_change_nothing(texts: list[str]) -> None:
    """Without three digits in a row no phone or ID number pattern matches (their substitutions are skipped), and
    without an @ the mention pattern changes nothing (the model's normalisation skips it)."""
    from gridbot.privacy import mask_text
    from gridbot.understanding import model as model_mod
    from gridbot.understanding.understander import _DIGITS_RE, _LANDLINE_RE, _MOBILE_RE, find_phones

    skipped = 0
    extra = ["12", "1 2 3", "13 8123 45678", "０５７１-８８８８６６６６", "12-34", "@", "a@b c", "＠张三 你好"]
    for text in texts + extra:
        body = _normalise(text)
        if _DIGITS_RE.search(body) is None:
            skipped += 1
            assert find_phones(body) == [] and mask_text(body) == body, text
            assert _MOBILE_RE.sub(" ", body) == body and _LANDLINE_RE.sub(" ", body) == body, text
        lowered = model_mod._NOISE_RE.sub(" ", unicodedata.normalize("NFKC", text).lower())
        old = model_mod._SPACE_RE.sub(" ", model_mod._MENTION_RE.sub(" ", lowered + " ")).strip()
        assert model_mod.normalise(text) == old, text
    assert skipped > 1000
