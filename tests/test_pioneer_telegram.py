"""The pioneers' Telegram group end to end: a signed SMS webhook escalates, the card
arrives at the fake Bot API, a reply to the card reaches the fake Twilio REST API for the
original number, buttons claim and close, /open, /ticket and /leer; other chats are
ignored. Real python-telegram-bot and twilio clients, the real aiohttp app, SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from bot.config import Settings
from bot.core import Core, business_hours
from bot.helpline import Helpline
from bot.messages import Channel
from bot.ports import TicketCard
from bot.storage.db import Database
from bot.storage.models import Delivery, Ticket, TicketStatus
from bot.web.app import create_app
from bot.web.keys import SETTINGS
from bot.web.queue import TICKETS
from handlers.pioneer_cards import card_html, number_in
from handlers.telegram_webhook import SECRET_HEADER
from tests.fakes.payloads import twilio_form, twilio_signature
from tests.fakes.telegram_api import BOT_USER, Call, FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.test_tickets import QUESTION

PUBLIC = "https://helpline.example"
SECRET = "test-secret_0123456789"
PIONEERS = -1001000000001
OTHER_GROUP = -1001000000999
SMS_USER = "+31600000011"
PIONEER = {"id": 600000101, "is_bot": False, "first_name": "Pionier", "last_name": "Een"}
PERSON_CHAT = 600000001


def settings_for(db: Database, telegram: FakeTelegram, twilio: FakeTwilio,
                 knowledge: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=db.url, public_url=PUBLIC, knowledge_dir=knowledge,
        telegram_bot_token="123456:TEST-token", telegram_webhook_secret=SECRET,
        telegram_api_base_url=telegram.base_url, telegram_pioneer_chat_id=PIONEERS,
        twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
        twilio_sms_from="+31970000000", twilio_api_base_url=twilio.base_url,
        outbox_poll_seconds=0.05, outbox_backoff_seconds=0.05,
    )


def chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Test"}
    return {"id": chat_id, "type": "supergroup", "title": "Pioniers"}


async def until(condition: Callable[[], object], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


@dataclass
class Group:
    """The helpline with Telegram and SMS on, seen from the pioneers' group."""

    client: TestClient
    telegram: FakeTelegram
    twilio: FakeTwilio
    db: Database
    knowledge: Path
    _next: int = 910000000

    def _id(self) -> int:
        self._next += 1
        return self._next

    async def sms(self, text: str, user: str = SMS_USER) -> str:
        """A person texts the helpline; the TwiML answer."""
        form = twilio_form("sms", From=user, Body=text, MessageSid=f"SM{self._id():032d}")
        signature = twilio_signature(self.twilio.auth_token, PUBLIC + "/webhooks/twilio", form)
        response = await self.client.post(
            "/webhooks/twilio", data=io.BytesIO(urlencode(form).encode()),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature})
        assert response.status == 200
        return await response.text()

    async def post(self, update: dict[str, Any]) -> None:
        response = await self.client.post("/webhooks/telegram", json=update,
                                          headers={SECRET_HEADER: SECRET})
        assert response.status == 200

    async def write(self, text: str, *, chat_id: int = PIONEERS,
                    reply_to: int | None = None, reply_text: str = "") -> None:
        """A pioneer writes in a chat, optionally as a reply to a message of the bot."""
        message: dict[str, Any] = {
            "message_id": self._id() % 100000, "from": PIONEER, "chat": chat(chat_id),
            "date": int(time.time()), "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to, "from": BOT_USER, "chat": chat(chat_id),
                "date": int(time.time()), "text": reply_text}
        await self.post({"update_id": self._id(), "message": message})

    async def press(self, data: str, message_id: int, *, chat_id: int = PIONEERS) -> str:
        """A pioneer presses a button; the callback query id."""
        query_id = str(self._id())
        await self.post({"update_id": self._id(), "callback_query": {
            "id": query_id, "from": PIONEER, "chat_instance": "-605194637021", "data": data,
            "message": {"message_id": message_id, "from": BOT_USER, "chat": chat(chat_id),
                        "date": int(time.time()), "text": "Vraag"}}})
        return query_id

    def to_group(self, method: str = "sendMessage") -> list[Call]:
        return [c for c in self.telegram.called(method) if c.params["chat_id"] == str(PIONEERS)]

    async def ticket(self, number: int) -> Ticket:
        async with self.db.session() as session:
            ticket = await session.get(Ticket, number)
            assert ticket is not None
            return ticket

    async def escalate(self, text: str = QUESTION, user: str = SMS_USER) -> tuple[int, int]:
        """A ticket and the message id of its card in the group."""
        before = len(self.to_group())
        found = re.search(r"vraagnummer (\d+)", await self.sms(text, user))
        assert found, "the question did not escalate"
        number = int(found.group(1))
        await until(lambda: len(self.to_group()) > before)
        card_id = (await self.ticket(number)).telegram_message_id
        assert card_id is not None
        return number, card_id

    async def edits_of(self, card_id: int, containing: str) -> Call:
        def matching() -> list[Call]:
            return [c for c in self.to_group("editMessageText")
                    if c.params["message_id"] == str(card_id) and containing in c.params["text"]]
        await until(matching)
        return matching()[-1]

    @property
    def tickets(self) -> Any:
        return self.client.app[TICKETS]


