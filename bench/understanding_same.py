"""Do two versions of the code give the same answers? Rules + model (`Engine.understand`) over the training splits.

    .venv/bin/python bench/understanding_same.py --ref 3ad64ac      # a commit (or branch) against the work tree

The reference's gridbot/ and config/ are exported with `git archive` into a temporary directory and run in a child
process; both answer every message of train, dev, tune and tune2 (never the held-out splits), and every field of
`to_dict()` (scores included) is compared. Differences are listed by field; a speed change must show none, a change
of the urgent vote only urgency/urgent_by (and is_request/category where a model-only urgent made the request).
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "dev", "tune", "tune2")
CHILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from gridbot.config import DEFAULT_CONFIG_DIR
from gridbot.understanding import Engine, Understander
from gridbot.understanding.corpus import load_corpus
engine = Engine(Understander.from_config_dir(DEFAULT_CONFIG_DIR), None)
data = Path(sys.argv[2])
out = [[ex.text, engine.understand(ex.text).to_dict()] for s in sys.argv[3:] for ex in load_corpus(s, data)]
print(json.dumps(out, ensure_ascii=False, default=str))
"""


def answers(code_root: Path) -> list:
    done = subprocess.run([sys.executable, "-c", CHILD, str(code_root), str(ROOT / "tests" / "data"), *SPLITS],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True, help="the git commit or branch to compare the work tree with")
    parser.add_argument("--show", type=int, default=10, help="differing messages to print")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref, "gridbot", "config"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        before = answers(Path(tmp))
    after = answers(ROOT)
    fields: collections.Counter[str] = collections.Counter()
    shown = 0
    for (text, old), (_, new) in zip(before, after, strict=True):
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        fields.update(changed)
        if changed and shown < args.show:
            shown += 1
            print(f"{text}\n    " + "; ".join(f"{k}: {old.get(k)} -> {new.get(k)}" for k in changed))
    differ = sum(1 for (_, o), (_, n) in zip(before, after, strict=True) if o != n)
    print(f"{len(after)} messages ({', '.join(SPLITS)}): {differ} answers differ; by field: {dict(fields)}")


if __name__ == "__main__":
    main()
