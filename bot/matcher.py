"""Ranks knowledge-base entries for a question.

The score of an entry (0–100) blends three signals, all over canonical tokens:
- how well the best single phrasing matches (rapidfuzz over the token strings, and an
  IDF-weighted overlap that lets informative words count more than common ones);
- how much of the question's information the entry's whole vocabulary explains;
- whether one of its distinctive keywords occurs.
Before scoring, an entry's `requires` groups must all be met and none of its `excludes`
may occur: that is what turns "een buddy voor mijn hond" away from the buddy entries.
Unknown words are repaired against the vocabulary (typos) or split into known parts
(compounds) by the normaliser. What to do with the ranking is `bot.decision`'s business.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from bot.knowledge import Entry, KnowledgeBase
from bot.normalize import Normalizer

_SENTENCE = re.compile(r"(?<=[.?!])\s+|\n+")


@dataclass(frozen=True, slots=True)
class Candidate:
    entry_id: str
    score: float


@dataclass(frozen=True, slots=True)
class Weights:
    """How the signals blend into one score; tuned on the odd half of the dev set."""

    phrase: float = 0.40
    fuzzy: float = 0.15
    coverage: float = 0.30
    keyword: float = 0.15
    unknown_word: float = 0.7  # weight of a word the knowledge base never uses, relative to max idf
    # A question much of whose information the knowledge base has never seen ("mag een buddy
    # geld lenen", "een vacature") is probably about something else: its scores shrink by
    # this share of the unknown part.
    unknown_penalty: float = 0.8


@dataclass(frozen=True, slots=True)
class _Terms:
    """A set of terms, split for speed: one-word terms as one set, longer ones apart."""

    single: frozenset[str]
    multi: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, terms: tuple[frozenset[str], ...]) -> _Terms:
        single = frozenset(next(iter(t)) for t in terms if len(t) == 1)
        return cls(single, tuple(t for t in terms if len(t) > 1))

    def any_in(self, query: frozenset[str]) -> bool:
        return not self.single.isdisjoint(query) or any(t <= query for t in self.multi)


@dataclass(frozen=True, slots=True)
class _Indexed:
    entry: Entry
    phrasings: tuple[frozenset[str], ...]
    vocabulary: frozenset[str]
    keywords: _Terms
    requires: tuple[_Terms, ...]
    excludes: _Terms


class Matcher:
    """Candidates for a question, best first, with scores."""

    def __init__(
        self,
        kb: KnowledgeBase,
        normalizer: Normalizer | None = None,
        weights: Weights = Weights(),
        shortlist: int = 40,
    ) -> None:
        base = normalizer or Normalizer()
        self.weights = weights
        self.kb = kb

        def toks(text: str) -> frozenset[str]:
            return frozenset(base.tokens(text))

        indexed: list[_Indexed] = []
        self.ignored_excludes: list[tuple[str, str]] = []
        for entry in kb:
            phrasings = tuple(p for p in (toks(q) for q in (entry.title, *entry.questions)) if p)
            keywords = tuple(k for k in map(toks, entry.keywords) if k)
            vocabulary = frozenset().union(*phrasings, *keywords)
            excludes: list[frozenset[str]] = []
            for term in entry.excludes:
                tokens = toks(term)
                # After normalisation an exclude can shrink to words the entry's own
                # phrasings use ("mijn zorgverzekeraar" → zorgverzekering); it would then
                # turn away the very questions the entry is for, so it does not count.
                if not tokens or any(tokens <= p for p in phrasings):
                    self.ignored_excludes.append((entry.id, term))
                    continue
                excludes.append(tokens)
            indexed.append(_Indexed(
                entry=entry,
                phrasings=phrasings,
                vocabulary=vocabulary,
                keywords=_Terms.of(keywords),
                requires=tuple(_Terms.of(tuple(t for t in map(toks, group) if t))
                               for group in entry.requires),
                excludes=_Terms.of(tuple(excludes)),
            ))
        self._entries = indexed

        vocabulary = frozenset().union(*(e.vocabulary for e in indexed))
        for item in indexed:
            for group in item.requires:
                vocabulary |= group.single.union(*group.multi)
        self.normalizer = Normalizer(base.lexicon, vocabulary=vocabulary)

        df: Counter[str] = Counter()
        for item in indexed:
            df.update(item.vocabulary)
        n = max(1, len(indexed))
        self._idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self._unknown = weights.unknown_word * max(self._idf.values(), default=1.0)

        # Per entry: its phrasings as sorted token strings (for rapidfuzz).
        self._strings = [tuple(" ".join(sorted(p)) for p in item.phrasings) for item in indexed]
        self._phrasing_weights = [tuple(self._w(p) for p in item.phrasings) for item in indexed]
        # First stage: an inverted index from token to entries, so the information an entry
        # shares with a question is one numpy pass whatever the size of the knowledge base.
        # Only the `shortlist` entries sharing the most are scored in full (retrieve, rerank).
        postings: dict[str, list[int]] = {}
        for i, item in enumerate(indexed):
            for token in item.vocabulary:
                postings.setdefault(token, []).append(i)
        self._postings = {t: np.asarray(v, dtype=np.int32) for t, v in postings.items()}
        self.shortlist = shortlist

    def weight(self, token: str) -> float:
        return self._idf.get(token, self._unknown)

    def _w(self, tokens: frozenset[str]) -> float:
        return sum(self.weight(t) for t in tokens)

    def tokens(self, text: str) -> frozenset[str]:
        return frozenset(self.normalizer.tokens(text))

    def eligible(self, item: _Indexed, query: frozenset[str],
                 whole: frozenset[str] | None = None) -> bool:
        if item.excludes.any_in(whole or query):
            return False
        return all(group.any_in(query) for group in item.requires)

    def rank(self, text: str, limit: int = 5) -> list[Candidate]:
        """Candidates for the whole message and for each of its sentences, best score kept.

        People write context first and ask last ("Goedenavond, ik ben ouderling in …. Hoe
        pakken we dit aan?"); the question sentence alone is often the clearer signal.
        """
        best: dict[str, float] = {}
        parts = [p for p in _SENTENCE.split(text) if len(p.split()) >= 3]
        whole = self.tokens(text)
        for part in [text, *parts] if len(parts) > 1 else [text]:
            # An exclude anywhere in the message rules the entry out for every sentence.
            for candidate in self._rank(part, whole):
                if candidate.score > best.get(candidate.entry_id, -1.0):
                    best[candidate.entry_id] = candidate.score
        ranked = sorted((Candidate(k, v) for k, v in best.items()), key=lambda c: -c.score)
        return ranked[:limit]

    def _shared(self, known: list[str]) -> np.ndarray:
        """Summed weight of the known question tokens each entry's vocabulary holds."""
        shared = np.zeros(len(self._entries))
        for token in known:
            shared[self._postings[token]] += self._idf[token]  # unique ids per token
        return shared

    def _rank(self, text: str, whole: frozenset[str]) -> list[Candidate]:
        query = self.tokens(text)
        if not query:
            return []
        w = self.weights
        wq = self._w(query)
        known = sorted(t for t in query if t in self._idf)
        if not known:
            return []
        wk = self._w(frozenset(known))
        damping = 1.0 - w.unknown_penalty * (1.0 - wk / wq)

        shared = self._shared(known)
        hits = np.flatnonzero(shared)
        if len(hits) > self.shortlist:
            hits = hits[np.argpartition(shared[hits], -self.shortlist)[-self.shortlist:]]

        qstring = " ".join(sorted(query))
        out: list[Candidate] = []
        for i in (int(h) for h in hits):
            item = self._entries[i]
            if not self.eligible(item, query, whole):
                continue
            phrase = 0.0
            for p, wp in zip(item.phrasings, self._phrasing_weights[i], strict=True):
                if p.isdisjoint(query):
                    continue
                common = self._w(query & p)
                phrase = max(phrase, common / (wq + wp) + 0.5 * common / wp)
            coverage = shared[i] / wk * (wk / wq) ** 0.5
            found = process.extractOne(qstring, self._strings[i], scorer=fuzz.token_sort_ratio)
            fuzzy = found[1] / 100 if found is not None else 0.0
            keyword = 1.0 if item.keywords.any_in(query) else 0.0
            score = 100 * (w.phrase * phrase + w.coverage * float(coverage)
                           + w.fuzzy * fuzzy + w.keyword * keyword)
            out.append(Candidate(item.entry.id, round(min(score * damping, 100.0), 1)))
        return out
