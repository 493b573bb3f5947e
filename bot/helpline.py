"""The helpline: stores what comes in, lets the engine answer, stores what goes out.

This is the one way through for every channel: an adapter builds an `InboundMessage`,
calls `Helpline.handle`, and sends the `OutboundMessage`s it gets back. A provider's
retry (same provider message id) gets the stored replies of the first delivery and
`duplicate=True`, so the adapter can decide not to send them again.

One message is one transaction of a few Core statements (bot.storage.repository): the
contact (created if new), the inbound message (a retry stops here), the rate limit's
count when it can matter, the conversation, the replies, what was decided. It commits
before `handle` returns, so every reply goes out after its inbound message is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

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
from bot.storage.db import Database, Tx
from bot.texts import texts


@dataclass(frozen=True, slots=True)
class Handled:
    replies: tuple[OutboundMessage, ...]
    decision: Decision
    duplicate: bool = False
    suppressed: bool = False  # the contact opted out: nothing may be sent
    inbound_id: int | None = None
    ticket_number: int | None = None
    # (message id, provider id once it went out) of each stored reply, as `replies`.
    stored: tuple[tuple[int, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class TicketEvents:
    """What one handled message did to the pioneer queue, told to listeners after commit."""

    opened: tuple[int, ...] = ()
    added_to: int | None = None
    released_deliveries: int = 0
    erased: tuple[int, ...] = ()  # tickets of a person who had their data erased


TicketListener = Callable[[TicketEvents], Awaitable[None]]
log = logging.getLogger(__name__)


class _TxTickets:
    """The engine's TicketQueue, inside the transaction that handles the message."""

    def __init__(self, tx: Tx, contact_id: int) -> None:
        self.tx = tx
        self.contact_id = contact_id
        self.opened: list[int] = []
        self.added_to: int | None = None

    async def open(self, request: EscalationRequest) -> int:
        number = await repo.open_ticket_for(self.tx, self.contact_id, request)
        self.opened.append(number)
        return number

    async def add(self, ticket_number: int, text: str) -> None:
        await repo.add_to_ticket_tx(self.tx, ticket_number, text)
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
        at = message.received_at
        async with self.db.transaction() as tx:
            contact = await repo.upsert_contact(tx, message.channel, message.address,
                                                message.display_name, utcnow())
            inbound_id = await repo.insert_inbound(
                tx, contact.id, message.channel, message.text, message.provider_id,
                message.media, at)
            if inbound_id is None:
                return await self._replay(tx, message), TicketEvents()
            previous = contact.last_inbound_at
            # The newest inbound message's time, whatever order they were handled in.
            last_inbound = at if previous is None or previous < at else previous
            # Only the WhatsApp window holds answers back (one query less per SMS).
            released = (await release_held(tx, contact.id)
                        if message.channel is Channel.WHATSAPP else 0)
            if not self.rate_limit.cannot_trigger(previous, at):
                verdict = await self.rate_limit.check(tx, contact.id, at)
                if verdict is not Verdict.ALLOW and not self._never_limited(message.text):
                    await repo.touch_contact(tx, contact.id, last_inbound_at=last_inbound)
                    limited = await self._limited(tx, message, contact, inbound_id, verdict)
                    return limited, TicketEvents(released_deliveries=released)
            state = await repo.conversation_state(tx, contact.id)
            conversation = (
                Conversation.from_dict(state) if state
                else Conversation(audience=Audience.default_for(message.channel))
            )
            tickets = _TxTickets(tx, contact.id)
            turn = await self.engine.handle(message, conversation, tickets)

            if Effect.ERASE in turn.effects:
                erased = await repo.erase_contact_tx(tx, contact.id)
                return (Handled(turn.replies, turn.decision, inbound_id=None),
                        TicketEvents(erased=tuple(erased)))
            opted_out = contact.opted_out
            if Effect.OPT_OUT in turn.effects:
                opted_out = True
            if Effect.OPT_IN in turn.effects:
                opted_out = False
            now = utcnow()
            await repo.save_conversation(tx, contact.id, turn.conversation.as_dict(), now)

            # Opted out: the message is kept, but nothing is sent, except the one
            # confirmation of the opt-out itself.
            confirm_opt_out = Effect.OPT_OUT in turn.effects and not contact.opted_out
            suppressed = opted_out and not confirm_opt_out
            replies = () if suppressed else turn.replies
            decision = turn.decision
            stored = []
            for out in replies:
                reply_id = await repo.insert_outbound(
                    tx, contact.id, out.channel, out.text, kind=decision.kind.value,
                    entry_id=decision.id, score=decision.score, in_reply_to=inbound_id,
                    ticket_id=out.ticket_number,
                    choices=[[c.label, c.value] for c in out.choices] or None, now=now)
                stored.append((reply_id, None))
            await repo.set_decision(tx, inbound_id, kind=decision.kind.value,
                                    entry_id=decision.id, score=decision.score,
                                    ticket_id=turn.ticket_number)
            await repo.touch_contact(tx, contact.id, last_inbound_at=last_inbound,
                                     opted_out=opted_out)
            events = TicketEvents(tuple(tickets.opened), tickets.added_to, released)
            return Handled(replies, decision, suppressed=suppressed, inbound_id=inbound_id,
                           ticket_number=turn.ticket_number, stored=tuple(stored)), events

    def _never_limited(self, text: str) -> bool:
        found = self.engine.intents.detect(text)
        return found is not None and found.id in NEVER_LIMITED

    async def _limited(self, tx: Tx, message: InboundMessage, contact: repo.ContactRow,
                       inbound_id: int, verdict: Verdict) -> Handled:
        """Over the rate limit: stored, not answered, except for one polite notice."""
        decision = Decision(Kind.INTENT, RATE_LIMITED)
        await repo.set_decision(tx, inbound_id, kind=decision.kind.value, entry_id=decision.id)
        if verdict is Verdict.SILENCE or contact.opted_out:
            return Handled((), decision, suppressed=contact.opted_out, inbound_id=inbound_id)
        state = await repo.conversation_state(tx, contact.id)
        language = Conversation.from_dict(state).language if state else Language.NL
        text = for_channel(texts(language).rate_limited, message.channel)
        reply_id = await repo.insert_outbound(
            tx, contact.id, message.channel, text, kind=decision.kind.value,
            entry_id=decision.id, score=None, in_reply_to=inbound_id, ticket_id=None,
            choices=None, now=utcnow())
        log.info("helpline: contact %s is over the rate limit", contact.id)
        notice = OutboundMessage(message.channel, message.address, text)
        return Handled((notice,), decision, inbound_id=inbound_id, stored=((reply_id, None),))

    async def _replay(self, tx: Tx, message: InboundMessage) -> Handled:
        assert message.provider_id is not None
        first = await repo.inbound_by_provider(tx, message.channel, message.provider_id)
        if first is None:  # stored under this id, then erased: nothing to replay
            return Handled((), Decision(Kind.ESCALATE), duplicate=True)
        first_id, kind, entry_id, score = first
        stored = await repo.stored_replies(tx, first_id)
        replies = tuple(
            OutboundMessage(message.channel, message.address, m.text,
                            tuple(Choice(label, value) for label, value in (m.choices or [])),
                            m.ticket_id)
            for m in stored
        )
        decision = Decision(Kind(kind) if kind else Kind.ESCALATE, entry_id, score=score or 0.0)
        return Handled(replies, decision, duplicate=True, inbound_id=first_id,
                       stored=tuple((m.id, m.provider_id) for m in stored))
