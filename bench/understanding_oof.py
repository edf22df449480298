"""How the model's urgent vote joins the rules', chosen on out-of-fold (OOF) answers over the training splits only.

    .venv/bin/python bench/understanding_oof.py               # 5 folds (~3 min), then the table of candidate rules
    .venv/bin/python bench/understanding_oof.py --cache /tmp/oof.json   # keep / reuse the OOF predictions
    .venv/bin/python bench/understanding_oof.py --cache /tmp/oof.json --urgent-errors wild   # wild's urgent errors

The training splits (train, dev, tune, tune2, wild, dev2, wild3, dev3..dev12: training.TRAINING_SPLITS;
wild is training data since 2026-12-06, wild3 since the LOWO round, dev2 when its file is here) are cut into 5 folds by
a hash of the normalised text (a message written twice falls in one fold); each fold's messages are answered by a
model trained on the other four (the shipped settings), so every message gets a model answer that never saw it. The
rules answer every message as they are. Then, for each candidate urgent rule, "both" (the combination, with the
request and category rules of gridbot.understanding.combine unchanged) is scored: urgent recall, false urgents as a
share of the messages labelled not urgent, and the urgent catches of the rules kept (always all: the rules' urgent
stays urgent). The held-out splits (holdout, holdout2, wild2, wild4, wild5) are never read here.
The folds mix every writer, so these figures flatter: bench/understanding_lowo.py leaves one writer out.

Then the figures of the combination as configured (gridbot.understanding's constants), overall and per split: request
P/R/F1, category accuracy, urgent recall, false urgents (count and share of the messages labelled not urgent), for the
rules alone and for both; `--urgent-errors SPLIT` lists that split's false urgents and missed urgents (training
splits only).

    .venv/bin/python bench/understanding_oof.py --cache /tmp/oof.json --quality   # request P/R/F1, category, urgent

`--quality` prints, for the rules alone, the OOF model alone and both together (gridbot.understanding.combine as it
is), request precision/recall/F1, category accuracy, urgent recall and false urgents over all training splits and
per split (wild and dev2, written by other hands, are the closest to new writing); `--errors FILE` writes the
combination's errors there (split, problem, label, answer, text) to read.

Candidate rules: a model-only urgent needs p >= `some` when the rules see some danger (an urgent score above 0 but
below their own threshold), p >= `ruled out` where the message is told as not now (past, chronic, feared, hearsay, a
notice, a joke, over: Understander.told_as_not_now) and p >= `quiet` otherwise. See
gridbot.understanding.model_urgent_threshold.
"""
from __future__ import annotations

import argparse
import json
import sys
import zlib
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.understanding import Understander, combine
from gridbot.understanding.corpus import Report, evaluate, load_corpus
from gridbot.understanding.model import Prediction, Settings, TrainingExample, normalise, train
from gridbot.understanding.training import TRAINING_SPLITS

FOLDS = 5
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "urgent_caught_c83e652.txt"


def fold_of(text: str) -> int:
    return zlib.crc32(normalise(text).encode("utf-8")) % FOLDS


def oof_predictions(examples: list, settings: Settings) -> list[Prediction]:
    out: list[Prediction | None] = [None] * len(examples)
    for k in range(FOLDS):
        fit = [TrainingExample(ex.text, ex.is_request, ex.category, ex.urgency == "urgent")
               for ex in examples if fold_of(ex.text) != k]
        model = train(fit, settings)
        for i, ex in enumerate(examples):
            if fold_of(ex.text) == k:
                out[i] = model.predict(ex.text)
        print(f"fold {k + 1}/{FOLDS}: trained on {len(fit)}", file=sys.stderr)
    return [p for p in out if p is not None]


def training_examples() -> list:
    examples = []
    for name in TRAINING_SPLITS:
        try:
            examples.extend(replace(ex, split=name) for ex in load_corpus(name))   # tune2, not second
        except ValueError:
            print(f"(split {name} not here)", file=sys.stderr)
    return examples


