"""Is a group message a request, of what kind, how urgent, where, and with which phone numbers.

Everything a community may want to tune (keywords, weights, urgency cues, thresholds) is in
config/categories.yaml; this module only applies it. Segmentation is jieba with every configured word added to its
dictionary, so a keyword stays one word; a longer jieba word that holds a keyword (流感疫苗 holds 疫苗) counts for it.
"""
from __future__ import annotations

import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from operator import add
from pathlib import Path
from re import _parser as sre_parse  # type: ignore[attr-defined]  # CPython's (3.11+) regex parser: private, no stub
from typing import Any

from ..config import ConfigError, load_yaml
from ..privacy import mask_text
from .address import Address, find_address
from .needs import prefilter as _prefilter

CATEGORY_CODES = ("repair", "sanitation", "fire_hazard", "security", "dispute", "noise", "construction",
                  "parking", "assistance", "health", "consultation", "other")

_MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_LANDLINE_RE = re.compile(r"(?<![\d-])(0\d{2,3})-(\d{7,8})(?!\d)")
# WeChat's own emoji come through as text like [捂脸]; real emoji and pictographs as code points.
_NOISE_RE = re.compile(r"\[[\u4e00-\u9fffA-Za-z]{1,4}\]|[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200d]")
_MENTION_RE = re.compile(r"@\S{1,20}?(?:\s|\u2005|$)")
# Every phone or ID number pattern (here and in gridbot.privacy) needs three digits in a row: without them the
# message's phone and masking substitutions are skipped (they would change nothing)
_DIGITS_RE = re.compile(r"\d{3}")
_CLAUSE_RE = re.compile(r"[。！!？?；;，,\n\s~～…]+")
SUMMARY_MAX = 30
_NOTHING = ((), 0.0, 0.0, 0.0)
_NO_ROUTE = float("-inf")   # below any route weight (logs of frequencies: finite)
_new = object.__new__
# jieba's block and skip patterns (jieba.re_han_default, re_skip_default) and its one-character English/digit test
_HAN_RE = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)", re.U)
_SKIP_RE = re.compile("(\r\n|\\s)", re.U)
_ENG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@dataclass(frozen=True)
class Understanding:
    """What gridbot makes of one message. `to_dict()` is the `gridbot parse --json` contract."""

    is_request: bool
    category: str | None
    urgency: str
    location: Address
    phones: list[str]
    summary: str
    scores: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_urgent(self) -> bool:
        return self.urgency == "urgent"

    def to_dict(self) -> dict[str, Any]:
        return {"is_request": self.is_request, "category": self.category, "urgency": self.urgency,
                "location": self.location.to_dict(), "phones": list(self.phones), "summary": self.summary}


def _weights(node: Any, where: str) -> dict[str, float]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise ConfigError(f"categories.yaml: {where} 应为“词: 权重”的映射 (must map word -> weight)")
    out: dict[str, float] = {}
    for word, weight in node.items():
        try:
            out[str(word)] = float(weight)
        except (TypeError, ValueError):
            raise ConfigError(f"categories.yaml: {where}.{word} 的权重应为数字 (weight must be a number)") from None
    return out


class _Pattern:
    """A configured regular expression plus what a message must hold for it to match (needs.prefilter).

    Understander._by_key indexes patterns by those requirements, so a message runs only the few patterns that can
    match (火 for the fire patterns, 电梯 for the lift ones …). A pattern with no known requirement always runs.
    """

    __slots__ = ("rx", "need", "search", "finditer")

    def __init__(self, source: str) -> None:
        self.rx = re.compile(source)
        need: tuple[tuple[frozenset[str], ...], ...] = ()
        try:
            need = _prefilter(sre_parse.parse(source))
        except Exception:  # noqa: BLE001 - an odd pattern simply always runs
            need = ()
        # Case-insensitive patterns match characters the index would not look for: they always run. Otherwise the
        # alternatives' requirements, checked against the message's characters and pairs before the search, which
        # costs far more: () for none known
        self.need = () if self.rx.flags & re.IGNORECASE else need
        self.search = self.rx.search
        self.finditer = self.rx.finditer


