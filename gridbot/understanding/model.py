"""A learned model beside the rules: is it a request, of which category, is it urgent.

Features are the character 1-, 2- and 3-grams of the normalised message (plus start/end marks), kept when at least
`min_df` training messages hold them; each message's feature vector is binary, scaled to unit length. Three linear
heads share them: request (logistic), urgent (logistic), category (softmax over CATEGORY_CODES, trained on the
requests only). Training is plain full-batch gradient descent with momentum and L2, on numpy only, single-threaded
arithmetic in a fixed order from zero weights: the same examples give the same bytes.

The model file is small and self-describing: zlib-compressed JSON holding the vocabulary (sorted), the weights as
float32 little-endian (base64) and the training summary. `load_shipped()` reads gridbot/understanding/data/model.bin
(built by `gridbot understanding train --shipped` from the labelled corpus); a community's own model (retrained from
its corrections) lives in the instance dir and is preferred when present (see gridbot.understanding.get_model).
"""
from __future__ import annotations

import base64
import csv
import json
import math
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from operator import add
from pathlib import Path
from typing import Any

import numpy as np

from .understander import CATEGORY_CODES

FORMAT = "gridbot-understanding-model/1"
MODEL_FILE = "understanding_model.bin"        # a community's own model in the instance dir (as in __init__)
SHIPPED_MODEL = "model.bin"                   # in gridbot/understanding/data/
SHIPPED_TRAINING = "training.tsv"             # the examples the shipped model was trained on
NGRAMS = (1, 2, 3)          # Model.feature_ids has these sizes built in

_NOISE_RE = re.compile(r"\[[\u4e00-\u9fffA-Za-z]{1,4}\]|[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200d]")
_MENTION_RE = re.compile(r"@\S{1,20}?(?:\s|\u2005|$)")
_SPACE_RE = re.compile(r"[\s，,。.！!？?；;：:、~～…\-—_/|()（）【】\"'“”‘’]+")


