"""The helpline: stores what comes in, lets the engine answer, stores what goes out.

This is the one way through for every channel: an adapter builds an `InboundMessage`,
calls `Helpline.handle`, and sends the `OutboundMessage`s it gets back. A provider's
retry (same provider message id) gets the stored replies of the first delivery and
`duplicate=True`, so the adapter can decide not to send them again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Conversation
from bot.decision import Decision, Kind
from bot.dialogue import DialogueEngine, Effect
from bot.formatting import for_channel
from bot.messages import (
    Audience,
    Channel,
    Choice,
    InboundMessage,
    Language,
    OutboundMessage,
    utcnow,
)
from bot.outbox import release_held
from bot.ports import EscalationRequest
from bot.ratelimit import NEVER_LIMITED, RATE_LIMITED, RateLimit, Verdict
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import Contact, Direction, Message
from bot.texts import texts


@dataclass(frozen=True, slots=True)
class Handled:
    replies: tuple[OutboundMessage, ...]
    decision: Decision
    duplicate: bool = False
    suppressed: bool = False  # the contact opted out: nothing may be sent
    inbound_id: int | None = None
    ticket_number: int | None = None


@dataclass(frozen=True, slots=True)
class TicketEvents:
    """What one handled message did to the pioneer queue, told to listeners after commit."""

    opened: tuple[int, ...] = ()
    added_to: int | None = None
    released_deliveries: int = 0
    erased: tuple[int, ...] = ()  # tickets of a person who had their data erased


TicketListener = Callable[[TicketEvents], Awaitable[None]]
log = logging.getLogger(__name__)


class _SessionTickets:
    """The engine's TicketQueue, inside the transaction that handles the message."""

    def __init__(self, session: AsyncSession, contact: Contact) -> None:
        self.session = session
        self.contact = contact
        self.opened: list[int] = []
        self.added_to: int | None = None

    async def open(self, request: EscalationRequest) -> int:
        ticket = await repo.open_ticket(self.session, self.contact, request)
        self.opened.append(ticket.id)
        return ticket.id

    async def add(self, ticket_number: int, text: str) -> None:
        await repo.add_to_ticket(self.session, ticket_number, text)
        self.added_to = ticket_number


