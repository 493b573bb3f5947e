"""The channel-neutral messages that flow through the helpline.

Adapters in `handlers/` turn provider payloads into an `InboundMessage`; the
dialogue engine answers with `OutboundMessage`s; each channel's sender turns
those back into the provider's form. Nothing here knows a provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    WEB = "web"
    CONSOLE = "console"


class Audience(StrEnum):
    VRIJWILLIGER = "vrijwilliger"
    AMBTENAAR = "ambtenaar"

    @classmethod
    def default_for(cls, channel: Channel) -> Audience:
        """Civil servants text by SMS; volunteers use the messaging apps."""
        return cls.AMBTENAAR if channel is Channel.SMS else cls.VRIJWILLIGER


class Language(StrEnum):
    NL = "nl"
    EN = "en"


def utcnow() -> datetime:
    return datetime.now(UTC)


_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t")
_CONTROL[0x7F] = None


def clean_text(text: str) -> str:
    """Text without NUL and other control characters (PostgreSQL refuses NUL in text),
    and without lone surrogates that no database or provider can encode."""
    text = text.translate(_CONTROL)
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from a person, as any channel delivers it."""

    channel: Channel
    address: str
    text: str
    display_name: str | None = None
    provider_id: str | None = None
    received_at: datetime = field(default_factory=utcnow)
    media: tuple[str, ...] = ()
    # A button press (Telegram callback data) rather than typed text.
    is_choice: bool = False

    def __post_init__(self) -> None:
        # Every adapter's text passes here: store and match only what can be stored.
        object.__setattr__(self, "text", clean_text(self.text))
        if self.display_name is not None:
            object.__setattr__(self, "display_name", clean_text(self.display_name))


@dataclass(frozen=True, slots=True)
class Choice:
    """An answer option offered as a button where the channel has buttons."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to a person; `text` is plain text, formatted per channel by the sender."""

    channel: Channel
    address: str
    text: str
    choices: tuple[Choice, ...] = ()
    ticket_number: int | None = None