@pytest.fixture
async def group(engine, db, fake_telegram, fake_twilio, tmp_path) -> AsyncIterator[Group]:
    settings = settings_for(db, fake_telegram, fake_twilio, tmp_path / "knowledge")
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)))
    async with TestClient(TestServer(app)) as client:
        yield Group(client, fake_telegram, fake_twilio, db, tmp_path / "knowledge")


def buttons(call: Call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


# ---- the whole way: SMS question → card → reply to the card → SMS answer -------------------

async def test_sms_question_card_reply_reaches_the_person_and_edits_the_card(group):
    number, card_id = await group.escalate()
    [card] = group.to_group()
    text = card.params["text"]
    assert card.params["parse_mode"] == "HTML"
    assert f"<b>Vraag #{number}</b> · sms" in text and QUESTION in text
    assert "+316••••••11" in text and SMS_USER not in text
    assert "<b>Gesprek</b>" in text and "Suggesties van de bot" in text
    assert buttons(card) == [("Oppakken", f"ticket:claim:{number}"),
                             ("Sluiten", f"ticket:close:{number}")]

    await group.write("Ja, de hond mag mee.", reply_to=card_id, reply_text=f"Vraag #{number}")

    await until(lambda: group.twilio.bodies(SMS_USER))
    assert group.twilio.bodies(SMS_USER) == [
        "Antwoord van Pionier Een (De Thuisgevers):\nJa, de hond mag mee."]
    edited = await group.edits_of(card_id, "Bezorging: verstuurd")
    assert "Beantwoord door Pionier Een op" in edited.params["text"]
    assert "Ja, de hond mag mee." in edited.params["text"]
    assert buttons(edited) == [("Sluiten", f"ticket:close:{number}")]
    assert (await group.ticket(number)).status == TicketStatus.ANSWERED
    assert len(group.to_group()) == 1  # the group got no chatter besides the card


async def test_a_telegram_question_is_answered_on_telegram(group):
    await group.write(QUESTION, chat_id=PERSON_CHAT)  # a person in a private chat
    [ack] = group.telegram.sent_texts(PERSON_CHAT)
    found = re.search(r"vraagnummer (\d+)", ack)
    assert found
    number = int(found.group(1))
    await until(lambda: group.to_group())
    assert "· telegram · " in group.to_group()[0].params["text"]
    assert "60•••••01" in group.to_group()[0].params["text"]
    card_id = (await group.ticket(number)).telegram_message_id

    await group.write("Ja, dat mag.", reply_to=card_id)
    await until(lambda: len(group.telegram.sent_texts(PERSON_CHAT)) == 2)
    assert group.telegram.sent_texts(PERSON_CHAT)[1] == (
        "Antwoord van Pionier Een (De Thuisgevers):\nJa, dat mag.")
    await group.edits_of(card_id, "Bezorging: verstuurd")
    assert group.twilio.created == []


async def test_claim_and_close_buttons(group):
    number, card_id = await group.escalate()
    claim = await group.press(f"ticket:claim:{number}", card_id)
    ticket = await group.ticket(number)
    assert ticket.status == TicketStatus.CLAIMED and ticket.claimed_by == "Pionier Een"
    edited = await group.edits_of(card_id, "opgepakt door Pionier Een")
    assert buttons(edited) == [("Sluiten", f"ticket:close:{number}")]

    close = await group.press(f"ticket:close:{number}", card_id)
    assert (await group.ticket(number)).status == TicketStatus.CLOSED
    closed = await group.edits_of(card_id, "<b>Status:</b> gesloten")
    assert buttons(closed) == []
    answered = [c.params["callback_query_id"] for c in group.telegram.called("answerCallbackQuery")]
    assert answered == [claim, close]

    # A stale button on a closed ticket: told why, nothing changes.
    await group.press(f"ticket:claim:{number}", card_id)
    last = group.telegram.called("answerCallbackQuery")[-1]
    assert "kan niet meer" in last.params["text"] and last.params["show_alert"] in (True, "true")
    assert (await group.ticket(number)).status == TicketStatus.CLOSED


async def test_open_lists_waiting_tickets_and_ticket_shows_one(group):
    first, _ = await group.escalate()
    second, _ = await group.escalate(user="+31600000012")
    await group.tickets.claim(second, "Pionier Twee")

    await group.write("/open")
    listing = group.to_group()[-1].params["text"].splitlines()
    assert [line.split(" · ")[0] for line in listing] == [f"#{first}", f"#{second}"]
    assert all(" · sms · Mag mijn hond mee" in line for line in listing)
    assert listing[1].endswith("(opgepakt door Pionier Twee)")

    await group.write(f"/ticket {second}")
    shown = group.to_group()[-1]
    assert f"<b>Vraag #{second}</b>" in shown.params["text"]
    assert buttons(shown) == [("Sluiten", f"ticket:close:{second}")]
    await group.write("/ticket 999")
    assert group.to_group()[-1].params["text"] == "Vraag #999 bestaat niet."
    await group.write("/ticket@thuisgevers_test_bot")
    assert group.to_group()[-1].params["text"].startswith("Gebruik: /ticket NUMMER")
    sent = len(group.to_group())
    await group.write("/open@een_andere_bot")  # meant for another bot in the group
    assert len(group.to_group()) == sent

    await group.tickets.close(first, "Pionier Een")
    await group.tickets.close(second, "Pionier Een")
    await group.write("/open")
    assert group.to_group()[-1].params["text"] == "Er staan geen open vragen."


async def test_leer_turns_an_answered_ticket_into_a_draft(group):
    number, card_id = await group.escalate()
    await group.write("/leer", reply_to=card_id)
    assert group.to_group()[-1].params["text"] == f"Vraag #{number} heeft nog geen antwoord."
    await group.write("/leer")
    assert "als reactie (reply)" in group.to_group()[-1].params["text"]

    await group.write("Ja, aangelijnd mag de hond mee.", reply_to=card_id)
    await until(lambda: group.twilio.bodies(SMS_USER))
    await group.write("/leer", reply_to=card_id)

    path = group.knowledge / "suggestions" / f"{number}.yaml"
    assert group.to_group()[-1].params["text"] == (
        f"Vraag #{number} staat als concept in {path}; het wordt pas gebruikt na nakijken.")
    [entry] = yaml.safe_load(path.read_text("utf-8"))["entries"]
    assert entry["draft"] is True and entry["questions"] == [QUESTION]
    assert entry["answer"] == "Ja, aangelijnd mag de hond mee."


async def test_a_reply_to_a_reminder_answers_its_ticket_too(group):
    number, card_id = await group.escalate()
    async with group.db.session() as session:
        await session.execute(update(Ticket).values(
            created_at=datetime.now(UTC) - timedelta(days=7)))
    hours = business_hours(group.client.app[SETTINGS])
    assert await group.tickets.remind(hours, timedelta(hours=4)) == [number]
    reminder = group.to_group()[-1]
    assert reminder.params["text"] == f"Herinnering: #{number} wacht al 7 dagen op een pionier."
    assert reminder.params["reply_parameters"]["message_id"] == card_id

    # The fake numbers its messages; the reminder is the latest one the bot sent.
    await group.write("Ja hoor.", reply_to=card_id + 1, reply_text=reminder.params["text"])
    await until(lambda: group.twilio.bodies(SMS_USER))
    await group.edits_of(card_id, "Bezorging: verstuurd")


async def test_changes_from_the_inbox_or_terminal_and_failed_delivery_show_on_the_card(group):
    number, card_id = await group.escalate()
    await group.tickets.claim(number, "Pionier Twee")  # what the inbox and terminal call
    await group.edits_of(card_id, "opgepakt door Pionier Twee")
    # The person adds to the question while the pioneer has it: the card shows it.
    assert f"(nummer {number})" in await group.sms("het is een kleine hond")
    await group.edits_of(card_id, "het is een kleine hond")

    group.twilio.fail(21211, 400)  # not a valid number: final, not retried
    await group.tickets.answer(number, "Ja.", "Pionier Twee")
    failed = await group.edits_of(card_id, "Bezorging: mislukt")
    assert "⚠️" in failed.params["text"]


async def test_telegram_down_when_the_ticket_opens_then_the_card_comes_later(group):
    group.telegram.fail("sendMessage", 500)
    found = re.search(r"vraagnummer (\d+)", await group.sms(QUESTION))
    assert found  # the person is told their number all the same
    number = int(found.group(1))
    assert (await group.ticket(number)).telegram_message_id is None
    await group.tickets.claim(number, "Pionier Twee")
    card = group.to_group()[-1]
    assert f"<b>Vraag #{number}</b>" in card.params["text"]
    assert "opgepakt door Pionier Twee" in card.params["text"]
    assert (await group.ticket(number)).telegram_message_id is not None


# ---- only the pioneers' group acts on tickets ---------------------------------------------

async def test_pioneer_actions_from_other_chats_are_ignored(group):
    number, card_id = await group.escalate()
    calls = len(group.telegram.calls)

    await group.write("/open", chat_id=OTHER_GROUP)
    await group.write(f"/ticket {number}", chat_id=OTHER_GROUP)
    await group.write("Ja hoor.", chat_id=OTHER_GROUP, reply_to=card_id,
                      reply_text=f"Vraag #{number}")
    await group.write("/leer", chat_id=OTHER_GROUP, reply_to=card_id)
    await group.press(f"ticket:close:{number}", card_id, chat_id=OTHER_GROUP)
    assert group.telegram.calls[calls:] == []

    # In a private chat they are not questions for the helpline either.
    await group.write("/open", chat_id=PERSON_CHAT)
    await group.write(f"/ticket {number}", chat_id=PERSON_CHAT)
    await group.press(f"ticket:claim:{number}", 1001, chat_id=PERSON_CHAT)
    assert [c.method for c in group.telegram.calls[calls:]] == ["answerCallbackQuery"]

    ticket = await group.ticket(number)
    assert ticket.status == TicketStatus.OPEN and ticket.claimed_by is None
    async with group.db.session() as session:
        assert (await session.execute(select(func.count(Ticket.id)))).scalar_one() == 1
        assert (await session.execute(select(func.count(Delivery.id)))).scalar_one() == 0
    await asyncio.sleep(0.1)  # give the outbox a round: still nothing for the person
    assert group.twilio.created == []
    assert not (group.knowledge / "suggestions").exists()


# ---- the card itself ---------------------------------------------------------------------

def test_card_escapes_what_people_wrote_and_stays_below_telegrams_limit():
    now = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    evil = "<script>alert('x')</script> & <b>vet</b>"
    card = TicketCard(
        number=7, status="open", channel=Channel.TELEGRAM, audience="vrijwilliger",
        language="nl", display_name="<i>Test</i> Persoon", masked_address="60•••••01",
        question=evil,
        transcript=tuple({"direction": "in" if i % 2 else "out", "text": f"bericht {i} " * 40,
                          "at": now.isoformat()} for i in range(60)),
        candidates=({"id": "har-financiering", "score": 61.4},), created_at=now)
    text = card_html(card, ZoneInfo("Europe/Amsterdam"))
    assert len(text) < 4096
    assert "<script>" not in text and "&lt;script&gt;" in text and "<i>Test</i>" not in text
    assert "• har-financiering (61)" in text and "18-11 11:00" in text
    assert "bericht 59" in text and "bericht 0 " not in text  # the oldest lines gave way


def test_only_a_card_or_a_reminder_names_the_ticket_a_reply_answers():
    assert number_in("Vraag #12 · sms · naam onbekend · +316••••••11\n…") == 12
    assert number_in("Herinnering: #12 wacht al 5 uur op een pionier.") == 12
    assert number_in("#12 · 3 uur · sms · Mag mijn hond mee") is None  # the /open list
    assert number_in("Vraag #12 staat als concept in knowledge/suggestions/12.yaml") is None
    assert number_in(None) is None
