"""Understanding quality per corpus split, for the rules alone, the learned model alone, and both together.

    .venv/bin/python bench/understanding_splits.py                 # every split present, three modes, a table
    .venv/bin/python bench/understanding_splits.py --json          # the same figures as JSON
    .venv/bin/python bench/understanding_splits.py --split wild --mode both --errors   # what went wrong

Splits (tests/data/corpus_*.tsv, see gridbot/understanding/corpus.py): tune, train, dev, tune2, wild, dev2 (the model
and the rules learn from them; marked *; wild was held out until 2026-12-06), wild3 (written 2026-12-06 by another
hand, the rules' second round of that day was tuned on it and the model trains on it since the LOWO round: marked *),
dev3 .. dev12 (ten more hands on the urgency boundary: the model trains on them, the rules were tuned on dev3 .. dev7
in the fresh-writers round; marked *), dev13 .. dev17 (five more in natural proportions, the third round's fresh
batches: neither trained nor tuned on), holdout, holdout2 (never used to tune), wild2, wild4, wild5, wild6, wild7
(held-out sets written by other hands, when present). Per split and mode: request precision/recall/F1, category
accuracy (among recognised requests), urgent recall, false urgents (count and share of the messages labelled not
urgent), address exactness (every message whose label has an address: all fields equal, phase/zone included when the
corpus has them) and throughput (messages per CPU-second over that split, one core). The model alone has no address of
its own: its address column is the rules' (the app never takes a place from the model).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.understanding import Engine, Understander, Understanding
from gridbot.understanding.corpus import DATA_DIR, HALVES, Report, evaluate, load_corpus

SPLITS = ("tune", "train", "dev", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7", "dev8", "dev9", "dev10", "dev11",
          "dev12", "dev13", "dev14", "dev15", "dev16", "dev17", "tune2", "holdout", "holdout2", "wild", "wild2",
          "wild3", "wild4", "wild5", "wild6", "wild7")
MODES = ("rules", "model", "both")
TRAINED_ON = {"tune", "train", "dev", "tune2", "wild", "dev2", "wild3",    # training.TRAINING_SPLITS
              "dev3", "dev4", "dev5", "dev6", "dev7", "dev8", "dev9", "dev10", "dev11", "dev12"}
TUNED_ON = TRAINED_ON   # the rules were tuned on these too (dev8..dev12 hardly: two phrasings of dev11)


def model_alone(engine: Engine) -> Callable[[str], Understanding]:
    """The model's own answer, with the rules' address, phones and summary (the model has none)."""
    from gridbot.understanding import model as model_mod

    def understand(text: str) -> Understanding:
        u = engine.rules.understand(text)
        p: model_mod.Prediction = engine.model.predict(text)
        urgent = p.p_urgent >= 0.5
        is_request = p.p_request >= 0.5 or urgent
        return Understanding(is_request=is_request, category=p.category if is_request else None,
                             urgency="urgent" if urgent else "normal", location=u.location, phones=u.phones,
                             summary=u.summary)

    return understand


def present(data_dir: Path) -> list[str]:
    stems = {p.stem.removeprefix("corpus_") for p in data_dir.glob("corpus_*.tsv")}
    return [s for s in SPLITS if s in stems or (s in HALVES and HALVES[s][0] in stems)]


def throughput(fn: Callable[[str], object], texts: list[str], passes: int) -> float:
    for text in texts:     # warm (jieba's and the rules' per-word caches, the model's load)
        fn(text)
    start = time.process_time()
    for _ in range(passes):
        for text in texts:
            fn(text)
    spent = time.process_time() - start
    return len(texts) * passes / spent if spent else float("inf")


def row(report: Report) -> dict[str, float | int]:
    return {"messages": report.n, "precision": round(report.precision, 3), "recall": round(report.recall, 3),
            "f1": round(report.f1, 3), "category": round(report.category_accuracy, 3),
            "urgent": report.urgent_total, "urgent_recall": round(report.urgent_recall, 3),
            "false_urgents": report.urgent_alarms, "false_urgent_share": round(report.false_urgent_share, 3),
            "addresses": report.address_total, "address": round(report.address_accuracy, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", action="append", choices=SPLITS, help="only these splits (repeatable)")
    parser.add_argument("--mode", action="append", choices=MODES, help="only these modes (repeatable)")
    parser.add_argument("--passes", type=int, default=3, help="passes over a split for the throughput figure")
    parser.add_argument("--errors", action="store_true", help="list every message handled wrongly")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    rules = Understander.from_config_dir(DEFAULT_CONFIG_DIR)
    engine = Engine(rules, instance_dir=None)            # the shipped model
    fns = {"rules": rules.understand, "model": model_alone(engine), "both": engine.understand}
    results: dict[str, dict[str, dict[str, float | int]]] = {}
    errors = []
    for split in args.split or present(args.data_dir):
        examples = load_corpus(split, args.data_dir)
        texts = [ex.text for ex in examples]
        results[split] = {}
        for mode in args.mode or MODES:
            report = evaluate(examples, fns[mode])
            figures = row(report)
            speed_fn = engine.model.predict if mode == "model" else fns[mode]
            figures["per_cpu_s"] = round(throughput(speed_fn, texts, args.passes))
            results[split][mode] = figures
            if args.errors:
                errors.extend((split, mode, ex, u, what) for ex, u, what in report.errors)
    if args.json:
        print(json.dumps({"results": results, "load_average": os.getloadavg()[0]}, ensure_ascii=False))
        return
    head = (f"{'split':<9}{'mode':<6}{'msgs':>6}{'P':>7}{'R':>7}{'F1':>7}{'categ':>7}{'urg':>5}{'u.rec':>7}"
            f"{'false':>6}{'f.shr':>7}{'addr#':>6}{'addr':>7}{'msg/cpu-s':>11}")
    print(head)
    for split, modes in results.items():
        mark = " *" if split in TUNED_ON else ""
        for mode, f in modes.items():
            address = f"{f['address']:>7.3f}"
            print(f"{split + mark:<9}{mode:<6}{f['messages']:>6}{f['precision']:>7.3f}{f['recall']:>7.3f}"
                  f"{f['f1']:>7.3f}{f['category']:>7.3f}{f['urgent']:>5}{f['urgent_recall']:>7.3f}"
                  f"{f['false_urgents']:>6}{f['false_urgent_share']:>7.3f}{f['addresses']:>6}{address}"
                  f"{f['per_cpu_s']:>11,}")
    print("* = trained or tuned on (the model learns from tune, train, dev, tune2, wild, dev2, wild3 and dev3..dev12; "
          "the rules were tuned on all but dev8..dev12): flattering "
          f"figures. Load average {os.getloadavg()[0]:.1f}; model alone: throughput of model.predict() only, "
          "address = rules'.")
    for split, mode, ex, u, what in errors:
        print(f"[{split}/{mode}] {what}: {ex.text}\n    label: {ex.is_request} {ex.category} {ex.urgency} "
              f"{ex.location}  got: {u.is_request} {u.category} {u.urgency} {u.location}")


if __name__ == "__main__":
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
