"""The pioneer queue inside the server: the ticket service, the outbox worker, reminders.

Owned by one cleanup context. Channel senders are looked up in `app[SENDERS]` at each
delivery (the channels fill that dict), the pioneers' group plugs in as `app[NOTIFIER]`
(a `NoNotifier` when Telegram is off); both may be set before or after `setup(app)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

from aiohttp import web

from bot.core import business_hours
from bot.helpline import TicketEvents, TicketListener
from bot.messages import Channel
from bot.outbox import Outbox, OutboxPolicy
from bot.ports import NoNotifier, PioneerNotifier, Sender, TicketCard
from bot.storage.db import Database
from bot.tickets import Tickets, card_by_number
from bot.web.keys import CORE, SENDERS, SETTINGS

log = logging.getLogger(__name__)

NOTIFIER = web.AppKey("pioneer_notifier", PioneerNotifier)
TICKETS = web.AppKey("tickets", Tickets)
OUTBOX = web.AppKey("outbox", Outbox)
REMINDER_CHECK_SECONDS = 60.0


class _Notify:
    """Looks the notifier up when used, so the Telegram group may be wired in later."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def _target(self) -> PioneerNotifier:
        return self.app.get(NOTIFIER) or NoNotifier()

    @property
    def listening(self) -> bool:
        """Whether anyone gets the cards (the pioneers' group is wired in)."""
        return not isinstance(self._target(), NoNotifier)

    async def ticket_opened(self, ticket: TicketCard) -> None:
        await self._target().ticket_opened(ticket)

    async def ticket_updated(self, ticket: TicketCard) -> None:
        await self._target().ticket_updated(ticket)

    async def reminder(self, ticket: TicketCard) -> None:
        await self._target().reminder(ticket)


def _ticket_listener(db: Database, notifier: _Notify, outbox: Outbox) -> TicketListener:
    async def listener(events: TicketEvents) -> None:
        if events.released_deliveries:
            outbox.wake()
        if not notifier.listening:  # no card to show: do not read the tickets for one
            return
        numbers = [(n, True) for n in events.opened]
        if events.added_to is not None and events.added_to not in events.opened:
            numbers.append((events.added_to, False))
        numbers += [(n, False) for n in events.erased]  # the cards show "[gewist]" now
        for number, opened in numbers:
            async with db.session() as session:
                card = await card_by_number(session, number)
            if card is None:
                continue
            if opened:
                await notifier.ticket_opened(card)
            else:
                await notifier.ticket_updated(card)

    return listener


async def _remind(tickets: Tickets, app: web.Application) -> None:
    settings = app[SETTINGS]
    hours = business_hours(settings)
    after = timedelta(hours=settings.reminder_business_hours)
    while True:
        try:
            await tickets.remind(hours, after)
        except Exception:
            log.exception("reminders: round failed")
        await asyncio.sleep(REMINDER_CHECK_SECONDS)


async def _own_queue(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    core = app[CORE]
    notifier = _Notify(app)
    empty: Mapping[Channel, Sender] = {}
    outbox = Outbox(
        core.db, lambda: app.get(SENDERS, empty),
        OutboxPolicy(max_attempts=settings.outbox_max_attempts,
                     backoff=settings.outbox_backoff_seconds,
                     max_backoff=settings.outbox_max_backoff_seconds,
                     stale_after=settings.outbox_stale_after_seconds,
                     settle_after=settings.outbox_settle_seconds,
                     whatsapp_template_sid=settings.twilio_whatsapp_template_sid),
        notifier,
    )
    tickets = Tickets(core.db, notifier, on_answer=outbox.wake)
    app[OUTBOX] = outbox
    app[TICKETS] = tickets
    listener = _ticket_listener(core.db, notifier, outbox)
    core.helpline.listeners.append(listener)
    tasks = [asyncio.create_task(outbox.run(settings.outbox_poll_seconds), name="outbox"),
             asyncio.create_task(_remind(tickets, app), name="reminders")]
    yield
    core.helpline.listeners.remove(listener)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_own_queue)
