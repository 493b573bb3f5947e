"""The pioneers' Telegram group (`TELEGRAM_PIONEER_CHAT_ID`).

Two roles in one class. As the queue's `PioneerNotifier` it posts a card for each new
ticket, keeps that card up to date (claimed, answered, delivered, failed, closed) and
posts reminders. As a group handler of the Telegram channel it takes what pioneers do
there: a reply to a card is the answer, the buttons claim and close, `/open`,
`/ticket N` and `/leer`. Every action goes through `bot.tickets.Tickets`, the same path
as the inbox and the terminal, so an answer is stored in the outbox first and delivered
by its worker; the card is edited when the queue tells us the ticket changed.

Only the configured chat acts on tickets. Updates from any other group are ignored
without a word; in private chats these commands never reach the helpline
(`handlers.telegram.PIONEER_COMMANDS`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from telegram import Bot, CallbackQuery, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot import suggestions
from bot.formatting import split_long
from bot.messages import Language
from bot.ports import TicketCard
from bot.storage.db import Database
from bot.storage.models import Ticket, TicketStatus
from bot.texts import texts
from bot.tickets import WAITING, TicketError, Tickets, card_for
from bot.web.channels import GROUP_HANDLERS, TELEGRAM
from bot.web.keys import CORE, SETTINGS
from bot.web.queue import NOTIFIER, TICKETS
from handlers.pioneer_cards import (
    CLAIM,
    card_html,
    keyboard,
    number_in,
    open_list,
    parse_callback,
    reminder_text,
)
from handlers.telegram import command_name

log = logging.getLogger(__name__)

class PioneerGroup:
    """Cards for tickets in the pioneers' group, and the pioneers' actions there."""

    def __init__(self, bot: Bot, chat_id: int, tickets: Tickets, db: Database,
                 knowledge_dir: Path, timezone: str = "Europe/Amsterdam") -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.tickets = tickets
        self.db = db
        self.knowledge_dir = knowledge_dir
        self.zone = ZoneInfo(timezone)
        # One card change at a time, so a late edit never overwrites a newer one and an
        # update right after the card was posted finds its message id.
        self._lock = asyncio.Lock()

    # ---- PioneerNotifier -------------------------------------------------------------

    # Telling the group is best effort: the ticket change is already committed, and an
    # error here would fail the pioneer's action (or make Telegram redeliver a reply that
    # was already stored as an answer). What the group missed it gets with the next change.

    async def ticket_opened(self, ticket: TicketCard) -> None:
        async with self._lock, _logged("card of #%s", ticket.number):
            await self._post_card(ticket)

    async def ticket_updated(self, ticket: TicketCard) -> None:
        async with self._lock, _logged("update of #%s", ticket.number):
            card, message_id = await self._stored(ticket.number)
            if card is None:
                return
            if message_id is None:
                # The card was never posted (Telegram was down, or the group is new).
                if card.status != TicketStatus.CLOSED:
                    await self._post_card(card)
                return
            await self._edit(message_id, card)

    async def reminder(self, ticket: TicketCard) -> None:
        async with self._lock, _logged("reminder of #%s", ticket.number):
            _, message_id = await self._stored(ticket.number)
            if message_id is None:
                message_id = await self._post_card(ticket)
            await self._say(reminder_text(ticket), reply_to=message_id)

    # ---- the group handler -----------------------------------------------------------

    async def handle(self, update: Update, _bot: Bot) -> None:
        chat = update.effective_chat
        if chat is None or chat.id != self.chat_id:
            return  # not the pioneers' group: nothing is done, nothing is said
        if update.callback_query is not None:
            await self._button(update.callback_query)
            return
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        text = message.text or ""
        command = command_name(text)
        if command and not self._for_us(text):
            return
        if command == "/open":
            await self._open_list(message)
        elif command == "/ticket":
            await self._show(message)
        elif command == "/leer":
            await self._learn(message)
        elif not command and message.reply_to_message is not None:
            await self._answer(message)

    def _for_us(self, text: str) -> bool:
        """`/open@other_bot` is for another bot in the group."""
        first = text.split(maxsplit=1)[0]
        _, at, name = first.partition("@")
        return not at or name.lower() == (self.bot.username or "").lower()

    async def _answer(self, message: Message) -> None:
        number = await self._ticket_replied_to(message)
        if number is None or message.from_user is None:
            return  # a reply to something else: ordinary talk among pioneers
        try:
            await self.tickets.answer(number, message.text or message.caption or "",
                                      message.from_user.full_name)
        except TicketError as error:
            await self._say(str(error), reply_to=message.message_id)

    async def _button(self, query: CallbackQuery) -> None:
        parsed = parse_callback(query.data)
        if parsed is None:
            await self._quietly(query.answer())
            return
        action, number = parsed
        pioneer = query.from_user.full_name
        try:
            if action == CLAIM:
                await self.tickets.claim(number, pioneer)
            else:
                await self.tickets.close(number, pioneer)
        except TicketError as error:
            await self._quietly(query.answer(str(error), show_alert=True))
            return
        await self._quietly(query.answer())
        pressed = query.message
        # A card shown by /ticket is a copy: it is edited here, the original by the notifier.
        async with self._lock:
            card, message_id = await self._stored(number)
            if card is not None and pressed is not None and pressed.message_id != message_id:
                await self._edit(pressed.message_id, card)

    async def _open_list(self, message: Message) -> None:
        cards = await self.tickets.list_tickets(WAITING)
        for part in split_long(open_list(cards)):
            await self._say(part, reply_to=message.message_id)

    async def _show(self, message: Message) -> None:
        words = texts(Language.NL)
        argument = "".join((message.text or "").split(maxsplit=1)[1:]).strip().lstrip("#")
        if not argument.isdigit():
            await self._say(words.pioneer_ticket_usage, reply_to=message.message_id)
            return
        try:
            detail = await self.tickets.get(int(argument))
        except TicketError as error:
            await self._say(str(error), reply_to=message.message_id)
            return
        await self._send_card(detail.card, reply_to=message.message_id)

    async def _learn(self, message: Message) -> None:
        words = texts(Language.NL)
        number = await self._ticket_replied_to(message)
        if number is None:
            await self._say(words.pioneer_learn_usage, reply_to=message.message_id)
            return
        try:
            detail = await self.tickets.get(number)
            if detail.card.status not in (TicketStatus.ANSWERED, TicketStatus.CLOSED):
                raise suggestions.SuggestionError(f"Vraag #{number} heeft nog geen antwoord.")
            path = await asyncio.to_thread(suggestions.write, self.knowledge_dir, detail)
        except (TicketError, suggestions.SuggestionError) as error:
            await self._say(str(error), reply_to=message.message_id)
            return
        await self._say(words.pioneer_learned.format(ticket=number, file=path),
                        reply_to=message.message_id)

    async def _ticket_replied_to(self, message: Message) -> int | None:
        """The ticket of the bot message this one replies to: its card by message id, or
        the `#N` in a reminder or a card shown by /ticket."""
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or replied.from_user.id != self.bot.id:
            return None
        async with self.db.session() as session:
            number = (await session.execute(select(Ticket.id).where(
                Ticket.telegram_message_id == replied.message_id))).scalar_one_or_none()
        return number if number is not None else number_in(replied.text)

    # ---- talking to Telegram ---------------------------------------------------------

    async def _stored(self, number: int) -> tuple[TicketCard | None, int | None]:
        """The ticket as it is now (not as it was when the change was announced)."""
        async with self.db.session() as session:
            ticket = await session.get(Ticket, number)
            if ticket is None:
                return None, None
            return await card_for(session, ticket), ticket.telegram_message_id

    async def _post_card(self, card: TicketCard) -> int | None:
        message_id = await self._send_card(card)
        if message_id is not None:
            async with self.db.session() as session:
                ticket = await session.get(Ticket, card.number)
                if ticket is not None:
                    ticket.telegram_message_id = message_id
        return message_id

    async def _send_card(self, card: TicketCard, reply_to: int | None = None) -> int | None:
        try:
            sent = await self.bot.send_message(
                self.chat_id, card_html(card, self.zone), parse_mode=ParseMode.HTML,
                reply_markup=keyboard(card), reply_parameters=_reply(reply_to))
        except TelegramError as error:
            log.warning("pioneers' group: card of #%s not posted: %s", card.number,
                        error.message)
            return None
        return sent.message_id

    async def _edit(self, message_id: int, card: TicketCard) -> None:
        try:
            await self.bot.edit_message_text(
                card_html(card, self.zone), chat_id=self.chat_id, message_id=message_id,
                parse_mode=ParseMode.HTML, reply_markup=keyboard(card))
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                log.warning("pioneers' group: card of #%s not edited: %s", card.number,
                            error.message)
        except TelegramError as error:
            log.warning("pioneers' group: card of #%s not edited: %s", card.number,
                        error.message)

    async def _say(self, text: str, reply_to: int | None = None) -> None:
        """Plain text (no HTML): error messages may quote what a pioneer typed."""
        try:
            await self.bot.send_message(self.chat_id, text, reply_parameters=_reply(reply_to))
        except TelegramError as error:
            log.warning("pioneers' group: message not sent: %s", error.message)

    @staticmethod
    async def _quietly(call: Awaitable[object]) -> None:
        try:
            await call
        except TelegramError as error:  # an expired button press is no reason to fail
            log.warning("pioneers' group: %s", error.message)


PIONEER_GROUP: web.AppKey[PioneerGroup] = web.AppKey("pioneer_group")


@asynccontextmanager
async def _logged(what: str, number: int) -> AsyncIterator[None]:
    try:
        yield
    except Exception:
        log.exception("pioneers' group: " + what + " failed", number)


def _reply(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)


async def _own_group(app: web.Application) -> AsyncIterator[None]:
    """The group once Telegram and the queue run; it becomes the queue's notifier."""
    settings = app[SETTINGS]
    channel = app.get(TELEGRAM)
    if channel is None or settings.telegram_pioneer_chat_id is None:
        yield
        return
    group = PioneerGroup(channel.bot, settings.telegram_pioneer_chat_id, app[TICKETS],
                         app[CORE].db, Path(settings.knowledge_dir),
                         settings.business_timezone)
    app[PIONEER_GROUP] = group
    if NOTIFIER not in app:  # a notifier put in by hand (tests) wins
        app[NOTIFIER] = group
    log.info("pioneers' group on: tickets are posted to Telegram chat %s",
             settings.telegram_pioneer_chat_id)
    yield


def setup(app: web.Application) -> None:
    """Plug the group in; call after `channels.setup` and `queue.setup`."""
    settings = app[SETTINGS]
    if not settings.telegram_enabled:
        return
    if settings.telegram_pioneer_chat_id is None:
        log.info("pioneers' group off (TELEGRAM_PIONEER_CHAT_ID not set)")
        return

    async def in_group(update: Update, bot: Bot) -> None:
        group = app.get(PIONEER_GROUP)
        if group is not None:
            await group.handle(update, bot)

    app[GROUP_HANDLERS].append(in_group)
    app.cleanup_ctx.append(_own_group)
