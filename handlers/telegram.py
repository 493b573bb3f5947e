"""The Telegram adapter: Bot API updates to `InboundMessage`s, `OutboundMessage`s to
`sendMessage` calls, and the Telegram sender the pioneer queue uses.

Only private chats reach the helpline. Everything from a group (the pioneers' group)
goes to the group handlers plugged in by whoever owns that group; see
`handlers.telegram_webhook.GROUP_HANDLERS`.
"""

from __future__ import annotations

import asyncio
import html
import logging
import warnings
from dataclasses import dataclass
from datetime import timedelta

import httpx
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot.formatting import split_long
from bot.messages import Channel, InboundMessage, OutboundMessage
from bot.storage.db import Database
from handlers.delivery import DeliveryError, ensure_may_send, mask

log = logging.getLogger(__name__)

# Telegram allows 64 bytes of callback data; our choice values are short ("1", "ja").
MAX_CALLBACK_DATA = 64
# A flood wait longer than this goes back to the caller (the outbox retries later).
MAX_RETRY_AFTER = 5.0


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


def media_of(message: Message) -> tuple[str, ...]:
    """References to what a message carries besides text (kept on the stored message)."""
    refs: list[str] = []
    if message.photo:
        refs.append(f"photo:{message.photo[-1].file_id}")
    for kind in ("voice", "audio", "video", "video_note", "animation", "document", "sticker"):
        item = getattr(message, kind)
        if item is not None:
            refs.append(f"{kind}:{item.file_id}")
    if message.location is not None:
        refs.append(f"location:{message.location.latitude},{message.location.longitude}")
    if message.contact is not None:
        refs.append("contact")
    return tuple(refs)


# Telegram's bot commands in the words the engine understands. Every new user's first
# message is "/start" (the Start button), which means hello, not the opt-in START of SMS.
COMMANDS = {"/start": "hallo", "/help": "menu", "/menu": "menu", "/stop": "stop"}
# The pioneers' group commands and buttons (handlers/pioneer_telegram.py). Anywhere but
# that group they do nothing: in a private chat they would otherwise open a ticket.
PIONEER_COMMANDS = frozenset({"/open", "/ticket", "/leer"})
PIONEER_CALLBACK_PREFIX = "ticket:"


def command_name(text: str) -> str:
    """`/open@our_bot 12` → `/open`; "" for text that is no command."""
    if not text.startswith("/"):
        return ""
    return text.split(maxsplit=1)[0].split("@", 1)[0].lower()


def command_text(text: str) -> str:
    """`/start`, `/start@our_bot` or `/start deep-link` as plain words; other text as is."""
    if not text.startswith("/"):
        return text
    command = text.split(maxsplit=1)[0].split("@", 1)[0].lower()
    return COMMANDS.get(command, text)


def inbound_from_update(update: Update) -> InboundMessage | None:
    """The helpline's view of a private-chat update; None for what it does not handle."""
    if not is_private(update):
        return None
    user = update.effective_user
    name = user.full_name if user else None
    provider_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        if not query.data or query.message is None:
            return None
        if query.data.startswith(PIONEER_CALLBACK_PREFIX):
            return None
        return InboundMessage(Channel.TELEGRAM, str(query.message.chat.id), query.data,
                              name, provider_id, is_choice=True)
    message = update.message
    if message is None:
        return None
    if command_name(message.text or "") in PIONEER_COMMANDS:
        return None
    text = command_text(message.text or message.caption or "")
    media = media_of(message)
    if not text and not media:
        return None
    return InboundMessage(Channel.TELEGRAM, str(message.chat.id), text, name, provider_id,
                          received_at=message.date, media=media)


@dataclass(frozen=True, slots=True)
class Part:
    """One `sendMessage` call: HTML text and, on the last part, the buttons."""

    html: str
    keyboard: InlineKeyboardMarkup | None


