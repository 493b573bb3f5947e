"""The small interfaces the dialogue engine depends on; storage and channels implement them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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
