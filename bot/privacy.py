"""A person's rights under the AVG (GDPR): access (`export`) and storage limitation (`purge`).

Erasure on request is the `vergeet` intent (bot.helpline → `repository.erase_contact`).
`purge` is what the daily retention job (bot.retention) and
`python -m bot privacy purge --older-than DAYS` run: conversations that have been quiet
for longer than the retention period and have no ticket still waiting are erased the same
way; tickets closed before it lose their text; tickets are kept as anonymous counts.
See SECURITY.md.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import utcnow
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import (
    Contact,
    ConversationRow,
    Delivery,
    DeliveryStatus,
    Message,
    PioneerSession,
    Ticket,
    TicketStatus,
)

ERASED = "[gewist]"
WHATSAPP = "whatsapp:"
_PHONE = re.compile(r"\+\d{6,15}")
# Tickets in these states still need the person's data (a pioneer is on it).
ACTIVE_TICKETS = (TicketStatus.OPEN.value, TicketStatus.CLAIMED.value,
                  TicketStatus.ANSWERED.value)
# Outbox rows still on their way keep the conversation alive.
UNDELIVERED = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value,
               DeliveryStatus.HELD.value)


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _contact_data(session: AsyncSession, contact: Contact) -> dict[str, Any]:
    messages = (await session.execute(
        select(Message).where(Message.contact_id == contact.id).order_by(Message.id)
    )).scalars()
    tickets = (await session.execute(
        select(Ticket).where(Ticket.contact_id == contact.id).order_by(Ticket.id)
    )).scalars()
    deliveries = (await session.execute(
        select(Delivery).where(Delivery.contact_id == contact.id).order_by(Delivery.id)
    )).scalars()
    conversation = (await session.execute(
        select(ConversationRow).where(ConversationRow.contact_id == contact.id)
    )).scalar_one_or_none()
    return {
        "channel": contact.channel,
        "address": contact.address,
        "display_name": contact.display_name,
        "opted_out": contact.opted_out,
        "created_at": _when(contact.created_at),
        "last_inbound_at": _when(contact.last_inbound_at),
        "conversation": conversation.state if conversation else None,
        "messages": [
            {"id": m.id, "direction": m.direction, "text": m.text, "media": m.media or [],
             "kind": m.kind, "entry_id": m.entry_id, "ticket": m.ticket_id,
             "at": _when(m.created_at)}
            for m in messages
        ],
        "tickets": [
            {"number": t.id, "status": t.status, "question": t.question,
             "transcript": t.transcript, "pioneer": t.claimed_by,
             "created_at": _when(t.created_at), "answered_at": _when(t.answered_at),
             "closed_at": _when(t.closed_at)}
            for t in tickets
        ],
        "answers": [
            {"ticket": d.ticket_id, "text": d.text, "pioneer": d.pioneer, "status": d.status,
             "created_at": _when(d.created_at), "sent_at": _when(d.sent_at)}
            for d in deliveries
        ],
    }


def same_person(address: str) -> list[str]:
    """The addresses one phone number has: by SMS (`+316…`) and on WhatsApp
    (`whatsapp:+316…`); any other address (a chat id) only itself."""
    bare = address.strip().removeprefix(WHATSAPP)
    if _PHONE.fullmatch(bare):
        return [bare, WHATSAPP + bare]
    return [address.strip()]


async def export(db: Database, address: str) -> dict[str, Any]:
    """Everything stored about `address` (as its channel gives it), on every channel;
    for a phone number both its SMS and its WhatsApp conversations."""
    address = address.strip()
    async with db.session() as session:
        contacts = (await session.execute(
            select(Contact).where(Contact.address.in_(same_person(address)))
            .order_by(Contact.id)
        )).scalars().all()
        data = [await _contact_data(session, c) for c in contacts]
    return {"address": address, "exported_at": utcnow().isoformat(), "contacts": data}


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one purge removed; counts only, nothing personal."""

    contacts_erased: int = 0
    messages_deleted: int = 0
    tickets_anonymised: int = 0
    answers_deleted: int = 0
    sessions_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def text(self) -> str:
        return (f"{self.contacts_erased} contacts gewist, {self.messages_deleted} berichten "
                f"verwijderd, {self.tickets_anonymised} vragen geanonimiseerd, "
                f"{self.answers_deleted} verstuurde antwoorden verwijderd, "
                f"{self.sessions_deleted} verlopen inbox-sessies verwijderd")


async def purge_in(session: AsyncSession, older_than: timedelta,
                   now: datetime | None = None) -> PurgeReport:
    """The purge on an open transaction (the retention job holds its lock in it)."""
    cutoff = (now or utcnow()) - older_than
    active = select(Ticket.contact_id).where(
        Ticket.status.in_(ACTIVE_TICKETS), Ticket.contact_id.is_not(None))
    waiting = select(Delivery.contact_id).where(
        Delivery.status.in_(UNDELIVERED), Delivery.contact_id.is_not(None))
    last_message = (select(func.max(Message.created_at))
                    .where(Message.contact_id == Contact.id).scalar_subquery())
    quiet = (await session.execute(select(Contact).where(
        Contact.created_at < cutoff,
        or_(Contact.last_inbound_at.is_(None), Contact.last_inbound_at < cutoff),
        or_(last_message.is_(None), last_message < cutoff),
        Contact.id.not_in(active), Contact.id.not_in(waiting),
    ))).scalars().all()
    for contact in quiet:
        await repo.erase_contact(session, contact)

    # Old messages of people who are still in touch; never those a pioneer may need.
    old_messages = await session.execute(delete(Message).where(
        Message.created_at < cutoff,
        or_(Message.contact_id.is_(None), Message.contact_id.not_in(active)),
    ))
    tickets = await session.execute(update(Ticket).where(
        Ticket.status == TicketStatus.CLOSED.value, Ticket.closed_at < cutoff,
        Ticket.question != ERASED,
    ).values(contact_id=None, question=ERASED, transcript=[]))
    answers = await session.execute(delete(Delivery).where(
        Delivery.created_at < cutoff, Delivery.status.not_in(UNDELIVERED)))
    sessions = await session.execute(delete(PioneerSession).where(
        PioneerSession.expires_at < (now or utcnow())))
    return PurgeReport(
        contacts_erased=len(quiet),
        messages_deleted=_rows(old_messages),
        tickets_anonymised=_rows(tickets),
        answers_deleted=_rows(answers),
        sessions_deleted=_rows(sessions),
    )


def _rows(result: Any) -> int:
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


async def purge(db: Database, older_than: timedelta, now: datetime | None = None) -> PurgeReport:
    """Remove or anonymise what is past retention; see the module docstring."""
    async with db.session() as session:
        return await purge_in(session, older_than, now)
