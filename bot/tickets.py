"""The pioneer queue: list, show, claim, answer and close tickets.

Every place a pioneer works from (the web inbox, the terminal, the Telegram group) goes
through `Tickets`, so the rules live here once: the transition table of `TicketStatus`,
an answer is stored in the outbox before anything is sent (bot.outbox delivers it), and an
answered or closed ticket hands the conversation back to the bot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Conversation, State
from bot.hours import BusinessHours
from bot.messages import Channel, Language, utcnow
from bot.ports import NoNotifier, PioneerNotifier, TicketCard
from bot.storage.db import Database
from bot.storage.models import (
    TICKET_TRANSITIONS,
    Contact,
    ConversationRow,
    Delivery,
    DeliveryStatus,
    Ticket,
    TicketStatus,
)
from bot.texts import texts

MAX_ANSWER = 4000
WAITING = (TicketStatus.OPEN, TicketStatus.CLAIMED)
IN_INBOX = (TicketStatus.OPEN, TicketStatus.CLAIMED, TicketStatus.ANSWERED)


# What pioneers read (the stored values stay English).
LABELS = {
    "open": "open", "claimed": "opgepakt", "answered": "beantwoord", "closed": "gesloten",
    "pending": "wacht", "sending": "bezig", "sent": "verstuurd", "failed": "mislukt",
    "held": "wacht op reactie", "blocked": "tegengehouden", "uncertain": "onzeker",
}


def label(status: str | None) -> str:
    return LABELS.get(str(status or ""), str(status or ""))


class TicketError(Exception):
    """A pioneer action that cannot be done; the message is Dutch and shown as is."""


def mask_address(address: str) -> str:
    """`whatsapp:+31600000012` → `whatsapp:+316•••••12`: enough to recognise, not to dial."""
    prefix, _, number = address.rpartition(":")
    prefix = f"{prefix}:" if prefix else ""
    if len(number) <= 4:
        return prefix + "•" * len(number)
    keep = 4 if number.startswith("+") else 2
    return prefix + number[:keep] + "•" * (len(number) - keep - 2) + number[-2:]


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One pioneer answer and how far it got."""

    id: int
    text: str
    pioneer: str | None
    status: DeliveryStatus
    attempts: int
    error_code: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class TicketDetail:
    card: TicketCard
    deliveries: tuple[DeliveryView, ...]


def _delivery_view(d: Delivery) -> DeliveryView:
    return DeliveryView(d.id, d.text, d.pioneer, DeliveryStatus(d.status), d.attempts,
                        d.error_code, d.last_error, d.created_at, d.sent_at)


async def card_for(session: AsyncSession, ticket: Ticket) -> TicketCard:
    """The masked, pioneer-facing view of a ticket, with its latest delivery."""
    contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    latest = (await session.execute(
        select(Delivery).where(Delivery.ticket_id == ticket.id).order_by(Delivery.id.desc())
        .limit(1)
    )).scalar_one_or_none()
    return TicketCard(
        number=ticket.id, status=ticket.status, channel=Channel(ticket.channel),
        audience=ticket.audience, language=ticket.language,
        display_name=contact.display_name if contact else None,
        masked_address=mask_address(contact.address) if contact else "[gewist]",
        question=ticket.question, transcript=tuple(ticket.transcript or ()),
        candidates=tuple(ticket.candidates or ()), created_at=ticket.created_at,
        claimed_by=ticket.claimed_by, answered_at=ticket.answered_at,
        answer=latest.text if latest else None,
        delivery_status=latest.status if latest else None,
        delivery_error=latest.last_error if latest else None,
    )


async def card_by_number(session: AsyncSession, number: int) -> TicketCard | None:
    ticket = await session.get(Ticket, number)
    return await card_for(session, ticket) if ticket else None


async def _locked_ticket(session: AsyncSession, number: int) -> Ticket:
    """The ticket, locked for this transaction on PostgreSQL.

    The person's conversation row is locked first: the inbound path locks the conversation
    and then adds to the ticket, so taking them in the same order cannot deadlock.
    """
    ticket = await session.get(Ticket, number)
    if ticket is None:
        raise TicketError(f"Vraag #{number} bestaat niet.")
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        if ticket.contact_id is not None:
            await session.execute(select(ConversationRow.id).where(
                ConversationRow.contact_id == ticket.contact_id).with_for_update())
        await session.execute(select(Ticket.id).where(Ticket.id == number).with_for_update())
        await session.refresh(ticket)
    return ticket


def _move(ticket: Ticket, to: TicketStatus) -> None:
    current = TicketStatus(ticket.status)
    if to not in TICKET_TRANSITIONS[current]:
        raise TicketError(f"Vraag #{ticket.id} is {current.value}; dat kan niet meer.")
    ticket.status = to.value
    ticket.updated_at = utcnow()


async def _release_conversation(session: AsyncSession, ticket: Ticket) -> None:
    """The pioneer is done: the bot answers this person again."""
    if ticket.contact_id is None:
        return
    row = (await session.execute(
        select(ConversationRow).where(ConversationRow.contact_id == ticket.contact_id)
    )).scalar_one_or_none()
    if row is None or not row.state:
        return
    conv = Conversation.from_dict(row.state)
    if conv.state is State.WITH_PIONEER and conv.ticket_number == ticket.id:
        row.state = conv.to(State.IDLE, ticket_number=None, options=()).as_dict()
        row.updated_at = utcnow()


