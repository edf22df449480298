"""Before and after, side by side in one run: bench/run.py's parts measured on an older checkout and on this one,
interleaved (old, new, old, new, ...) so both see the same machine at the same time.

    git worktree add /tmp/gridbot-old <commit>   # then give it its own venv with test tools, as `make test` does
    .venv/bin/python bench/compare.py /tmp/gridbot-old --only webhook live --rounds 2
    .venv/bin/python bench/compare.py /tmp/gridbot-old --quick                         # minutes, same code paths

Each measurement runs in its own process with the checkout's own venv and its own bench/run.py, so each side runs
exactly its own code (gunicorn, workers, the CLI). Prints a table of both sides and the ratio new/old per figure;
`--write` puts it into bench/README.md between the compare markers.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:compare:start -->", "<!-- bench:compare:end -->"

# Runs one part of bench/run.py inside a checkout and prints its result as JSON on the last line.
PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bench_run", "bench/run.py")
run = importlib.util.module_from_spec(spec); spec.loader.exec_module(run)
part, quick, scale = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3])
result = run.live(quick, scale) if part == "live" else getattr(run, part)(quick)
print("RESULT " + json.dumps(result, default=str))
"""

# (label, part, path into the result, lower is better)
FIGURES = [
    ("webhook: gridbot req/s (saturated)", "webhook", ("gridbot", "rps"), False),
    ("webhook: gridbot / bare wechatpy", "webhook", ("ratio",), False),
    ("webhook: p99 ms", "webhook", ("gridbot", "p99"), True),
    ("understanding: messages / CPU-second", "understanding", ("understand",), False),
    ("county: coverage s", "county", ("coverage_s",), True),
    ("county: all digests s", "county", ("digest_s",), True),
    ("end-to-end p50 ms", "live", ("e2e", "p50"), True),
    ("end-to-end p99 ms", "live", ("e2e", "p99"), True),
    ("storm: webhook p99 ms", "live", ("storm", "p99"), True),
    ("storm: non-200", "live", ("storm", "bad"), True),
    ("storm: drained s", "live", ("storm", "drain_s"), True),
    ("storm: lost", "live", ("storm", "lost"), True),
    ("web worker RSS MB", "live", ("rss", "web"), True),
    ("RQ worker RSS MB", "live", ("rss", "worker"), True),
]
SECONDS_TO_MS = {("e2e", "p50"), ("e2e", "p99"), ("storm", "p99")}


def measure(tree: Path, part: str, quick: bool, scale: float) -> dict:
    proc = subprocess.run([str(tree / ".venv/bin/python"), "-c", PROBE, part, "1" if quick else "0", str(scale)],
                          cwd=tree, capture_output=True, text=True, timeout=3600, env=dict(os.environ))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{tree}: {part} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def pick(result: dict, path: tuple[str, ...]) -> float:
    value: object = result
    for key in path:
        value = value[key]  # type: ignore[index]  # a JSON tree of dicts
    figure = float(value)  # type: ignore[arg-type]  # a JSON number
    return figure * 1000 if path in SECONDS_TO_MS else figure


def table(runs: dict[str, dict[str, list[dict]]], old: str, new: str, command: str) -> str:
    load = os.getloadavg()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Run: {when} on {platform.node()}, {os.cpu_count()} CPUs, load average at the end {load[0]:.1f}. "
             f"Old: `{old}`; new: `{new}`. Command: `{command}`. Each figure is the median of its rounds, the two "
             "sides measured alternately.", "",
             "| figure | old | new | new / old |", "|---|---|---|---|"]
    for label, part, path, lower_better in FIGURES:
        if part not in runs["old"]:
            continue
        a = statistics.median(pick(r, path) for r in runs["old"][part])
        b = statistics.median(pick(r, path) for r in runs["new"][part])
        ratio = f"{b / a:.2f}x" if a else ("same" if a == b else "—")
        better = "lower is better" if lower_better else "higher is better"
        lines.append(f"| {label} ({better}) | {a:,.2f} | {b:,.2f} | {ratio} |")
    return "\n".join(lines)


def write(section: str) -> None:
    """Into bench/README.md between the compare markers (bench/run.py's helper, so both tables are kept alike)."""
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    run.put_between_markers(section, START, END,
                            lambda text, block: f"{text}\n## Before and after: `bench/compare.py`\n\n{block}\n")


def git_label(tree: Path) -> str:
    out = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=tree, capture_output=True, text=True).stdout
    return out.strip()[:80] or str(tree)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="the older checkout (with its own .venv)")
    ap.add_argument("--only", nargs="*", choices=["webhook", "understanding", "county", "live"],
                    default=["webhook", "live"])
    ap.add_argument("--rounds", type=int, default=1, help="rounds per side and part (alternating)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--storm-scale", type=float, default=None)
    ap.add_argument("--write", action="store_true", help="put the table into bench/README.md")
    args = ap.parse_args()
    scale = args.storm_scale if args.storm_scale is not None else (0.1 if args.quick else 1.0)
    trees = {"old": args.old.resolve(), "new": ROOT}
    runs: dict[str, dict[str, list[dict]]] = {"old": {}, "new": {}}
    for part in args.only:
        for n in range(args.rounds):
            order = ("old", "new") if n % 2 == 0 else ("new", "old")
            for side in order:
                print(f"== {part} round {n + 1}: {side}", flush=True)
                runs[side].setdefault(part, []).append(measure(trees[side], part, args.quick, scale))
    section = table(runs, git_label(trees["old"]), git_label(trees["new"]), "python bench/compare.py " +
                    " ".join(sys.argv[2:]))
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
