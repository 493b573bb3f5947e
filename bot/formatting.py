"""How an answer looks on each channel: the one place that knows SMS costs money."""

from __future__ import annotations

from functools import lru_cache

from bot.gsm7 import fit
from bot.knowledge import Entry
from bot.messages import Audience, Channel, Language

SMS_MAX_SEGMENTS = 3
TELEGRAM_MAX = 4096


def answer_text(entry: Entry, channel: Channel, language: Language, audience: Audience) -> str:
    if channel is Channel.SMS:
        return entry.sms if language is Language.NL else _english_sms(entry.answer_en)
    return entry.answer_for(language, audience)


@lru_cache(maxsize=256)
def _english_sms(answer: str) -> str:
    """An entry's English answer cut to fit an SMS: the same for every question, so worked
    out once per entry (it took a fifth of the time of deciding an English SMS)."""
    return fit(answer, SMS_MAX_SEGMENTS)


def for_channel(text: str, channel: Channel) -> str:
    """Make any text safe for the channel: GSM-7 and at most three segments for SMS."""
    if channel is Channel.SMS:
        return fit(text, SMS_MAX_SEGMENTS)
    return text.strip()


def split_long(text: str, limit: int = TELEGRAM_MAX - 96) -> list[str]:
    """Split below a channel's length limit, at paragraph, line or word boundaries."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            cut = rest.rfind(sep, 0, limit)
            if cut > limit // 3:
                cut += len(sep)
                break
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts
