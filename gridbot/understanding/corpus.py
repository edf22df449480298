"""The labelled corpus (tests/data/corpus_*.tsv) and the figures the tests and bench/confusion.py report.

A corpus file is TSV with a header: is_request, category, urgency, building, unit, room, [phase, zone,] text
('-' = empty; the phase and zone columns are optional: files written before them read as None).
Split names come from the file name (corpus_<split>.tsv): corpus_tune.tsv was used to tune categories.yaml,
corpus_holdout.tsv was not. corpus_second.tsv is a batch written and labelled by a second, independent labeller; it is
split deterministically by file line: even lines are "tune2" (may be used to tune), odd lines are "holdout2" (never used
to choose a keyword). corpus_train.tsv ("train") is the larger, many-handed corpus the learned model trains on (and the
rules may be tuned on); corpus_wild.tsv ("wild", writer B) was a held-out set until the session of 2026-12-06 and is
training and tuning data since (its false urgents are the best picture of new writing we have); corpus_dev2.tsv
("dev2") is a tuning batch on the urgency boundary written in that session; corpus_wild3.tsv ("wild3", writer E) was
held out, then the rules' tuning set in that session's second round, and is training data since its LOWO round.
corpus_dev3.tsv .. corpus_dev7.tsv are batches on the urgency boundary by five more hands (H, I, J, K, M, same
session): the model trains on them; the rules were not tuned on them; dev8 .. dev12 (writers N, O, P, Q, R) are the
second round's fresh batches (bench/understanding_fresh.py). corpus_wild2.tsv, corpus_wild4.tsv, corpus_wild5.tsv and
corpus_wild6.tsv ("wild2", "wild4", "wild5", "wild6", writers C, G, L, S) are held-out sets written by other hands in
residents' real styles, never used for tuning or training — they may be absent from a checkout.
"all" means what it always meant: the first three files (tune, holdout, second), so figures over it stay comparable;
`splits_present()` names the splits whose file is here.
"""
from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .address import Address
from .understander import CATEGORY_CODES, Understanding

DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data"
NONE = "none"  # the row/column of the confusion table for "not a request"
# Splits that are half of one file: name -> (file split, parity of the file line number kept).
HALVES = {"tune2": ("second", 0), "holdout2": ("second", 1)}
ORIGINAL = ("tune", "holdout", "second")   # the files "all" covers
LATER = ("train", "dev", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7", "dev8", "dev9", "dev10", "dev11", "dev12",
         "dev13", "dev14", "dev15", "dev16", "dev17", "wild", "wild2", "wild3", "wild4", "wild5", "wild6", "wild7")
# (files added with issue 19; each a split of its own, none in "all". wild, dev2 .. dev7 and wild3 are training data
# (since 2026-12-06); wild2, wild4, wild5 and wild6 are held out; dev8 .. dev12 are the second round's fresh batches.)
SPLITS = ("all", *ORIGINAL, *HALVES, *LATER)


@dataclass(frozen=True)
class Example:
    text: str
    is_request: bool
    category: str | None
    urgency: str
    location: Address
    split: str
    line: int


def _cell(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "-") else value


def splits_present(data_dir: Path = DATA_DIR) -> tuple[str, ...]:
    """The SPLITS whose file exists in data_dir ("all" and the halves when their files do), in SPLITS order."""
    stems = {f.stem.removeprefix("corpus_") for f in data_dir.glob("corpus_*.tsv")}
    return tuple(s for s in SPLITS if s in stems or (s in HALVES and HALVES[s][0] in stems)
                 or (s == "all" and stems & set(ORIGINAL)))


def load_corpus(split: str = "all", data_dir: Path = DATA_DIR) -> list[Example]:
    """Examples of one split (see SPLITS; "all" = tune + holdout + second); a malformed row names its file and line.

    A split whose file is missing is a ValueError naming it (a held-out file may be absent: see splits_present).
    """
    if split in HALVES:
        whole, parity = HALVES[split]
        return [ex for ex in load_corpus(whole, data_dir) if ex.line % 2 == parity]
    files = sorted(data_dir.glob("corpus_*.tsv"))
    if split == "all":
        files = [f for f in files if f.stem.removeprefix("corpus_") in ORIGINAL]
    else:
        files = [f for f in files if f.stem == f"corpus_{split}"]
        if not files:
            raise ValueError(f"no corpus file for split {split!r} in {data_dir}")
    examples: list[Example] = []
    for path in files:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            for line, row in enumerate(reader, start=2):
                where = f"{path.name}:{line}"
                if row.get("text") is None or None in row:   # too few or too many cells: a tab lost or added
                    raise ValueError(f"{where}: expected {len(reader.fieldnames or ())} tab-separated cells")
                is_request = row["is_request"].strip() == "1"
                category = _cell(row["category"])
                urgency = _cell(row["urgency"]) or "normal"
                if is_request and category not in CATEGORY_CODES:
                    raise ValueError(f"{where}: unknown category {category!r}")
                if urgency not in ("urgent", "normal"):
                    raise ValueError(f"{where}: urgency must be urgent/normal, got {urgency!r}")
                examples.append(Example(
                    text=row["text"], is_request=is_request, category=category if is_request else None,
                    urgency=urgency if is_request else "normal",
                    location=Address(_cell(row["building"]), _cell(row["unit"]), _cell(row["room"]),
                                     _cell(row.get("phase") or ""), _cell(row.get("zone") or "")),
                    split=path.stem.removeprefix("corpus_"), line=line,
                ))
    return examples


