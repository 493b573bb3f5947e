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
class _Indexed:
    entry: Entry
    phrasings: tuple[frozenset[str], ...]
    vocabulary: frozenset[str]
    keywords: tuple[frozenset[str], ...]
    requires: tuple[tuple[frozenset[str], ...], ...]
    excludes: tuple[frozenset[str], ...]


class Matcher:
    """Candidates for a question, best first, with scores."""

    def __init__(
        self, kb: KnowledgeBase, normalizer: Normalizer | None = None, weights: Weights = Weights()
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
                keywords=keywords,
                requires=tuple(tuple(t for t in map(toks, group) if t) for group in entry.requires),
                excludes=tuple(excludes),
            ))
        self._entries = indexed

        vocabulary = frozenset().union(*(e.vocabulary for e in indexed))
        for item in indexed:
            for group in item.requires:
                vocabulary |= frozenset().union(*group)
        self.normalizer = Normalizer(base.lexicon, vocabulary=vocabulary)

        df: Counter[str] = Counter()
        for item in indexed:
            df.update(item.vocabulary)
        n = max(1, len(indexed))
        self._idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self._unknown = weights.unknown_word * max(self._idf.values(), default=1.0)

        # Flat list of phrasing strings for one rapidfuzz pass per question.
        self._strings: list[str] = []
        self._owner: list[int] = []
        for i, item in enumerate(indexed):
            for p in item.phrasings:
                self._strings.append(" ".join(sorted(p)))
                self._owner.append(i)

    def weight(self, token: str) -> float:
        return self._idf.get(token, self._unknown)

    def _w(self, tokens: frozenset[str]) -> float:
        return sum(self.weight(t) for t in tokens)

    def tokens(self, text: str) -> frozenset[str]:
        return frozenset(self.normalizer.tokens(text))

    @staticmethod
    def _has(query: frozenset[str], term: frozenset[str]) -> bool:
        return term <= query

    def eligible(self, item: _Indexed, query: frozenset[str],
                 whole: frozenset[str] | None = None) -> bool:
        if any(self._has(whole or query, term) for term in item.excludes):
            return False
        return all(any(self._has(query, term) for term in group) for group in item.requires)

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

    def _rank(self, text: str, whole: frozenset[str]) -> list[Candidate]:
        query = self.tokens(text)
        if not query:
            return []
        wq = self._w(query)
        known = frozenset(t for t in query if t in self._idf)
        wk = self._w(known) or 1.0
        qstring = " ".join(sorted(query))
        fuzzy_best: dict[int, float] = {}
        for _, score, idx in process.extract(
            qstring, self._strings, scorer=fuzz.token_sort_ratio, limit=None, score_cutoff=30
        ):
            owner = self._owner[idx]
            if score > fuzzy_best.get(owner, 0.0):
                fuzzy_best[owner] = score
        w = self.weights
        unknown_share = 1.0 - self._w(known) / wq if wq else 0.0
        damping = 1.0 - w.unknown_penalty * unknown_share
        out: list[Candidate] = []
        for i, item in enumerate(self._entries):
            if not (query & item.vocabulary) or not self.eligible(item, query, whole):
                continue
            phrase = 0.0
            for p in item.phrasings:
                shared = self._w(query & p)
                if shared == 0.0:
                    continue
                dice = 2 * shared / (wq + self._w(p))
                cover = shared / self._w(p)
                phrase = max(phrase, 0.5 * dice + 0.5 * cover)
            coverage = self._w(query & item.vocabulary) / wk * (wk / wq) ** 0.5
            keyword = 1.0 if any(self._has(query, k) for k in item.keywords) else 0.0
            score = 100 * (
                w.phrase * phrase
                + w.fuzzy * fuzzy_best.get(i, 0.0) / 100
                + w.coverage * coverage
                + w.keyword * keyword
            )
            out.append(Candidate(item.entry.id, round(min(score * damping, 100.0), 1)))
        return out
