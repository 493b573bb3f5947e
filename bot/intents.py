"""Conversation intents (groet, bedankt, menu, mens, vergeet, stop, start) and who is asking.

Patterns are data (`bot/lexicon/intents.yaml`); they are matched against folded text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.anyof import AnyOf
from bot.messages import Audience
from bot.normalize import LEXICON_DIR, fold

# Strong intents win over everything else; weak ones only when nothing else is asked.
ORDER = ("stop", "start", "vergeet", "mens", "menu", "groet", "bedankt")
INTENT_IDS = frozenset(ORDER) - {"start"}


@dataclass(frozen=True, slots=True)
class IntentRule:
    id: str
    standalone: bool


@dataclass(frozen=True, slots=True)
class IntentMatch:
    id: str
    standalone: bool
    rest: str  # the folded text around the matched words


class Intents:
    """Recognises intents and the audience in a message."""

    def __init__(self, path: Path = LEXICON_DIR / "intents.yaml") -> None:
        data = yaml.safe_load(path.read_text("utf-8"))
        # All rules' patterns in one `AnyOf`, rule by rule in ORDER (each rule's whole-text
        # patterns before its others), and for each pattern the rule it belongs to.
        patterns: list[tuple[str, bool]] = []
        self._rule_of: list[IntentRule] = []
        for intent_id in ORDER:
            spec = data[intent_id]
            rule = IntentRule(intent_id, bool(spec.get("standalone", False)))
            mine = [*((p, True) for p in spec.get("whole", ())),
                    *((p, False) for p in spec.get("anywhere", ()))]
            patterns.extend(mine)
            self._rule_of.extend(rule for _ in mine)
        self._patterns = AnyOf.in_order(patterns)
        audiences = [(Audience(name), p) for name, ps in data["audience"].items() for p in ps]
        self._audience_of = [audience for audience, _ in audiences]
        self._audiences = AnyOf(p for _, p in audiences)

    def detect(self, text: str) -> IntentMatch | None:
        folded = fold(text)
        first = self._patterns.first(folded) if folded else None
        if first is None:
            return None
        index, start, end = first
        rule = self._rule_of[index]
        rest = (folded[:start] + " " + folded[end:]).strip()
        return IntentMatch(rule.id, rule.standalone, rest)

    def audience(self, text: str) -> Audience | None:
        first = self._audiences.first(fold(text))
        return self._audience_of[first[0]] if first is not None else None
