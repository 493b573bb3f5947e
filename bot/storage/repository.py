"""Queries the helpline needs, on one transaction at a time.

The inbound path (`bot.helpline`) runs on a `Tx` with SQLAlchemy Core statements built
once per dialect (`statements`): no ORM unit of work, no statement built or cache key
computed per message. The ORM functions further down serve the other callers (CLI,
privacy, tests) on an `AsyncSession`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.matcher import Candidate
from bot.messages import Channel, utcnow
from bot.ports import EscalationRequest
from bot.storage.db import Tx
from bot.storage.direct import direct
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

CONTACTS = cast(Table, Contact.__table__)
MESSAGES = cast(Table, Message.__table__)
CONVERSATIONS = cast(Table, ConversationRow.__table__)
TICKETS = cast(Table, Ticket.__table__)


class Statements:
    """The inbound path's statements for one dialect, built once (`statements`).

    Parameters come with each execution; names starting with `b_` are the WHERE clauses'
    own (the others name the columns they set)."""

    def __init__(self, dialect: str) -> None:
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        c, m, v, t = CONTACTS.c, MESSAGES.c, CONVERSATIONS.c, TICKETS.c
        # The contact, created if new. DO UPDATE rather than DO NOTHING so that RETURNING
        # gives the row either way; on PostgreSQL it also locks the contact's row until
        # commit, so two processes handle one person's messages one after the other.
        new_contact = upsert(CONTACTS)
        self.contact = new_contact.on_conflict_do_update(
            index_elements=[c.channel, c.address],
            set_={"display_name": func.coalesce(new_contact.excluded.display_name,
                                                c.display_name)},
        ).returning(c.id, c.opted_out, c.last_inbound_at)
        self.touch_contact = (update(CONTACTS).where(c.id == bindparam("b_id")))
        # None when this provider id was stored before (a retry).
        self.inbound = upsert(MESSAGES).on_conflict_do_nothing(
            index_elements=[m.channel, m.direction, m.provider_id]).returning(m.id)
        self.outbound = insert(MESSAGES).returning(m.id)
        self.decided = update(MESSAGES).where(m.id == bindparam("b_id"))
        self.by_provider_id = select(m.id, m.kind, m.entry_id, m.score).where(
            m.channel == bindparam("b_channel"), m.direction == "in",
            m.provider_id == bindparam("b_provider_id"))
        self.replies = select(m.id, m.text, m.choices, m.ticket_id, m.provider_id).where(
            m.in_reply_to == bindparam("b_id")).order_by(m.id)
        self.sent = update(MESSAGES).where(m.id == bindparam("b_id"))
        conversation = select(v.state).where(v.contact_id == bindparam("b_contact_id"))
        if dialect == "postgresql":
            # A pioneer's answer (bot.tickets) takes the same row first, then the ticket.
            conversation = conversation.with_for_update()
        self.conversation = conversation
        new_state = upsert(CONVERSATIONS)
        self.save_conversation = new_state.on_conflict_do_update(
            index_elements=[v.contact_id],
            set_={"state": new_state.excluded.state,
                  "updated_at": new_state.excluded.updated_at})
        self.transcript = select(m.direction, m.text, m.created_at).where(
            m.contact_id == bindparam("b_contact_id")).order_by(m.id.desc()).limit(
            TRANSCRIPT_LENGTH)
        self.open_ticket = insert(TICKETS).returning(t.id)
        self.ticket_transcript = select(t.transcript).where(t.id == bindparam("b_id"))
        self.touch_ticket = update(TICKETS).where(t.id == bindparam("b_id"))


@cache
def statements(dialect: str) -> Statements:
    built = Statements(dialect)
    if dialect == "sqlite":
        for statement in vars(built).values():
            direct(statement)
    return built


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: int
    opted_out: bool
    last_inbound_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredReply:
    id: int
    text: str
    choices: list[list[str]] | None
    ticket_id: int | None
    provider_id: str | None


async def upsert_contact(tx: Tx, channel: Channel, address: str, display_name: str | None,
                         now: datetime) -> ContactRow:
    """The contact for an address, created if new (its name updated when one is given)."""
    row = (await tx.execute(statements(tx.dialect).contact, {
        "channel": channel.value, "address": address, "display_name": display_name,
        "opted_out": False, "created_at": now,
    })).one()
    return ContactRow(row[0], bool(row[1]), row[2])


async def touch_contact(tx: Tx, contact_id: int, **values: Any) -> None:
    await tx.execute(statements(tx.dialect).touch_contact, {"b_id": contact_id, **values})


async def insert_inbound(tx: Tx, contact_id: int, channel: Channel, text: str,
                         provider_id: str | None, media: Sequence[str],
                         received_at: datetime) -> int | None:
    """Store an inbound message; None when this provider id was stored before (a retry)."""
    row = (await tx.execute(statements(tx.dialect).inbound, {
        "contact_id": contact_id, "channel": channel.value, "direction": Direction.IN.value,
        "text": text, "provider_id": provider_id, "media": list(media) or None,
        "created_at": received_at,
    })).first()
    return None if row is None else int(row[0])


async def insert_outbound(tx: Tx, contact_id: int, channel: Channel, text: str, *,
                          kind: str | None, entry_id: str | None, score: float | None,
                          in_reply_to: int, ticket_id: int | None,
                          choices: list[list[str]] | None, now: datetime) -> int:
    row = (await tx.execute(statements(tx.dialect).outbound, {
        "contact_id": contact_id, "channel": channel.value, "direction": Direction.OUT.value,
        "text": text, "kind": kind, "entry_id": entry_id, "score": score,
        "in_reply_to": in_reply_to, "ticket_id": ticket_id, "choices": choices,
        "created_at": now,
    })).one()
    return int(row[0])


async def set_decision(tx: Tx, message_id: int, *, kind: str, entry_id: str | None,
                       score: float | None = None, ticket_id: int | None = None) -> None:
    """What the bot made of a stored inbound message."""
    await tx.execute(statements(tx.dialect).decided, {
        "b_id": message_id, "kind": kind, "entry_id": entry_id, "score": score,
        "ticket_id": ticket_id})


async def set_provider_id(tx: Tx, message_id: int, provider_id: str | None) -> None:
    """The provider's id of a reply that went out (how a retry knows it was sent)."""
    await tx.execute(statements(tx.dialect).sent,
                     {"b_id": message_id, "provider_id": provider_id})


