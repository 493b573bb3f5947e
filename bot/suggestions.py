"""Learning from answers: an answered ticket becomes a draft knowledge-base entry.

Drafts live in `knowledge/suggestions/<ticket>.yaml` in the schema of `knowledge/*.yaml`
with `draft: true`. The loader reads only `knowledge/*.yaml`, so a draft is never served
until an editor completes it (more phrasings, an English answer, sources) and moves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.gsm7 import fit
from bot.knowledge import MIN_QUESTIONS, load_file
from bot.storage.models import DeliveryStatus
from bot.tickets import TicketDetail

SUBDIR = "suggestions"
TODO_EN = "TODO: English translation of the answer above."


class SuggestionError(Exception):
    """The ticket cannot become a suggestion; the message is Dutch."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    path: Path
    id: str
    title: str
    question: str
    problems: tuple[str, ...]


def _answer_body(text: str) -> str:
    # The stored answer starts with "Antwoord van NAME (De Thuisgevers):"; keep the answer.
    first, _, rest = text.partition("\n")
    return rest.strip() if rest.strip() and first.rstrip().endswith(":") else text.strip()


def _title(question: str) -> str:
    words = re.sub(r"\s+", " ", question).strip().split(" ")
    title = " ".join(words[:8])
    return (title[:1].upper() + title[1:]).rstrip("?.!,") or "Vraag"


def draft_entry(detail: TicketDetail) -> dict[str, Any]:
    """The draft entry for an answered ticket (question as phrasing, answer as answer)."""
    answers = [d for d in detail.deliveries if d.status is not DeliveryStatus.FAILED]
    if not answers:
        raise SuggestionError(f"Vraag #{detail.card.number} heeft nog geen antwoord.")
    answer = _answer_body(answers[-1].text)
    question = detail.card.question.split("\n(later:")[0].strip()
    return {
        "id": f"suggestie-{detail.card.number}",
        "title": _title(question),
        "draft": True,
        "questions": [question],
        "answer": answer,
        "answer_en": TODO_EN,
        "sms": fit(answer, 2),
        "sources": [f"vraag #{detail.card.number}"],
        "asked_by": detail.card.audience,
    }


def write(directory: Path, detail: TicketDetail) -> Path:
    """Write `knowledge/suggestions/<ticket>.yaml`; overwrites an earlier draft of it."""
    folder = directory / SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{detail.card.number}.yaml"
    header = (f"# Suggestie uit vraag #{detail.card.number}: nog een concept. Vul meer vragen "
              f"(minstens {MIN_QUESTIONS}), answer_en en bronnen aan en verplaats het naar "
              "knowledge/ om het te laten gebruiken.\n")
    body = yaml.safe_dump({"entries": [draft_entry(detail)]}, allow_unicode=True,
                          sort_keys=False, width=100)
    path.write_text(header + body, encoding="utf-8")
    return path


def listing(directory: Path) -> list[Suggestion]:
    """Every draft in `knowledge/suggestions/`, with what still keeps it from being served."""
    found: list[Suggestion] = []
    for path in sorted((directory / SUBDIR).glob("*.yaml")):
        _, problems = load_file(path)
        raw = yaml.safe_load(path.read_text("utf-8")) or {}
        items = raw.get("entries", []) if isinstance(raw, dict) else []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            questions = item.get("questions") or [""]
            todo = [p.message for p in problems if p.entry in (None, item.get("id"))]
            if item.get("answer_en") == TODO_EN:
                todo.append("answer_en is nog niet vertaald")
            found.append(Suggestion(path, str(item.get("id", "")), str(item.get("title", "")),
                                    str(questions[0]), tuple(todo)))
        if not items and problems:
            found.append(Suggestion(path, "", "", "", tuple(p.message for p in problems)))
    return found
