"""Recognises questions the knowledge base cannot answer whatever words they share with it.

The knowledge base knows general answers; it does not know today's figures, an amount of
money the sources never name, an appointment, what happened to a call last week, or what to
do in an emergency. Guessing there sends a municipality down a wrong path, so such
questions go to a pioneer. Patterns are data: `bot/lexicon/scope.yaml`.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.normalize import LEXICON_DIR, fold


class Scope:
    def __init__(self, path: Path = LEXICON_DIR / "scope.yaml") -> None:
        data = yaml.safe_load(path.read_text("utf-8"))
        self._raw = tuple(re.compile(p) for p in data.get("raw", ()))
        self._folded = tuple(
            (name, re.compile(p)) for name, patterns in data["folded"].items() for p in patterns
        )

    def beyond(self, text: str) -> str | None:
        """The reason a question is beyond the knowledge base, or None."""
        lowered = text.lower()
        if any(p.search(lowered) for p in self._raw):
            return "link"
        folded = fold(text)
        for name, pattern in self._folded:
            if pattern.search(folded):
                return str(name)
        return None