class Helpline:
    """Handles inbound messages for every channel; see the module docstring."""

    def __init__(self, engine: DialogueEngine, db: Database,
                 listeners: Iterable[TicketListener] = (),
                 rate_limit: RateLimit | None = None) -> None:
        self.engine = engine
        self.db = db
        self.rate_limit = rate_limit or RateLimit()
        # Told about opened tickets and released answers once the message is committed.
        self.listeners: list[TicketListener] = list(listeners)

    async def handle(self, message: InboundMessage) -> Handled:
        handled, events = await self._handle(message)
        if events.opened or events.added_to or events.released_deliveries or events.erased:
            for listener in self.listeners:
                try:
                    await listener(events)
                except Exception:
                    log.exception("helpline: a ticket listener failed")
        return handled

    async def _handle(self, message: InboundMessage) -> tuple[Handled, TicketEvents]:
        async with self.db.session() as session:
            contact = await repo.contact_for(session, message.channel, message.address,
                                             message.display_name)
            inbound_id = await repo.store_inbound(
                session, contact, message.channel, message.text, message.provider_id,
                message.media, message.received_at,
            )
            if inbound_id is None:
                return await self._replay(session, message), TicketEvents()
            contact.last_inbound_at = message.received_at
            # Only the WhatsApp window holds answers back (one query less per SMS).
            released = (await release_held(session, contact.id)
                        if message.channel is Channel.WHATSAPP else 0)
            verdict = await self.rate_limit.check(session, contact.id, message.received_at)
            if verdict is not Verdict.ALLOW and not self._never_limited(message.text):
                limited = await self._limited(session, message, contact, inbound_id, verdict)
                return limited, TicketEvents(released_deliveries=released)
            row = await repo.conversation_for(session, contact)
            conversation = (
                Conversation.from_dict(row.state) if row.state
                else Conversation(audience=Audience.default_for(message.channel))
            )
            was_opted_out = contact.opted_out
            tickets = _SessionTickets(session, contact)
            turn = await self.engine.handle(message, conversation, tickets)

            if Effect.ERASE in turn.effects:
                erased = await repo.erase_contact(session, contact)
                return (Handled(turn.replies, turn.decision, inbound_id=None),
                        TicketEvents(erased=tuple(erased)))
            if Effect.OPT_OUT in turn.effects:
                contact.opted_out = True
            if Effect.OPT_IN in turn.effects:
                contact.opted_out = False
            row.state = turn.conversation.as_dict()
            row.updated_at = utcnow()

            # Opted out: the message is kept, but nothing is sent, except the one
            # confirmation of the opt-out itself.
            confirm_opt_out = Effect.OPT_OUT in turn.effects and not was_opted_out
            suppressed = contact.opted_out and not confirm_opt_out
            replies = () if suppressed else turn.replies
            for out in replies:
                session.add(Message(
                    contact_id=contact.id, channel=out.channel.value,
                    direction=Direction.OUT.value, text=out.text,
                    kind=turn.decision.kind.value, entry_id=turn.decision.id,
                    score=turn.decision.score, in_reply_to=inbound_id,
                    ticket_id=out.ticket_number,
                    choices=[[c.label, c.value] for c in out.choices] or None,
                    created_at=utcnow(),
                ))
            # One UPDATE, not a SELECT and an UPDATE (benchmarks/load.py: round trips count).
            await session.execute(
                update(Message).where(Message.id == inbound_id)
                .values(kind=turn.decision.kind.value, entry_id=turn.decision.id,
                        score=turn.decision.score, ticket_id=turn.ticket_number)
                .execution_options(synchronize_session=False))
            events = TicketEvents(tuple(tickets.opened), tickets.added_to, released)
            return Handled(replies, turn.decision, suppressed=suppressed, inbound_id=inbound_id,
                           ticket_number=turn.ticket_number), events

    def _never_limited(self, text: str) -> bool:
        found = self.engine.intents.detect(text)
        return found is not None and found.id in NEVER_LIMITED

    async def _limited(self, session: AsyncSession, message: InboundMessage, contact: Contact,
                       inbound_id: int, verdict: Verdict) -> Handled:
        """Over the rate limit: stored, not answered, except for one polite notice."""
        decision = Decision(Kind.INTENT, RATE_LIMITED)
        inbound = await session.get(Message, inbound_id)
        if inbound is not None:
            inbound.kind, inbound.entry_id = decision.kind.value, decision.id
        if verdict is Verdict.SILENCE or contact.opted_out:
            return Handled((), decision, suppressed=contact.opted_out, inbound_id=inbound_id)
        row = await repo.conversation_for(session, contact)
        language = Conversation.from_dict(row.state).language if row.state else Language.NL
        text = for_channel(texts(language).rate_limited, message.channel)
        session.add(Message(
            contact_id=contact.id, channel=message.channel.value,
            direction=Direction.OUT.value, text=text, kind=decision.kind.value,
            entry_id=decision.id, in_reply_to=inbound_id, created_at=utcnow(),
        ))
        log.info("helpline: contact %s is over the rate limit", contact.id)
        notice = OutboundMessage(message.channel, message.address, text)
        return Handled((notice,), decision, inbound_id=inbound_id)

    async def _replay(self, session: AsyncSession, message: InboundMessage) -> Handled:
        assert message.provider_id is not None
        first = await repo.inbound_by_provider_id(session, message.channel, message.provider_id)
        stored = await repo.replies_to(session, first.id) if first else []
        replies = tuple(
            OutboundMessage(message.channel, message.address, m.text,
                            tuple(Choice(label, value) for label, value in (m.choices or [])),
                            m.ticket_id)
            for m in stored
        )
        kind = Kind(first.kind) if first and first.kind else Kind.ESCALATE
        decision = Decision(kind, first.entry_id if first else None,
                            score=first.score or 0.0 if first else 0.0)
        return Handled(replies, decision, duplicate=True,
                       inbound_id=first.id if first else None)
