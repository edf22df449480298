"""The rules as they were before issue 19 (commit c83e652), scored with today's evaluator on today's corpus splits.

    git worktree add --detach /tmp/c83e652 c83e652
    .venv/bin/python bench/understanding_before.py --checkout /tmp/c83e652 wild2 wild4

The old package is loaded under another name from that checkout (its own config/categories.yaml), so both live in
one process; its answers are scored by this checkout's `gridbot.understanding.corpus.evaluate`. c83e652 knew no
phase or zone: its addresses have none, so "address" (every field equal) counts those fields as missed.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridbot.understanding.address import Address
from gridbot.understanding.corpus import DATA_DIR, evaluate, load_corpus
from gridbot.understanding.understander import Understanding


def old_rules(checkout: Path):
    """The checkout's Understander (package `oldgrid`), built from its own config."""
    pkg = types.ModuleType("oldgrid")
    pkg.__path__ = [str(checkout / "gridbot")]
    sys.modules["oldgrid"] = pkg
    return importlib.import_module("oldgrid.understanding").Understander.from_config_dir(checkout / "config")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, required=True, help="a checkout (worktree) of commit c83e652")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("splits", nargs="+")
    args = parser.parse_args()
    rules = old_rules(args.checkout)

    def run(text: str) -> Understanding:
        u = rules.understand(text)
        loc = u.location
        return Understanding(is_request=u.is_request, category=u.category, urgency=u.urgency,
                             location=Address(loc.building, loc.unit, loc.room, None, None),
                             phones=u.phones, summary=u.summary, scores=u.scores)

    for split in args.splits:
        figures = evaluate(load_corpus(split, args.data_dir), run).summary()
        print(split, json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