def normalise(text: str) -> str:
    """NFKC, lower case, WeChat emoji tags and @-mentions out, punctuation and spaces as one space."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _NOISE_RE.sub(" ", text)
    if "@" in text:   # (without one the mention pattern changes nothing: the space it adds is stripped below)
        text = _MENTION_RE.sub(" ", text + " ")
    return _SPACE_RE.sub(" ", text).strip()


def ngrams(text: str) -> set[str]:
    """The distinct character n-grams of a normalised message, with ^ and $ marking its start and end."""
    s = f"^{text}$"
    out: set[str] = set()
    n = len(s)
    for size in NGRAMS:
        for i in range(n - size + 1):
            out.add(s[i:i + size])
    out.discard("^")
    out.discard("$")
    return out


@dataclass(frozen=True)
class TrainingExample:
    text: str
    is_request: bool
    category: str | None
    urgent: bool
    weight: float = 1.0


@dataclass(frozen=True)
class Prediction:
    p_request: float
    category: str
    p_category: float
    p_urgent: float

    def to_dict(self) -> dict[str, Any]:
        return {"request": round(self.p_request, 3), "category": self.category,
                "category_p": round(self.p_category, 3), "urgent": round(self.p_urgent, 3)}


_new = object.__new__
_add_reduce = np.add.reduce


def _prob(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


class Model:
    """The vocabulary and the weights: columns 0 request, 1 urgent, 2.. categories (CATEGORY_CODES order)."""

    def __init__(self, vocab: Sequence[str], weights: np.ndarray, bias: np.ndarray, info: dict[str, Any]) -> None:
        self.vocab = list(vocab)
        self.index = {gram: i for i, gram in enumerate(self.vocab)}
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.info = info
        self.categories = tuple(info.get("categories") or CATEGORY_CODES)
        self._rows = np.ascontiguousarray(self.weights)     # float32: half the cache the rules' tables compete for
        self._bias = self.bias.astype(np.float64)

    # -- prediction ---------------------------------------------------------------------------------
    def feature_ids(self, text: str) -> set[int]:
        """The vocabulary indices of the message's n-grams: `ngrams`, with the loops in C (map over the string and
        its shifts), as this runs for every message; a test checks both give the same features."""
        s = f"^{normalise(text)}$"
        get = self.index.get
        pairs = list(map(add, s, s[1:]))
        ids = set(map(get, s))
        ids.update(map(get, pairs))
        ids.update(map(get, map(add, pairs, s[2:])))
        ids.discard(None)
        return ids  # type: ignore[return-value]  # None was just taken out

    def logits(self, text: str) -> list[float]:
        ids = self.feature_ids(text)
        if not ids:
            return self._bias.tolist()
        n = len(ids)
        picked = self._rows.take(np.fromiter(ids, np.intp, n), 0)
        # np.add.reduce: what ndarray.sum calls, without its Python wrapper (the same sum, bit for bit)
        return (_add_reduce(picked, 0, np.float64) * (1.0 / math.sqrt(n)) + self._bias).tolist()

    def predict(self, text: str) -> Prediction:
        z = self.logits(text)
        cats = z[2:]
        top = max(cats)
        best = cats.index(top)
        total = sum([math.exp(c - top) for c in cats])
        # Built without the frozen dataclass's __init__ (one object.__setattr__ per field): the same object
        prediction = _new(Prediction)
        prediction.__dict__.update(p_request=_prob(z[0]), category=self.categories[best], p_category=1.0 / total,
                                   p_urgent=_prob(z[1]))
        return prediction

    # -- the file -----------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        doc = {"format": FORMAT, "info": self.info, "vocab": self.vocab,
               "shape": list(self.weights.shape),
               "weights": base64.b64encode(self.weights.astype("<f4").tobytes()).decode("ascii"),
               "bias": base64.b64encode(self.bias.astype("<f4").tobytes()).decode("ascii")}
        raw = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return zlib.compress(raw, 9)

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        try:
            doc = json.loads(zlib.decompress(data).decode("utf-8"))
            if doc.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            shape = tuple(doc["shape"])
            weights = np.frombuffer(base64.b64decode(doc["weights"]), dtype="<f4").reshape(shape)
            bias = np.frombuffer(base64.b64decode(doc["bias"]), dtype="<f4")
            if len(doc["vocab"]) != shape[0] or bias.shape[0] != shape[1]:
                raise ValueError("vocabulary and weights do not match")
        except (zlib.error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable model file: {exc}") from None
        return cls(doc["vocab"], weights, bias, doc.get("info") or {})

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)      # a running worker never reads half a file

    @classmethod
    def load(cls, path: Path) -> Model:
        return cls.from_bytes(Path(path).read_bytes())


def load_shipped() -> Model:
    return Model.from_bytes(resources.files(__package__).joinpath("data", SHIPPED_MODEL).read_bytes())


# -- training data ----------------------------------------------------------------------------------
TRAINING_COLUMNS = ("is_request", "category", "urgency", "text")


def read_training(text: str) -> list[TrainingExample]:
    """The shipped training set's TSV (is_request, category, urgency, text)."""
    rows = csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    out = []
    for row in rows:
        is_request = row["is_request"].strip() == "1"
        category = row["category"].strip()
        out.append(TrainingExample(text=row["text"], is_request=is_request,
                                   category=category if is_request and category in CATEGORY_CODES else None,
                                   urgent=row["urgency"].strip() == "urgent"))
    return out


def shipped_training() -> list[TrainingExample]:
    return read_training(resources.files(__package__).joinpath("data", SHIPPED_TRAINING).read_text("utf-8"))


def write_training(examples: Iterable[TrainingExample]) -> str:
    lines = ["\t".join(TRAINING_COLUMNS)]
    for ex in examples:
        text = ex.text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
        lines.append("\t".join(("1" if ex.is_request else "0", ex.category or "-",
                                "urgent" if ex.urgent else "normal", text)))
    return "\n".join(lines) + "\n"


# -- training ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    min_df: int = 2            # an n-gram must occur in this many training messages
    l2: float = 1e-4           # L2 penalty per weight (on the mean loss)
    steps: int = 400
    rate: float = 4.0
    momentum: float = 0.9
    urgent_weight: float = 3.0  # an urgent message counts this much more in the urgent head: a miss costs most


def _reduce(values: np.ndarray, keys: np.ndarray, size: int) -> np.ndarray:
    """Sum the rows of `values` per key (keys sorted ascending), into a (size, K) array: fixed order, no threads."""
    out = np.zeros((size, values.shape[1]), dtype=np.float64)
    if len(keys) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    out[keys[starts]] = np.add.reduceat(values, starts, axis=0)
    return out


def train(examples: Sequence[TrainingExample], settings: Settings | None = None) -> Model:
    """Fit the three heads on `examples` (their order matters only through their content: they are sorted)."""
    settings = settings or Settings()
    if not examples:
        raise ValueError("no training examples")
    examples = sorted(examples, key=lambda ex: (ex.text, ex.is_request, ex.category or "", ex.urgent, ex.weight))
    grams = [ngrams(normalise(ex.text)) for ex in examples]
    df: dict[str, int] = {}
    for g in grams:
        for gram in g:
            df[gram] = df.get(gram, 0) + 1
    vocab = sorted(gram for gram, count in df.items() if count >= settings.min_df)
    index = {gram: i for i, gram in enumerate(vocab)}
    n, v = len(examples), len(vocab)
    cats = list(CATEGORY_CODES)
    k = 2 + len(cats)

    rows_l: list[int] = []
    cols_l: list[int] = []
    vals_l: list[float] = []
    for r, g in enumerate(grams):
        ids = sorted(index[gram] for gram in g if gram in index)
        if not ids:
            continue
        scale = 1.0 / math.sqrt(len(ids))
        rows_l.extend([r] * len(ids))
        cols_l.extend(ids)
        vals_l.extend([scale] * len(ids))
    rows = np.array(rows_l, dtype=np.int64)
    cols = np.array(cols_l, dtype=np.int64)
    vals = np.array(vals_l, dtype=np.float64)
    by_col = np.argsort(cols, kind="stable")
    cols_sorted = cols[by_col]

    weight = np.array([ex.weight for ex in examples], dtype=np.float64)
    y_req = np.array([1.0 if ex.is_request else 0.0 for ex in examples])
    y_urg = np.array([1.0 if ex.urgent else 0.0 for ex in examples])
    w_req = weight / weight.sum()
    w_urg = weight * np.where(y_urg > 0, settings.urgent_weight, 1.0)
    w_urg = w_urg / w_urg.sum()
    is_cat = np.array([ex.is_request and ex.category in cats for ex in examples])
    y_cat = np.zeros((n, len(cats)))
    for r, ex in enumerate(examples):
        if is_cat[r]:
            y_cat[r, cats.index(ex.category or "other")] = 1.0
    w_cat = weight * is_cat
    w_cat = w_cat / w_cat.sum() if w_cat.sum() else w_cat

    W = np.zeros((v, k))
    b = np.zeros(k)
    vW = np.zeros_like(W)
    vb = np.zeros_like(b)
    for _ in range(settings.steps):
        Z = _reduce(W[cols] * vals[:, None], rows, n) + b
        E = np.zeros((n, k))
        E[:, 0] = (_sigmoid(Z[:, 0]) - y_req) * w_req
        E[:, 1] = (_sigmoid(Z[:, 1]) - y_urg) * w_urg
        zc = Z[:, 2:] - Z[:, 2:].max(axis=1, keepdims=True)
        pc = np.exp(zc)
        pc /= pc.sum(axis=1, keepdims=True)
        E[:, 2:] = (pc - y_cat) * w_cat[:, None]
        gW = _reduce((E[rows] * vals[:, None])[by_col], cols_sorted, v) + settings.l2 * W
        gb = E.sum(axis=0)
        vW = settings.momentum * vW - settings.rate * gW
        vb = settings.momentum * vb - settings.rate * gb
        W += vW
        b += vb

    info = {"categories": cats, "examples": n, "requests": int(y_req.sum()), "urgent": int(y_urg.sum()),
            "vocabulary": v, "min_df": settings.min_df, "l2": settings.l2, "steps": settings.steps,
            "rate": settings.rate, "momentum": settings.momentum, "urgent_weight": settings.urgent_weight,
            "corrections": int(sum(1 for ex in examples if ex.weight != 1.0))}
    return Model(vocab, W.astype(np.float32), b.astype(np.float32), info)
