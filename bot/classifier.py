"""A discriminative opinion: multinomial logistic regression over character n-grams and words.

The matcher's own scores compare a question with each entry's phrasings after normalising
its words (synonyms, stems, compounds). This classifier looks at the text nearly as written,
in pieces: every four letters within a word, the word padded with a space ("zorgverzkering"
still shares most of its pieces with "zorgverzekering"; "hervestigers" with
"hervestiging"), and every word and pair of words. It is trained on the same phrasings,
and learns which pieces tell one entry from another instead of counting what they have in
common, so "hoeveel kost het" weighs towards the entry on costs however many entries also
say "hoeveel". (Groups of three to five letters, as is usual, decided the same on the
tuning and validation sets, at nearly three times the cost of a message's first sight.)

Features: the letter groups weighted by their inverse document frequency (smoothed), summed
over the words and scaled by the root of the words' summed squares; the words and pairs of
words TF-IDF weighted (sublinear term frequency) and scaled to unit length. The model is
fitted with L-BFGS on the cross-entropy with an L2 penalty, in numpy only: some 6 s for the
real knowledge base on a 2-core machine (so `trained` keeps the weights on disk), and a
tenth of a millisecond or so per question.
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
_SPACE = re.compile(r"\s+")


def char_ngrams(text: str, low: int = 4, high: int = 4) -> list[str]:
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
_NO_VALUES = np.zeros(0)


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
        self.idf_list: list[float] = self._idf.tolist()
        self.word_letters = lru_cache(maxsize=65536)(self._word_letters_of)

    def idf_of(self, columns: np.ndarray) -> np.ndarray:
        return self._idf[columns]  # type: ignore[no-any-return]

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The sparse feature vector of `text`: column indices and values, the letter groups
        first (`letters`), then the words (`words`)."""
        lowered = text.lower()
        letters, letter_values = self.letters(lowered)
        words, word_values = self.words(lowered)
        return np.concatenate([letters, words]), np.concatenate([letter_values, word_values])

    def letters(self, lowered: str) -> tuple[np.ndarray, np.ndarray]:
        """The letter groups of each word, weighted by their idf, summed over the words and
        scaled by the root of the words' summed squares (a group two words share counts
        twice). Being a sum over words, a message's letter part is the sum of its words'
        parts: `Classifier` keeps each word's share of the outcome, and one message costs a
        sum of a few dozen cached vectors."""
        found = [self.word_letters(w) for w in lowered.split()]
        square = sum(sq for _, sq in found)
        if not square:
            return _NONE, _NO_VALUES
        columns = np.fromiter((i for ids, _ in found for i in ids), dtype=np.int64)
        return columns, self._idf[columns] / math.sqrt(square)

    def word_counts(self, lowered: str) -> Counter[int]:
        """How often each known word and pair of words occurs."""
        index = self.index[1]
        return Counter([i for i in map(index.get, word_ngrams(lowered)) if i is not None])

    def words(self, lowered: str) -> tuple[np.ndarray, np.ndarray]:
        """The words and pairs of words, sublinear TF-IDF scaled to unit length."""
        counts = self.word_counts(lowered)
        if not counts:
            return _NONE, _NO_VALUES
        columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (1.0 + np.log(tf)) * self._idf[columns]
        return columns, values / math.sqrt(float(values @ values))

    def _word_letters_of(self, word: str) -> tuple[tuple[int, ...], float]:
        """One word's known letter groups and the square of its part's length
        (`word_letters` caches this: words recur)."""
        index = self.index[0]
        found = tuple(i for i in map(index.get, char_ngrams(word)) if i is not None)
        idf = self.idf_list
        return found, sum((n * idf[i]) ** 2 for i, n in Counter(found).items())

    def fresh(self) -> Features:
        """The same features with empty caches (a new engine starts cold, as in a new
        process: `benchmarks/quality.py` times every question on first sight)."""
        copy = Features.__new__(Features)
        copy.__dict__.update(self.__dict__)
        copy.word_letters = lru_cache(maxsize=65536)(copy._word_letters_of)
        return copy


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
        # The weights times each feature's idf: `probabilities` then only scales them.
        self._scaled = weights * features.idf_of(np.arange(features.size))[:, None]

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
        """P(label | text), in `labels` order. The same features as `Features.vector`, put
        together in plain Python (a message has a few hundred; numpy's cost per call is
        what counts here) and weighed in one product with the weights times the idf."""
        lowered = text.lower()
        columns: list[int] = []
        square = 0.0
        for word in lowered.split():
            found, word_square = self.features.word_letters(word)
            columns.extend(found)
            square += word_square
        scale = [1.0 / math.sqrt(square)] * len(columns) if square else []
        counts = self.features.word_counts(lowered)
        if counts:
            idf = self.features.idf_list
            sublinear = [1.0 + math.log(n) for n in counts.values()]
            norm = math.sqrt(sum((v * idf[i]) ** 2
                                 for i, v in zip(counts, sublinear, strict=True)))
            columns.extend(counts)
            scale.extend(v / norm for v in sublinear)
        if not columns:
            return _softmax(self.bias)
        picked = np.fromiter(columns, dtype=np.int64, count=len(columns))
        weights = np.fromiter(scale, dtype=np.float64, count=len(scale))
        return _softmax(self.bias + weights @ self._scaled[picked])

    def fresh(self) -> Classifier:
        """The same model with empty caches (see `Features.fresh`)."""
        return Classifier(self.labels, self.features.fresh(), self.weights, self.bias)


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
        return _MEMO[key].fresh()
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