def _branches(source: str) -> list[str]:
    """The top-level alternatives of a regular expression (`a|b(c|d)` -> `a`, `b(c|d)`).

    Each alternative is indexed by its own characters, and one that starts with a literal is searched for with the
    regex engine's fast literal scan; a long `x|y|z` pattern run as one costs every alternative at every position.
    """
    parts, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if source[i + 1:i + 2] == "^":
                i += 1
            if source[i + 1:i + 2] == "]":  # a ']' right after '[' or '[^' is a literal
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(source[start:i])
            start = i + 1
        i += 1
    parts.append(source[start:])
    return parts


def _split(whole: _Pattern) -> list[_Pattern]:
    """A pattern as its top-level alternatives, or whole when one cannot stand alone (global flags, group names,
    back-references)."""
    source = whole.rx.pattern
    if source.startswith("(?") or whole.rx.groupindex:
        return [whole]
    try:
        parts = [_Pattern(b) for b in _branches(source)]
    except re.error:
        return [whole]
    return parts if len(parts) > 1 else [whole]


def _patterns(node: Any, where: str) -> list[tuple[_Pattern, float]]:
    out = []
    for pattern, weight in _weights(node, where).items():
        try:
            out.append((_Pattern(pattern), weight))
        except re.error as exc:
            raise ConfigError(f"categories.yaml: {where} 正则表达式错误 {pattern!r}: {exc}") from None
    return out


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _NOISE_RE.sub(" ", text)
    return text.strip()


def find_phones(text: str) -> list[str]:
    """Mobile numbers (with or without spaces/dashes) and landlines with an area code, digits only, in order."""
    found: list[str] = []
    for m in _MOBILE_RE.finditer(text):
        number = "".join(m.groups())
        if number not in found:
            found.append(number)
    for m in _LANDLINE_RE.finditer(text):
        number = m.group(1) + "-" + m.group(2)
        if number not in found:
            found.append(number)
    return found


def _alternatives(value: Any) -> str:
    """A regular expression written as one string, or as a list of them (one per class of phrasing, each with its
    comment in categories.yaml): the list is their alternation."""
    if isinstance(value, list):
        return "|".join(f"(?:{v})" for v in value)
    return str(value)


