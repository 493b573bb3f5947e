"""A discriminative opinion: multinomial logistic regression over character n-grams and words.

The matcher's own scores compare a question with each entry's phrasings after normalising
its words (synonyms, stems, compounds). This classifier looks at the text nearly as written,
in pieces: every four letters within a word, the word padded with a space ("zorgverzkering"
still shares most of its pieces with "zorgverzekering"; "hervestigers" with
"hervestiging"), and every word and pair of words. It is trained on the same phrasings,
and learns which pieces tell one entry from another instead of counting what they have in
common, so "hoeveel kost het" weighs towards the entry on costs however many entries also
say "hoeveel". (Groups of three to five letters, as is usual, decided the same on the
tuning and validation sets, with 11 000 more features.)

Features: each occurrence of a letter group weighs its inverse document frequency
(smoothed), and the sum is scaled by the root of the sum of their squares; the words and
pairs of words are TF-IDF weighted (sublinear term frequency) and scaled to unit length.
The model is fitted with L-BFGS on the cross-entropy with an L2 penalty, in numpy only:
5-10 s for the real knowledge base on a 2-core machine (so `trained` keeps the weights on
disk), and about a quarter of a millisecond per question.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Tuned on the tuning halves (README, "Answer quality"): the penalty's inverse strength, and
# the number of L-BFGS steps (stopping early is itself a regulariser: more steps fit the
# phrasings closer and answered no better).
C = 10.0
ITERATIONS = 30
# Training time grows with the number of labels (some 6 s for the 37 of the real base on
# this 2-core machine): a base with more entries and kinds than this uses naive Bayes.
MAX_LABELS = 100

_WORD = re.compile(r"(?u)\b\w\w+\b")


def letter_codes(text: str) -> np.ndarray:
    """Every four consecutive bytes (UTF-8) within a word padded with a space on both sides,
    as one 32-bit number each: " hoe", "hoe ", " bud", "budd", "uddy", "ddy ". A word of one
    letter has none. Vectorised, so a message's first sight costs the same as its second."""
    data = np.frombuffer(f" {' '.join(text.split())} ".encode(), dtype=np.uint8)
    if len(data) < 4:
        return _NO_CODES
    wide = data.astype(np.uint32)
    codes = (wide[:-3] << 24) | (wide[1:-2] << 16) | (wide[2:-1] << 8) | wide[3:]
    within = (data[1:-2] != _BLANK) & (data[2:-1] != _BLANK)
    return codes[within]  # type: ignore[no-any-return]


def word_ngrams(text: str) -> list[str]:
    """Words of two or more letters, and every pair of neighbouring words."""
    words = _WORD.findall(text)
    return [*words, *(f"{a} {b}" for a, b in pairwise(words))]


_NONE = np.zeros(0, dtype=np.int64)
_NO_CODES = np.zeros(0, dtype=np.uint32)
_BLANK = ord(" ")
_NO_VALUES = np.zeros(0)


