"""A discriminative opinion: multinomial logistic regression over character n-grams and words.

The matcher's own scores compare a question with each entry's phrasings after normalising
its words (synonyms, stems, compounds). This classifier looks at the text nearly as written,
in pieces: every three to five letters within a word ("zorgverzkering" still shares most of
its pieces with "zorgverzekering"; "hervestigers" with "hervestiging") and every word and
pair of words. It is trained on the same phrasings, and learns which pieces tell one entry
from another instead of counting what they have in common, so "hoeveel kost het" weighs
towards the entry on costs however many entries also say "hoeveel".

Features are TF-IDF weighted (sublinear term frequency, smoothed inverse document frequency)
and each of the two kinds is scaled to unit length; the model is fitted with L-BFGS on the
cross-entropy with an L2 penalty. Only numpy: a few thousand phrasings train in about a
second, and one question takes a few hundredths of a millisecond.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain, pairwise
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
_SPACE = re.compile(r"\s+")


def char_ngrams(text: str, low: int = 3, high: int = 5) -> list[str]:
    """Letter groups of `low` to `high` characters within each word padded with a space on
    both sides (a word shorter than that counts as one group)."""
    grams: list[str] = []
    for word in _SPACE.sub(" ", text).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) <= n:
                grams.append(padded)
                break
            grams.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return grams


def word_ngrams(text: str) -> list[str]:
    """Words of two or more letters, and every pair of neighbouring words."""
    words = _WORD.findall(text)
    return [*words, *(f"{a} {b}" for a, b in pairwise(words))]


_KINDS = (char_ngrams, word_ngrams)
_NONE = np.zeros(0, dtype=np.int64)


class Features:
    """The vocabulary and inverse document frequencies of the training texts, per kind."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.index: list[dict[str, int]] = []
        self.idf: list[np.ndarray] = []
        offset = 0
        n = len(texts)
        for kind in _KINDS:
            df: Counter[str] = Counter()
            for text in texts:
                df.update(set(kind(text.lower())))
            terms = sorted(df)
            self.index.append({t: offset + i for i, t in enumerate(terms)})
            self.idf.append(np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in terms]))
            offset += len(terms)
        self.size = offset
        self._idf = np.concatenate(self.idf) if self.idf else np.zeros(0)
        self._letters = lru_cache(maxsize=65536)(self._letters_of)

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The sparse feature vector of `text`: column indices and values (the letter groups
        first, then the words, each part scaled to unit length)."""
        lowered = text.lower()
        pieces = list(map(self._letters, lowered.split()))
        letters, letter_counts = _counted(np.concatenate(pieces) if pieces else _NONE)
        index = self.index[1]
        found = [i for i in map(index.get, word_ngrams(lowered)) if i is not None]
        words, word_counts = _counted(np.asarray(found, dtype=np.int64))
        columns = np.concatenate([letters, words])
        values = (1.0 + np.log(np.concatenate([letter_counts, word_counts]))) * self._idf[columns]
        for part in (values[: len(letters)], values[len(letters):]):
            if len(part):
                part /= math.sqrt(float(part @ part))
        return columns, values

    def _letters_of(self, word: str) -> np.ndarray:
        """The known letter groups of one word (words recur: `_letters` caches this)."""
        index = self.index[0]
        found = [i for i in map(index.get, char_ngrams(word)) if i is not None]
        return np.asarray(found, dtype=np.int64)


def _counted(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of `ids`, sorted, and how often each occurs (`np.unique` with
    counts, without its overhead on the few hundred values of one message)."""
    if not len(ids):
        return ids, ids
    ids = np.sort(ids)
    first = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    return ids[first], np.diff(np.append(first, len(ids)))


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

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], c: float = C,
            iterations: int = ITERATIONS) -> Classifier:
        """`c`: inverse strength of the L2 penalty on the weights (not on the biases), as in
        scikit-learn's `LogisticRegression(C=c)`; `iterations` of L-BFGS from all zeros."""
        kept = [(t, y) for t, y in zip(texts, labels, strict=True) if t.strip()]
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
        columns, values = self.features.vector(text)
        return _softmax(self.bias + values @ self.weights[columns])


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
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    digest.update(json.dumps([c, iterations, list(texts), list(labels)],
                             ensure_ascii=False).encode())
    key = digest.hexdigest()[:32]
    if key in _MEMO:
        return _MEMO[key]
    model: Classifier | None = None
    path = cache_dir / f"classifier-{key}.npz" if cache_dir is not None else None
    if path is not None and path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                kept = [(t, y) for t, y in zip(texts, labels, strict=True) if t.strip()]
                model = Classifier.restored(tuple(str(x) for x in stored["labels"]),
                                 Features([t for t, _ in kept]),
                                 stored["weights"], stored["bias"])
        except (OSError, ValueError, KeyError) as exc:
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
