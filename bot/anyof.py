"""Whether any of many regular expressions matches a folded text, in one fast search.

Folded text (`bot.normalize.fold`) is words of [a-z0-9] separated by single spaces, so a
pattern's leading word boundary `\\b` can only match at the start or after a space. Searched
in the text with one space in front, that boundary *is* the space: `\\bgeen (sms|berichten)`
becomes ` geen (sms|berichten)`. A pattern that starts with a literal lets the regular
expression engine jump from space to space instead of trying every alternative at every
character, which makes the intents' and the scope's one-pass checks three to four times
faster on a long message (`benchmarks/quality.py` times every decision).
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _spaced(pattern: str) -> str:
    """`pattern` for the text with a space in front (see the module's docstring)."""
    if pattern.startswith("\\b"):
        return " " + pattern[2:]
    if pattern.startswith("^"):
        return "^ " + pattern[1:]
    return pattern


class AnyOf:
    """`anywhere` patterns searched anywhere, `whole` ones matched against the whole text."""

    def __init__(self, anywhere: Iterable[str], whole: Iterable[str] = ()) -> None:
        spaced = [f"(?:{_spaced(p)})" for p in anywhere]
        self._anywhere = re.compile("|".join(spaced)) if spaced else None
        wholes = [f"(?:{p})" for p in whole]
        self._whole = re.compile("|".join(wholes)) if wholes else None

    def __call__(self, folded: str) -> bool:
        return bool(
            (self._whole is not None and self._whole.fullmatch(folded))
            or (self._anywhere is not None and self._anywhere.search(" " + folded))
        )
