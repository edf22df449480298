"""Check tests/data/corpus_dev.tsv against the labelling guide and print counts by label.

Usage: python3 tests/data/tools/check_dev.py [path]
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

HEADER = ["is_request", "category", "urgency", "building", "unit", "room", "phase", "zone", "text"]
CATEGORIES = {
    "repair", "sanitation", "fire_hazard", "security", "dispute", "noise", "construction",
    "parking", "assistance", "health", "consultation", "other",
}


def check(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    errors: list[str] = []
    if lines[0].split("\t") != HEADER:
        errors.append("bad header")
    rows = [line.split("\t") for line in lines[1:]]
    texts: Counter[str] = Counter()
    for n, f in enumerate(rows, start=2):
        if len(f) != 9:
            errors.append(f"line {n}: {len(f)} fields")
            continue
        req, cat, urg, b, u, r, p, z, text = f
        if req not in {"0", "1"}:
            errors.append(f"line {n}: is_request {req!r}")
        if req == "1" and cat not in CATEGORIES:
            errors.append(f"line {n}: category {cat!r}")
        if req == "0" and (cat != "-" or urg != "normal"):
            errors.append(f"line {n}: non-request must be '-'/normal")
        if urg not in {"urgent", "normal"}:
            errors.append(f"line {n}: urgency {urg!r}")
        if b != "-" and not re.fullmatch(r"\d+|[A-Z]", b):
            errors.append(f"line {n}: building {b!r}")
        for name, v in (("unit", u), ("room", r), ("phase", p)):
            if v != "-" and not v.isdigit():
                errors.append(f"line {n}: {name} {v!r}")
        if z != "-" and not re.fullmatch(r"[A-Z0-9]+|[东南西北中]", z):
            errors.append(f"line {n}: zone {z!r}")
        if not text.strip() or text != text.strip():
            errors.append(f"line {n}: empty or padded text")
        texts[text] += 1
    errors += [f"duplicate text: {t}" for t, c in texts.items() if c > 1]
    good = [f for f in rows if len(f) == 9]
    req = Counter(f[0] for f in good)
    print(f"rows {len(rows)}  requests {req['1']}  non-requests {req['0']} ({req['0'] / max(len(good), 1):.0%})")
    print("urgency (requests):", dict(Counter(f[2] for f in good if f[0] == "1")))
    print("categories:", dict(Counter(f[1] for f in good if f[0] == "1").most_common()))
    print("urgent by category:", dict(Counter(f[1] for f in good if f[2] == "urgent").most_common()))
    print("with building:", sum(f[3] != "-" for f in good), " phase:", sum(f[6] != "-" for f in good),
          " zone:", sum(f[7] != "-" for f in good))
    for e in errors:
        print("ERROR", e)
    return 1 if errors else 0


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "corpus_dev.tsv"
    sys.exit(check(target))