def figures(examples: list, rules_answers: list, preds: list[Prediction], rules: Understander,
            quiet: float, some: float, ruled: float | None = None) -> dict[str, float | int]:
    import gridbot.understanding as und

    saved = und.MODEL_URGENT, und.MODEL_URGENT_QUIET, und.MODEL_URGENT_RULED_OUT
    und.MODEL_URGENT, und.MODEL_URGENT_QUIET = some, quiet
    und.MODEL_URGENT_RULED_OUT = quiet if ruled is None else ruled
    try:
        urgent = not_urgent = caught = alarms = rules_caught = rules_kept = 0
        by_split: dict[str, list[int]] = {}   # split -> [false urgents, not urgent, urgent missed]
        for ex, u, p in zip(examples, rules_answers, preds, strict=True):
            c = combine(u, p, rules, ex.text)
            part = by_split.setdefault(ex.split, [0, 0, 0])
            part[0] += c.is_urgent and ex.urgency != "urgent"
            part[1] += ex.urgency != "urgent"
            part[2] += ex.urgency == "urgent" and not c.is_urgent
            if u.is_urgent:
                rules_caught += 1
                rules_kept += c.is_urgent
            if ex.urgency == "urgent":
                urgent += 1
                caught += c.is_urgent
            else:
                not_urgent += 1
                alarms += c.is_urgent
    finally:
        und.MODEL_URGENT, und.MODEL_URGENT_QUIET, und.MODEL_URGENT_RULED_OUT = saved
    return {"quiet": quiet, "some": some, "urgent": urgent, "recall": round(caught / urgent, 4),
            "false": alarms, "false_share": round(alarms / not_urgent, 4), "rules_urgent": rules_caught,
            "rules_kept": rules_kept, "by_split": by_split}


def line(name: str, report: Report) -> str:
    return (f"{name:<16}{report.n:>6}{report.precision:>7.3f}{report.recall:>7.3f}{report.f1:>7.3f}"
            f"{report.category_accuracy:>8.3f}{report.urgent_total:>7}{report.urgent_recall:>8.3f}"
            f"{report.urgent_alarms:>7}{report.false_urgent_share:>8.2%}")


def quality(examples: list, answers: list, preds: list[Prediction], rules: Understander,
            errors: Path | None = None) -> None:
    """Request, category and urgency figures of rules / model / both, overall and per split (see the module doc)."""
    from gridbot.understanding import Understanding
    from gridbot.understanding.corpus import evaluate

    def model_alone(u: Understanding, p: Prediction) -> Understanding:
        urgent = p.p_urgent >= 0.5
        is_request = p.p_request >= 0.5 or urgent
        return Understanding(is_request=is_request, category=p.category if is_request else None,
                             urgency="urgent" if urgent else "normal", location=u.location, phones=u.phones,
                             summary=u.summary)

    modes = {"rules": answers, "model": [model_alone(u, p) for u, p in zip(answers, preds, strict=True)],
             "both": [combine(u, p, rules, ex.text) for ex, u, p in zip(examples, answers, preds, strict=True)]}
    groups = {"all": list(range(len(examples)))}
    for i, ex in enumerate(examples):
        groups.setdefault(ex_split(ex), []).append(i)
    print(f"{'split':<8}{'mode':<7}{'n':>6}{'P':>7}{'R':>7}{'F1':>7}{'cat':>7}{'urg R':>7}{'false':>7}")
    for name, idx in groups.items():
        for mode, got in modes.items():
            it = iter([got[i] for i in idx])
            r = evaluate([examples[i] for i in idx], lambda _text, it=it: next(it))
            print(f"{name:<8}{mode:<7}{r.n:>6}{r.precision:>7.3f}{r.recall:>7.3f}{r.f1:>7.3f}"
                  f"{r.category_accuracy:>7.3f}{r.urgent_recall:>7.3f}{r.urgent_alarms:>7}")
    if errors is not None:
        it = iter(modes["both"])
        r = evaluate(examples, lambda _text: next(it))
        with open(errors, "w", encoding="utf-8") as fh:
            for ex, u, problem in r.errors:
                label = (ex.category or "-") if ex.is_request else "none"
                got = (u.category or "other") if u.is_request else "none"
                fh.write(f"{ex_split(ex)}\t{problem}\t{label}/{ex.urgency}\t{got}/{u.urgency}"
                         f"\t{getattr(u, 'source', '')}\t{ex.text}\n")


