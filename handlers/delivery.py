"""What every channel's sender shares: the opt-out guard and the errors a sender raises
(`bot.ports.DeliveryError`, whose code and `retryable` the pioneer queue's outbox reads)."""

from __future__ import annotations

import re
from datetime import datetime

from bot.helpline import Handled
from bot.messages import Channel
from bot.ports import NUMBER_OPTED_OUT, DeliveryError
from bot.storage import repository as repo
from bot.storage.db import Database

__all__ = ["DeliveryError", "OptedOut", "ensure_may_send", "is_opted_out", "mark_opted_out",
           "mask", "replay_allowed"]

OPTED_OUT = "opted_out"


class OptedOut(DeliveryError):
    """The person opted out (STOP, or the provider's 21610): nothing is sent to them."""

    def __init__(self, channel: Channel, address: str, code: str = OPTED_OUT) -> None:
        super().__init__(code, False, f"{channel.value} contact {mask(address)} opted out; "
                                      "nothing sent")
        self.channel = channel
        self.address = address

    @classmethod
    def by_provider(cls, channel: Channel, address: str) -> OptedOut:
        return cls(channel, address, NUMBER_OPTED_OUT)


async def ensure_may_send(db: Database, channel: Channel, address: str) -> datetime | None:
    """Raise `OptedOut` for an opted-out contact; return when they last wrote to us."""
    async with db.session() as session:
        contact = await repo.find_contact(session, channel, address)
        if contact is None:
            return None
        if contact.opted_out:
            raise OptedOut(channel, address)
        return contact.last_inbound_at


async def is_opted_out(db: Database, channel: Channel, address: str) -> bool:
    async with db.session() as session:
        contact = await repo.find_contact(session, channel, address)
    return contact is not None and contact.opted_out


def replay_allowed(handled: Handled, opted_out: bool) -> bool:
    """May the replies of a retried message go out? Not to a contact who opted out since,
    except the confirmation of that very opt-out (the first one never arrived)."""
    return not opted_out or handled.decision.id == "stop"


async def mark_opted_out(db: Database, channel: Channel, address: str) -> None:
    """Record an opt-out the provider told us about (e.g. Twilio error 21610)."""
    async with db.session() as session:
        contact = await repo.find_contact(session, channel, address)
        if contact is not None:
            contact.opted_out = True


_DIGITS = re.compile(r"\d(?=\d{3})")


def mask(address: str) -> str:
    """An address fit for a log line: all but the last three digits hidden."""
    return _DIGITS.sub("•", address)
