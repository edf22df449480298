"""Fresh writers: how rules + model do on batches that NEITHER the rules NOR the model were tuned or trained on.

    .venv/bin/python bench/understanding_fresh.py                    # dev13..dev17 (still fresh), round 3's table
    .venv/bin/python bench/understanding_fresh.py --errors dev14     # that batch's urgent errors (now)
    .venv/bin/python bench/understanding_fresh.py dev3 dev4 dev5 dev6 dev7 --round 1      # round 1's table (see below)
    .venv/bin/python bench/understanding_fresh.py dev8 dev9 dev10 dev11 dev12 --config DIR   # round 2: rules

Leave-one-writer-out (bench/understanding_lowo.py) leaves the model out of a writer but not the rules: they were tuned
on every training writer, so their side of the figures flatters, and on new writing (wild2, wild4) most false urgents
were the rules' own (rules alone 12 and 20 there). So in the session of 2026-12-06 (afternoon) fifteen more hands
wrote batches, five a round, and each round's batches were first used here, before any rule was changed for them or
the model trained on them: the model is trained on the training splits WITHOUT the batches named (and without any
text they or a held-out split hold; cached under /tmp), and the rules are config/categories.yaml (or --config) as they
are. Each round's decision rule was written down before its batches were measured: a candidate replaces the current
combination only if, over the round's batches together, it has at least 10% fewer false urgents (round 2, a rules
change: 5%), loses at most 1 urgent catch of the current combination, and loses no more of the texts of
tests/data/urgent_caught_c83e652.txt (the issue's "never fewer urgent catches than today's rules"; counted with the
shipped model, held-out texts left out) than the current one; among those, the one with the fewest false urgents.

- Round 1, dev3..dev7 (writers H, I, J, K, M, on the urgency boundary): the veto of a rules' urgent where the model is
  sure it is not urgent (p < 0.2) with 0.8 where told as not now won: false urgents 137 -> 91 (6.03% -> 4.00%),
  recall 0.971 both (one catch lost, one regained), c83e652 catches lost 4 -> 4 (the first wording of the rule asked
  for none lost; the regenerated fixture showed the combination itself losing 4, so it became "no more than now", and
  a second table added the veto with lower "told as not now" thresholds). The batches are training data since, and
  the rules were tuned on them afterwards: their figures here are no longer fresh.
- Round 2, dev8..dev12 (writers N, O, P, Q, R, on the urgency boundary): a tuner's rules change, judged with --config
  before and after: 78 -> 67 false urgents, no catch lost, c83e652 catches lost 6 -> 6: merged. Training data since.
- Round 3, dev13..dev17 (writers T, U, V, W, X, in natural proportions): a prior shift of the model's urgent
  probability, the veto at 0.25 / 0.3, the quiet threshold at 0.65 / 0.7, and the shift with each: none passed. These
  batches are NOT training data (trained on, the model went below the veto on two urgent training messages): still
  fresh for the model, and the rules were not tuned on them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from understanding_lowo import HEADER, fmt, load, report  # (the LOWO bench's loading and figures)

import gridbot.understanding as und
from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.understanding import Combined, Understander, Understanding, combine
from gridbot.understanding.corpus import Example
from gridbot.understanding.model import Model, Prediction, Settings, TrainingExample, normalise, train
from gridbot.understanding.training import HELD_OUT_SPLITS, TRAINING_SPLITS

FRESH = ("dev13", "dev14", "dev15", "dev16", "dev17")     # writers T, U, V, W, X: still fresh
NATURAL_URGENT_SHARE = 0.15   # urgent share of the natural-proportion writers' sets (train, tune, tune2, wild, wild3)
CACHE = Path("/tmp/gridbot_fresh")
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "urgent_caught_c83e652.txt"


def model_without(fresh: dict[str, list[Example]], settings: Settings) -> Model:
    """The model trained on the training splits minus the fresh batches and minus every text they (or a held-out
    split) hold; cached by the training texts and the Settings."""
    left = {normalise(ex.text) for exs in fresh.values() for ex in exs}
    left |= {normalise(ex.text) for name in HELD_OUT_SPLITS for ex in load(name)}
    fit = [TrainingExample(ex.text, ex.is_request, ex.category, ex.urgency == "urgent")
           for name in TRAINING_SPLITS if name not in fresh for ex in load(name) if normalise(ex.text) not in left]
    key = hashlib.sha1(json.dumps([asdict(settings), [(e.text, e.is_request, e.category, e.urgent) for e in fit]],
                                  ensure_ascii=False).encode()).hexdigest()[:12]
    path = CACHE / f"model_{key}.bin"
    if path.exists():
        return Model.load(path)
    model = train(fit, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    print(f"trained without the fresh batches on {len(fit)} examples", file=sys.stderr)
    return model


def candidate(some: float = und.MODEL_URGENT, quiet: float = und.MODEL_URGENT_QUIET,
              ruled: float = und.MODEL_URGENT_RULED_OUT, veto: float = und.MODEL_URGENT_VETO,
              weak: float = float("inf"), shift: float = 0.0) -> dict[str, float]:
    return {"some": some, "quiet": quiet, "ruled": ruled, "veto": veto, "weak": weak, "shift": shift}


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def prior_shift(model: Model, base_rate: float) -> float:
    """The logit shift that moves the model's urgent prior from its training set's share (urgent examples over all,
    model.info) to `base_rate` (the share in residents' ordinary writing): the standard prior-shift correction."""
    return logit(base_rate) - logit(model.info["urgent"] / model.info["examples"])


def answer(u: Understanding, p: Prediction, rules: Understander, text: str, cand: dict[str, float]) -> Combined:
    """combine(...) with the candidate's thresholds; the veto spares a rules' urgent whose score is `weak` or more."""
    saved = und.MODEL_URGENT, und.MODEL_URGENT_QUIET, und.MODEL_URGENT_RULED_OUT, und.MODEL_URGENT_VETO
    veto = cand["veto"] if u.scores.get("urgent", 0.0) < cand["weak"] else 0.0
    if cand["shift"]:
        p = replace(p, p_urgent=1 / (1 + math.exp(-(logit(p.p_urgent) + cand["shift"]))))
    und.MODEL_URGENT, und.MODEL_URGENT_QUIET, und.MODEL_URGENT_RULED_OUT, und.MODEL_URGENT_VETO = (
        cand["some"], cand["quiet"], cand["ruled"], veto)
    try:
        return combine(u, p, rules, text)
    finally:
        und.MODEL_URGENT, und.MODEL_URGENT_QUIET, und.MODEL_URGENT_RULED_OUT, und.MODEL_URGENT_VETO = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("splits", nargs="*", default=list(FRESH), help="the fresh batches (default dev13..dev17)")
    parser.add_argument("--settings", default="{}", help="model Settings as JSON")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR, help="config dir of categories.yaml")
    parser.add_argument("--errors", metavar="SPLIT", help="list that batch's urgent errors (current combination)")
    parser.add_argument("--round", type=int, choices=(1, 2, 3), default=3, help="the candidates of that round")
    args = parser.parse_args()
    fresh = {name: load(name) for name in args.splits}
    fresh = {k: v for k, v in fresh.items() if v}
    model = model_without(fresh, Settings(**json.loads(args.settings)))
    rules = Understander.from_config_dir(args.config)
    examples = [ex for exs in fresh.values() for ex in exs]
    where = [name for name, exs in fresh.items() for _ in exs]
    us = [rules.understand(ex.text) for ex in examples]
    ps = [model.predict(ex.text) for ex in examples]
    current = candidate()

    def run(cand: dict[str, float]) -> list[Combined]:
        return [answer(u, p, rules, ex.text, cand) for ex, u, p in zip(examples, us, ps, strict=True)]

    base = run(current)
    print(f"fresh batches, model trained without them; rules + model as combined now {current}")
    print(HEADER)
    for name in (*fresh, "all"):
        idx = [i for i, w in enumerate(where) if name in ("all", w)]
        print(fmt(name, report([examples[i] for i in idx], [base[i] for i in idx])))
    print("rules alone:", fmt("all", report(examples, us)))
    print("model alone:", fmt("all", report(examples, [combine(replace(u, urgency="normal"), p, rules, ex.text)
                                                          for ex, u, p in zip(examples, us, ps, strict=True)])))
    print("without the veto:", fmt("all", report(examples, run(candidate(veto=0.0)))))
    false_by = {"rules": 0, "model": 0, "rules+model": 0}
    for ex, c in zip(examples, base, strict=True):
        if c.is_urgent and ex.urgency != "urgent":
            false_by[c.urgent_by] += 1
    print("false urgents by who said urgent:", false_by)
    if args.errors:
        for ex, c, w in zip(examples, base, where, strict=True):
            if w == args.errors and (ex.urgency == "urgent") != c.is_urgent:
                kind = "MISSED" if ex.urgency == "urgent" else "false"
                print(f"{kind:<7}{c.urgent_by or '-':<12}p={c.model['urgent']:<6}u={c.scores.get('urgent', 0):<5}"
                      f"{ex.text}")
        return
    held = {ex.text.strip() for name in HELD_OUT_SPLITS for ex in load(name)}     # (never counted here)
    fixture = [line for line in FIXTURE.read_text(encoding="utf-8").splitlines()
               if line and not line.startswith("#") and line not in held]
    shipped = und.get_model(None)
    fixture_answers = [(rules.understand(t), shipped.predict(t), t) for t in fixture]
    cands = {"current": current}
    if args.round == 1:   # (the round-1 table: against the combination before it, no veto and 0.9)
        cands["before (no veto, 0.9)"] = candidate(veto=0.0, ruled=0.9)
        for q in (0.65, 0.7, 0.8):
            cands[f"quiet {q}"] = candidate(quiet=q)
        cands["some .7"] = candidate(some=0.7)
        for veto in (0.05, 0.1, 0.2, 0.3):
            for weak in (3.0, 4.0, 6.0, 99.0):
                cands[f"veto {veto} <{weak:g}"] = candidate(veto=veto, weak=weak, ruled=0.9)
        # (second table, after the fixture gained the batches' c83e652 catches: the combination then lost 4, all
        # "told as not now" by a past or chronic word of the background, with the model at p 0.48-0.85)
        for veto in (0.1, 0.2):
            for ruled in (0.6, 0.7, 0.8):
                cands[f"veto {veto} ruled {ruled}"] = candidate(veto=veto, ruled=ruled)
    elif args.round == 3:
        # (dev13..dev17, natural proportions) the prior shift to the natural writers' urgent share, the veto at 0.25 /
        # 0.3, the quiet threshold at 0.65 / 0.7, and the shift with each
        shift = prior_shift(model, NATURAL_URGENT_SHARE)
        print(f"(prior shift {shift:+.3f})")
        third = {"shift": candidate(shift=shift), "veto 0.25": candidate(veto=0.25), "veto 0.3": candidate(veto=0.3),
                 "quiet 0.65": candidate(quiet=0.65), "quiet 0.7": candidate(quiet=0.7)}
        for name in ("veto 0.25", "veto 0.3", "quiet 0.65", "quiet 0.7"):
            third[f"shift + {name}"] = {**third[name], "shift": shift}
        cands.update(third)
    # (round 2 judged a rules change: run this twice, --config before and after)
    caught = {i for i, (ex, c) in enumerate(zip(examples, base, strict=True)) if ex.urgency == "urgent" and c.is_urgent}
    print(f"\n{'candidate':<18}{'recall':>8}{'false':>7}{'share':>8}{'lost':>6}{'c83 lost':>9}{'F1':>7}{'categ':>7}"
          "   false urgents per batch")
    for name, cand in cands.items():
        got = base if name == "current" else run(cand)
        r = report(examples, got)
        lost = sum(1 for i in caught if not got[i].is_urgent)
        c83 = sum(1 for u, p, t in fixture_answers if not answer(u, p, rules, t, cand).is_urgent)
        false = [i for i, c in enumerate(got) if c.is_urgent and examples[i].urgency != "urgent"]
        per = "  ".join(f"{w} {sum(1 for i in false if where[i] == w)}" for w in fresh)
        print(f"{name:<18}{r.urgent_recall:>8.3f}{r.urgent_alarms:>7}{r.false_urgent_share:>8.2%}{lost:>6}{c83:>9}"
              f"{r.f1:>7.3f}{r.category_accuracy:>7.3f}   {per}")


if __name__ == "__main__":
    main()