def ex_split(ex: object) -> str:
    """The split an example counts for (the second writer's file is the tune2 half here)."""
    split = str(getattr(ex, "split", ""))
    return "tune2" if split == "second" else split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, help="JSON file holding the OOF predictions (written if absent)")
    parser.add_argument("--urgent-errors", metavar="SPLIT", help="list this training split's urgent errors (both)")
    parser.add_argument("--settings", default="{}", help='model Settings as JSON (default: the shipped ones), '
                        'e.g. \'{"urgent_weight": 2.0}\'')
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR, help="config dir of categories.yaml")
    parser.add_argument("--no-candidates", action="store_true", help="skip the table of candidate thresholds")
    parser.add_argument("--quality", action="store_true", help="request/category/urgent figures per split")
    parser.add_argument("--errors", type=Path, help="with --quality: write the combination's errors to this file")
    args = parser.parse_args()
    examples = training_examples()
    if args.cache and args.cache.exists():
        preds = [Prediction(**d) for d in json.loads(args.cache.read_text())]
        if len(preds) != len(examples):
            raise SystemExit(f"{args.cache} holds {len(preds)} predictions for {len(examples)} messages: remove it")
    else:
        preds = oof_predictions(examples, Settings(**json.loads(args.settings)))
        if args.cache:
            args.cache.write_text(json.dumps([p.__dict__ for p in preds]))
    rules = Understander.from_config_dir(args.config)
    answers = [rules.understand(ex.text) for ex in examples]
    splits = sorted({ex.split for ex in examples}, key=lambda s: TRAINING_SPLITS.index(s))
    print(f"{len(examples)} messages ({', '.join(splits)}), {FOLDS}-fold OOF")
    both = {ex.text: combine(u, p, rules, ex.text) for ex, u, p in zip(examples, answers, preds, strict=True)}
    alone = {ex.text: u for ex, u in zip(examples, answers, strict=True)}
    print(f"{'split / mode':<16}{'msgs':>6}{'P':>7}{'R':>7}{'F1':>7}{'categ':>8}{'urgent':>7}{'recall':>8}"
          f"{'false':>7}{'share':>8}")
    for name in ("all", *splits):
        part = [ex for ex in examples if name == "all" or ex.split == name]
        print(line(f"{name} rules", evaluate(part, alone.__getitem__)))
        print(line(f"{name} both", evaluate(part, both.__getitem__)))
    fixture = {t for t in FIXTURE.read_text(encoding="utf-8").splitlines() if t and not t.startswith("#")}
    kept = [both[t].is_urgent for t in both if t in fixture]
    print(f"urgent catches of the rules at c83e652 (tests/data/{FIXTURE.name}) in these splits: "
          f"{sum(kept)} of {len(kept)} kept")
    if args.urgent_errors:
        for t in both:
            if t in fixture and not both[t].is_urgent:
                print(f"c83e652 catch lost: {t}")
    if args.urgent_errors:
        report = evaluate([ex for ex in examples if ex.split == args.urgent_errors], both.__getitem__)
        for ex, c, problems in report.errors:
            if "URGENT" in problems or "urgent false alarm" in problems:
                print(f"{problems:<22} {c.urgent_by or '-':<12} p={c.model['urgent']:<6} "
                      f"u={c.scores['urgent']:<4} {ex.text}")
    if args.quality:
        quality(examples, answers, preds, rules, args.errors)
    if args.no_candidates or args.quality:
        return
    rules_alone = figures(examples, answers, [replace(p, p_urgent=0.0) for p in preds], rules, 1.01, 1.01)
    print(f"rules alone: recall {rules_alone['recall']:.3f}, false urgents {rules_alone['false']} "
          f"({rules_alone['false_share']:.3%})")
    print(f"{'quiet':>6}{'some':>6}{'ruled out':>10}{'recall':>8}{'false':>7}{'share':>8}{'rules kept':>12}"
          "   per split: false urgents (share) / urgent missed")
    for quiet in (0.6, 0.7, 0.8, 0.85, 0.9):
        for some in (0.5, 0.6):
            for ruled in (quiet, 0.8, 0.9, 0.95):
                if ruled < quiet:
                    continue
                f = figures(examples, answers, preds, rules, quiet, some, ruled)
                print(f"{quiet:>6.2f}{some:>6.2f}{ruled:>10.2f}{f['recall']:>8.3f}{f['false']:>7}"
                      f"{f['false_share']:>8.2%}{f['rules_kept']:>6}/{f['rules_urgent']}   "
                      + "  ".join(f"{k} {v[0]} ({v[0] / v[1]:.1%}) / {v[2]}" for k, v in f["by_split"].items()
                                  if k in ("wild", "dev2")))

if __name__ == "__main__":
    main()