class Understander:
    """One loaded categories.yaml plus its jieba dictionary. Build once, call `understand` many times."""

    def __init__(self, config: Any) -> None:  # categories.yaml as read: its shape is checked here
        if not isinstance(config, dict) or not isinstance(config.get("categories"), dict):
            raise ConfigError("categories.yaml: 缺少 categories 部分 (missing 'categories')")
        th = config.get("thresholds") or {}
        self.t_request = float(th.get("request", 2.0))
        self.t_category = float(th.get("category", 1.0))
        self.t_cue_only = float(th.get("cue_only", 2.5))
        self.t_urgent = float(th.get("urgent", 2.0))
        self.t_block_urgent = float(th.get("chatter_blocks_urgent", 4.0))
        self.t_veto = float(th.get("chatter_veto", float("inf")))
        # An emergency told as over or never real (火已经扑灭了, 醒过来了, 看错了) is news, not a request, unless it
        # also asks for something: request cues of at least this much (0: such news stays a request).
        self.t_story_ask = float(th.get("story_needs_ask", 0.0))

        self.categories: list[str] = []
        self.names: dict[str, str] = {}
        # word -> list of (category index, weight); cues as separate tables.
        self.keyword_index: dict[str, list[tuple[int, float]]] = {}
        for code, spec in config["categories"].items():
            if code not in CATEGORY_CODES or code == "other":
                raise ConfigError(f"categories.yaml: 未知类别 {code!r} (known: {', '.join(CATEGORY_CODES[:-1])})")
            spec = spec or {}
            index = len(self.categories)
            self.categories.append(code)
            self.names[code] = str(spec.get("name") or code)
            for word, weight in _weights(spec.get("keywords"), f"categories.{code}.keywords").items():
                self.keyword_index.setdefault(word, []).append((index, weight))
        self.cat_patterns: list[tuple[_Pattern, int, float]] = []
        for code, spec in config["categories"].items():
            for rx, weight in _patterns((spec or {}).get("patterns"), f"categories.{code}.patterns"):
                self.cat_patterns.append((rx, self.categories.index(code), weight))

        def cue(section: str) -> tuple[dict[str, float], list[tuple[_Pattern, float]]]:
            node = config.get(section) or {}
            return (_weights(node.get("words"), f"{section}.words"),
                    _patterns(node.get("patterns"), f"{section}.patterns"))

        # issue 19: a situation (a person collapsed and not answering, a child outside a window, a smell like rotten
        # eggs) names its category and its urgency at once: each entry counts as a category pattern and an urgent one.
        situations = config.get("urgent_situations") or []
        if not isinstance(situations, list):
            raise ConfigError("categories.yaml: urgent_situations 应为列表 (must be a list of category/pattern)")
        self.situation_patterns: list[tuple[_Pattern, int, float, float]] = []  # pattern, category, weight, urgent
        for n, spec in enumerate(situations):
            where = f"urgent_situations[{n}]"
            if not isinstance(spec, dict) or spec.get("category") not in self.categories or not spec.get("pattern"):
                raise ConfigError(f"categories.yaml: {where} 需要 category (已配置的类别) 和 pattern "
                                  "(needs a configured category and a pattern)")
            try:
                rx = _Pattern(str(spec["pattern"]))
                weight, urgent = float(spec.get("weight", 3)), float(spec.get("urgent", 3))
            except re.error as exc:
                raise ConfigError(f"categories.yaml: {where} 正则表达式错误: {exc}") from None
            except (TypeError, ValueError):
                raise ConfigError(f"categories.yaml: {where} 的 weight/urgent 应为数字 (must be numbers)") from None
            self.situation_patterns.append((rx, self.categories.index(str(spec["category"])), weight, urgent))
        self.request_words, self.request_patterns = cue("request_cues")
        self.chatter_words, self.chatter_patterns = cue("chatter_cues")
        self.urgent_words, self.urgent_patterns = cue("urgent_cues")
        # Every pattern once, as (pattern, kind, category index, weight, urgent weight); kind 0 category, 1 request,
        # 2 chatter, 3 urgent, 4 situation (category and urgent at once).
        wholes = ([(rx, 0, index, weight, 0.0) for rx, index, weight in self.cat_patterns]
                  + [(rx, 1, -1, weight, 0.0) for rx, weight in self.request_patterns]
                  + [(rx, 2, -1, weight, 0.0) for rx, weight in self.chatter_patterns]
                  + [(rx, 3, -1, weight, 0.0) for rx, weight in self.urgent_patterns]
                  + [(rx, 4, index, weight, urgent) for rx, index, weight, urgent in self.situation_patterns])
        # Each is run as its top-level alternatives (`a|b|c` as a, b, c: see _branches), each indexed by the
        # characters it needs, so a message runs only the alternatives that can match; a pattern still counts once
        # (the last field, its number among `wholes`, says which alternatives belong together).
        self._all_patterns: list[tuple[_Pattern, int, int, float, float, int]] = [
            (branch, kind, index, weight, urgent, group)
            for group, (rx, kind, index, weight, urgent) in enumerate(wholes) for branch in _split(rx)]
        self._always: tuple[int, ...] = tuple(i for i, p in enumerate(self._all_patterns) if not p[0].need)
        self.negations = frozenset(str(w) for w in (config.get("negations") or []))
        imm = config.get("urgent_when_immediate") or {}
        self.imm_categories = frozenset(str(c) for c in (imm.get("categories") or []))
        self.imm_min_score = float(imm.get("category_score", 2.5))
        self.imm_weight = float(imm.get("weight", 2.0))
        try:
            self.imm_re = re.compile(str(imm["pattern"])) if imm.get("pattern") else None
        except re.error as exc:
            raise ConfigError(f"categories.yaml: urgent_when_immediate.pattern 正则表达式错误: {exc}") from None
        # Past, chronic or feared events are not urgent (昨天着过火, 常年漏水, 万一着火) unless the message also
        # says something is happening now (现在还在冒烟).
        not_now = config.get("urgent_not_now") or {}
        if not isinstance(not_now, dict):
            raise ConfigError("categories.yaml: urgent_not_now 应为映射 (must be a mapping: pattern, unless)")
        try:
            self.not_now_re = re.compile(_alternatives(not_now["pattern"])) if not_now.get("pattern") else None
            self.now_re = re.compile(_alternatives(not_now["unless"])) if not_now.get("unless") else None
            # over: it is over or was never real (火已经扑灭了, 醒过来了, 看错了, a safety tip): normal even with 刚才
            self.over_re = re.compile(_alternatives(not_now["over"])) if not_now.get("over") else None
            # … unless it started again (我刚扑灭 还在冒烟)
            self.still_re = re.compile(_alternatives(not_now["still"])) if not_now.get("still") else None
        except re.error as exc:
            raise ConfigError(f"categories.yaml: urgent_not_now 正则表达式错误: {exc}") from None

        # jieba is imported by the first Understander, not with the package: web processes import the services
        # (which import this) but never segment a message, and jieba alone costs each of them about 20 MB
        import jieba  # noqa: PLC0415 - see the comment above

        jieba.setLogLevel(logging.WARNING)  # jieba logs "Building prefix dict…" at INFO on first use
        self.tokenizer = jieba.Tokenizer()
        words = set(self.keyword_index) | set(self.request_words) | set(self.chatter_words) | set(self.urgent_words)
        words |= {str(w) for w in (config.get("extra_words") or [])}
        self.tokenizer.initialize()
        for word in sorted(words):
            if len(word) > 1:
                # A high frequency keeps the keyword whole when jieba weighs the segmentations.
                self.tokenizer.add_word(word, freq=max(self.tokenizer.FREQ.get(word, 0), 2000))

        self._index_patterns()
        self._logtotal = math.log(self.tokenizer.total)
        self._logp: dict[str, float] = {}
        self._seg: dict[str, float | bool] = {}
        self._win: dict[str, tuple[float | bool, float | bool]] = {}
        self._lookup: dict[str, Any] = {}
        for word in words:
            entry = (tuple(self.keyword_index.get(word, ())), self.urgent_words.get(word, 0.0),
                     self.request_words.get(word, 0.0), self.chatter_words.get(word, 0.0))
            if entry[0] or any(entry[1:]) or word in self.urgent_words:   # 落水管: 0 (see below)
                self._lookup[word] = entry
        self._base = dict(self._lookup)  # keywords only; _lookup also remembers words seen in messages
        self._keyword_lengths = sorted({len(w) for w in self._base if len(w) >= 2})
        # A cue that is also one jieba word (进水了, an urgent cue) still counts for the category and urgency it
        # contains (进水, repair); request and chatter cues stay as written (不放心 is not 放心), and so does an
        # urgent cue listed with weight 0 (落水管 holds 落水 and is no one in the water).
        for word, (entries, u_w, r_w, c_w) in list(self._base.items()):
            inner = self._contained(word, store=False)
            if inner is _NOTHING:
                continue
            self._lookup[word] = (entries or inner[0], u_w if word in self.urgent_words else inner[1], r_w, c_w)
        self._negation_re = re.compile("(?:" + "|".join(map(re.escape, sorted(self.negations, key=len, reverse=True)))
                                       + ")$") if self.negations else None
        self._negation_words = tuple(sorted(self.negations))

    def _index_patterns(self) -> None:
        """The pattern index: a pattern whose requirements are known (see _prefilter) by each alternative's rarest
        requirement (characters or pairs), rarest by jieba's word frequencies (a stand-in for how often a message
        holds a character or a pair); the other requirements are checked rarest first. The rest always run."""
        freq = self.tokenizer.FREQ

        def rarity(need: frozenset[str]) -> int:
            return sum(freq.get(key) or 0 for key in need)

        self._by_key: dict[str, tuple[int, ...]] = {}
        for i, pattern in enumerate(self._all_patterns):
            rx = pattern[0]
            rx.need = tuple(tuple(sorted(alt, key=lambda need: (rarity(need), sorted(need)))) for alt in rx.need)
            for key in frozenset().union(*(alt[0] for alt in rx.need)):
                self._by_key[key] = self._by_key.get(key, ()) + (i,)
        self._keys = frozenset(self._by_key)
        # what the per-message loop reads of each, in one tuple: requirements, search, then _all_patterns' fields
        self._scan = [(rx.need, rx.search, kind, index, weight, urgent, group, rx)
                      for rx, kind, index, weight, urgent, group in self._all_patterns]
        self._prefilter = True   # check each candidate's other requirements before searching (tests turn it off)

    def _contained(self, tok: str, store: bool = True) -> Any:
        """Keywords inside a longer jieba word (流感疫苗 holds 疫苗), worked out once per word and remembered."""
        entries: list[tuple[int, float]] = []
        u_w = r_w = c_w = 0.0
        n = len(tok)
        if n >= 3:
            for length in self._keyword_lengths:
                if length >= n:
                    break
                for start in range(n - length + 1):
                    found = self._base.get(tok[start:start + length])
                    if found is not None:
                        entries.extend(found[0])
                        u_w += found[1]
                        r_w += found[2]
                        c_w += found[3]
        entry = (tuple(entries), u_w, r_w, c_w) if entries or u_w or r_w or c_w else _NOTHING
        if store and len(self._lookup) < 500_000:  # bounded: a flood of odd words cannot eat the memory
            self._lookup[tok] = entry
        return entry

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_config_dir(cls, path: Path | str) -> Understander:
        return cls(load_yaml(Path(path), "categories.yaml"))

    # -- the work ---------------------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        """jieba's `lcut(text, HMM=False)`, word for word (a test compares them), in one plain loop: jieba builds
        the DAG, then the route, through generators and a fresh log() per candidate word, which was a third of the
        whole understanding's time. Same dictionary (`self.tokenizer.FREQ`), same arithmetic, same ties."""
        seg, win = self._seg, self._win
        out: list[str] = []
        # _HAN_RE.split alternates the text between blocks (even places: none of the block characters) and the
        # blocks themselves (odd places): jieba's `re_han.match(blk)` test is the place's parity
        for place, blk in enumerate(_HAN_RE.split(text)):
            if not blk:
                continue
            if not place & 1:
                for x in _SKIP_RE.split(blk):
                    if _SKIP_RE.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
                continue
            n = len(blk)
            score = [0.0] * (n + 1)
            end = [0] * (n + 1)
            p: Any
            for k in range(n - 1, -1, -1):
                best_s = _NO_ROUTE
                best_x = -1
                if k + 1 < n:
                    # the character and the pair starting at k in one look-up (see _win_entry), then longer words
                    try:
                        p, q = win[blk[k:k + 2]]
                    except KeyError:
                        p, q = self._win_entry(blk[k:k + 2])
                    if p is not True and p is not False:     # the character is a word
                        best_s = p + score[k + 1]
                        best_x = k
                    if q is not False:                       # some word starts with the pair
                        if q is not True:                    # the pair is a word
                            s = q + score[k + 2]
                            if s >= best_s:  # (a later end wins a tie, as in jieba)
                                best_s = s
                                best_x = k + 1
                        i = k + 2
                        while i < n:
                            frag = blk[k:i + 1]
                            try:
                                p = seg[frag]
                            except KeyError:
                                p = self._seg_entry(frag)
                            if p is False:
                                break            # no dictionary word starts with frag
                            if p is not True:    # a word (True: only the start of longer words)
                                s = p + score[i + 1]
                                if s >= best_s:
                                    best_s = s
                                    best_x = i
                            i += 1
                else:                           # the block's last character
                    try:
                        p = seg[blk[k]]
                    except KeyError:
                        p = self._seg_entry(blk[k])
                    if p is not True and p is not False:
                        best_s = p + score[k + 1]
                        best_x = k
                if best_x < 0:          # no word starts here: the character alone (jieba: frequency 1, log 0)
                    best_s, best_x = self._log_freq(blk[k]) + score[k + 1], k
                score[k] = best_s
                end[k] = best_x
            x = 0
            buf = ""
            while x < n:
                y = end[x] + 1
                word = blk[x:y]
                if y - x == 1 and word in _ENG_CHARS:
                    buf += word
                else:
                    if buf:
                        out.append(buf)
                        buf = ""
                    out.append(word)
                x = y
            if buf:
                out.append(buf)
        return out

    def _seg_entry(self, frag: str) -> float | bool:
        """What jieba's dictionary says of a fragment, remembered in a small dict (bounded) that stays in the cache:
        False not in it, True only the start of longer words (frequency 0), else the word's route weight."""
        f = self.tokenizer.FREQ.get(frag)
        value: float | bool = False if f is None else (math.log(f) - self._logtotal if f else True)
        if len(self._seg) < 200_000:
            self._seg[frag] = value
        return value

    def _win_entry(self, pair: str) -> tuple[float | bool, float | bool]:
        """What jieba's dictionary says of a pair's first character and of the pair (as _seg_entry; the pair False
        when no word starts with the character), remembered (bounded): one look-up for the first two steps."""
        first = self._seg.get(pair[0])
        if first is None:
            first = self._seg_entry(pair[0])
        second = False if first is False else self._seg.get(pair)
        if second is None:
            second = self._seg_entry(pair)
        value = (first, second)
        if len(self._win) < 100_000:   # bounded: at most ~15 MB however many pairs the messages bring
            self._win[pair] = value
        return value

    def _log_freq(self, word: str) -> float:
        """jieba's route weight of a word: log(frequency or 1) - log(total), remembered (bounded)."""
        value = self._logp.get(word)
        if value is None:
            value = math.log(self.tokenizer.FREQ.get(word) or 1) - self._logtotal
            if len(self._logp) < 200_000:
                self._logp[word] = value
        return value

    def understand(self, text: str) -> Understanding:
        text = _normalise(text or "")
        # (without an @ the mention pattern changes nothing: _normalise stripped the text already)
        body = _MENTION_RE.sub(" ", text + " ").strip() if "@" in text else text
        digits = _DIGITS_RE.search(body) is not None
        phones = find_phones(body) if digits else []
        scan = body
        if digits:
            for phone in phones:  # digits of a phone number are not a room number
                scan = scan.replace(phone, " ")
            scan = _MOBILE_RE.sub(" ", scan)
        tokens = self.tokens(body)

        cat = [0.0] * len(self.categories)
        hits: dict[int, list[str]] = {}   # category index -> its keywords met (the few categories met)
        req = chat = urg = 0.0
        situ = 0.0   # the part of urg that issue 19's urgent_situations gave (combine may weigh it against the model)
        negated = False
        lookup, negations = self._lookup, self.negations
        for tok in tokens:
            if tok in negations:
                negated = True
                continue
            entry = lookup.get(tok)
            if entry is None:
                entry = self._contained(tok)
            if entry is _NOTHING:
                if not tok.isspace():
                    negated = False
                continue
            entries, u_w, r_w, c_w = entry
            if not negated:
                for index, weight in entries:
                    cat[index] += weight
                    if index in hits:
                        hits[index].append(tok)
                    else:
                        hits[index] = [tok]
                urg += u_w
            req += r_w
            chat += c_w
            negated = False
        # The message's characters and pairs: the keys of the pattern index, and what each candidate's requirements
        # are checked against before its (far dearer) search
        keys = set(body)
        keys.update(map(add, body, body[1:]))
        by_key = self._by_key
        candidates = set(self._always).union(*map(by_key.__getitem__, self._keys.intersection(keys)))
        table = self._scan
        seen: set[int] = set()   # patterns already counted (one of their alternatives matched)
        negation_re = self._negation_re
        prefilter = self._prefilter
        for i in sorted(candidates):
            need, search, kind, index, weight, urgent_weight, group, rx = table[i]
            if group in seen:
                continue
            if need and prefilter:
                for alternative in need:
                    for need in alternative:
                        if need.isdisjoint(keys):
                            break
                    else:
                        break        # this alternative's requirements all hold: search
                else:
                    continue         # none can match
            if search(body) is None:
                continue      # most candidates: no match at all (the negation check below only where one is)
            if kind not in (1, 2) and negation_re is not None and not self._found(rx, body):
                continue
            seen.add(group)
            if kind == 0:
                cat[index] += weight
            elif kind == 1:
                req += weight
            elif kind == 2:
                chat += weight
            elif kind == 3:
                urg += weight
            else:
                cat[index] += weight
                urg += urgent_weight
                situ += urgent_weight

        best_score = max(cat) if cat else 0.0
        best = cat.index(best_score) if cat else -1    # the first of the highest
        # Something is happening now (刚才, 正在, 怎么办 …) in a category where that means danger: treat as urgent.
        if (self.imm_re is not None and best_score >= self.imm_min_score
                and self.categories[best] in self.imm_categories and self.imm_re.search(body)):
            urg += self.imm_weight
        score = best_score + req - chat
        urgent = urg >= self.t_urgent and chat < self.t_block_urgent
        over = (urgent and self.over_re is not None and self.over_re.search(body) is not None
                and not (self.still_re is not None and self.still_re.search(body)))
        if over or (urgent and self.not_now_re is not None and self.not_now_re.search(body)
                    and not (self.now_re is not None and self.now_re.search(body))):
            urgent = False
        if chat >= self.t_veto:
            urgent = is_request = False
        elif urgent:
            is_request = True
        elif over and req < self.t_story_ask:
            is_request = False   # an emergency that is over or was never real, told with no ask: news, not a request
        elif best_score >= self.t_category:
            is_request = score >= self.t_request
        else:
            is_request = req - chat >= self.t_cue_only
        if not is_request:
            category = None
        elif best_score >= self.t_category:
            category = self.categories[best]
        else:
            category = "other"
        location = find_address(scan)
        summary = self._summary(body, hits.get(best, []) if best >= 0 and best_score > 0 else [], digits)
        # Built without the frozen dataclass's __init__ (one object.__setattr__ per field): the same fields, the
        # same object (a test compares it with Understanding(...) over the corpus)
        answer = _new(Understanding)
        answer.__dict__.update(
            is_request=is_request, category=category, urgency="urgent" if urgent and is_request else "normal",
            location=location, phones=phones, summary=summary,
            scores={"category": best_score, "request": req, "chatter": chat, "urgent": urg, "total": score,
                    "situation": situ},
        )
        return answer

    def told_as_not_now(self, text: str) -> bool:
        """Whether the message is told as past, chronic, feared, hearsay, a notice, a joke, over or never real
        (urgent_not_now's `pattern` without `unless`, or `over` without `still`), whatever its danger words: the
        rules apply this to their own urgent score; combine() asks it of a model-only urgent (rarely: it is not
        run on every message)."""
        body = _MENTION_RE.sub(" ", _normalise(text or "") + " ").strip()
        if self.over_re is not None and self.over_re.search(body) and not (
                self.still_re is not None and self.still_re.search(body)):
            return True
        return bool(self.not_now_re is not None and self.not_now_re.search(body)
                    and not (self.now_re is not None and self.now_re.search(body)))

    def _found(self, rx: _Pattern, body: str) -> bool:
        """A pattern counts where it matches not within three characters after a negation (万一着火, 防溺水)."""
        negations = self._negation_words
        for m in rx.finditer(body):
            start = m.start()
            if self._negation_re is None:
                return True
            # _negation_re (any negation, then `$`) searched in body[:end], as str.endswith: `$` also matches just
            # before a newline that ends the text
            for end in range(start, max(start - 3, 0) - 1, -1):
                if body.endswith(negations, 0, end) or (
                        end and body[end - 1] == "\n" and body.endswith(negations, 0, end - 1)):
                    break
            else:
                return True
        return False

    @staticmethod
    def _summary(body: str, hits: list[str], digits: bool = True) -> str:
        """A ticket title: the clause naming the problem most (no phone numbers), at most SUMMARY_MAX characters.
        `digits` False: the body has no three digits in a row, so no phone or ID number to take out or mask."""
        # Phone numbers have no place in a title (it is shown in the group); ID numbers are masked.
        if digits:
            body = mask_text(_LANDLINE_RE.sub(" ", _MOBILE_RE.sub(" ", body)))
        clauses = [c for c in _CLAUSE_RE.split(body) if c]
        if not clauses:
            return ""
        index = 0
        if hits:
            counts = [sum(hit in clause for hit in hits) for clause in clauses]
            index = counts.index(max(counts))
        chosen = clauses[index]
        # A very short clause ("叫个不停" / "3栋") says little: take its neighbours with it, the one before first.
        before, after = index - 1, index + 1
        while len(chosen) < 10 and (before >= 0 or after < len(clauses)):
            if before >= 0:
                chosen = f"{clauses[before]}，{chosen}"
                before -= 1
            else:
                chosen = f"{chosen}，{clauses[after]}"
                after += 1
        return chosen if len(chosen) <= SUMMARY_MAX else chosen[: SUMMARY_MAX - 1] + "…"
