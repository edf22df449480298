"""One message, several problems: "反映两个事 一是1栋门口路灯不亮 二是2栋旁边垃圾桶满了好几天没人倒" is two requests.

`split_problems` cuts a message where the resident numbered or listed the problems: 一是/二是, 第一/第二, 1./2.,
(1)(2), ①②, 还有/另外/此外 after a sentence, or separate lines. It is conservative: without such a marker the
message stays whole (one problem told in two sentences stays one), and the caller still decides whether the
pieces are really different problems (handlers/tickets.py: each piece must be a request of its own, and the
pieces must differ in what or where). Pure text in, pieces out: no database, no configuration.
"""
from __future__ import annotations

import re

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CIRCLED = "①②③④⑤⑥⑦⑧⑨"

# "反映两个事", "有几个问题：", "说三件事情" — an announcement of a list, dropped from the pieces
_INTRO = re.compile(r"(?:我|我们)?(?:想|要)?(?:反映|反应|说|讲|提|报告|有)(?:一下)?"
                    r"(?:两|二|2|三|3|四|4|几|多)(?:个|件|点|处)(?:事情?|问题|情况|地方)(?:儿)?[，,：:。.!！\s]*")
# ordinal markers, each a style: the pieces must count 1, 2, ... in one style
_ORDINALS = (
    ("shi", re.compile(r"(?:^|(?<=[\s，,。.;；:：!！?？、]))(?P<n>[一二三四五六七八九])是")),
    ("di", re.compile(r"第(?P<n>[一二三四五六七八九])(?:个|件|点|处)?(?:是|问题是|事是)?[，,、:：\s]?")),
    ("qi", re.compile(r"其(?P<n>[一二三四五六七八九])[，,、:：\s]?")),
    ("num", re.compile(r"(?:^|(?<=[\s，,。;；:：!！?？]))(?P<n>[1-9])(?:[.．、)）]|\s*[、.．])(?!\d)")),
    ("paren", re.compile(r"[(（](?P<n>[1-9一二三四五六七八九])[)）]")),
    ("circled", re.compile(rf"(?P<n>[{_CIRCLED}])")),
)
# "还有/另外/此外" starting a new sentence or clause; not "还有点暗", "还有人", "另外一个单元" is still a place
_ALSO = re.compile(r"(?<=[。.!！;；\n，,\s])(?:还有就是|还有|另外|此外|再有|再就是)(?![点些人没很多])[，,：:\s]*")
_PLACE_HINT = re.compile(r"\d|栋|幢|号楼|单元|小区|门口|楼下|楼道")
_TRIM = " \t\r\n，,。.;；:：!！、"


def _number(word: str) -> int:
    if word in _CN_DIGITS:
        return _CN_DIGITS[word]
    if word in _CIRCLED:
        return _CIRCLED.index(word) + 1
    return int(word)


def _by_ordinals(text: str) -> tuple[str, list[str]] | None:
    for _style, pattern in _ORDINALS:
        found = list(pattern.finditer(text))
        numbers = [_number(m.group("n")) for m in found]
        # the markers count 1, 2, ... in order (a stray "2栋" or "第二天" alone does not make a list)
        if len(found) < 2 or numbers != list(range(1, len(found) + 1)):
            continue
        cuts = [m.start() for m in found] + [len(text)]
        pieces = [text[found[i].end():cuts[i + 1]] for i in range(len(found))]
        return text[:found[0].start()], pieces
    return None


def _by_also(text: str) -> tuple[str, list[str]] | None:
    found = list(_ALSO.finditer(text))
    if not found:
        return None
    cuts = [0] + [m.start() for m in found]
    ends = [m.end() for m in found]
    pieces = [text[cuts[0]:cuts[1]]] + [text[ends[i]:(cuts[i + 2] if i + 2 < len(cuts) else len(text))]
                                        for i in range(len(found))]
    return "", pieces


def _by_lines(text: str) -> tuple[str, list[str]] | None:
    lines = [line for line in text.splitlines() if line.strip(_TRIM)]
    if len(lines) < 2 or any(len(line.strip(_TRIM)) < 4 for line in lines):
        return None
    return "", lines


def split_problems(text: str) -> list[str]:
    """The problems one message tells, each as its own text; [text] when it tells one (or cannot be cut safely).

    A preface that names a place ("3栋：一是…二是…") is kept in front of each piece, so each keeps its place."""
    whole = (text or "").strip()
    if not whole:
        return []
    body = _INTRO.sub(" ", whole, count=1).strip()
    for cut in (_by_ordinals, _by_lines, _by_also):
        result = cut(body)
        if result is None:
            continue
        preface, raw = result
        pieces = [p.strip(_TRIM) for p in raw]
        pieces = [p for p in pieces if p]
        if len(pieces) < 2:
            continue
        preface = preface.strip(_TRIM)
        if preface and _PLACE_HINT.search(preface):
            pieces = [f"{preface} {p}" for p in pieces]
        return pieces
    return [whole]
