"""Every `# noqa` and `# type: ignore` in the project says why, on its line.

`make lint` finds the unused ones (ruff's RUF100, mypy's warn_unused_ignores) and the ones without codes (PGH003,
PGH004); neither asks for a reason. A suppression without one cannot be reviewed: was it a decision or a shrug?
"""
from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AREAS = ("gridbot", "handlers", "tests", "bench", "deploy", "migrations", "config")
SUPPRESSION = re.compile(r"#\s*(noqa\b(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore\b(\[[^\]]*\])?)", re.I)


def unexplained(text: str) -> list[tuple[int, str]]:
    """(line, comment) of each suppression whose comment holds nothing but directives."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT and SUPPRESSION.search(tok.string):
            words = SUPPRESSION.sub("", tok.string).strip("#-–—:;,() \t")
            if not re.search(r"\w", words):
                found.append((tok.start[0], tok.string))
    return found


def test_a_reason_is_words_beside_the_directive():
    text = ("a = 1  # noqa: E731\n"
            "b = 2  # noqa: E731 - a table of small rules reads better as lambdas\n"
            "c = 3  # type: ignore[attr-defined]\n"
            "d = 4  # type: ignore[attr-defined]  # private module, no stub\n"
            "e = 5  # noqa: F401, PLC0415  # noqa: E501\n"
            "f = 6  # says # noqa without being one? still needs words: these are words\n")
    assert unexplained(text) == [(1, "# noqa: E731"), (3, "# type: ignore[attr-defined]"),
                                 (5, "# noqa: F401, PLC0415  # noqa: E501")]


def test_every_suppression_says_why():
    missing = [f"{path.relative_to(ROOT)}:{line}: {comment}"
               for area in AREAS for path in sorted((ROOT / area).rglob("*.py"))
               for line, comment in unexplained(path.read_text(encoding="utf-8"))]
    assert not missing, (f"{len(missing)} noqa / type: ignore without a reason (write it after the codes: "
                         "`# noqa: BLE001 - a failed send is retried`):\n" + "\n".join(missing))
