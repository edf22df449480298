"""Write tests/data/urgent_caught_c83e652.txt: the urgent catches of the rules as they were when issue 19 was filed.

    git worktree add /tmp/c83 c83e652
    PYTHONPATH=/tmp/c83 .venv/bin/python tests/data/tools/urgent_caught_c83.py /tmp/c83

Run with THAT checkout first on the path (PYTHONPATH): its gridbot.understanding and its config/categories.yaml answer
every text labelled urgent in every corpus_*.tsv of this checkout's tests/data; the texts they called urgent are
written one per line (sorted, distinct; tabs and newlines cannot occur in a corpus cell). A mechanical list: nobody
reads the held-out ones. tests/unit/test_understanding_urgent_vote.py checks that rules + model keep every one urgent.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]          # tests/data
OUT = HERE / "urgent_caught_c83e652.txt"


def main() -> None:
    checkout = Path(sys.argv[1]).resolve()
    import gridbot.understanding as old  # the c83e652 package (PYTHONPATH)

    if not Path(old.__file__).resolve().is_relative_to(checkout):
        raise SystemExit(f"gridbot imported from {old.__file__}, not from {checkout}: set PYTHONPATH={checkout}")
    rules = old.Understander.from_config_dir(checkout / "config")
    caught: set[str] = set()
    for path in sorted(HERE.glob("corpus_*.tsv")):
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                text = (row.get("text") or "").strip()
                if row.get("urgency", "").strip() == "urgent" and text and rules.understand(text).is_urgent:
                    caught.add(text)
    header = ("# Texts labelled urgent in tests/data/corpus_*.tsv that the rules at commit c83e652 (when issue 19 was "
              "filed) called urgent:\n# their urgent catches, which rules + model must never lose. Made mechanically "
              "by tests/data/tools/urgent_caught_c83.py\n# (git worktree add /tmp/c83 c83e652; PYTHONPATH=/tmp/c83 "
              "python tests/data/tools/urgent_caught_c83.py /tmp/c83). One text a line.\n")
    OUT.write_text(header + "".join(f"{t}\n" for t in sorted(caught)), encoding="utf-8")
    print(f"{len(caught)} texts -> {OUT}")


if __name__ == "__main__":
    main()
