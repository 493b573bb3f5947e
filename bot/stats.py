"""Figures of the helpline (`python -m bot stats`), from messages and tickets."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bot.storage.db import Database
from bot.storage.models import Direction, Message, Ticket, TicketStatus

TOP_UNANSWERED = 10


@dataclass(frozen=True, slots=True)
class Stats:
    inbound_per_channel: dict[str, int]
    answered: int
    clarified: int
    escalated: int
    intents: int
    tickets: dict[str, int]
    median_first_answer: timedelta | None
    unanswered: list[tuple[str, int]] = field(default_factory=list)

    def text(self) -> str:
        lines = ["Berichten binnen per kanaal:"]
        lines += [f"  {c:<10} {n}" for c, n in sorted(self.inbound_per_channel.items())] or [
            "  (nog geen)"]
        lines += [
            f"Beantwoord door de bot: {self.answered}",
            f"Doorgevraagd (welke bedoel je): {self.clarified}",
            f"Doorgezet naar een pionier: {self.escalated}",
            f"Groeten, bedankjes en andere korte antwoorden: {self.intents}",
            "Vragen (tickets): " + ", ".join(
                f"{s.value} {self.tickets.get(s.value, 0)}" for s in TicketStatus),
            "Mediane tijd tot eerste antwoord van een pionier: "
            + (_duration(self.median_first_answer) if self.median_first_answer else "-"),
            "Meest gestelde vragen die de bot niet kon beantwoorden:",
        ]
        lines += [f"  {n}x {q}" for q, n in self.unanswered] or ["  (geen)"]
        return "\n".join(lines)


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60} uur {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


async def collect(db: Database) -> Stats:
    async with db.session() as session:
        per_channel: dict[Any, Any] = dict((await session.execute(
            select(Message.channel, func.count()).where(Message.direction == Direction.IN.value)
            .group_by(Message.channel))).all())
        kinds: dict[Any, Any] = dict((await session.execute(
            select(Message.kind, func.count()).where(Message.direction == Direction.IN.value)
            .group_by(Message.kind))).all())
        tickets: dict[Any, Any] = dict((await session.execute(
            select(Ticket.status, func.count()).group_by(Ticket.status))).all())
        answered = (await session.execute(
            select(Ticket.created_at, Ticket.answered_at)
            .where(Ticket.answered_at.is_not(None)))).all()
        questions = (await session.execute(
            select(Ticket.question).where(Ticket.question != "[gewist]"))).scalars().all()
    waits = [(done - opened).total_seconds() for opened, done in answered if done and opened]
    counted = Counter(" ".join(q.split("\n(later:")[0].lower().split())[:120] for q in questions)
    return Stats(
        inbound_per_channel={str(k): int(v) for k, v in per_channel.items()},
        answered=int(kinds.get("answer", 0)), clarified=int(kinds.get("clarify", 0)),
        escalated=sum(int(v) for v in tickets.values()), intents=int(kinds.get("intent", 0)),
        tickets={str(k): int(v) for k, v in tickets.items()},
        median_first_answer=timedelta(seconds=statistics.median(waits)) if waits else None,
        unanswered=counted.most_common(TOP_UNANSWERED),
    )