class Features:
    """The letter groups and the words of the training texts, with their inverse document
    frequencies (smoothed). Features are numbered letter groups first, then words."""

    def __init__(self, texts: Sequence[str]) -> None:
        n = len(texts)
        lowered = [t.lower() for t in texts]
        seen = [np.unique(letter_codes(t)) for t in lowered]
        self.codes, df_letters = np.unique(np.concatenate([*seen, _NO_CODES]),
                                           return_counts=True)
        df_words: Counter[str] = Counter()
        for text in lowered:
            df_words.update(set(word_ngrams(text)))
        # A pair of words only one training text uses tells nothing about the next
        # question (some 10 000 of them): left out, the tuning and validation halves
        # gained 3 each and the weights shrank by two fifths.
        terms = sorted(t for t, m in df_words.items() if m > 1 or " " not in t)
        self.index = {t: len(self.codes) + i for i, t in enumerate(terms)}
        df = np.concatenate([df_letters, np.array([df_words[t] for t in terms], dtype=np.int64)])
        self.size = len(df)
        self.idf = np.log((1 + n) / (1 + df)) + 1.0
        self.idf_list: list[float] = self.idf.tolist()  # the same, for plain-Python sums

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The sparse feature vector of `text`: column indices and values, the letter groups
        first (`letters`), then the words (`words`)."""
        lowered = text.lower()
        letters = self.letters(lowered)
        words, word_values = self.words(lowered)
        letter_values = self.idf[letters]
        if len(letters):
            letter_values = letter_values / math.sqrt(float(letter_values @ letter_values))
        return np.concatenate([letters, words]), np.concatenate([letter_values, word_values])

    def letters(self, lowered: str) -> np.ndarray:
        """The known letter groups of a message, once for each time they occur. Their part
        of the vector is each group's idf, summed, scaled by the root of the sum of the
        squares of those idfs (a repeated group counts as often as it occurs)."""
        codes = letter_codes(lowered)
        if not len(codes) or not len(self.codes):
            return _NONE
        where = np.searchsorted(self.codes, codes)
        where[where == len(self.codes)] = 0
        return where[self.codes[where] == codes]  # type: ignore[no-any-return]

    def word_counts(self, lowered: str) -> Counter[int]:
        """How often each known word and pair of words occurs."""
        index = self.index
        return Counter([i for i in map(index.get, word_ngrams(lowered)) if i is not None])

    def words(self, lowered: str) -> tuple[np.ndarray, np.ndarray]:
        """The words and pairs of words, sublinear TF-IDF scaled to unit length."""
        counts = self.word_counts(lowered)
        if not counts:
            return _NONE, _NO_VALUES
        columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf[columns]
        return columns, values / math.sqrt(float(values @ values))


class _Sparse:
    """Rows of feature vectors in coordinate form, with the two products training needs."""

    def __init__(self, rows: Sequence[tuple[np.ndarray, np.ndarray]], width: int) -> None:
        self.columns = np.concatenate([c for c, _ in rows])
        self.values = np.concatenate([v for _, v in rows])
        self.rows = np.repeat(np.arange(len(rows)), [len(c) for c, _ in rows])
        self.height = len(rows)
        self.width = width

    def dot(self, w: np.ndarray) -> np.ndarray:
        """(X @ wᵀ)ᵀ for a (k, width) matrix w: one row per label."""
        return np.stack([np.bincount(self.rows, weights=self.values * wk[self.columns],
                                     minlength=self.height) for wk in w])

    def tdot(self, g: np.ndarray) -> np.ndarray:
        """(Xᵀ @ gᵀ)ᵀ for a (k, rows) matrix g: one row per label."""
        return np.stack([np.bincount(self.columns, weights=self.values * gk[self.rows],
                                     minlength=self.width) for gk in g])


def _usable(texts: Sequence[str], labels: Sequence[str]) -> list[tuple[str, str]]:
    """The (text, label) pairs a classifier learns from: those with a text."""
    return [(t, y) for t, y in zip(texts, labels, strict=True) if t.strip()]


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


class Classifier:
    """P(label | text) over the labels it was trained on, in `labels` order."""

    def __init__(self, labels: tuple[str, ...], features: Features, weights: np.ndarray,
                 bias: np.ndarray) -> None:
        self.labels = labels
        self.features = features
        self.weights = weights  # one row per feature, one column per label
        self.bias = bias
        # The weights times each feature's idf, and the idf squared: `probabilities` then
        # only sums and scales them. In single precision: a question gathers a few hundred
        # rows from all over the table, and half the bytes are half the cache misses (the
        # decisions on every evaluation set are the same).
        idf = features.idf
        self._scaled = (weights * idf[:, None]).astype(np.float32)
        self._square = idf * idf

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], c: float = C,
            iterations: int = ITERATIONS) -> Classifier:
        """`c`: inverse strength of the L2 penalty on the weights (not on the biases), as in
        scikit-learn's `LogisticRegression(C=c)`; `iterations` of L-BFGS from all zeros."""
        kept = _usable(texts, labels)
        names = tuple(sorted({y for _, y in kept}))
        features = Features([t for t, _ in kept])
        rows = [(features.vector(t), y) for t, y in kept]
        rows = [(r, y) for r, y in rows if len(r[0])]
        k, width = len(names), features.size
        if not rows:
            return cls(names, features, np.zeros((width, k)), np.zeros(k))
        x = _Sparse([r for r, _ in rows], width)
        number = {y: i for i, y in enumerate(names)}
        onehot = np.zeros((k, len(rows)))
        onehot[[number[y] for _, y in rows], np.arange(len(rows))] = 1.0

        def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w = theta[: width * k].reshape(k, width)
            b = theta[width * k:]
            logits = x.dot(w) + b[:, None]
            z = logits - logits.max(axis=0, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=0, keepdims=True))
            loss = -float((onehot * log_p).sum()) + float((w * w).sum()) / (2 * c)
            residual = np.exp(log_p) - onehot
            grad_w = x.tdot(residual) + w / c
            grad_b = residual.sum(axis=1)
            return loss, np.concatenate([grad_w.ravel(), grad_b])

        theta = _lbfgs(loss_and_gradient, np.zeros(width * k + k), iterations)
        # Stored one row per feature: a question's few features are then few rows.
        weights = np.ascontiguousarray(theta[: width * k].reshape(k, width).T)
        return cls(names, features, weights, theta[width * k:].copy())

    @classmethod
    def restored(cls, labels: tuple[str, ...], features: Features, weights: np.ndarray,
                 bias: np.ndarray) -> Classifier:
        """A classifier from stored weights, checked against the features they are for."""
        if weights.shape != (features.size, len(labels)) or bias.shape != (len(labels),):
            raise ValueError("stored weights do not fit the features")
        return cls(labels, features, weights, bias)

    def probabilities(self, text: str) -> np.ndarray:
        """P(label | text), in `labels` order: the features of `Features.vector`, weighed
        with the weights times each feature's idf in one product (a message's cost is the
        number of numpy calls more than their size)."""
        lowered = text.lower()
        letters = self.features.letters(lowered)
        scale: list[float] = []
        if len(letters):
            scale = [1.0 / math.sqrt(float(self._square[letters].sum()))] * len(letters)
        counts = self.features.word_counts(lowered)
        if counts:
            idf = self.features.idf_list
            sublinear = [1.0 + math.log(n) for n in counts.values()]
            norm = math.sqrt(sum((v * idf[i]) ** 2
                                 for i, v in zip(counts, sublinear, strict=True)))
            scale.extend(v / norm for v in sublinear)
            letters = np.concatenate([letters, np.fromiter(counts, dtype=np.int64,
                                                           count=len(counts))])
        if not scale:
            return _softmax(self.bias)
        return _softmax(self.bias + np.asarray(scale) @ self._scaled[letters])