@dataclass
class Report:
    n: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    category_right: int = 0      # among true requests that were recognised
    urgent_total: int = 0
    urgent_found: int = 0
    urgent_alarms: int = 0       # predicted urgent, labelled normal (or not a request)
    location_total: int = 0      # recognised requests whose label has an address
    location_right: int = 0
    address_total: int = 0       # every message whose label has an address (requests or not, recognised or not)
    address_right: int = 0       # ... found exactly: every field equal (building, unit, room, phase, zone)
    address_spurious: int = 0    # messages labelled without an address where one was found
    field_total: Counter = field(default_factory=Counter)   # field -> messages where label or answer has it
    field_right: Counter = field(default_factory=Counter)   # field -> ... where both agree
    confusion: Counter = field(default_factory=Counter)   # (label, predicted) -> count
    errors: list[tuple[Example, Understanding, str]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def category_accuracy(self) -> float:
        return self.category_right / self.tp if self.tp else 1.0

    @property
    def urgent_recall(self) -> float:
        return self.urgent_found / self.urgent_total if self.urgent_total else 1.0

    @property
    def location_accuracy(self) -> float:
        return self.location_right / self.location_total if self.location_total else 1.0

    @property
    def not_urgent(self) -> int:
        """Messages labelled not urgent (requests or not): the base of the false urgents' share."""
        return self.n - self.urgent_total

    @property
    def false_urgent_share(self) -> float:
        return self.urgent_alarms / self.not_urgent if self.not_urgent else 0.0

    @property
    def address_accuracy(self) -> float:
        return self.address_right / self.address_total if self.address_total else 1.0

    def field_accuracy(self, name: str) -> float:
        return self.field_right[name] / self.field_total[name] if self.field_total[name] else 1.0

    def summary(self) -> dict[str, float | int]:
        return {"messages": self.n, "requests": self.tp + self.fn, "precision": round(self.precision, 3),
                "recall": round(self.recall, 3), "f1": round(self.f1, 3),
                "category_accuracy": round(self.category_accuracy, 3),
                "urgent": self.urgent_total, "urgent_recall": round(self.urgent_recall, 3),
                "urgent_false_alarms": self.urgent_alarms, "location_accuracy": round(self.location_accuracy, 3),
                "false_urgent_share": round(self.false_urgent_share, 3),
                "address_accuracy": round(self.address_accuracy, 3), "addresses": self.address_total,
                "address_spurious": self.address_spurious,
                **{f"{name}_accuracy": round(self.field_accuracy(name), 3) for name in ADDRESS_FIELDS
                   if self.field_total[name]}}


ADDRESS_FIELDS = ("building", "unit", "room", "phase", "zone")


def _fields(address: Address) -> tuple[str | None, ...]:
    """An address's fields, phase and zone included when the Address has them (None otherwise)."""
    return tuple(getattr(address, name, None) for name in ADDRESS_FIELDS)


def _count_address(report: Report, label: Address, found: Address) -> None:
    want, got = _fields(label), _fields(found)
    for name, w, g in zip(ADDRESS_FIELDS, want, got, strict=True):
        if w is not None or g is not None:
            report.field_total[name] += 1
            report.field_right[name] += w == g
    if any(w is not None for w in want):
        report.address_total += 1
        report.address_right += want == got
    elif any(g is not None for g in got):
        report.address_spurious += 1


def evaluate(examples: Iterable[Example], understand: Callable[[str], Understanding]) -> Report:
    """Figures for `understand` over `examples`: request P/R/F1, category, urgent recall and false urgents, the
    address of recognised requests (location_*), and every message's address field by field (address_*)."""
    report = Report()
    for ex in examples:
        u = understand(ex.text)
        report.n += 1
        _count_address(report, ex.location, u.location)
        label = ex.category if ex.is_request else NONE
        predicted = (u.category or "other") if u.is_request else NONE
        report.confusion[(label, predicted)] += 1
        problems = []
        if ex.is_request and u.is_request:
            report.tp += 1
            if u.category == ex.category:
                report.category_right += 1
            else:
                problems.append("category")
            if not ex.location.is_empty:
                report.location_total += 1
                if u.location == ex.location:
                    report.location_right += 1
                else:
                    problems.append("location")
        elif ex.is_request:
            report.fn += 1
            problems.append("missed")
        elif u.is_request:
            report.fp += 1
            problems.append("false request")
        else:
            report.tn += 1
        if ex.urgency == "urgent":
            report.urgent_total += 1
            if u.urgency == "urgent":
                report.urgent_found += 1
            else:
                problems.append("URGENT MISSED")
        elif u.urgency == "urgent":
            report.urgent_alarms += 1
            problems.append("urgent false alarm")
        if problems:
            report.errors.append((ex, u, ", ".join(problems)))
    return report


def confusion_table(report: Report) -> str:
    """Rows: label; columns: prediction ('none' = not a request). Codes shortened to fit a terminal."""
    labels = [NONE, *CATEGORY_CODES]
    short = {code: code[:6] for code in labels}
    width = 7
    lines = ["label \\ predicted".ljust(14) + "".join(short[c].rjust(width) for c in labels) + "  total"]
    for row in labels:
        counts = [report.confusion.get((row, col), 0) for col in labels]
        total = sum(counts)
        if not total:
            continue
        cells = "".join((str(c) if c else ".").rjust(width) for c in counts)
        lines.append(row.ljust(14) + cells + str(total).rjust(7))
    return "\n".join(lines)
