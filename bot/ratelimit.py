"""Per-sender rate limit: past the limit one polite notice, then silence until it passes.

SMS costs money and a flood should not be answered message for message. The count comes
from the messages table (inbound messages of the contact in the last window), so it holds
across processes and restarts; the message itself is always stored before it is counted.
It is only counted when it can matter: a contact whose previous message is older than the
window has just this one in it (the helpline keeps `last_inbound_at` at the newest
inbound message's time, in the transaction that stores it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import cast

from sqlalchemy import Table, bindparam, func, select

from bot.storage.db import Tx
from bot.storage.direct import direct
from bot.storage.models import Direction, Message

WINDOW = timedelta(seconds=60)
# Stored as the decision of a limited message (kind "intent"), so a retry replays it.
RATE_LIMITED = "rate_limited"
# Opting out or in must always work, however many messages came before.
NEVER_LIMITED = frozenset({"stop", "start"})

_MESSAGES = cast(Table, Message.__table__)
_RECENT = (
    _MESSAGES.c.contact_id == bindparam("b_contact_id"),
    _MESSAGES.c.direction == Direction.IN.value,
    _MESSAGES.c.created_at > bindparam("b_since"),
    _MESSAGES.c.created_at <= bindparam("b_until"),
)
# Built once: executing the same statement object skips building and hashing it.
_COUNT = direct(select(func.count()).select_from(_MESSAGES).where(*_RECENT))
_NOTICED = direct(select(_MESSAGES.c.id).where(
    *_RECENT, _MESSAGES.c.kind == "intent", _MESSAGES.c.entry_id == RATE_LIMITED).limit(1))


class Verdict(StrEnum):
    ALLOW = "allow"
    NOTICE = "notice"  # the first message over the limit: tell the person, once
    SILENCE = "silence"  # further messages in the window: store, do not answer


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`per_minute` inbound messages of one contact a minute; 0 or less turns it off."""

    per_minute: int = 20
    window: timedelta = WINDOW

    def cannot_trigger(self, previous: datetime | None, at: datetime) -> bool:
        """True when a message received `at` cannot be over the limit, given the time of
        the contact's newest earlier message (None: none): no other message is in its
        window."""
        return self.per_minute <= 0 or previous is None or previous <= at - self.window

    async def check(self, tx: Tx, contact_id: int, at: datetime) -> Verdict:
        """The verdict for a message of the contact received `at`, already stored."""
        if self.per_minute <= 0:
            return Verdict.ALLOW
        params = {"b_contact_id": contact_id, "b_since": at - self.window, "b_until": at}
        count = int((await tx.execute(_COUNT, params)).scalar_one())
        if count <= self.per_minute:
            return Verdict.ALLOW
        # One notice per window: an earlier message in it that was limited got it.
        noticed = (await tx.execute(_NOTICED, params)).first()
        return Verdict.SILENCE if noticed else Verdict.NOTICE
