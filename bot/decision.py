"""The one decision rule: answer, ask which topic is meant, or hand over to a pioneer.

All thresholds live in `Thresholds`; nothing else in the code compares scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.matcher import Candidate, entries


class Kind(StrEnum):
    ANSWER = "answer"
    INTENT = "intent"
    CLARIFY = "clarify"
    ESCALATE = "escalate"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Tuned on the odd half of the dev set only (see README, "Answer quality")."""

    answer: float = 35.0  # the best candidate answers on its own from here...
    margin: float = 10.0  # ...when it leads the runner-up by at least this much
    clarify: float = 28.0  # candidates at or above this may be offered as options
    # Two independent signals agreeing need less margin: the best candidate also answers from
    # `agreed` when the classifier's support (`Candidate.support`) for it is at least
    # `support`. (Its probabilities are soft: 0.2 of 37 labels is a clear preference.)
    agreed: float = 33.0
    support: float = 0.2
    # ...and when it strongly disagrees (support below this), the best candidate does not
    # answer on its own at all.
    min_support: float = 0.1
    # When it vetoes the best candidate, another candidate it clearly prefers answers instead
    # from this score on (the best was close to the question's words, the other to its meaning).
    switch: float = 30.0
    switch_support: float = 0.6
    # When the classifier is all but sure (support from `sure_support`), the best
    # candidate answers from `sure` without a margin; and a subject cue (`bot.scope`:
    # benefits, property...) gives way to it from `agreed` ("via de gemeente kopen we de
    # maatschappelijke begeleiding in" asks about the entry on guidance, not about buying).
    sure: float = 25.0
    sure_support: float = 0.5
    # A third opinion, the words as written (`Candidate.lexical`): when a plain word search
    # finds the best candidate under `lexical` of the best entry's strength, and the best
    # candidate neither scores `lexical_score` nor has `lexical_support`, the three disagree
    # and the best does not answer on its own.
    lexical: float = 0.8
    lexical_support: float = 0.75
    lexical_score: float = 70.0
    max_options: int = 3


@dataclass(frozen=True, slots=True)
class Decision:
    kind: Kind
    id: str | None = None
    options: tuple[str, ...] = ()
    score: float = 0.0
    candidates: tuple[Candidate, ...] = field(default=(), compare=False)


def outweighs_cue(candidates: list[Candidate], t: Thresholds = Thresholds()) -> bool:
    """Whether the best candidate is an entry sure enough to answer despite a subject cue:
    both signals agree on it, and it leads every kind of question beyond the knowledge base
    by the margin ("belasting over de vergoeding" stays close to the kind on money)."""
    if not candidates or candidates[0].beyond:
        return False
    best = candidates[0]
    beyond = max((c.score for c in candidates if c.beyond), default=0.0)
    return (best.score >= t.agreed and (best.support or 0.0) >= t.sure_support
            and best.score - beyond >= t.margin)


def asks_beyond_a_greeting(decision: Decision, t: Thresholds = Thresholds()) -> bool:
    """Whether a greeting or thanks without a question mark carries a question of its own:
    its decision asks which topic is meant, or answers with an entry the second opinion
    agrees on ("top, dank je wel voor de info" scores on "info" alone, with no entry the
    classifier finds in it)."""
    if decision.kind is Kind.CLARIFY:
        return True
    if decision.kind is not Kind.ANSWER:
        return False
    answered = next(c for c in decision.candidates if c.entry_id == decision.id)
    return (answered.support or 0.0) >= t.support


def decide(candidates: list[Candidate], t: Thresholds = Thresholds()) -> Decision:
    # A kind of question beyond the knowledge base does not lead where the classifier
    # clearly prefers an entry and rejects the kind ("hoe lang duurt de begeleiding"
    # shares its frame with "hoe lang duurt de asielprocedure", not its subject).
    preferred = max((c.support or 0.0 for c in candidates if not c.beyond), default=0.0)
    ranked = tuple(c for c in candidates if not (
        c.beyond and preferred >= t.support and c.support is not None
        and c.support < t.min_support))
    # Only entries are shown to anyone (options, the pioneer's suggestions); the kinds of
    # question the knowledge base does not answer (`Candidate.beyond`) only take part here.
    found = entries(ranked)
    if not ranked or ranked[0].beyond:
        return Decision(Kind.ESCALATE, score=found[0].score if found else 0.0,
                        candidates=found)
    best = ranked[0]
    runner_up = ranked[1].score if len(ranked) > 1 else 0.0
    clear = best.score >= t.answer and best.score - runner_up >= t.margin
    support = best.support
    agreed = support is not None and best.score >= t.agreed and support >= t.support
    sure = support is not None and best.score >= t.sure and support >= t.sure_support
    vetoed = support is not None and support < t.min_support
    outvoted = (best.lexical is not None and best.lexical < t.lexical
                and (support or 0.0) < t.lexical_support and best.score < t.lexical_score)
    if not vetoed and not outvoted and (clear or agreed or sure):
        return Decision(Kind.ANSWER, best.entry_id, score=best.score, candidates=found)
    if outvoted:
        # ...and where both others agree on another candidate instead (the word search's
        # best, with support from `support` and above the best's), that one answers from
        # `clarify` points: "en na die tijdelijke plek? vinden ze dan een woning?" scores
        # highest on the entry on buildings, but its words and their typical use point to
        # the one on permanent housing.
        for other in found[1:]:
            if (other.lexical == 1.0 and other.score >= t.clarify
                    and (other.support or 0.0) >= max(t.support, support or 0.0)):
                return Decision(Kind.ANSWER, other.entry_id, score=other.score,
                                candidates=found)
    if vetoed:
        for other in found[1:]:
            if (other.support or 0.0) >= t.switch_support and other.score >= t.switch:
                return Decision(Kind.ANSWER, other.entry_id, score=other.score,
                                candidates=found)
    close = [c for c in found if c.score >= t.clarify and best.score - c.score < t.margin]
    if best.score >= t.clarify and len(close) >= 2:
        options = tuple(c.entry_id for c in close[: t.max_options])
        return Decision(Kind.CLARIFY, options=options, score=best.score, candidates=found)
    return Decision(Kind.ESCALATE, score=best.score, candidates=found)
