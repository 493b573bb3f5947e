"""The small interfaces the dialogue engine depends on; storage and channels implement them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.matcher import Candidate
from bot.messages import Audience, Channel, Language, OutboundMessage


@dataclass(frozen=True, slots=True)
class EscalationRequest:
    """Everything a pioneer needs to pick up a question the bot could not answer."""

    channel: Channel
    address: str
    display_name: str | None
    question: str
    language: Language
    audience: Audience
    candidates: tuple[Candidate, ...]
    reason: str


class TicketQueue(Protocol):
    async def open(self, request: EscalationRequest) -> int:
        """Open a ticket and return its number."""
        ...

    async def add(self, ticket_number: int, text: str) -> None:
        """Add a further message of the person to their open ticket."""
        ...


class Sender(Protocol):
    """Reaches a person outside a webhook reply (pioneer answers, reminders)."""

    async def send(self, message: OutboundMessage) -> str | None:
        """Send and return the provider's message id."""
        ...


class DeliveryError(Exception):
    """A provider refused or failed to deliver; raised by `Sender.send` implementations.

    Senders map their provider's error to this, so the outbox can decide what to do:

    - `code`: the provider's error code as text. For Twilio use `TwilioRestException.code`
      (`str(exc.code)`): "63016" (WhatsApp 24-hour window closed: the outbox sends the
      template or marks the delivery blocked) and "21610" (the number replied STOP: the
      outbox marks the contact opted out and the delivery blocked) are handled specially.
      For Telegram use e.g. "403" (bot blocked by the user). "http" or "network" for
      transport failures.
    - `retryable`: True for transport errors, timeouts, HTTP 5xx and 429 (the outbox retries
      with exponential backoff); False when retrying cannot help (4xx, unknown number).
    - `message`: a short human-readable reason; shown to pioneers on the ticket.
    - `uncertain`: True when the request may have reached the provider and been carried
      out although we got no answer (a read timeout, a connection lost after the request
      was written). False when it certainly was not (connection refused, a connect
      timeout, an error answer). The outbox never simply repeats an uncertain attempt:
      it asks the provider first (`Reconciler`) or leaves the decision to a pioneer.
    """

    def __init__(self, code: str, retryable: bool, message: str = "", *,
                 uncertain: bool = False) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.retryable = retryable
        self.message = message
        self.uncertain = uncertain


WHATSAPP_WINDOW_CLOSED = "63016"
NUMBER_OPTED_OUT = "21610"


class TemplateSender(Protocol):
    """A sender that can reach a WhatsApp user outside the 24-hour window.

    The Twilio WhatsApp sender implements this next to `send`: a message with
    `content_sid` and `content_variables` (JSON, e.g. `{"1": "42"}`), no body.
    """

    async def send_template(
        self, address: str, content_sid: str, variables: dict[str, str]
    ) -> str | None:
        """Send the approved template and return the provider's message id."""
        ...


@dataclass(frozen=True, slots=True)
class PriorSend:
    """What the provider holds of a message since an attempt whose outcome we do not know."""

    parts: tuple[str | None, ...]
    """The provider's id of each part of the message found there, None where not found."""
    others: tuple[str, ...] = ()
    """Ids of other messages to the same address since then that we have no record of
    (e.g. a WhatsApp template, whose rendered text we cannot compare)."""

    @property
    def complete(self) -> bool:
        return bool(self.parts) and all(self.parts)

    @property
    def last_id(self) -> str | None:
        return next((p for p in reversed(self.parts) if p), None)


@runtime_checkable
class Reconciler(Protocol):
    """A sender that can ask its provider what it already received (Twilio can list the
    messages sent; Telegram's Bot API cannot). The outbox uses it before repeating an
    attempt whose outcome is unknown, so nothing is sent twice."""

    async def prior_send(self, message: OutboundMessage, since: datetime,
                         known: frozenset[str]) -> PriorSend:
        """Look up `message` (each part) at the provider, sent at or after `since`,
        ignoring the provider ids in `known` (messages already recorded for other answers)."""
        ...

    async def send_rest(self, message: OutboundMessage, prior: PriorSend) -> str | None:
        """Send the parts of `message` that `prior` did not find; return the last id."""
        ...


@dataclass(frozen=True, slots=True)
class TicketCard:
    """What pioneers see of a ticket (a Telegram card, an inbox row), addresses masked."""

    number: int
    status: str
    channel: Channel
    audience: str
    language: str
    display_name: str | None
    masked_address: str
    question: str
    transcript: tuple[dict[str, Any], ...]
    candidates: tuple[dict[str, Any], ...]
    created_at: datetime
    claimed_by: str | None = None
    answered_at: datetime | None = None
    answer: str | None = None
    delivery_status: str | None = None
    delivery_error: str | None = None


class PioneerNotifier(Protocol):
    """Tells the pioneers about tickets (the Telegram pioneers' group implements it)."""

    async def ticket_opened(self, ticket: TicketCard) -> None: ...

    async def ticket_updated(self, ticket: TicketCard) -> None:
        """Claimed, answered, closed, a message added, or a delivery failed/blocked."""
        ...

    async def reminder(self, ticket: TicketCard) -> None:
        """The ticket has waited unclaimed for the configured business hours."""
        ...


class NoNotifier:
    """The notifier when the pioneers' group is off: the inbox and terminal still work."""

    async def ticket_opened(self, ticket: TicketCard) -> None:
        return None

    async def ticket_updated(self, ticket: TicketCard) -> None:
        return None

    async def reminder(self, ticket: TicketCard) -> None:
        return None
