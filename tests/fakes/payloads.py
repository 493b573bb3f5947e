"""Recorded-style provider payloads (tests/payloads/) with the fields a test varies."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from twilio.request_validator import RequestValidator

from bot.conversation import Conversation, State
from bot.messages import Channel
from bot.storage import repository as repo
from bot.storage.db import Database

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"


def telegram_update(name: str, *, update_id: int | None = None, text: str | None = None,
                    chat_id: int | None = None, data: str | None = None,
                    message_id: int | None = None) -> dict[str, Any]:
    """A Bot API Update from tests/payloads/telegram/NAME.json, fields replaced."""
    update: dict[str, Any] = copy.deepcopy(
        json.loads((PAYLOADS / "telegram" / f"{name}.json").read_text("utf-8")))
    if update_id is not None:
        update["update_id"] = update_id
    query = update.get("callback_query")
    message = query["message"] if query else update["message"]
    if text is not None:
        message["text"] = text
    if chat_id is not None:
        message["chat"]["id"] = chat_id
        (query or message)["from"]["id"] = chat_id
    if query is not None and data is not None:
        query["data"] = data
    if message_id is not None:
        message["message_id"] = message_id
    return update


def twilio_form(name: str, **fields: str) -> dict[str, str]:
    """A Messaging webhook form from tests/payloads/twilio/NAME.json, fields replaced."""
    form: dict[str, str] = json.loads((PAYLOADS / "twilio" / f"{name}.json").read_text("utf-8"))
    form.update(fields)
    if "MessageSid" in fields:
        form["SmsSid"] = form["SmsMessageSid"] = fields["MessageSid"]
    return form


def twilio_signature(auth_token: str, url: str, form: dict[str, str]) -> str:
    """What Twilio puts in X-Twilio-Signature for `form` posted to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, form))


async def start_clarifying(db: Database, channel: Channel, address: str,
                           options: tuple[str, ...]) -> None:
    """Put a contact's conversation where the bot just asked "Bedoel je…" (as
    tests/test_dialogue.py does), so a test does not depend on which questions the
    knowledge base finds ambiguous today."""
    async with db.session() as session:
        contact = await repo.contact_for(session, channel, address)
        row = await repo.conversation_for(session, contact)
        row.state = Conversation(state=State.CLARIFYING, options=options,
                                 last_question="wat kost het pand?").as_dict()
