"""How tickets look in the pioneers' Telegram group: the card (HTML, below Telegram's 4096
characters), its buttons, the `/open` list and the reminder.

Everything the person wrote is escaped: a question may hold `<b>` or `<script>`, and
Telegram refuses a message with HTML it cannot parse.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.formatting import TELEGRAM_MAX
from bot.messages import Language, utcnow
from bot.ports import TicketCard
from bot.storage.models import DeliveryStatus, TicketStatus
from bot.texts import texts
from bot.tickets import label
from handlers.telegram import PIONEER_CALLBACK_PREFIX

# Room for Telegram's own counting (entities, emoji as two UTF-16 units in some clients).
CARD_MAX = TELEGRAM_MAX - 196
QUESTION_MAX = 1500
LINE_MAX = 400
ANSWER_MAX = 600
EXCERPT_MAX = 60
CLAIM, CLOSE = "claim", "close"
SPEAKERS = {"in": "Persoon", "out": "Bot"}
# What a pioneer should know about a delivery that did not (yet) go out.
TROUBLE = (DeliveryStatus.FAILED.value, DeliveryStatus.BLOCKED.value, DeliveryStatus.HELD.value,
           DeliveryStatus.UNCERTAIN.value)
# A card starts "Vraag #N · channel"; a reminder is the reminder text with the number.
_CARD_START = re.compile(r"Vraag #(\d+) · ")


def callback_data(action: str, number: int) -> str:
    return f"{PIONEER_CALLBACK_PREFIX}{action}:{number}"


def parse_callback(data: str | None) -> tuple[str, int] | None:
    """`ticket:claim:12` → ("claim", 12); None for anything else."""
    if not data or not data.startswith(PIONEER_CALLBACK_PREFIX):
        return None
    action, _, number = data[len(PIONEER_CALLBACK_PREFIX):].partition(":")
    if action not in (CLAIM, CLOSE) or not number.isdigit():
        return None
    return action, int(number)


def _reminder_pattern() -> re.Pattern[str]:
    template = re.escape(texts(Language.NL).pioneer_reminder)
    return re.compile(template.replace(re.escape("{ticket}"), r"(?P<ticket>\d+)")
                      .replace(re.escape("{age}"), r".+"))


def number_in(text: str | None) -> int | None:
    """The ticket a card or a reminder of ours is about, as Telegram quotes it back in
    `reply_to_message` (plain text). Other messages of ours (the /open list, confirmations)
    name tickets too, but a reply to them is no answer."""
    if not text:
        return None
    card = _CARD_START.match(text)
    if card:
        return int(card.group(1))
    reminder = _reminder_pattern().fullmatch(text.strip())
    return int(reminder.group("ticket")) if reminder else None


def age(delta: timedelta) -> str:
    """A waiting time in Dutch words: `5 min`, `3 uur`, `2 dagen`."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} uur"
    return f"{hours // 24} dagen"


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _clock(when: datetime | str | None, zone: ZoneInfo) -> str:
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            return ""
    if when is None:
        return ""
    return when.astimezone(zone).strftime("%d-%m %H:%M")


def _answer_body(text: str) -> str:
    # Stored answers start with "Antwoord van NAME (De Thuisgevers):"; pioneers know that.
    first, _, rest = text.partition("\n")
    return rest if rest.strip() and first.rstrip().endswith(":") else text


def keyboard(card: TicketCard) -> InlineKeyboardMarkup | None:
    words = texts(Language.NL)
    row: list[InlineKeyboardButton] = []
    if card.status == TicketStatus.OPEN:
        row.append(InlineKeyboardButton(words.pioneer_claim_button,
                                        callback_data=callback_data(CLAIM, card.number)))
    if card.status != TicketStatus.CLOSED:
        row.append(InlineKeyboardButton(words.pioneer_close_button,
                                        callback_data=callback_data(CLOSE, card.number)))
    return InlineKeyboardMarkup([row]) if row else None


def _status_lines(card: TicketCard, zone: ZoneInfo) -> list[str]:
    e = html.escape
    status = card.status
    if status == TicketStatus.CLAIMED and card.claimed_by:
        lines = [f"<b>Status:</b> opgepakt door {e(card.claimed_by)}"]
    else:
        lines = [f"<b>Status:</b> {e(label(status))}"]
    if card.answered_at is not None:
        who = f" door {e(card.claimed_by)}" if card.claimed_by else ""
        lines.append(f"Beantwoord{who} op {_clock(card.answered_at, zone)}")
    if card.delivery_status:
        lines.append(f"Bezorging: {e(label(card.delivery_status))}")
        if card.delivery_status in TROUBLE and card.delivery_error:
            lines.append(f"⚠️ {e(_excerpt(card.delivery_error, LINE_MAX))}")
    if card.answer:
        lines.append(f"<b>Antwoord:</b> {e(_excerpt(_answer_body(card.answer), ANSWER_MAX))}")
    return lines


def card_html(card: TicketCard, zone: ZoneInfo, limit: int = CARD_MAX) -> str:
    """The card: who asked what where, the conversation so far (the oldest lines give way
    when it is too long), the bot's candidates, the status, and how to answer."""
    e = html.escape
    name = e(card.display_name) if card.display_name else "naam onbekend"
    head = [
        f"<b>Vraag #{card.number}</b> · {e(card.channel.value)} · {name} · "
        f"{e(card.masked_address)}",
        f"{e(card.audience)} · {e(card.language)} · gesteld {_clock(card.created_at, zone)}",
        "",
        f"<blockquote>{e(_excerpt(card.question, QUESTION_MAX))}</blockquote>",
    ]
    candidates = [f"• {e(str(c.get('id', '?')))} ({float(c.get('score', 0)):.0f})"
                  for c in card.candidates]
    tail = ["", "<b>Suggesties van de bot</b>", *(candidates or ["(geen)"]), "",
            *_status_lines(card, zone)]
    if card.status != TicketStatus.CLOSED:
        tail += ["", f"<i>{e(texts(Language.NL).pioneer_reply_hint)}</i>"]
    transcript = [
        f"{SPEAKERS.get(str(m.get('direction')), '?')} {_clock(m.get('at'), zone)}: "
        f"{e(_excerpt(str(m.get('text', '')), LINE_MAX))}"
        for m in card.transcript
    ]
    fixed = len("\n".join(head + tail)) + len("\n\n<b>Gesprek</b>\n")
    while transcript and fixed + len("\n".join(transcript)) > limit:
        transcript.pop(0)
    middle = ["", "<b>Gesprek</b>", *transcript] if transcript else []
    return "\n".join(head + middle + tail)


def open_list(cards: list[TicketCard], now: datetime | None = None) -> str:
    """One line a waiting ticket, oldest first: `#N · age · channel · question`."""
    now = now or utcnow()
    lines = []
    for card in cards:
        line = (f"#{card.number} · {age(now - card.created_at)} · {card.channel.value} · "
                f"{_excerpt(card.question, EXCERPT_MAX)}")
        if card.status == TicketStatus.CLAIMED and card.claimed_by:
            line += f" (opgepakt door {card.claimed_by})"
        lines.append(line)
    return "\n".join(lines) if lines else texts(Language.NL).pioneer_none_open


def reminder_text(card: TicketCard, now: datetime | None = None) -> str:
    return texts(Language.NL).pioneer_reminder.format(
        ticket=card.number, age=age((now or utcnow()) - card.created_at))