async def inbound_by_provider(tx: Tx, channel: Channel,
                              provider_id: str) -> tuple[int, str | None, str | None,
                                                         float | None] | None:
    """(id, kind, entry id, score) of the inbound message stored under a provider id."""
    row = (await tx.execute(statements(tx.dialect).by_provider_id, {
        "b_channel": channel.value, "b_provider_id": provider_id})).first()
    return None if row is None else (int(row[0]), row[1], row[2], row[3])


async def stored_replies(tx: Tx, message_id: int) -> list[StoredReply]:
    rows = (await tx.execute(statements(tx.dialect).replies, {"b_id": message_id})).all()
    return [StoredReply(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


async def conversation_state(tx: Tx, contact_id: int) -> dict[str, Any] | None:
    """The contact's conversation (locked for this transaction on PostgreSQL); None when
    there is none yet."""
    row = (await tx.execute(statements(tx.dialect).conversation,
                            {"b_contact_id": contact_id})).first()
    return None if row is None else cast(dict[str, Any], row[0] or {})


async def save_conversation(tx: Tx, contact_id: int, state: dict[str, Any],
                            now: datetime) -> None:
    await tx.execute(statements(tx.dialect).save_conversation,
                     {"contact_id": contact_id, "state": state, "updated_at": now})


async def open_ticket_for(tx: Tx, contact_id: int, request: EscalationRequest) -> int:
    """A new ticket with the conversation so far; its number."""
    rows = (await tx.execute(statements(tx.dialect).transcript,
                             {"b_contact_id": contact_id})).all()
    now = utcnow()
    row = (await tx.execute(statements(tx.dialect).open_ticket, {
        "contact_id": contact_id, "channel": request.channel.value,
        "status": TicketStatus.OPEN.value, "question": request.question,
        "reason": request.reason, "audience": request.audience.value,
        "language": request.language.value,
        "transcript": [{"direction": d, "text": text, "at": at.isoformat()}
                       for d, text, at in reversed(rows)],
        "candidates": candidates_json(request.candidates[:3]),
        "created_at": now, "updated_at": now,
    })).one()
    return int(row[0])


async def add_to_ticket_tx(tx: Tx, ticket_id: int, text: str) -> None:
    row = (await tx.execute(statements(tx.dialect).ticket_transcript,
                            {"b_id": ticket_id})).first()
    if row is None:
        return
    now = utcnow()
    transcript = [*(row[0] or []), {"direction": Direction.IN.value, "text": text,
                                    "at": now.isoformat()}]
    await tx.execute(statements(tx.dialect).touch_ticket,
                     {"b_id": ticket_id, "transcript": transcript, "updated_at": now})


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


def candidates_json(candidates: Sequence[Candidate]) -> list[dict[str, Any]]:
    return [{"id": c.entry_id, "score": c.score} for c in candidates]


async def erase_contact(session: AsyncSession, contact: Contact) -> list[int]:
    """Right to erasure: messages, pioneer answers (outbox) and contact go; tickets stay as
    anonymous counts, closed (there is nobody left to answer). Returns their numbers, so
    the pioneers' copies (the Telegram cards) can be wiped too."""
    numbers = list((await session.execute(
        select(Ticket.id).where(Ticket.contact_id == contact.id))).scalars())
    for statement in _erasure(contact.id, numbers):
        await session.execute(statement)
    return numbers


async def erase_contact_tx(tx: Tx, contact_id: int) -> list[int]:
    """`erase_contact` on the inbound path's transaction."""
    numbers = [int(n) for n, in (await tx.execute(
        select(Ticket.id).where(Ticket.contact_id == contact_id))).all()]
    for statement in _erasure(contact_id, numbers):
        await tx.execute(statement)
    return numbers


def _erasure(contact_id: int, numbers: list[int]) -> list[Any]:
    now = utcnow()
    return [
        # Said explicitly rather than left to ON DELETE CASCADE: the outbox holds the
        # address and the answer text, and must go even where foreign keys are not enforced.
        delete(Delivery).where(
            or_(Delivery.contact_id == contact_id, Delivery.ticket_id.in_(numbers))),
        update(Ticket).where(
            Ticket.contact_id == contact_id, Ticket.status != TicketStatus.CLOSED.value,
        ).values(status=TicketStatus.CLOSED.value, closed_at=now, updated_at=now),
        update(Ticket).where(Ticket.contact_id == contact_id).values(
            contact_id=None, question="[gewist]", transcript=[], claimed_by=None),
        delete(Message).where(Message.contact_id == contact_id),
        delete(ConversationRow).where(ConversationRow.contact_id == contact_id),
        delete(Contact).where(Contact.id == contact_id),
    ]