class Tickets:
    """The pioneer queue on one database; `on_answer` wakes the outbox worker."""

    def __init__(self, db: Database, notifier: PioneerNotifier | None = None,
                 on_answer: Callable[[], None] | None = None) -> None:
        self.db = db
        self.notifier: PioneerNotifier = notifier or NoNotifier()
        self.on_answer = on_answer

    async def list_tickets(self, statuses: Sequence[TicketStatus] = IN_INBOX,
                   channel: Channel | None = None) -> list[TicketCard]:
        async with self.db.session() as session:
            query = select(Ticket).where(Ticket.status.in_([s.value for s in statuses]))
            if channel is not None:
                query = query.where(Ticket.channel == channel.value)
            rows = (await session.execute(query.order_by(Ticket.id))).scalars()
            return [await card_for(session, t) for t in rows]

    async def get(self, number: int) -> TicketDetail:
        async with self.db.session() as session:
            ticket = await session.get(Ticket, number)
            if ticket is None:
                raise TicketError(f"Vraag #{number} bestaat niet.")
            deliveries = (await session.execute(
                select(Delivery).where(Delivery.ticket_id == number).order_by(Delivery.id)
            )).scalars()
            return TicketDetail(await card_for(session, ticket),
                                tuple(_delivery_view(d) for d in deliveries))

    async def claim(self, number: int, pioneer: str) -> TicketCard:
        async with self.db.session() as session:
            ticket = await _locked_ticket(session, number)
            if ticket.status == TicketStatus.CLAIMED.value and ticket.claimed_by != pioneer:
                raise TicketError(f"Vraag #{number} is al opgepakt door {ticket.claimed_by}.")
            _move(ticket, TicketStatus.CLAIMED)
            ticket.claimed_by = pioneer
            ticket.claimed_at = utcnow()
            card = await card_for(session, ticket)
        await self.notifier.ticket_updated(card)
        return card

    async def answer(self, number: int, text: str, pioneer: str) -> int:
        """Store the answer in the outbox (delivered by the worker); returns the delivery id."""
        body = text.strip()
        if not body:
            raise TicketError("Een leeg antwoord kan niet worden verstuurd.")
        if len(body) > MAX_ANSWER:
            raise TicketError(f"Het antwoord is te lang (meer dan {MAX_ANSWER} tekens).")
        async with self.db.session() as session:
            ticket = await _locked_ticket(session, number)
            contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
            if contact is None:
                raise TicketError(f"Vraag #{number}: de persoon heeft zijn gegevens laten wissen.")
            _move(ticket, TicketStatus.ANSWERED)
            now = utcnow()
            ticket.answered_at = ticket.answered_at or now
            ticket.claimed_by = ticket.claimed_by or pioneer
            prefix = texts(Language(ticket.language)).pioneer_answer_prefix.format(
                pioneer=pioneer)
            delivery = Delivery(
                ticket_id=ticket.id, contact_id=contact.id, channel=contact.channel,
                address=contact.address, text=f"{prefix}\n{body}", pioneer=pioneer,
                status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now,
                created_at=now,
            )
            session.add(delivery)
            await _release_conversation(session, ticket)
            await session.flush()
            delivery_id = delivery.id
            card = await card_for(session, ticket)
        if self.on_answer is not None:
            self.on_answer()
        await self.notifier.ticket_updated(card)
        return delivery_id

    async def retry(self, number: int) -> int:
        """Send failed, blocked or uncertain answers of a ticket again (e.g. after fixing a
        channel, or after checking with the person that an uncertain one did not arrive).

        Answers blocked because the person opted out stay blocked. Returns how many were
        queued again.
        """
        again = [DeliveryStatus.FAILED.value, DeliveryStatus.BLOCKED.value,
                 DeliveryStatus.UNCERTAIN.value]
        async with self.db.session() as session:
            await _locked_ticket(session, number)
            rows = (await session.execute(select(Delivery).where(
                Delivery.ticket_id == number, Delivery.status.in_(again),
                Delivery.error_code.is_distinct_from("opted_out"),
            ))).scalars().all()
            for row in rows:
                row.status = DeliveryStatus.PENDING.value
                row.attempts = 0
                row.next_attempt_at = utcnow()
                row.uncertain_since = None  # the pioneer decided: send it as new
        if rows and self.on_answer is not None:
            self.on_answer()
        return len(rows)

    async def close(self, number: int, pioneer: str) -> TicketCard:
        async with self.db.session() as session:
            ticket = await _locked_ticket(session, number)
            _move(ticket, TicketStatus.CLOSED)
            ticket.closed_at = utcnow()
            ticket.claimed_by = ticket.claimed_by or pioneer
            await _release_conversation(session, ticket)
            card = await card_for(session, ticket)
        await self.notifier.ticket_updated(card)
        return card

    async def remind(self, hours: BusinessHours, after: timedelta,
                     now: datetime | None = None) -> list[int]:
        """Announce again each open ticket unclaimed for `after` business time, once per period."""
        now = now or utcnow()
        due: list[TicketCard] = []
        async with self.db.session() as session:
            # Several servers check at once: a ticket another one is reminding about is
            # skipped, and once it commits, its reminded_at makes the ticket not due here.
            rows = (await session.execute(
                select(Ticket).where(Ticket.status == TicketStatus.OPEN.value)
                .order_by(Ticket.id).with_for_update(skip_locked=True)
            )).scalars()
            for ticket in rows:
                since = ticket.reminded_at or ticket.created_at
                if hours.elapsed(since, now) >= after:
                    ticket.reminded_at = now
                    due.append(await card_for(session, ticket))
        for card in due:
            await self.notifier.reminder(card)
        return [c.number for c in due]
