"""Large knowledge bases made from the real one, for the scaling benchmark.

The real entries come first, unchanged, so that the dev questions still find their
answers. Every further entry is a copy of a real one with a new id and varied phrasings:
two neighbouring words swapped, a word swapped for one from another entry's questions,
sometimes a word dropped, and a numbered place-name token appended ("in zwolle412"), so
the vocabulary grows with the knowledge base as it would with real local content.
"""

from __future__ import annotations

import random
from dataclasses import replace

from bot.knowledge import Entry, KnowledgeBase

PLACES = (
    "zwolle", "almelo", "deventer", "assen", "emmen", "heerenveen", "sneek", "harderwijk",
    "ede", "tiel", "culemborg", "gouda", "delft", "leiden", "alkmaar", "hoorn", "purmerend",
    "zaandam", "hilversum", "amersfoort", "veenendaal", "breda", "tilburg", "oss", "venlo",
    "roermond", "sittard", "heerlen", "middelburg", "goes", "terneuzen", "vlissingen",
    "lelystad", "almere", "dronten", "kampen", "meppel", "hoogeveen", "winterswijk", "doetinchem",
)


def _perturb(question: str, rng: random.Random, pool: list[str], place: str) -> str:
    words = question.split()
    if len(words) >= 3:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
        words[rng.randrange(len(words))] = rng.choice(pool)
        if rng.random() < 0.3:
            del words[rng.randrange(len(words))]
    return " ".join([*words, "in", place])


def synthetic(base: KnowledgeBase, size: int, seed: int = 2026) -> KnowledgeBase:
    """A knowledge base of `size` entries: the real ones, then varied copies of them."""
    real = list(base)
    entries: list[Entry] = real[:size]
    rng = random.Random(seed)
    pool = sorted({w for e in real for q in e.questions for w in q.split()})
    number = 0
    while len(entries) < size:
        source = real[number % len(real)]
        number += 1
        place = f"{rng.choice(PLACES)}{number}"
        entries.append(replace(
            source,
            id=f"{source.id}-{number}",
            title=f"{source.title} ({place})",
            title_en=f"{source.title_en} ({place})",
            questions=tuple(_perturb(q, rng, pool, place) for q in source.questions),
            keywords=(*source.keywords, place),
        ))
    return KnowledgeBase(entries)
