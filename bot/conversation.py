"""The state of one conversation, as an explicit state machine.

```mermaid
stateDiagram-v2
    [*] --> idle
    idle --> clarifying: two topics close
    clarifying --> idle: "1" / "2" answered
    clarifying --> with_pioneer: "geen van beide"
    idle --> awaiting_feedback: answered (Telegram, WhatsApp)
    awaiting_feedback --> idle: "ja" / new question
    awaiting_feedback --> with_pioneer: "nee"
    idle --> with_pioneer: escalated (low confidence, "mens", "nee, dat helpt niet")
    with_pioneer --> idle: ticket answered or closed
    idle --> confirming_erase: "verwijder mijn gegevens"
    confirming_erase --> idle: "ja" (erased) / "nee"
```
Every state can reach `confirming_erase` and `idle` (a new question); `with_pioneer` is left
only by the pioneer: the bot does not talk over a pioneer who has the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from bot.messages import Audience, Language


class State(StrEnum):
    IDLE = "idle"
    CLARIFYING = "clarifying"
    AWAITING_FEEDBACK = "awaiting_feedback"
    CONFIRMING_ERASE = "confirming_erase"
    WITH_PIONEER = "with_pioneer"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset(State),
    State.CLARIFYING: frozenset(State),
    State.AWAITING_FEEDBACK: frozenset(State),
    State.CONFIRMING_ERASE: frozenset({State.IDLE, State.CONFIRMING_ERASE, State.WITH_PIONEER}),
    State.WITH_PIONEER: frozenset({State.WITH_PIONEER, State.CONFIRMING_ERASE, State.IDLE}),
}


class InvalidTransition(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Conversation:
    """What the engine remembers between two messages of one person on one channel."""

    state: State = State.IDLE
    language: Language = Language.NL
    audience: Audience = Audience.VRIJWILLIGER
    options: tuple[str, ...] = ()
    last_entry_id: str | None = None
    last_question: str | None = None
    ticket_number: int | None = None

    def to(self, state: State, **changes: object) -> Conversation:
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"{self.state} -> {state}")
        return replace(self, state=state, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "language": self.language.value,
            "audience": self.audience.value,
            "options": list(self.options),
            "last_entry_id": self.last_entry_id,
            "last_question": self.last_question,
            "ticket_number": self.ticket_number,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Conversation:
        options = data.get("options") or []
        ticket = data.get("ticket_number")
        return cls(
            state=State(str(data.get("state", "idle"))),
            language=Language(str(data.get("language", "nl"))),
            audience=Audience(str(data.get("audience", "vrijwilliger"))),
            options=tuple(str(o) for o in options) if isinstance(options, list) else (),
            last_entry_id=str(data["last_entry_id"]) if data.get("last_entry_id") else None,
            last_question=str(data["last_question"]) if data.get("last_question") else None,
            ticket_number=int(ticket) if isinstance(ticket, int) else None,
        )
