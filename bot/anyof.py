"""Which of many regular expressions, in order, first matches a folded text, found fast.

The intents, the audience and the scope each hold dozens of patterns, and every message is
checked against all of them. Python's regular expressions try every alternative at every
position of the text, so on a long message that took a third of a millisecond, however the
patterns were joined. But folded text (`bot.normalize.fold`) is words of [a-z0-9] separated
by single spaces, and nearly every pattern starts with a word boundary and then one of a few
literal words (`\\b(bijstand|uitkering|...)`): that pattern cannot match a text that has
none of those words. So each pattern is filed under its possible first words (`leads`,
read from the parsed pattern), and a message only tries the patterns one of its words
leads to, plus the few whose first word cannot be told (`\\b\\d{1,2} (januari|...)`) and
those matched against the whole text. The answer is exactly that of trying every pattern
in order (`tests/test_anyof.py` checks it on every lexicon pattern and evaluation text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_WORD_CHAR = re.compile(r"[a-z0-9]")
_STARTS_AT_WORD = (sre.AT_BOUNDARY, sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)
_ENDS_WORD = (sre.AT_BOUNDARY, sre.AT_END, sre.AT_END_STRING)

# A partial first word, and whether it is complete (a space or a word boundary follows).
_State = tuple[str, bool]


class _Unknown(Exception):
    """The first word of a match cannot be told from the pattern's start."""


def leads(pattern: str) -> frozenset[str] | None:
    """The words a match of `pattern` in folded text can start with, or None when that
    cannot be told. Only for a pattern that starts at a word start (`\\b` or `^`): then the
    first word of any match is a whole word of the text."""
    parsed = sre_parse.parse(pattern)
    items = list(parsed)
    if parsed.state.flags & re.IGNORECASE or not items:
        return None
    op, av = items[0]
    if op is not sre.AT or av not in _STARTS_AT_WORD:
        return None
    try:
        states = _apply({("", False)}, items[1:])
    except _Unknown:
        return None
    if not all(done and word for word, done in states):
        return None
    return frozenset(word for word, _ in states)


def _apply(states: set[_State], items: Iterable[tuple[Any, Any]]) -> set[_State]:
    for op, av in items:
        open_ = {s for s in states if not s[1]}
        if not open_:
            break
        states = (states - open_) | _step(open_, op, av)
    return states


def _step(states: set[_State], op: Any, av: Any) -> set[_State]:
    if op is sre.LITERAL:
        char = chr(av)
        if char == " ":
            return _complete(states)
        if not _WORD_CHAR.fullmatch(char):
            raise _Unknown
        return {(word + char, False) for word, _ in states}
    if op is sre.AT and av in _ENDS_WORD:
        return _complete(states)
    if op is sre.SUBPATTERN:
        return _apply(states, av[-1])
    if op is sre.BRANCH:
        return set().union(*(_apply(states, alternative) for alternative in av[1]))
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[:2] == (0, 1):  # optional: `(al )?`
        return states | _apply(states, av[2])
    raise _Unknown


def _complete(states: set[_State]) -> set[_State]:
    if not all(word for word, _ in states):
        raise _Unknown  # a space or boundary before any word char
    return {(word, True) for word, _ in states}


_WHOLE, _SEARCH, _SPACED = range(3)


def _spaced(pattern: str) -> str | None:
    """`pattern`, whose every match starts with a word (`leads`), for the text with a space
    in front: the space is that word start, a literal the search can jump to instead of
    trying every alternative at every character (`\\bgeen (sms|berichten)` → ` geen
    (sms|berichten)`). None if it starts otherwise than with `\\b` or `^`, or if it is
    alternatives at its top level: the parser takes a `\\b` that starts every alternative
    out in front (`leads` then reads them all), but the text is only changed in the first
    one, and a match of another would start a character early."""
    if any(op is sre.BRANCH for op, _ in sre_parse.parse(pattern)):
        return None
    if pattern.startswith("\\b"):
        return " " + pattern[2:]
    if pattern.startswith("^"):
        return "^ " + pattern[1:]
    return None


class AnyOf:
    """`anywhere` patterns searched anywhere in the text, `whole` ones matched against the
    whole text, tried in that order, each list in its own order (`in_order`: any order)."""

    def __init__(self, anywhere: Iterable[str] = (), whole: Iterable[str] = ()) -> None:
        self._setup([*((p, False) for p in anywhere), *((p, True) for p in whole)])

    @classmethod
    def in_order(cls, patterns: Iterable[tuple[str, bool]]) -> AnyOf:
        """Patterns tried in the order given, each with whether it must match the whole text."""
        any_of = cls.__new__(cls)
        any_of._setup(patterns)
        return any_of

    def _setup(self, patterns: Iterable[tuple[str, bool]]) -> None:
        # Per pattern: itself, how it is tried (`_WHOLE`, `_SEARCH` or `_SPACED`), and, when
        # spaced, as searched in the text with a space in front (`_spaced`).
        self.patterns: list[tuple[re.Pattern[str], int]] = []
        self._always: list[int] = []  # tried on every text
        self._by_lead: dict[str, list[int]] = {}
        for pattern, whole_text in patterns:
            index = len(self.patterns)
            # A whole-text match fails at the first character that differs: cheap already.
            words = None if whole_text else leads(pattern)
            spaced = _spaced(pattern) if words is not None else None
            if spaced is not None:
                self.patterns.append((re.compile(spaced), _SPACED))
            else:
                self.patterns.append((re.compile(pattern), _WHOLE if whole_text else _SEARCH))
            if words is None:
                self._always.append(index)
            for word in words or ():
                self._by_lead.setdefault(word, []).append(index)

    def _candidates(self, folded: str) -> list[int]:
        found = set(self._always)
        for word in self._by_lead.keys() & folded.split():
            found.update(self._by_lead[word])
        return sorted(found)

    def matches(self, folded: str) -> Iterator[tuple[int, int, int]]:
        """The patterns that match `folded`, in order: each one's index, and where in
        `folded` its first match starts and ends."""
        spaced = " " + folded
        for index in self._candidates(folded):
            pattern, how = self.patterns[index]
            if how == _SPACED:
                found = pattern.search(spaced)
                if found is not None:
                    # `\b` became the space in front of the first word: that is one character
                    # more at the start, and the text one character longer.
                    yield index, found.start(), found.end() - 1
                continue
            found = pattern.fullmatch(folded) if how == _WHOLE else pattern.search(folded)
            if found is not None:
                yield index, found.start(), found.end()

    def first(self, folded: str) -> tuple[int, int, int] | None:
        return next(self.matches(folded), None)

    def __call__(self, folded: str) -> bool:
        return self.first(folded) is not None
