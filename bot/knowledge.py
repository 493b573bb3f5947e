"""The knowledge base: YAML files in `knowledge/`, validated into immutable entries.

Every problem is reported with the file, the line and the entry it concerns, so that a
pioneer editing the YAML sees at once what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.gsm7 import is_gsm7, segments
from bot.messages import Audience, Language

MAX_ANSWER = 700
MAX_SMS_SEGMENTS = 2
MIN_QUESTIONS = 6

REQUIRED_FIELDS = ("id", "title", "questions", "answer", "answer_en", "sms", "sources")
OPTIONAL_FIELDS = (
    "title_en", "keywords", "requires", "excludes", "vrijwilliger", "ambtenaar", "draft",
    "asked_by",
)
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)


@dataclass(frozen=True, slots=True)
class Entry:
    """One topic the bot can answer."""

    id: str
    title: str
    title_en: str
    questions: tuple[str, ...]
    answer: str
    answer_en: str
    sms: str
    sources: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    requires: tuple[tuple[str, ...], ...] = ()
    excludes: tuple[str, ...] = ()
    vrijwilliger: str | None = None
    ambtenaar: str | None = None
    draft: bool = False
    file: str = ""
    line: int = 0

    def answer_for(self, language: Language, audience: Audience) -> str:
        if language is Language.EN:
            return self.answer_en
        variant = self.ambtenaar if audience is Audience.AMBTENAAR else self.vrijwilliger
        return variant or self.answer

    def label(self, language: Language) -> str:
        return self.title_en if language is Language.EN and self.title_en else self.title


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    entry: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        entry = f" {self.entry}:" if self.entry else ""
        return f"{where}:{entry} {self.message}"


class KnowledgeError(Exception):
    """The knowledge base has problems; `problems` lists each with file, line and entry."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class KnowledgeBase:
    """The validated entries, in file order, looked up by id."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        self._by_id = {e.id: e for e in entries}

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def get(self, entry_id: str) -> Entry:
        return self._by_id[entry_id]


class _LineMap(dict[str, Any]):
    line = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping, for error messages."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineMap:
    loader.flatten_mapping(node)
    result = _LineMap(loader.construct_pairs(node, deep=True))
    result.line = node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _validate(raw: Mapping[str, Any], file: str, line: int) -> tuple[Entry | None, list[Problem]]:
    entry_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    problems: list[Problem] = []

    def problem(message: str) -> None:
        problems.append(Problem(file, line, entry_id, message))

    for key in raw:
        if key not in KNOWN_FIELDS:
            problem(f"unknown field {key!r}")
    for key in REQUIRED_FIELDS:
        if key not in raw or raw[key] in (None, "", []):
            problem(f"missing {key!r}")
    if problems:
        return None, problems

    for key in ("id", "title", "answer", "answer_en", "sms"):
        if not isinstance(raw[key], str):
            problem(f"{key!r} must be text")
    for key in ("title_en", "vrijwilliger", "ambtenaar"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            problem(f"{key!r} must be text")
    for key in ("questions", "sources", "keywords", "excludes"):
        if key in raw and not _strings(raw[key]):
            problem(f"{key!r} must be a list of texts")
    requires = raw.get("requires", [])
    if not isinstance(requires, list) or not all(_strings(g) and g for g in requires):
        problem("'requires' must be a list of lists of texts")
    if problems:
        return None, problems

    if len(raw["questions"]) < MIN_QUESTIONS:
        problem(f"needs at least {MIN_QUESTIONS} questions, has {len(raw['questions'])}")
    for key in ("answer", "answer_en", "vrijwilliger", "ambtenaar"):
        value = raw.get(key)
        if isinstance(value, str) and len(value.strip()) > MAX_ANSWER:
            problem(f"{key!r} is {len(value.strip())} characters, at most {MAX_ANSWER}")
    sms = raw["sms"].strip()
    if not is_gsm7(sms):
        bad = "".join(sorted({c for c in sms if not is_gsm7(c)}))
        problem(f"'sms' has characters outside GSM-7: {bad!r}")
    elif segments(sms) > MAX_SMS_SEGMENTS:
        problem(f"'sms' takes {segments(sms)} SMS segments, at most {MAX_SMS_SEGMENTS}")
    if problems:
        return None, problems

    def text(key: str) -> str | None:
        value = raw.get(key)
        return value.strip() if isinstance(value, str) else None

    entry = Entry(
        id=raw["id"].strip(),
        title=raw["title"].strip(),
        title_en=(text("title_en") or raw["title"]).strip(),
        questions=tuple(q.strip() for q in raw["questions"]),
        answer=raw["answer"].strip(),
        answer_en=raw["answer_en"].strip(),
        sms=sms,
        sources=tuple(raw["sources"]),
        keywords=tuple(raw.get("keywords", ())),
        requires=tuple(tuple(g) for g in requires),
        excludes=tuple(raw.get("excludes", ())),
        vrijwilliger=text("vrijwilliger"),
        ambtenaar=text("ambtenaar"),
        draft=bool(raw.get("draft", False)),
        file=file,
        line=line,
    )
    return entry, []


def load_file(path: Path) -> tuple[list[Entry], list[Problem]]:
    """Entries of one YAML file, and the problems found in it."""
    name = path.name
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        return [], [Problem(name, line, None, f"not valid YAML: {exc.problem}")]
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(name, 0, None, f"cannot be read: {exc}")]
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        return [], [Problem(name, 1, None, "expected a mapping with a list under 'entries'")]
    unknown = set(data) - {"entries"}
    problems = [Problem(name, 1, None, f"unknown top-level key {k!r}") for k in sorted(unknown)]
    entries: list[Entry] = []
    for raw in data["entries"]:
        line = getattr(raw, "line", 0)
        if not isinstance(raw, dict):
            problems.append(Problem(name, line, None, "an entry must be a mapping"))
            continue
        entry, found = _validate(raw, name, line)
        problems.extend(found)
        if entry is not None:
            entries.append(entry)
    return entries, problems


def load(directory: Path, *, seeds: Path | None = None) -> KnowledgeBase:
    """Load and validate every `*.yaml` file directly in `directory` (sub-folders are not served).

    Raises `KnowledgeError` listing every problem. With `seeds`, each entry's sources must
    name files in that folder.
    """
    if not directory.is_dir():
        raise KnowledgeError([Problem(str(directory), 0, None, "knowledge folder not found")])
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise KnowledgeError([Problem(str(directory), 0, None, "no *.yaml files")])
    entries: list[Entry] = []
    problems: list[Problem] = []
    seen: dict[str, Entry] = {}
    for path in files:
        found_entries, found = load_file(path)
        problems.extend(found)
        for entry in found_entries:
            if entry.draft:
                problems.append(Problem(entry.file, entry.line, entry.id,
                                        "draft entries belong in suggestions/, not served"))
                continue
            if entry.id in seen:
                first = seen[entry.id]
                problems.append(Problem(entry.file, entry.line, entry.id,
                                        f"duplicate id, first at {first.file}:{first.line}"))
                continue
            if seeds is not None:
                for source in entry.sources:
                    if not (seeds / source).is_file():
                        problems.append(Problem(entry.file, entry.line, entry.id,
                                                f"source {source!r} not found in {seeds}"))
            seen[entry.id] = entry
            entries.append(entry)
    if problems:
        raise KnowledgeError(problems)
    return KnowledgeBase(entries)