def render(message: OutboundMessage) -> list[Part]:
    """An outbound message as Bot API calls: split below 4096 characters, HTML-escaped,
    choices as an inline keyboard (one button a row) under the last part."""
    texts = split_long(message.text) or [""]
    keyboard = None
    buttons = [
        [InlineKeyboardButton(c.label, callback_data=c.value)]
        for c in message.choices
        if len(c.value.encode()) <= MAX_CALLBACK_DATA
    ]
    if buttons:
        keyboard = InlineKeyboardMarkup(buttons)
    parts = [Part(html.escape(t, quote=False), None) for t in texts]
    parts[-1] = Part(parts[-1].html, keyboard)
    return parts


def retry_seconds(flood: RetryAfter) -> float:
    """`RetryAfter.retry_after` in seconds, whether PTB hands out an int or a timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = flood.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


class TelegramSender:
    """`bot.ports.Sender` for Telegram: `sendMessage` to a private chat.

    Not a `bot.ports.Reconciler`: the Bot API cannot tell what a bot sent, so an attempt
    that got no answer (`DeliveryError.uncertain`) is not repeated by the outbox but left
    to a pioneer (at most once)."""

    def __init__(self, bot: Bot, db: Database) -> None:
        self.bot = bot
        self.db = db

    async def send(self, message: OutboundMessage) -> str | None:
        await ensure_may_send(self.db, Channel.TELEGRAM, message.address)
        return await self.deliver(message)

    async def deliver(self, message: OutboundMessage) -> str | None:
        """Send without the opt-out check: for replies the helpline already cleared."""
        sent_id: str | None = None
        parts = render(message)
        for i, part in enumerate(parts):
            try:
                sent = await self._send_part(message.address, part)
            except DeliveryError as error:
                if i and not error.uncertain:
                    # Some parts arrived: sending it all again would repeat them.
                    raise DeliveryError(error.code, error.retryable,
                                        f"{error.message} (deel {i + 1} van {len(parts)}; de "
                                        f"eerdere delen zijn aangekomen)",
                                        uncertain=True) from error
                raise
            # Message ids count per chat; the chat makes them unique, as storage needs.
            sent_id = f"{message.address}:{sent.message_id}"
        return sent_id

    async def _send_part(self, chat_id: str, part: Part) -> Message:
        for attempt in (1, 2):
            try:
                return await self.bot.send_message(
                    chat_id=int(chat_id), text=part.html, parse_mode=ParseMode.HTML,
                    reply_markup=part.keyboard,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except RetryAfter as flood:
                seconds = retry_seconds(flood)
                if attempt == 2 or seconds > MAX_RETRY_AFTER:
                    raise DeliveryError("429", True, f"Telegram flood control: retry after "
                                                     f"{seconds:.0f}s") from flood
                log.warning("telegram asks to wait %.0fs before sending", seconds)
                await asyncio.sleep(seconds)
            except TelegramError as error:
                raise as_delivery_error(error, chat_id) from error
        raise AssertionError("unreachable")


# httpx failures after which the request certainly did not reach Telegram: no connection
# was made, or the request was not written in full.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError,
             httpx.WriteTimeout, httpx.UnsupportedProtocol)


def as_delivery_error(error: TelegramError, chat_id: str) -> DeliveryError:
    """A Bot API failure in the outbox's terms: blocked or bad requests are final,
    network trouble is worth a retry, and no answer at all leaves it uncertain whether the
    message went (an error answer from the Bot API means it did not)."""
    reason = f"Telegram refused a message to {mask(chat_id)}: {error.message}"
    if isinstance(error, Forbidden):  # the person blocked the bot
        return DeliveryError("403", False, reason)
    if isinstance(error, BadRequest | InvalidToken):
        return DeliveryError("400", False, reason)
    cause = error.__cause__
    no_answer = isinstance(error, TimedOut) or (
        isinstance(error, NetworkError) and isinstance(cause, httpx.HTTPError))
    if no_answer and not isinstance(cause, _NOT_SENT):
        return DeliveryError("network", True, f"No answer from Telegram for a message to "
                                              f"{mask(chat_id)}: {error.message}",
                             uncertain=True)
    return DeliveryError("network", True, reason)
