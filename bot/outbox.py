"""Durable delivery of pioneer answers: stored first (bot.tickets), sent here, never dropped.

A worker claims one due row at a time, so several workers (two servers, a server and the
CLI) deliver each answer once: PostgreSQL claims with `SELECT … FOR UPDATE SKIP LOCKED`,
SQLite with an atomic `UPDATE … WHERE status = 'pending'` (SQLite has one writer at a
time). The claim is committed (`sending`, `claimed_at`) before the provider is called, outside
any transaction; the result is written back only if the row is still ours. Provider failures
that certainly sent nothing are retried with exponential backoff; after `max_attempts` the row
is `failed` and shown on the ticket. See `DeliveryStatus` for the states.

Nothing is sent twice. An attempt whose outcome we do not know (the process died while the
row was `sending`, taken over after `stale_after`; or the provider did not answer: a read
timeout, a connection lost after the request went out) is noted in `uncertain_since` and
never simply repeated:

- a sender that can ask its provider (`bot.ports.Reconciler`: Twilio lists the messages it
  took) looks the answer up first, after `settle_after`: found, the row is `sent` with the
  provider's id and nothing goes out; found in part, only the missing parts are sent;
- a sender that cannot (Telegram's Bot API has no such list) gets nothing resent: the row is
  `uncertain`, shown on the ticket, and a pioneer who has checked sends it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import Channel, OutboundMessage, utcnow
from bot.ports import (
    NUMBER_OPTED_OUT,
    WHATSAPP_WINDOW_CLOSED,
    DeliveryError,
    NoNotifier,
    PioneerNotifier,
    PriorSend,
    Reconciler,
    Sender,
)
from bot.storage.db import Database, Tx
from bot.storage.models import Contact, Delivery, DeliveryStatus, Direction, Message, Ticket
from bot.tickets import card_for, mask_address

log = logging.getLogger(__name__)

WHATSAPP_WINDOW = timedelta(hours=24)
# Held or blocked by the window: released when the person writes again.
RELEASED_BY_INBOUND = ("window",)
# What a sender raises when it finds the contact opted out on our side.
OPTED_OUT = "opted_out"
UNCERTAIN = "uncertain"
UNCERTAIN_TEXT = ("Bezorging onzeker: {reason}. Het antwoord is misschien aangekomen en wordt "
                  "daarom niet vanzelf opnieuw verstuurd. Controleer het bij de persoon en kies "
                  "zo nodig 'Opnieuw versturen'.")
# Provider ids recorded within this long before an uncertain attempt may be matched by the
# provider's lookup; they belong to other answers and are excluded from it.
KNOWN_IDS_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    max_attempts: int = 6
    backoff: float = 2.0  # seconds before the first retry, doubled each time
    max_backoff: float = 900.0
    stale_after: float = 300.0
    settle_after: float = 30.0  # after an unanswered attempt, before asking the provider
    whatsapp_template_sid: str | None = None

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.backoff * 2 ** max(0, attempts - 1), self.max_backoff))


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: DeliveryStatus
    error_code: str | None = None
    error: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None
    template_sent: bool = False
    opt_out: bool = False
    uncertain: bool = False  # this attempt may have reached the provider
    reconciled: bool = False  # found at the provider: an earlier attempt did arrive


def as_delivery_error(exc: BaseException) -> DeliveryError:
    """Any sender exception as a `DeliveryError`.

    Senders should raise `bot.ports.DeliveryError`; for anything else the provider's code
    and HTTP status are read from the exception or its cause (twilio's
    `TwilioRestException` has `.code` and `.status`): 5xx, 429 and transport errors are
    retried, other 4xx are not.
    """
    if isinstance(exc, DeliveryError):
        return exc
    for source in (exc, exc.__cause__):
        if source is None:
            continue
        code, status = getattr(source, "code", None), getattr(source, "status", None)
        if code is not None or isinstance(status, int):
            retryable = not isinstance(status, int) or status >= 500 or status == 429
            return DeliveryError(str(code if code is not None else status), retryable,
                                 str(exc)[:300])
    log.warning("outbox: sender raised %s", type(exc).__name__)
    return DeliveryError("error", True, str(exc)[:300] or type(exc).__name__)


async def release_held(session: AsyncSession | Tx, contact_id: int) -> int:
    """The person wrote again: answers held by the WhatsApp window go out now."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.contact_id == contact_id,
               Delivery.status.in_([DeliveryStatus.HELD.value, DeliveryStatus.BLOCKED.value]),
               Delivery.error_code.in_(RELEASED_BY_INBOUND))
        .values(status=DeliveryStatus.PENDING.value, next_attempt_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


class Outbox:
    """Delivers due outbox rows through the channel senders."""

    def __init__(
        self,
        db: Database,
        senders: Callable[[], Mapping[Channel, Sender]],
        policy: OutboxPolicy = OutboxPolicy(),
        notifier: PioneerNotifier | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.senders = senders
        self.policy = policy
        self.notifier: PioneerNotifier = notifier or NoNotifier()
        self.clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A new answer was stored in this process: deliver now, not at the next poll."""
        self._wake.set()

    async def run(self, interval: float = 0.5) -> None:
        """Deliver until cancelled; polls so answers stored by other processes go out too."""
        while True:
            try:
                await self.deliver_due()
            except Exception:
                log.exception("outbox: delivery round failed; retrying at the next poll")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def deliver_due(self) -> int:
        """Deliver every row that is due now; returns how many were attempted."""
        done = 0
        while (row := await self.claim()) is not None:
            await self.deliver(row)
            done += 1
        return done

    async def claim(self) -> Delivery | None:
        now = self.clock()
        due = or_(
            and_(Delivery.status == DeliveryStatus.PENDING.value, Delivery.next_attempt_at <= now),
            and_(Delivery.status == DeliveryStatus.SENDING.value,
                 Delivery.claimed_at < now - timedelta(seconds=self.policy.stale_after)),
        )
        async with self.db.session() as session:
            pick = select(Delivery.id).where(due).order_by(Delivery.next_attempt_at, Delivery.id)
            if self.db.is_sqlite:
                # One writer at a time: the subquery and the update are one atomic step.
                claimed = (await session.execute(
                    update(Delivery).where(Delivery.id == pick.limit(1).scalar_subquery(), due)
                    .values(_claimed(now)).returning(Delivery.id)
                )).scalar_one_or_none()
            else:
                claimed = (await session.execute(
                    pick.limit(1).with_for_update(skip_locked=True)
                )).scalar_one_or_none()
                if claimed is not None:
                    await session.execute(
                        update(Delivery).where(Delivery.id == claimed).values(_claimed(now)))
            if claimed is None:
                return None
            return await session.get(Delivery, claimed, populate_existing=True)

    async def deliver(self, row: Delivery) -> DeliveryStatus:
        outcome = await self._attempt(row)
        await self._record(row, outcome)
        return outcome.status

    async def _attempt(self, row: Delivery) -> _Outcome:
        async with self.db.session() as session:
            contact = await session.get(Contact, row.contact_id) if row.contact_id else None
        if contact is None:
            return _Outcome(DeliveryStatus.BLOCKED, "erased", "De persoon is gewist.")
        if contact.opted_out:
            return _Outcome(DeliveryStatus.BLOCKED, "opted_out",
                            "De persoon heeft zich afgemeld (STOP); niets verstuurd.")
        channel = Channel(row.channel)
        sender = self.senders().get(channel)
        if sender is None:
            return _Outcome(DeliveryStatus.FAILED, "no_sender",
                            f"Kanaal {channel.value} is niet ingesteld; niets verstuurd.")
        window_closed = channel is Channel.WHATSAPP and (
            contact.last_inbound_at is None
            or self.clock() - contact.last_inbound_at > WHATSAPP_WINDOW
        )
        message = OutboundMessage(channel, row.address, row.text, ticket_number=row.ticket_id)
        prior: PriorSend | None = None
        if row.uncertain_since is not None:
            # An earlier attempt may have arrived: never simply send again.
            if not isinstance(sender, Reconciler):
                return _uncertain(f"een eerdere poging ({channel.value}) is onderbroken "
                                  "voordat de provider antwoordde")
            try:
                prior = await sender.prior_send(message, row.uncertain_since,
                                                await self._known_ids(row))
            except Exception as raised:
                return self._failure(row, as_delivery_error(raised), sender)
            if prior.complete:
                return _Outcome(DeliveryStatus.SENT, provider_id=prior.last_id, reconciled=True)
        if window_closed:
            return await self._window_closed(row, sender, prior)
        try:
            if prior is not None and isinstance(sender, Reconciler):
                provider_id = await sender.send_rest(message, prior)
            else:
                provider_id = await sender.send(message)
        except Exception as raised:  # whatever a sender raises, the answer is not lost
            exc = as_delivery_error(raised)
            if exc.code == WHATSAPP_WINDOW_CLOSED:
                held = await self._window_closed(row, sender, prior)
                # Parts that did go out are looked up, not repeated, once it is released.
                return replace(held, uncertain=exc.uncertain)
            return self._failure(row, exc, sender, resolved=prior is not None)
        return _Outcome(DeliveryStatus.SENT, provider_id=provider_id)

    async def _known_ids(self, row: Delivery) -> frozenset[str]:
        """Provider ids already recorded for this address around the uncertain attempt:
        other answers (or other sends of the same text), which its lookup must not claim."""
        since = (row.uncertain_since or self.clock()) - KNOWN_IDS_WINDOW
        async with self.db.session() as session:
            deliveries = (await session.execute(select(Delivery.provider_id).where(
                Delivery.channel == row.channel, Delivery.address == row.address,
                Delivery.id != row.id, Delivery.provider_id.is_not(None),
                Delivery.sent_at >= since))).scalars().all()
            messages = (await session.execute(select(Message.provider_id).where(
                Message.contact_id == row.contact_id, Message.direction == Direction.OUT.value,
                Message.provider_id.is_not(None), Message.created_at >= since))
            ).scalars().all() if row.contact_id is not None else []
        return frozenset(str(i) for i in (*deliveries, *messages) if i)

    async def _window_closed(self, row: Delivery, sender: Sender,
                             prior: PriorSend | None = None) -> _Outcome:
        sid = self.policy.whatsapp_template_sid
        if row.template_sent_at is None and prior is not None and prior.others:
            # The uncertain attempt was the invitation, and the provider has a message to
            # this person from then that we have no record of: take it as sent, not twice.
            return _Outcome(DeliveryStatus.HELD, "window",
                            "WhatsApp-venster dicht: uitnodiging (template) verstuurd; het "
                            "antwoord gaat uit zodra de persoon reageert.", template_sent=True)
        if row.template_sent_at is not None:
            return _Outcome(DeliveryStatus.HELD, "window",
                            "WhatsApp-venster dicht; uitnodiging al verstuurd, antwoord volgt "
                            "zodra de persoon reageert.", template_sent=False)
        send_template = getattr(sender, "send_template", None)
        if not sid or send_template is None:
            return _Outcome(DeliveryStatus.BLOCKED, "window",
                            "WhatsApp-venster (24 uur) is dicht en er is geen template "
                            "ingesteld (TWILIO_WHATSAPP_TEMPLATE_SID). Het antwoord gaat uit "
                            "zodra de persoon weer schrijft.")
        try:
            await send_template(row.address, sid, {"1": str(row.ticket_id or "")})
        except Exception as raised:
            return self._failure(row, as_delivery_error(raised), sender)
        return _Outcome(DeliveryStatus.HELD, "window",
                        "WhatsApp-venster dicht: uitnodiging (template) verstuurd; het antwoord "
                        "gaat uit zodra de persoon reageert.", template_sent=True)

    @staticmethod
    async def _last_inbound(session: AsyncSession, row: Delivery, lock: bool) -> datetime | None:
        query = select(Contact.last_inbound_at).where(Contact.id == row.contact_id)
        if lock:
            query = query.with_for_update()
        return (await session.execute(query)).scalar_one_or_none()

    def _failure(self, row: Delivery, exc: DeliveryError, sender: Sender,
                 resolved: bool = False) -> _Outcome:
        """What a failed attempt leads to. `resolved`: the provider was asked about the
        earlier uncertain attempts in this attempt (so only this one's outcome counts)."""
        text = exc.message or str(exc)
        if exc.code in (NUMBER_OPTED_OUT, OPTED_OUT):
            return _Outcome(DeliveryStatus.BLOCKED, "opted_out",
                            f"De persoon heeft zich bij de provider afgemeld ({exc.code}).",
                            opt_out=True)
        in_doubt = exc.uncertain or (row.uncertain_since is not None and not resolved)
        if exc.uncertain and not isinstance(sender, Reconciler):
            return _uncertain(f"geen antwoord van de provider ({text})")
        if exc.retryable and row.attempts < self.policy.max_attempts:
            retry_at = self.clock() + self.policy.delay(row.attempts)
            if exc.uncertain:  # let a late provider finish before it is asked
                started = row.claimed_at or self.clock()
                retry_at = max(retry_at, started + timedelta(seconds=self.policy.settle_after))
            return _Outcome(DeliveryStatus.PENDING, exc.code, text, retry_at=retry_at,
                            uncertain=exc.uncertain)
        if in_doubt:
            return _uncertain(f"na {row.attempts} pogingen is niet na te gaan of het "
                              f"aankwam ({text})")
        if exc.retryable:
            text = f"{text} (na {row.attempts} pogingen opgegeven)"
        return _Outcome(DeliveryStatus.FAILED, exc.code, text)

    async def _record(self, row: Delivery, outcome: _Outcome) -> None:
        now = self.clock()
        values: dict[str, object] = {
            "status": outcome.status.value, "error_code": outcome.error_code,
            "last_error": outcome.error, "claimed_at": None,
        }
        if outcome.retry_at is not None:
            values["next_attempt_at"] = outcome.retry_at
        if outcome.template_sent:
            values["template_sent_at"] = now
        if outcome.status is DeliveryStatus.SENT:
            values.update(provider_id=outcome.provider_id, sent_at=now, uncertain_since=None)
        elif outcome.uncertain:
            values["uncertain_since"] = func.coalesce(Delivery.uncertain_since,
                                                      row.claimed_at or now)
        waits_for_reply = outcome.error_code == "window" and row.contact_id is not None
        reopened = False
        last_inbound: datetime | None = None
        async with self.db.session() as session:
            if waits_for_reply and not self.db.is_sqlite:
                # Lock the contact first, in the order the inbound path locks (contact,
                # then outbox), so a reply being handled right now is seen below.
                last_inbound = await self._last_inbound(session, row, lock=True)
            result = await session.execute(
                update(Delivery).where(Delivery.id == row.id,
                                       Delivery.status == DeliveryStatus.SENDING.value)
                .values(**values)
            )
            if not getattr(result, "rowcount", 1):
                log.warning("outbox: delivery %s was taken over while sending", row.id)
                return
            if waits_for_reply:
                if self.db.is_sqlite:  # the write above made this transaction the only writer
                    last_inbound = await self._last_inbound(session, row, lock=False)
                claimed = row.claimed_at or now
                if last_inbound is not None and last_inbound >= claimed:
                    # The person replied while we were sending the template: answer now.
                    await session.execute(update(Delivery).where(Delivery.id == row.id).values(
                        status=DeliveryStatus.PENDING.value, next_attempt_at=now))
                    reopened = True
            if outcome.opt_out and row.contact_id is not None:
                await session.execute(update(Contact).where(Contact.id == row.contact_id)
                                      .values(opted_out=True))
            if outcome.status is DeliveryStatus.SENT:
                session.add(Message(
                    contact_id=row.contact_id, channel=row.channel,
                    direction=Direction.OUT.value, text=row.text,
                    provider_id=outcome.provider_id, kind="pioneer", ticket_id=row.ticket_id,
                    created_at=now,
                ))
            ticket = await session.get(Ticket, row.ticket_id) if row.ticket_id else None
            card = await card_for(session, ticket) if ticket else None
        if reopened:
            self.wake()
            return
        level = logging.INFO if outcome.status is DeliveryStatus.SENT else logging.WARNING
        log.log(level, "outbox: delivery %s to %s %s: %s%s", row.id, row.channel,
                mask_address(row.address), outcome.status.value,
                " (found at the provider; not sent again)" if outcome.reconciled else "")
        if card is not None and outcome.status is not DeliveryStatus.PENDING:
            try:
                await self.notifier.ticket_updated(card)
            except Exception:
                log.exception("outbox: notifying the pioneers failed")


def _claimed(now: datetime) -> dict[str, object]:
    """The claim's values; a `sending` row is a dead worker's, whose attempt's outcome is
    unknown from its start on."""
    return {
        "status": DeliveryStatus.SENDING.value, "claimed_at": now,
        "attempts": Delivery.attempts + 1,
        "uncertain_since": case(
            (Delivery.status == DeliveryStatus.SENDING.value,
             func.coalesce(Delivery.uncertain_since, Delivery.claimed_at)),
            else_=Delivery.uncertain_since),
    }


def _uncertain(reason: str) -> _Outcome:
    return _Outcome(DeliveryStatus.UNCERTAIN, UNCERTAIN, UNCERTAIN_TEXT.format(reason=reason),
                    uncertain=True)
