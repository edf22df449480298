"""How the model's urgent vote joins the rules', chosen on out-of-fold (OOF) answers over the training splits only.

    .venv/bin/python bench/understanding_oof.py               # 5 folds (~3 min), then the table of candidate rules
    .venv/bin/python bench/understanding_oof.py --cache /tmp/oof.json   # keep / reuse the OOF predictions

The training splits (train, dev, tune, tune2: gridbot.understanding.training.TRAINING_SPLITS) are cut into 5 folds by
a hash of the normalised text (a message written twice falls in one fold); each fold's messages are answered by a
model trained on the other four (the shipped settings), so every message gets a model answer that never saw it. The
rules answer every message as they are. Then, for each candidate urgent rule, "both" (the combination, with the
request and category rules of gridbot.understanding.combine unchanged) is scored: urgent recall, false urgents as a
share of the messages labelled not urgent, and the urgent catches of the rules kept (always all: the rules' urgent
stays urgent). The held-out splits (holdout, holdout2, wild2, wild3, wild4) are never read here.

    .venv/bin/python bench/understanding_oof.py --cache /tmp/oof.json --quality   # request P/R/F1, category, urgent

`--quality` prints, for the rules alone, the OOF model alone and both together (gridbot.understanding.combine as it
is), request precision/recall/F1, category accuracy, urgent recall and false urgents over all training splits and
per split (wild and dev2, written by other hands, are the closest to new writing); `--errors FILE` writes the
combination's errors there (split, problem, label, answer, text) to read.

Candidate rules: a model-only urgent needs p >= `some` when the rules see some danger (an urgent score above 0 but
below their own threshold) and p >= `quiet` otherwise: they see none at all, or saw it and ruled it out (past, over,
feared, a forwarded notice). See gridbot.understanding.model_urgent_threshold.
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
from gridbot.understanding.corpus import load_corpus
from gridbot.understanding.model import Prediction, Settings, TrainingExample, normalise, train
from gridbot.understanding.training import TRAINING_SPLITS

FOLDS = 5


def fold_of(text: str) -> int:
    return zlib.crc32(normalise(text).encode("utf-8")) % FOLDS


def oof_predictions(examples: list) -> list[Prediction]:
    out: list[Prediction | None] = [None] * len(examples)
    for k in range(FOLDS):
        fit = [TrainingExample(ex.text, ex.is_request, ex.category, ex.urgency == "urgent")
               for ex in examples if fold_of(ex.text) != k]
        model = train(fit, Settings())
        for i, ex in enumerate(examples):
            if fold_of(ex.text) == k:
                out[i] = model.predict(ex.text)
        print(f"fold {k + 1}/{FOLDS}: trained on {len(fit)}", file=sys.stderr)
    return [p for p in out if p is not None]


def figures(examples: list, rules_answers: list, preds: list[Prediction], rules: Understander,
            quiet: float, some: float) -> dict[str, float | int]:
    import gridbot.understanding as und

    saved = und.MODEL_URGENT, und.MODEL_URGENT_QUIET
    und.MODEL_URGENT, und.MODEL_URGENT_QUIET = some, quiet
    try:
        urgent = not_urgent = caught = alarms = rules_caught = rules_kept = 0
        for ex, u, p in zip(examples, rules_answers, preds, strict=True):
            c = combine(u, p, rules)
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
        und.MODEL_URGENT, und.MODEL_URGENT_QUIET = saved
    return {"quiet": quiet, "some": some, "urgent": urgent, "recall": round(caught / urgent, 4),
            "false": alarms, "false_share": round(alarms / not_urgent, 4), "rules_urgent": rules_caught,
            "rules_kept": rules_kept}


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
             "both": [combine(u, p, rules) for u, p in zip(answers, preds, strict=True)]}
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
    parser.add_argument("--quality", action="store_true", help="request/category/urgent figures per split")
    parser.add_argument("--errors", type=Path, help="with --quality: write the combination's errors to this file")
    args = parser.parse_args()
    examples = [ex for name in TRAINING_SPLITS for ex in load_corpus(name)]
    if args.cache and args.cache.exists():
        preds = [Prediction(**d) for d in json.loads(args.cache.read_text())]
    else:
        preds = oof_predictions(examples)
        if args.cache:
            args.cache.write_text(json.dumps([p.__dict__ for p in preds]))
    rules = Understander.from_config_dir(DEFAULT_CONFIG_DIR)
    answers = [rules.understand(ex.text) for ex in examples]
    if args.quality:
        quality(examples, answers, preds, rules, args.errors)
        return
    rules_alone = figures(examples, answers, [replace(p, p_urgent=0.0) for p in preds], rules, 1.01, 1.01)
    print(f"{len(examples)} messages ({', '.join(TRAINING_SPLITS)}), {FOLDS}-fold OOF")
    print(f"rules alone: recall {rules_alone['recall']:.3f}, false urgents {rules_alone['false']} "
          f"({rules_alone['false_share']:.3%})")
    print(f"{'quiet':>6}{'some':>6}{'recall':>8}{'false':>7}{'share':>8}{'rules kept':>12}")
    for quiet in (0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        for some in (0.5, 0.6, 0.7):
            if some > quiet:
                continue
            f = figures(examples, answers, preds, rules, quiet, some)
            print(f"{quiet:>6.2f}{some:>6.2f}{f['recall']:>8.3f}{f['false']:>7}{f['false_share']:>8.2%}"
                  f"{f['rules_kept']:>6}/{f['rules_urgent']}")


if __name__ == "__main__":
    main()
