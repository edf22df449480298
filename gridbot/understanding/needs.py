"""What a text must hold for a regular expression to match, worked out once from the expression's parse tree: the
understanding searches a pattern (and the address forms) only where the message holds it, as the search costs far more
than the check."""
from __future__ import annotations

import re
from re import _parser as sre_parse  # type: ignore[attr-defined]  # CPython's (3.11+) regex parser: private, no stub
from typing import Any

_IGNORECASE = re.IGNORECASE.value


def requirements(items: Any) -> list[frozenset[str]]:
    """What a text must hold for the parsed sequence to match, as a list of requirements that must all hold, each a
    set of strings (one or two characters) of which the text must hold at least one. Empty when nothing is known.

    Sound by construction: a literal run needs each of its characters' pairs (or its one character), a group or a
    repeat of at least once what its content needs, a lookahead/lookbehind what its content needs, a branch one of
    its branches' (the union of one requirement per branch; nothing when a branch needs nothing), a character class
    of plain literals one of them. A group with its own ignore-case flag needs nothing (it matches other cases).
    """
    out: list[frozenset[str]] = []
    run = ""

    def flush() -> None:
        if len(run) == 1:
            out.append(frozenset((run,)))
        else:
            out.extend(frozenset((run[j:j + 2],)) for j in range(len(run) - 1))

    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            run += chr(arg)
            continue
        flush()
        run = ""
        if name == "SUBPATTERN":
            if not (arg[1] & _IGNORECASE):
                out.extend(requirements(arg[-1]))
        elif name == "BRANCH":
            chosen: list[frozenset[str]] = []
            for branch in arg[1]:
                needs = requirements(branch)
                if not needs:
                    chosen = []
                    break
                chosen.append(max(needs, key=selectivity))
            if chosen:
                out.append(frozenset().union(*chosen))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            if arg[0] >= 1:
                out.extend(requirements(arg[2]))
        elif name == "IN":
            if arg and all(str(o) == "LITERAL" for o, _ in arg):
                out.append(frozenset(chr(a) for _, a in arg))
        elif name == "ASSERT":
            out.extend(requirements(arg[1]))
    flush()
    return list(dict.fromkeys(out))   # each once, in order


def selectivity(need: frozenset[str]) -> tuple[int, int]:
    """How much a requirement narrows: pairs before single characters, fewer choices before more."""
    return (min(map(len, need)), -len(need))


def prefilter(parsed: Any) -> tuple[tuple[frozenset[str], ...], ...]:
    """A pattern's requirements as alternatives (one per top-level branch, else one), each a tuple of requirements
    that must all hold (see requirements), the most selective first; () when some alternative needs nothing."""
    items = list(parsed)
    if len(items) == 1 and str(items[0][0]) == "BRANCH":
        alternatives = [requirements(branch) for branch in items[0][1][1]]
    else:
        alternatives = [requirements(items)]
    if not all(alternatives):
        return ()
    return tuple(tuple(sorted(alt, key=selectivity, reverse=True)) for alt in alternatives)


def chars_needed(rx: re.Pattern[str]) -> frozenset[str] | None:
    """Characters of which a text must hold at least one for `rx` to match (the first character of each
    alternative's most selective requirement); None when unknown (then always search)."""
    if rx.flags & re.IGNORECASE:
        return None
    try:
        alternatives = prefilter(sre_parse.parse(rx.pattern, rx.flags))
    except Exception:  # noqa: BLE001 - an odd pattern simply always runs
        return None
    return frozenset(key[0] for alternative in alternatives for key in alternative[0]) if alternatives else None
