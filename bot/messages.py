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