_CODE = Path(__file__).read_bytes()  # part of every cache key: read once, not per engine
_MEMO: dict[str, Classifier] = {}
_MEMO_SIZE = 8
_CACHE_KEEP = 8


def trained(texts: Sequence[str], labels: Sequence[str], cache_dir: Path | None = None,
            c: float = C, iterations: int = ITERATIONS) -> Classifier:
    """The classifier fitted on `texts` and `labels`, trained once: kept in the process
    (engines built again in one process share it) and, with `cache_dir`, on disk, so that
    each web process and command line run after the first starts in a moment. The file is
    named by a hash of everything the weights depend on (this module's code, the settings,
    the texts and labels): a changed knowledge base trains afresh, never reads stale
    weights. A cache that cannot be read or written is skipped, with a warning."""
    digest = hashlib.sha256(_CODE)
    digest.update(json.dumps([c, iterations, list(texts), list(labels)],
                             ensure_ascii=False).encode())
    key = digest.hexdigest()[:32]
    if key in _MEMO:
        return _MEMO[key]
    model: Classifier | None = None
    path = cache_dir / f"classifier-{key}.npz" if cache_dir is not None else None
    if path is not None and path.exists():
        try:
            # Opened here, not by numpy: a damaged file must not leave it open.
            with path.open("rb") as handle, np.load(handle, allow_pickle=False) as stored:
                model = Classifier.restored(tuple(str(x) for x in stored["labels"]),
                                            Features([t for t, _ in _usable(texts, labels)]),
                                            stored["weights"], stored["bias"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("classifier cache %s unreadable (%s): training afresh", path, exc)
            model = None
    if model is None:
        model = Classifier.fit(texts, labels, c, iterations)
        if path is not None:
            _store(path, model)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = model
    return model


def _store(path: Path, model: Classifier) -> None:
    """Writes `model`'s weights atomically (a reader never sees half a file; processes
    training at once each write the same bytes) and keeps the newest few files."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, labels=np.array(model.labels), weights=model.weights,
                     bias=model.bias)
        os.replace(temporary, path)
        stored = sorted(path.parent.glob("classifier-*.npz"),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for old in stored[_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("classifier cache %s not written (%s)", path.parent, exc)


def _lbfgs(f, theta: np.ndarray, iterations: int, tolerance: float = 1e-6,  # type: ignore[no-untyped-def]
           memory: int = 5) -> np.ndarray:
    """Minimises a smooth convex `f` (returning value and gradient) by limited-memory BFGS
    with a backtracking line search; stops when the gradient's largest component is under
    `tolerance` times the start's, or after `iterations` steps."""
    value, grad = f(theta)
    start = max(float(np.abs(grad).max()), 1e-12)
    s_list: list[np.ndarray] = []
    y_list: list[np.ndarray] = []
    rhos: list[float] = []
    for _ in range(iterations):
        if float(np.abs(grad).max()) <= tolerance * start:
            break
        # Two-loop recursion: the direction -H·grad.
        q = grad.copy()
        alphas: list[float] = []
        for s, yv, rho in zip(reversed(s_list), reversed(y_list), reversed(rhos), strict=True):
            a = rho * float(s @ q)
            alphas.append(a)
            q -= a * yv
        if s_list:
            q *= float(s_list[-1] @ y_list[-1]) / float(y_list[-1] @ y_list[-1])
        else:
            q /= max(float(np.linalg.norm(grad)), 1e-12)
        for s, yv, rho, a in zip(s_list, y_list, rhos, reversed(alphas), strict=True):
            beta = rho * float(yv @ q)
            q += (a - beta) * s
        direction = -q
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: start the memory afresh
            s_list.clear()
            y_list.clear()
            rhos.clear()
            direction = -grad / max(float(np.linalg.norm(grad)), 1e-12)
            slope = float(grad @ direction)
        step = 1.0
        while True:
            candidate = theta + step * direction
            new_value, new_grad = f(candidate)
            if new_value <= value + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s_vec = candidate - theta
        y_vec = new_grad - grad
        curvature = float(s_vec @ y_vec)
        if curvature > 1e-10:
            s_list.append(s_vec)
            y_list.append(y_vec)
            rhos.append(1.0 / curvature)
            if len(s_list) > memory:
                del s_list[0], y_list[0], rhos[0]
        theta, value, grad = candidate, new_value, new_grad
    return theta
