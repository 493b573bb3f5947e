"""A third opinion on a question: BM25 over the words as written.

The matcher's score looks at canonical tokens: stemmed, repaired, split, with synonyms
merged; its support (`bot.classifier`) at letter groups and words. When both lean towards an
entry that a plain word search finds far weaker than another entry, the three disagree about
what the question is about, and an answer is a guess (`bot.decision`). BM25 (Lucene's
variant) is the usual search-engine ranking: each entry is one document, its title,
phrasings and keywords, in folded words (lower case, no accents, SMS shorthand written out),
neither stemmed nor merged. `benchmarks/quality.py` runs the same kind of ranking on its own
as a baseline.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

K1 = 1.5  # how quickly more occurrences of a word stop adding to an entry's score
B = 0.75  # how much a long entry (many phrasings) is discounted


class Lexical:
    def __init__(self, documents: Sequence[Sequence[str]],
                 words: Callable[[str], Sequence[str]]) -> None:
        """`documents`: per entry, its texts; `words`: how a text becomes words (the same
        for the entries and for a question)."""
        self._words = words
        bags = [Counter(w for text in texts for w in words(text)) for texts in documents]
        lengths = np.asarray([sum(bag.values()) for bag in bags], dtype=float)
        average = float(lengths.mean()) if len(bags) and lengths.mean() > 0 else 1.0
        n = len(bags)
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for i, bag in enumerate(bags):
            norm = K1 * (1 - B + B * lengths[i] / average)
            for word, tf in bag.items():
                rows, weights = postings.setdefault(word, ([], []))
                rows.append(i)
                weights.append(tf * (K1 + 1) / (tf + norm))
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for word, (rows, weights) in postings.items():
            idf = math.log(1 + (n - len(rows) + 0.5) / (len(rows) + 0.5))
            self._postings[word] = (np.asarray(rows, dtype=np.int32),
                                    np.asarray(weights) * idf)
        self._size = n

    def scores(self, text: str) -> np.ndarray:
        """Per entry, its BM25 score for `text` (each distinct word counted once). The words
        are summed in sorted order, not a set's: every web process adds the same floats in
        the same order and answers a message alike."""
        found = [self._postings[w] for w in sorted(set(self._words(text)))
                 if w in self._postings]
        if not found:
            return np.zeros(self._size)
        return np.bincount(np.concatenate([r for r, _ in found]),
                           weights=np.concatenate([w for _, w in found]),
                           minlength=self._size)

    def relative(self, text: str) -> np.ndarray | None:
        """Per entry, its score as a share of the best entry's (0-1); None when no entry
        shares a word with `text`."""
        scores = self.scores(text)
        best = float(scores.max()) if len(scores) else 0.0
        return scores / best if best > 0 else None
