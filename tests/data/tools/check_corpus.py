"""Check a corpus TSV: 9 fields a row, labels valid, no duplicate texts. Usage: check_corpus.py FILE..."""
import collections
import re
import sys

CATS = {"repair", "sanitation", "fire_hazard", "security", "dispute", "noise", "construction", "parking",
        "assistance", "health", "consultation", "other"}
HEADER = ["is_request", "category", "urgency", "building", "unit", "room", "phase", "zone", "text"]


def check(path: str) -> int:
    bad = 0
    seen: dict[str, int] = {}
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    if lines[0].split("\t") != HEADER:
        print(f"{path}:1: bad header")
        return 1
    for no, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        f = line.split("\t")
        err = ""
        if len(f) != 9:
            err = f"{len(f)} fields"
        else:
            req, cat, urg, b, u, r, ph, z, text = f
            if req not in ("0", "1"):
                err = "is_request"
            elif (req == "1") != (cat in CATS) or (req == "0" and cat != "-"):
                err = "category"
            elif urg not in ("urgent", "normal") or (req == "0" and urg != "normal"):
                err = "urgency"
            elif not (b == "-" or re.fullmatch(r"[0-9]+|[A-Z]", b)):
                err = "building"
            elif not all(x == "-" or re.fullmatch(r"[0-9]+", x) for x in (u, r, ph)):
                err = "unit/room/phase"
            elif not (z == "-" or re.fullmatch(r"[0-9A-Z]+|[东南西北中]", z)):
                err = "zone"
            elif not text.strip():
                err = "empty text"
            elif text in seen:
                err = f"duplicate of line {seen[text]}"
            else:
                seen[text] = no
                counts[(req, cat, urg)] += 1
        if err:
            bad += 1
            print(f"{path}:{no}: {err}: {line[:80]}")
    n = sum(counts.values())
    nonreq = sum(v for k, v in counts.items() if k[0] == "0")
    urgent = sum(v for k, v in counts.items() if k[2] == "urgent")
    print(f"{path}: {n} rows, {bad} bad, non-requests {nonreq} ({nonreq / max(n, 1):.0%}), urgent {urgent}")
    bycat: collections.Counter[tuple[str, str]] = collections.Counter()
    for (_req, cat, urg), v in counts.items():
        bycat[(cat, urg)] += v
    print("  " + ", ".join(f"{c}/{u}:{v}" for (c, u), v in sorted(bycat.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(max(check(p) for p in sys.argv[1:]))
