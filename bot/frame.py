"""The frame of a message: who is writing, a greeting, a sign-off.

"Goedemorgen, ik ben beleidsmedewerker wonen bij gemeente Oldebroek. Wat houdt jullie
ondersteuning in? Groet, Ruud" asks about the support for municipalities; "beleidsmedewerker
wonen" and "Ruud" say who asks. The matcher weighs the message without its frame
(`Frame.core`), so that a role ("regionaal coördinator") neither pulls the question towards
an entry that shares the word nor rules out one that excludes it. The patterns are content
(`bot/lexicon/frame.yaml`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from bot.normalize import LEXICON_DIR

MIN_CORE_WORDS = 3  # a core shorter than this is no question of its own: keep the message
_SPACES = re.compile(r"\s+")


class Frame:
    def __init__(self, path: Path = LEXICON_DIR / "frame.yaml") -> None:
        data = yaml.safe_load(path.read_text("utf-8"))
        role = "|".join(sorted((str(r) for r in data["roles"]), key=len, reverse=True))

        def compiled(kind: str, flags: int = re.IGNORECASE) -> list[re.Pattern[str]]:
            return [re.compile(str(p).replace("{role}", role), flags) for p in data[kind]]

        # In this order: the greeting first, so that an introduction then starts the text.
        self._patterns = tuple(compiled("greeting") + compiled("introduction")
                               + compiled("named", 0))
        self._signoffs = tuple(compiled("signoff"))

        # The same message is ranked more than once (a greeting before a question is tried
        # as an intent first): `core` is `_core`, cached.
        self.core = lru_cache(maxsize=4096)(self._core)

    def _core(self, text: str) -> str:
        """`text` without its greeting, self-introductions and sign-off; `text` itself when
        what is left would be too short to be a question."""
        core = text
        for pattern in self._patterns:
            core = pattern.sub(" ", core)
        # A sign-off closes the message: no question comes after it, so it is looked for
        # after the last question mark only (on a long message, trying the sign-off at every
        # space took a twentieth of a millisecond).
        after = core.rfind("?") + 1
        tail = core[after:]
        for pattern in self._signoffs:
            tail = pattern.sub(" ", tail)
        core = core[:after] + tail
        core = _SPACES.sub(" ", core).strip(" ,;:.!")
        return core if len(core.split()) >= MIN_CORE_WORDS else text
