"""Check (and optionally shuffle) the held-out corpus files written by hand.

The rows of tests/data/corpus_wild.tsv and corpus_wild2.tsv are written one by one by a person; this script
generates no text. It checks that every row has the nine fields of the labelling guide with valid labels and
prints the counts, and with --shuffle it reorders the rows deterministically (fixed seed) so that the file
order does not follow the order of writing.

    python3 tests/data/tools/gen_heldout.py tests/data/corpus_wild.tsv tests/data/corpus_wild2.tsv
    python3 tests/data/tools/gen_heldout.py --shuffle tests/data/corpus_wild.tsv
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import sys
from pathlib import Path

HEADER = ["is_request", "category", "urgency", "building", "unit", "room", "phase", "zone", "text"]
CATEGORIES = {
    "repair", "sanitation", "fire_hazard", "security", "dispute", "noise", "construction", "parking",
    "assistance", "health", "consultation", "other",
}
BUILDING = re.compile(r"^(\d+|[A-Z])$")
DIGITS = re.compile(r"^\d+$")
ZONE = re.compile(r"^([A-Z]|\d+|[东南西北中])$")
# Address written in a form other than plain "N号楼N单元NNN".
NON_STANDARD = re.compile(
    r"\d+-\d+|\d+#|[A-Za-z]座|\d+门|[一二三四五六七八九十两幺]+(号楼|栋|幢|号|单元|门)|[零一二三四五六七八九幺]{3,4}"
    r"|[一二三四五六七八九十\dA-Za-z]+[期区]|[壹贰叁肆伍陆柒捌玖]"
)


def check(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    errors = []
    if lines[0].split("\t") != HEADER:
        errors.append(f"{path}:1: header is not {HEADER}")
    rows = []
    seen = set()
    for n, line in enumerate(lines[1:], start=2):
        f = line.split("\t")
        if len(f) != 9:
            errors.append(f"{path}:{n}: {len(f)} fields")
            continue
        req, cat, urg, b, u, r, p, z, text = f
        where = f"{path}:{n}:"
        if req not in ("0", "1"):
            errors.append(f"{where} is_request {req!r}")
        if req == "1" and cat not in CATEGORIES:
            errors.append(f"{where} category {cat!r}")
        if req == "0" and (cat != "-" or urg != "normal"):
            errors.append(f"{where} a non-request has category {cat!r} / urgency {urg!r}")
        if urg not in ("urgent", "normal"):
            errors.append(f"{where} urgency {urg!r}")
        for name, value, pattern in (("building", b, BUILDING), ("unit", u, DIGITS), ("room", r, DIGITS),
                                     ("phase", p, DIGITS), ("zone", z, ZONE)):
            if value != "-" and not pattern.match(value):
                errors.append(f"{where} {name} {value!r}")
        if not text.strip() or text != text.strip():
            errors.append(f"{where} empty text or surrounding spaces")
        if text in seen:
            errors.append(f"{where} duplicate text")
        seen.add(text)
        rows.append(f)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        raise SystemExit(1)
    return rows


def report(path: Path, rows: list[list[str]]) -> None:
    n = len(rows)
    req = sum(r[0] == "1" for r in rows)
    urgent = sum(r[2] == "urgent" for r in rows)
    addressed = [r for r in rows if any(v != "-" for v in r[3:8])]
    nonstd = sum(bool(NON_STANDARD.search(r[8])) for r in addressed)
    print(f"{path}: {n} rows; requests {req}, non-requests {n - req} ({(n - req) / n:.0%}); urgent {urgent}; "
          f"with an address {len(addressed)}, of which written in a non-standard form {nonstd}")
    cats = collections.Counter((r[1], r[2]) for r in rows if r[0] == "1")
    for cat in sorted(CATEGORIES):
        print(f"  {cat:13} normal {cats[(cat, 'normal')]:4}  urgent {cats[(cat, 'urgent')]:4}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shuffle", action="store_true", help="reorder the rows with a fixed seed")
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args()
    for path in args.files:
        rows = check(path)
        if args.shuffle:
            random.Random(19).shuffle(rows)
            path.write_text("\t".join(HEADER) + "\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
        report(path, rows)


if __name__ == "__main__":
    main()
