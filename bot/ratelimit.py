"""Per-sender rate limit: past the limit one polite notice, then silence until it passes.

SMS costs money and a flood should not be answered message for message. The count comes
from the messages table (inbound messages of the contact in the last window), so it holds
across processes and restarts; the message itself is always stored before it is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Direction, Message

WINDOW = timedelta(seconds=60)
# Stored as the decision of a limited message (kind "intent"), so a retry replays it.
RATE_LIMITED = "rate_limited"
# Opting out or in must always work, however many messages came before.
NEVER_LIMITED = frozenset({"stop", "start"})


class Verdict(StrEnum):
    ALLOW = "allow"
    NOTICE = "notice"  # the first message over the limit: tell the person, once
    SILENCE = "silence"  # further messages in the window: store, do not answer


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`per_minute` inbound messages of one contact a minute; 0 or less turns it off."""

    per_minute: int = 20
    window: timedelta = WINDOW

    async def check(self, session: AsyncSession, contact_id: int, at: datetime) -> Verdict:
        """The verdict for a message of the contact received `at`, already stored."""
        if self.per_minute <= 0:
            return Verdict.ALLOW
        recent = (
            Message.contact_id == contact_id,
            Message.direction == Direction.IN.value,
            Message.created_at > at - self.window,
            Message.created_at <= at,
        )
        count = int((await session.execute(
            select(func.count(Message.id)).where(*recent))).scalar_one())
        if count <= self.per_minute:
            return Verdict.ALLOW
        # One notice per window: an earlier message in it that was limited got it.
        noticed = (await session.execute(select(Message.id).where(
            *recent, Message.kind == "intent", Message.entry_id == RATE_LIMITED,
        ).limit(1))).first()
        return Verdict.SILENCE if noticed else Verdict.NOTICE
