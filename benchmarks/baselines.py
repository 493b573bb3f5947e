"""The approaches a team would otherwise pick, behind the same front-end as ours.

Both baselines answer with their best-scoring entry when its score reaches one cut-off
and escalate otherwise; they never ask a clarifying question. The front-end (empty
messages, intents, other languages) is `bot.dialogue.DialogueEngine.decide`'s, rebuilt
here from the same public parts, so that the comparison is about knowledge-base matching.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import bm25s
from rapidfuzz import fuzz, process, utils

from bot.decision import Decision, Kind
from bot.dialogue import MAX_MATCHED, WEAK_INTENT_MAX_WORDS
from bot.intents import Intents
from bot.knowledge import Entry, KnowledgeBase
from bot.language import Detected, detect
from bot.normalize import has_letters

_WORD = re.compile(r"\w+")

Match = Callable[[str], Decision]


def phrasings(entry: Entry) -> tuple[str, ...]:
    """What a baseline may match against: the title, the questions and the keywords."""
    return (entry.title, *entry.questions, *entry.keywords)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class Scorer(Protocol):
    name: str

    def best(self, text: str) -> tuple[str, float] | None:
        """The best entry id and its score, or None when nothing scores at all."""


class FuzzBaseline:
    """Plain rapidfuzz: `process.extractOne` with WRatio over every phrasing."""

    name = "rapidfuzz WRatio"

    def __init__(self, kb: KnowledgeBase) -> None:
        self._choices: list[str] = []
        self._owner: list[str] = []
        for entry in kb:
            for text in phrasings(entry):
                self._choices.append(text)
                self._owner.append(entry.id)

    def best(self, text: str) -> tuple[str, float] | None:
        found = process.extractOne(text, self._choices, scorer=fuzz.WRatio,
                                   processor=utils.default_process)
        if found is None:
            return None
        return self._owner[found[2]], float(found[1])


class BM25Baseline:
    """BM25 (bm25s, Lucene variant, k1=1.5, b=0.75) over lower-cased words.

    `documents="phrasing"`: one document per phrasing, an entry scores the maximum over its
    phrasings; `documents="entry"`: one document per entry, all its phrasings joined.
    """

    def __init__(self, kb: KnowledgeBase, documents: str = "entry") -> None:
        self.name = f"BM25 ({documents})"
        corpus: list[list[str]] = []
        self._owner: list[int] = []
        self._ids = [e.id for e in kb]
        for i, entry in enumerate(kb):
            if documents == "entry":
                corpus.append([w for p in phrasings(entry) for w in words(p)])
                self._owner.append(i)
            else:
                for p in phrasings(entry):
                    corpus.append(words(p))
                    self._owner.append(i)
        self._per_entry = documents == "entry"
        self._bm25 = bm25s.BM25()
        self._bm25.index(corpus, show_progress=False)

    def best(self, text: str) -> tuple[str, float] | None:
        query = words(text)
        if not query:
            return None
        scores = self._bm25.get_scores(query)
        if self._per_entry:
            index = int(scores.argmax())
            score = float(scores[index])
        else:
            best: dict[int, float] = {}
            for doc in scores.nonzero()[0]:
                owner = self._owner[int(doc)]
                best[owner] = max(best.get(owner, 0.0), float(scores[doc]))
            if not best:
                return None
            index, score = max(best.items(), key=lambda item: item[1])
        if score <= 0.0:
            return None
        return self._ids[index], round(score, 4)


def with_cutoff(scorer: Scorer, cutoff: float) -> Match:
    """The baseline's decision rule: answer from `cutoff` on, else escalate."""

    def match(text: str) -> Decision:
        found = scorer.best(text)
        if found is not None and found[1] >= cutoff:
            return Decision(Kind.ANSWER, found[0], score=found[1])
        return Decision(Kind.ESCALATE, score=found[1] if found else 0.0)

    return match


@dataclass(frozen=True, slots=True)
class FrontEnd:
    """What `DialogueEngine.decide` does before and around the matcher, with any matcher."""

    intents: Intents

    def decide(self, text: str, match: Match) -> Decision:
        stripped = text.strip()
        if not stripped or (not has_letters(stripped)
                            and not any(ch.isdigit() for ch in stripped)):
            return Decision(Kind.INTENT, "menu")
        considered = stripped[:MAX_MATCHED]
        found = self.intents.detect(considered)
        if found is not None and found.standalone and (
            "?" in considered
            or len(considered.split()) > WEAK_INTENT_MAX_WORDS
            or match(considered).kind is not Kind.ESCALATE
        ):
            found = None
        if found is not None:
            return Decision(Kind.INTENT, found.id, score=100.0)
        if detect(stripped) is Detected.OTHER:
            return Decision(Kind.ESCALATE)
        return match(considered)


def objective(outcomes: Sequence[tuple[str, Decision]]) -> int:
    """Tuning objective, in questions: correct − 2 × wrong + out-of-scope escalated."""
    total = 0
    for expect, decision in outcomes:
        if expect == "escalate":
            total += decision.kind is Kind.ESCALATE
        elif decision.kind in (Kind.ANSWER, Kind.INTENT):
            total += 1 if decision.id == expect else -2
    return total


class _Memo:
    """A scorer that remembers, so that trying a hundred cut-offs scores each text once."""

    def __init__(self, scorer: Scorer) -> None:
        self.name = scorer.name
        self._scorer = scorer
        self.seen: dict[str, tuple[str, float] | None] = {}

    def best(self, text: str) -> tuple[str, float] | None:
        if text not in self.seen:
            self.seen[text] = self._scorer.best(text)
        return self.seen[text]


@dataclass(frozen=True, slots=True)
class Tuned:
    cutoff: float
    objective: int
    tied: int  # how many candidate cut-offs reached the same objective


def tune(scorer: Scorer, front: FrontEnd, cases: Sequence[tuple[str, str]]) -> Tuned:
    """The cut-off that maximises `objective` over (text, expect) `cases`.

    Every score a case reaches is a candidate (plus "never answer"); of tied candidates the
    median is taken, to stay away from the edges of the plateau.
    """
    memo = _Memo(scorer)
    for text, _ in cases:
        front.decide(text, with_cutoff(memo, math.inf))  # scores every text that gets matched
    candidates = [*sorted({found[1] for found in memo.seen.values() if found}), math.inf]
    results: list[tuple[float, int]] = []
    for cutoff in candidates:
        match = with_cutoff(memo, cutoff)
        outcomes = [(expect, front.decide(text, match)) for text, expect in cases]
        results.append((cutoff, objective(outcomes)))
    top = max(value for _, value in results)
    tied = [cutoff for cutoff, value in results if value == top]
    return Tuned(tied[len(tied) // 2], top, len(tied))
