"""Queries the helpline needs, on one session (one transaction) at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.matcher import Candidate
from bot.messages import Channel, utcnow
from bot.ports import EscalationRequest
from bot.storage.models import (
    Contact,
    ConversationRow,
    Delivery,
    Direction,
    Message,
    Ticket,
    TicketStatus,
)

TRANSCRIPT_LENGTH = 12


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def contact_for(
    session: AsyncSession, channel: Channel, address: str, display_name: str | None = None
) -> Contact:
    """The contact for an address, created if new; safe when two processes race."""
    stmt = (
        _insert(session, Contact)
        .values(channel=channel.value, address=address, display_name=display_name,
                opted_out=False, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["channel", "address"])
    )
    await session.execute(stmt)
    contact = (await session.execute(
        select(Contact).where(Contact.channel == channel.value, Contact.address == address)
    )).scalar_one()
    if display_name and contact.display_name != display_name:
        contact.display_name = display_name
    return contact


async def find_contact(session: AsyncSession, channel: Channel, address: str) -> Contact | None:
    return (await session.execute(
        select(Contact).where(Contact.channel == channel.value, Contact.address == address)
    )).scalar_one_or_none()


async def store_inbound(
    session: AsyncSession, contact: Contact, channel: Channel, text: str,
    provider_id: str | None, media: Sequence[str], received_at: datetime,
) -> int | None:
    """Store an inbound message; None when this provider id was stored before (a retry)."""
    stmt = (
        _insert(session, Message)
        .values(contact_id=contact.id, channel=channel.value, direction=Direction.IN.value,
                text=text, provider_id=provider_id, media=list(media) or None,
                created_at=received_at)
        .on_conflict_do_nothing(index_elements=["channel", "direction", "provider_id"])
        .returning(Message.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def inbound_by_provider_id(
    session: AsyncSession, channel: Channel, provider_id: str
) -> Message | None:
    return (await session.execute(select(Message).where(
        Message.channel == channel.value, Message.direction == Direction.IN.value,
        Message.provider_id == provider_id,
    ))).scalar_one_or_none()


async def replies_to(session: AsyncSession, message_id: int) -> list[Message]:
    return list((await session.execute(
        select(Message).where(Message.in_reply_to == message_id).order_by(Message.id)
    )).scalars())


async def conversation_for(session: AsyncSession, contact: Contact) -> ConversationRow:
    """The contact's conversation row, locked for this transaction where the database can."""
    stmt = (
        _insert(session, ConversationRow)
        .values(contact_id=contact.id, state={}, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["contact_id"])
    )
    await session.execute(stmt)
    query = select(ConversationRow).where(ConversationRow.contact_id == contact.id)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Two messages of one person in two processes are handled one after the other.
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one()


async def transcript(session: AsyncSession, contact_id: int,
                     limit: int = TRANSCRIPT_LENGTH) -> list[dict[str, Any]]:
    rows = list((await session.execute(
        select(Message).where(Message.contact_id == contact_id)
        .order_by(Message.id.desc()).limit(limit)
    )).scalars())
    return [
        {"direction": m.direction, "text": m.text, "at": m.created_at.isoformat()}
        for m in reversed(rows)
    ]


def candidates_json(candidates: Sequence[Candidate]) -> list[dict[str, Any]]:
    return [{"id": c.entry_id, "score": c.score} for c in candidates]


async def open_ticket(
    session: AsyncSession, contact: Contact, request: EscalationRequest
) -> Ticket:
    ticket = Ticket(
        contact_id=contact.id, channel=request.channel.value, status=TicketStatus.OPEN.value,
        question=request.question, reason=request.reason, audience=request.audience.value,
        language=request.language.value,
        transcript=await transcript(session, contact.id),
        candidates=candidates_json(request.candidates[:3]),
        created_at=utcnow(), updated_at=utcnow(),
    )
    session.add(ticket)
    await session.flush()
    return ticket


async def add_to_ticket(session: AsyncSession, ticket_id: int, text: str) -> None:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return
    ticket.transcript = [*ticket.transcript,
                         {"direction": Direction.IN.value, "text": text,
                          "at": utcnow().isoformat()}]
    ticket.updated_at = utcnow()


async def erase_contact(session: AsyncSession, contact: Contact) -> list[int]:
    """Right to erasure: messages, pioneer answers (outbox) and contact go; tickets stay as
    anonymous counts, closed (there is nobody left to answer). Returns their numbers, so
    the pioneers' copies (the Telegram cards) can be wiped too."""
    numbers = list((await session.execute(
        select(Ticket.id).where(Ticket.contact_id == contact.id))).scalars())
    # Said explicitly rather than left to ON DELETE CASCADE: the outbox holds the address
    # and the answer text, and must go even where foreign keys are not enforced.
    await session.execute(delete(Delivery).where(
        or_(Delivery.contact_id == contact.id, Delivery.ticket_id.in_(numbers))))
    now = utcnow()
    await session.execute(update(Ticket).where(
        Ticket.contact_id == contact.id, Ticket.status != TicketStatus.CLOSED.value,
    ).values(status=TicketStatus.CLOSED.value, closed_at=now, updated_at=now))
    await session.execute(update(Ticket).where(Ticket.contact_id == contact.id).values(
        contact_id=None, question="[gewist]", transcript=[], claimed_by=None,
    ))
    await session.execute(delete(Message).where(Message.contact_id == contact.id))
    await session.execute(delete(ConversationRow).where(ConversationRow.contact_id == contact.id))
    await session.execute(delete(Contact).where(Contact.id == contact.id))
    return numbers
