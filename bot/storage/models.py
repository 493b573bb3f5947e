"""Tables of the helpline. Personal data (addresses, names, texts) lives in contacts,
messages and tickets only; see SECURITY.md for what is kept how long."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.messages import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class TicketStatus(StrEnum):
    """Life of a ticket.

    ```mermaid
    stateDiagram-v2
        [*] --> open: bot escalates
        open --> claimed: pioneer "Oppakken"
        open --> answered: pioneer answers
        claimed --> answered: pioneer answers
        answered --> claimed: person writes again, pioneer takes it up
        open --> closed
        claimed --> closed
        answered --> closed
    ```
    """

    OPEN = "open"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    CLOSED = "closed"


TICKET_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.OPEN: frozenset({TicketStatus.CLAIMED, TicketStatus.ANSWERED,
                                  TicketStatus.CLOSED}),
    TicketStatus.CLAIMED: frozenset({TicketStatus.CLAIMED, TicketStatus.ANSWERED,
                                     TicketStatus.CLOSED}),
    TicketStatus.ANSWERED: frozenset({TicketStatus.CLAIMED, TicketStatus.ANSWERED,
                                      TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}


class Contact(Base):
    """A person as one channel knows them (an SMS number, a WhatsApp number, a chat id)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_contact_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(128))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column()


class ConversationRow(Base):
    """The dialogue state of one contact (see bot.conversation)."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """Every inbound and outbound message, stored before it is answered or sent."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "direction", "provider_id", name="uq_message_provider_id"),
        Index("ix_messages_contact_created", "contact_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(3))
    text: Mapped[str] = mapped_column(Text, default="")
    provider_id: Mapped[str | None] = mapped_column(String(128))
    media: Mapped[list[str] | None] = mapped_column(JSON)
    kind: Mapped[str | None] = mapped_column(String(16))
    entry_id: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    in_reply_to: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    choices: Mapped[list[list[str]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """A question handed to the pioneers; its id is the number the person is told."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN.value)
    question: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64), default="")
    audience: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(4))
    transcript: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    reminded_at: Mapped[datetime | None] = mapped_column()
    # The ticket's card in the pioneers' Telegram group (handlers/pioneer_telegram.py).
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)


class DeliveryStatus(StrEnum):
    """Life of one pioneer answer in the outbox (see bot.outbox).

    ```mermaid
    stateDiagram-v2
        [*] --> pending: pioneer answers (stored first)
        pending --> sending: a worker claims it
        sending --> sent: provider accepted it
        sending --> pending: provider failed, retry after backoff
        sending --> failed: too many attempts / permanent error
        sending --> held: WhatsApp window closed, template sent
        sending --> blocked: opted out, or window closed without template
        sending --> uncertain: may have arrived, the provider cannot tell (Telegram)
        held --> pending: the person writes again
        blocked --> pending: the person writes again (window only)
        failed --> pending: a pioneer sends it again
        uncertain --> pending: a pioneer checked and sends it again
    ```

    A crashed worker's `sending` row, or an attempt that got no answer, is not simply
    repeated: the outbox first asks the provider whether it arrived (Twilio), and where
    the provider cannot say (Telegram) marks it `uncertain` for a pioneer to decide.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    BLOCKED = "blocked"
    UNCERTAIN = "uncertain"


class Delivery(Base):
    """One pioneer answer on its way to a person: stored before it is sent, never dropped."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    pioneer: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    # Why it is not sent (yet): "window", "opted_out", "no_sender", a provider code...
    error_code: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(128))
    template_sent_at: Mapped[datetime | None] = mapped_column()
    # When an attempt began that may have reached the provider without our knowing (a
    # crash or a timeout mid-send); cleared once sent, or when a pioneer sends it again.
    uncertain_since: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class Pioneer(Base):
    """An account for the web inbox (`python -m bot pioneers add NAME`)."""

    __tablename__ = "pioneers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PioneerSession(Base):
    """A logged-in inbox session; the cookie holds a token, only its hash is stored."""

    __tablename__ = "pioneer_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    pioneer_id: Mapped[int] = mapped_column(ForeignKey("pioneers.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
