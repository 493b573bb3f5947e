"""Telegram on our aiohttp server: the python-telegram-bot Application's lifetime, what
the webhook (`POST /webhooks/telegram`, routed in bot/web/channels.py) does with an
update, and the long-polling loop for local use.

Updates are processed directly rather than through the Application's update queue, so
the webhook answers Telegram only after the message is stored and the reply is sent. The
message is stored once under its `update_id`; each stored reply gets its Telegram message
id when it went out. A reply that failed for a passing reason makes the webhook answer
503, Telegram delivers the update again, and the retry sends only what is still unsent:
the person gets each reply once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from aiohttp import web
from telegram import Bot, CallbackQuery, Update
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.config import Settings
from bot.helpline import Handled, Helpline
from bot.storage import repository as repo
from bot.storage.db import Database
from handlers.delivery import DeliveryError, is_opted_out, replay_allowed
from handlers.telegram import TelegramSender, inbound_from_update, is_private, retry_seconds

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
POLL_TIMEOUT = 25

GroupHandler = Callable[[Update, Bot], Awaitable[None]]
"""Handles an update from a group chat (the pioneers' group); plugged in by its owner."""


class TelegramConfigError(Exception):
    """Telegram is switched on but cannot work with the settings given."""


class TelegramChannel:
    """Turns updates into helpline turns and sends the replies back."""

    def __init__(self, application: Application,  # type: ignore[type-arg]
                 helpline: Helpline, db: Database,
                 group_handlers: Sequence[GroupHandler] = ()) -> None:
        self.application = application
        self.bot: Bot = application.bot
        self.helpline = helpline
        self.db = db
        self.sender = TelegramSender(self.bot, db)
        self.group_handlers = group_handlers

    async def process(self, update: Update) -> bool:
        """One update, start to finish. False when a reply failed in a way worth retrying:
        the caller lets Telegram deliver the update again, and only unsent replies go out."""
        if not is_private(update):
            for handler in self.group_handlers:
                await handler(update, self.bot)
            return True
        query = update.callback_query
        inbound = inbound_from_update(update)
        if inbound is None:
            if query is not None:
                await self._quietly(query.answer())
            return True
        handled = await self.helpline.handle(inbound)
        if handled.duplicate:
            opted_out = await is_opted_out(self.db, inbound.channel, inbound.address)
            if not replay_allowed(handled, opted_out):
                return True
        elif query is not None:
            await self._settle(query)
        try:
            await self._reply(handled)
        except DeliveryError as error:
            log.warning("telegram reply to update %s not delivered: %s", update.update_id,
                        error)
            return not error.retryable
        return True

    async def _reply(self, handled: Handled) -> None:
        """Send the replies not sent before, and note each one's Telegram message id on
        the stored reply (which is how a retry knows what already went out)."""
        stored: list[tuple[int | None, str | None]] = list(handled.stored)
        if len(stored) != len(handled.replies):  # erased with the contact: send untracked
            if handled.duplicate:
                return
            stored = [(None, None)] * len(handled.replies)
        for reply, (row_id, sent) in zip(handled.replies, stored, strict=True):
            if sent:
                continue
            provider_id = await self.sender.deliver(reply)
            if row_id is not None:
                async with self.db.transaction() as tx:
                    await repo.set_provider_id(tx, row_id, provider_id)

    async def _settle(self, query: CallbackQuery) -> None:
        """Stop the button's spinner and take the buttons off the message that was clicked."""
        await self._quietly(query.answer())
        message = query.message
        if message is not None:
            await self._quietly(self.bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=message.message_id, reply_markup=None))

    @staticmethod
    async def _quietly(call: Awaitable[object]) -> None:
        # An expired callback query or an already edited message is no reason to fail.
        try:
            await call
        except TelegramError as error:
            log.warning("telegram: %s", error.message)

    async def poll(self, wait: int = POLL_TIMEOUT) -> None:
        """Long polling (`serve --telegram-polling`): getUpdates until cancelled."""
        offset: int | None = None
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=wait, allowed_updates=list(ALLOWED_UPDATES))
            except RetryAfter as flood:
                await asyncio.sleep(retry_seconds(flood))
                continue
            except NetworkError as error:
                log.warning("telegram polling: %s", error.message)
                await asyncio.sleep(1)
                continue
            for update in updates:
                offset = update.update_id + 1
                try:
                    await self.process(update)
                except Exception:
                    log.exception("telegram update %s failed", update.update_id)


def build_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    if not settings.telegram_bot_token:
        raise TelegramConfigError("TELEGRAM_BOT_TOKEN is not set")
    return (
        Application.builder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .updater(None)
        .build()
    )


@asynccontextmanager
async def running(settings: Settings, helpline: Helpline, db: Database,
                  group_handlers: Sequence[GroupHandler] = (), *, polling: bool = False,
                  poll_timeout: int = POLL_TIMEOUT) -> AsyncIterator[TelegramChannel]:
    """The Telegram channel for as long as the server runs: webhook registered at
    `PUBLIC_URL` + /webhooks/telegram, or a polling task."""
    if not polling and not settings.telegram_webhook_secret:
        raise TelegramConfigError(
            "TELEGRAM_WEBHOOK_SECRET is required for the Telegram webhook "
            "(or run `serve --telegram-polling` for local use)")
    # httpx logs every request URL at INFO, and a Bot API URL carries the bot token.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
    application = build_application(settings)
    await application.initialize()
    poller: asyncio.Task[None] | None = None
    try:
        channel = TelegramChannel(application, helpline, db, group_handlers)
        if polling:
            await application.bot.delete_webhook()
            poller = asyncio.create_task(channel.poll(poll_timeout), name="telegram-polling")
        else:
            await _register_webhook(application.bot, settings)
        yield channel
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        await application.shutdown()


async def _register_webhook(bot: Bot, settings: Settings) -> None:
    url = settings.base_url + WEBHOOK_PATH
    try:
        await bot.set_webhook(url, secret_token=settings.telegram_webhook_secret,
                              allowed_updates=list(ALLOWED_UPDATES))
    except TelegramError as error:
        # The rest of the server is still useful; the operator sees why Telegram is silent.
        log.error("telegram webhook not registered at %s: %s", url, error.message)
    else:
        log.info("telegram webhook registered at %s", url)


def secret_matches(settings: Settings, given: str | None) -> bool:
    expected = settings.telegram_webhook_secret
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def parse_update(body: bytes, bot: Bot) -> Update:
    """The update in a webhook body; `web.HTTPBadRequest` when it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        raise web.HTTPBadRequest(text="not a Telegram update")
    try:
        return Update.de_json(data, bot)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise web.HTTPBadRequest(text="not a Telegram update") from None
