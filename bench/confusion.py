"""Print how well gridbot understands the labelled corpus: figures per split and the category confusion table.

    .venv/bin/python bench/confusion.py                 # all, tune and held-out figures + table over all
    .venv/bin/python bench/confusion.py --split holdout --errors
    .venv/bin/python bench/confusion.py --split tune2 --errors   # second labeller's tuning half (holdout2: never look)
    .venv/bin/python bench/confusion.py --config-dir /path/to/config   # try a tuned categories.yaml
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.understanding import Understander
from gridbot.understanding.corpus import SPLITS, confusion_table, evaluate, load_corpus, splits_present


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="all", choices=list(SPLITS),
                        help="which part of the corpus the table and the errors cover")
    parser.add_argument("--errors", action="store_true", help="list every message handled wrongly")
    parser.add_argument("--config-dir", type=Path, default=DEFAULT_CONFIG_DIR)
    args = parser.parse_args()

    understander = Understander.from_config_dir(args.config_dir)
    print(f"{'split':8} {'msgs':>5} {'reqs':>5} {'prec':>6} {'recall':>6} {'f1':>6} {'cat_acc':>7} "
          f"{'urgent':>6} {'urg_rec':>7} {'alarms':>6} {'loc_acc':>7}")
    for split in splits_present():   # train / wild / wild2 when their files are here
        s = evaluate(load_corpus(split), understander.understand).summary()
        print(f"{split:8} {s['messages']:>5} {s['requests']:>5} {s['precision']:>6.3f} {s['recall']:>6.3f} "
              f"{s['f1']:>6.3f} {s['category_accuracy']:>7.3f} {s['urgent']:>6} {s['urgent_recall']:>7.3f} "
              f"{s['urgent_false_alarms']:>6} {s['location_accuracy']:>7.3f}")
    report = evaluate(load_corpus(args.split), understander.understand)
    print(f"\nconfusion over {args.split} (rows: label, columns: prediction; none = not a request)")
    print(confusion_table(report))
    if args.errors:
        print(f"\n{len(report.errors)} messages handled wrongly:")
        for ex, u, problem in report.errors:
            label = f"{ex.category or 'none'}/{ex.urgency}/{ex.location}"
            got = f"{(u.category or 'other') if u.is_request else 'none'}/{u.urgency}/{u.location}"
            print(f"  [{problem}] {ex.split}:{ex.line} label={label} got={got} scores={u.scores}\n      {ex.text}")


if __name__ == "__main__":
    if hasattr(signal, "SIGPIPE"):  # `| head` closes the pipe early; end quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
