"""`kb check`: validation, coverage of topics.yaml, and a lint of the phrasings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.knowledge import KnowledgeBase, KnowledgeError, load
from bot.matcher import Matcher
from bot.normalize import fold

CLOSE_PAIR = 0.6  # share of an entry's phrasings that rank the other entry first or close


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self) -> str:
        lines = [f"error: {e}" for e in self.errors] + [f"warning: {w}" for w in self.warnings]
        verdict = (f"knowledge base OK: {self.entries} entries" if self.ok
                   else f"knowledge base has {len(self.errors)} problem(s)")
        return "\n".join([*lines, verdict])


def lint(kb: KnowledgeBase, matcher: Matcher) -> list[str]:
    """Phrasings that match another entry better than their own, and entries too close."""
    found: list[str] = [
        f"{entry_id}: exclude {term!r} is ignored: after normalisation it matches the "
        "entry's own phrasings"
        for entry_id, term in matcher.ignored_excludes
    ]
    confused: dict[tuple[str, str], int] = {}
    for entry in kb:
        for question in entry.questions:
            ranked = matcher.rank(question, limit=2)
            if not ranked:
                found.append(f"{entry.file}:{entry.line}: {entry.id}: phrasing matches nothing "
                             f"(check 'requires'/'excludes'): {question!r}")
                continue
            if ranked[0].entry_id != entry.id:
                found.append(f"{entry.file}:{entry.line}: {entry.id}: phrasing matches "
                             f"{ranked[0].entry_id} better: {question!r}")
                key = (entry.id, ranked[0].entry_id)
                confused[key] = confused.get(key, 0) + 1
    for (a, b), count in sorted(confused.items()):
        if count / max(1, len(kb.get(a).questions)) >= CLOSE_PAIR / 2:
            found.append(f"entries {a} and {b} are hard to tell apart "
                         f"({count} phrasings of {a} match {b})")
    return found


def check(directory: Path, seeds: Path | None = None, topics: Path | None = None,
          cache_dir: Path | None = None) -> Report:
    """Loads and lints the knowledge base in `directory`; `cache_dir`: where the matcher's
    classifier is kept between runs (`bot.classifier.trained`)."""
    report = Report()
    try:
        kb = load(directory, seeds=seeds)
    except KnowledgeError as exc:
        report.errors.extend(str(p) for p in exc.problems)
        return report
    report.entries = len(kb)
    if topics is not None:
        wanted = [t["id"] for t in yaml.safe_load(topics.read_text("utf-8"))["topics"]]
        for topic in wanted:
            if topic not in kb:
                report.errors.append(f"topic {topic!r} of {topics.name} has no entry")
    report.warnings.extend(lint(kb, Matcher(kb, cache_dir=cache_dir)))
    return report


def false_friends(matcher: Matcher, words: Iterable[str]) -> list[tuple[str, str]]:
    """(word, concept) for each of `words` that the normaliser reads as a concept of
    synonyms.yaml without being listed under it or sharing its stem: a word of another
    meaning that meets the concept through a stem, a compound split or a typo repair
    ("gewoon" as wonen, "zoon" as "zoning"). For review: a false friend gets its own stem
    in bot/lexicon/stems.yaml; a true one can be listed as a variant."""
    n = matcher.normalizer
    synonyms = n.lexicon.synonyms
    listed = {fold(v) for variants in synonyms.values() for v in variants}
    found: list[tuple[str, str]] = []
    for word in dict.fromkeys(fold(w) for w in words):
        if not word or " " in word or word in listed or word in n.lexicon.stopwords:
            continue
        found.extend((word, token) for token in sorted(matcher.tokens(word))
                     if token in synonyms and n.stem(word) != n.stem(token))
    return found
