"""Recognises questions the knowledge base cannot answer whatever words they share with it.

The knowledge base knows general answers; it does not know today's figures, an amount of
money the sources never name, an appointment, what happened to a call last week, or what to
do in an emergency. Guessing there sends a municipality down a wrong path, so such
questions go to a pioneer. Patterns are data: `bot/lexicon/scope.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.anyof import AnyOf
from bot.normalize import LEXICON_DIR, fold

# Cues about a subject (benefits, immigration, property...), as opposed to the form of the
# question (an amount, today's figures, an appointment, an emergency, spam). An entry that
# itself talks about the cue's words answers despite it: the regional-cooperation entry
# explains that benefits differ per municipality, so "uitkeringen" does not rule it out.
SUBJECT_CUES = frozenset({
    "work_and_money", "immigration", "property_and_tenancy", "shopping", "legal", "tax",
})
# A subject cue also gives way to an entry both of the matcher's signals are sure of
# (`bot.decision.outweighs_cue`), except a request for legal advice or a tax question: that
# is one whatever entry its words are close to.
OUTWEIGHABLE_CUES = SUBJECT_CUES - {"legal", "tax"}


@dataclass(frozen=True, slots=True)
class Cue:
    reason: str
    words: str  # what matched, folded

    @property
    def about_subject(self) -> bool:
        return self.reason in SUBJECT_CUES

    @property
    def outweighable(self) -> bool:
        return self.reason in OUTWEIGHABLE_CUES


class Scope:
    def __init__(self, path: Path = LEXICON_DIR / "scope.yaml") -> None:
        data = yaml.safe_load(path.read_text("utf-8"))
        self._raw = tuple((str(name), re.compile(p))
                          for name, patterns in data.get("raw", {}).items() for p in patterns)
        folded = [(str(name), p) for name, patterns in data["folded"].items() for p in patterns]
        self._reasons = tuple(name for name, _ in folded)
        self._folded = AnyOf(p for _, p in folded)

    def cue(self, text: str) -> Cue | None:
        """The first sign that a question is beyond the knowledge base, or None."""
        lowered = text.lower()
        for reason, p in self._raw:
            found = p.search(lowered)
            if found:
                return Cue(reason, found.group(0))
        folded = fold(text)
        first = self._folded.first(folded)
        if first is None:
            return None
        index, start, end = first
        return Cue(self._reasons[index], folded[start:end])
