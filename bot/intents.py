"""Conversation intents (groet, bedankt, menu, mens, vergeet, stop, start) and who is asking.

Patterns are data (`bot/lexicon/intents.yaml`); they are matched against folded text.
"""

from __future__ import annotations

import re
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
    whole: tuple[re.Pattern[str], ...]
    anywhere: tuple[re.Pattern[str], ...]
    standalone: bool

    def matches(self, folded: str) -> re.Match[str] | None:
        for pattern in self.whole:
            found = pattern.fullmatch(folded)
            if found:
                return found
        for pattern in self.anywhere:
            found = pattern.search(folded)
            if found:
                return found
        return None


@dataclass(frozen=True, slots=True)
class IntentMatch:
    id: str
    standalone: bool
    rest: str  # the folded text around the matched words


class Intents:
    """Recognises intents and the audience in a message."""

    def __init__(self, path: Path = LEXICON_DIR / "intents.yaml") -> None:
        data = yaml.safe_load(path.read_text("utf-8"))
        rules: list[IntentRule] = []
        for intent_id in ORDER:
            spec = data[intent_id]
            rules.append(IntentRule(
                id=intent_id,
                whole=tuple(re.compile(p) for p in spec.get("whole", ())),
                anywhere=tuple(re.compile(p) for p in spec.get("anywhere", ())),
                standalone=bool(spec.get("standalone", False)),
            ))
        self.rules = tuple(rules)
        # One pass over all patterns at once rules out most messages (they state no intent);
        # only the others are tried rule by rule, in order.
        self._any = AnyOf((p.pattern for r in rules for p in r.anywhere),
                          whole=(p.pattern for r in rules for p in r.whole))
        self._audience = {Audience(name): AnyOf(patterns)
                          for name, patterns in data["audience"].items()}

    def detect(self, text: str) -> IntentMatch | None:
        folded = fold(text)
        if not folded or not self._any(folded):
            return None
        for rule in self.rules:
            found = rule.matches(folded)
            if found:
                rest = (folded[: found.start()] + " " + folded[found.end() :]).strip()
                return IntentMatch(rule.id, rule.standalone, rest)
        return None

    def audience(self, text: str) -> Audience | None:
        folded = fold(text)
        for audience, matches in self._audience.items():
            if matches(folded):
                return audience
        return None
