"""Telegram end to end: real python-telegram-bot against a local fake Bot API, updates
posted to /webhooks/telegram of the real aiohttp app."""

from __future__ import annotations

import html
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from telegram import Bot, Update

from bot.config import Settings
from bot.core import Core
from bot.helpline import Helpline
from bot.messages import Audience, Channel, Choice, Language, OutboundMessage
from bot.storage.db import Database
from bot.storage.models import Message, Ticket
from bot.web.app import create_app
from bot.web.channels import GROUP_HANDLERS, TELEGRAM
from bot.web.keys import SENDERS
from handlers.delivery import DeliveryError, OptedOut
from handlers.telegram import render
from handlers.telegram_webhook import SECRET_HEADER, TelegramConfigError
from tests.fakes.fixtures import fake_telegram  # noqa: F401
from tests.fakes.payloads import start_clarifying, telegram_update
from tests.fakes.telegram_api import FakeTelegram

SECRET = "test-secret_0123456789"
PUBLIC = "https://helpline.example"
TOKEN = "123456:TEST-token"
CHAT = 600000001


def settings_for(db: Database, fake: FakeTelegram, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url, "public_url": PUBLIC, "telegram_bot_token": TOKEN,
        "telegram_webhook_secret": SECRET, "telegram_api_base_url": fake.base_url,
        "twilio_account_sid": None, "twilio_auth_token": None,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Telegram:
    client: TestClient
    fake: FakeTelegram
    db: Database
    group_updates: list[Update]
    _next_id: int = 900000000

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        response = await self.client.post("/webhooks/telegram", json=update, headers=headers)
        return response.status

    async def say(self, text: str, chat_id: int = CHAT) -> list[str]:
        """Send a private message; the texts the bot sent back."""
        before = len(self.fake.sent)
        self._next_id += 1
        status = await self.post(telegram_update("text", update_id=self._next_id, text=text,
                                                 chat_id=chat_id))
        assert status == 200
        return [c.params["text"] for c in self.fake.sent[before:]]

    async def click(self, data: str, message_id: int, chat_id: int = CHAT) -> list[str]:
        before = len(self.fake.sent)
        self._next_id += 1
        status = await self.post(telegram_update(
            "callback_query", update_id=self._next_id, data=data, chat_id=chat_id,
            message_id=message_id))
        assert status == 200
        return [c.params["text"] for c in self.fake.sent[before:]]

    async def stored(self) -> int:
        async with self.db.session() as session:
            return int((await session.execute(select(func.count(Message.id)))).scalar_one())


@pytest.fixture
async def telegram(engine, db, fake_telegram) -> AsyncIterator[Telegram]:  # noqa: F811
    settings = settings_for(db, fake_telegram)
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)))
    group_updates: list[Update] = []

    async def record_group(update: Update, _bot: Bot) -> None:
        group_updates.append(update)

    app[GROUP_HANDLERS].append(record_group)
    async with TestClient(TestServer(app)) as client:
        yield Telegram(client, fake_telegram, db, group_updates)


# ---- lifecycle -------------------------------------------------------------------------

async def test_startup_registers_the_webhook_with_its_secret(telegram):
    assert telegram.fake.called("getMe")
    [call] = telegram.fake.called("setWebhook")
    assert call.params["url"] == f"{PUBLIC}/webhooks/telegram"
    assert call.params["secret_token"] == SECRET
    assert call.token == TOKEN
    assert Channel.TELEGRAM in telegram.client.app[SENDERS]


async def test_webhook_mode_requires_a_secret(engine, db, fake_telegram):  # noqa: F811
    settings = settings_for(db, fake_telegram, telegram_webhook_secret=None)
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)))
    runner = web.AppRunner(app)
    with pytest.raises(TelegramConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        await runner.setup()
    await runner.cleanup()


async def test_without_a_token_telegram_is_off(engine, db):
    settings = Settings(_env_file=None, database_url=db.url,  # type: ignore[call-arg]
                        telegram_bot_token=None, twilio_account_sid=None)
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        response = await client.post("/webhooks/telegram", json={"update_id": 1},
                                     headers={SECRET_HEADER: SECRET})
        assert response.status == 404
        assert Channel.TELEGRAM not in client.app[SENDERS]


async def test_polling_mode_answers_updates_from_get_updates(engine, db, fake_telegram):  # noqa: F811
    settings = settings_for(db, fake_telegram, telegram_webhook_secret=None)
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)),
                     telegram_polling=True)
    async with TestClient(TestServer(app)):
        assert fake_telegram.called("deleteWebhook")
        fake_telegram.push_update(telegram_update("text", update_id=5))
        [call] = await fake_telegram.wait_for("sendMessage")
        assert "HAR" in call.params["text"]
        # The next getUpdates confirms the update, so it is not handed out again.
        await fake_telegram.wait_for("getUpdates", 3)
        assert any(c.params.get("offset") in ("6", 6) for c in fake_telegram.called("getUpdates"))
    assert not fake_telegram.called("setWebhook")
    assert len(fake_telegram.sent) == 1


# ---- conversations ---------------------------------------------------------------------

async def test_a_question_is_answered_in_html_with_feedback_buttons(telegram):
    [reply] = await telegram.say("wie betaalt de huur van het pand?")
    [call] = telegram.fake.sent
    assert "HAR" in reply
    assert call.params["chat_id"] == str(CHAT)
    assert call.params["parse_mode"] == "HTML"
    buttons = [row[0]["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"]]
    assert buttons == ["ja", "nee"]


async def test_a_clarification_is_chosen_with_a_button(telegram, engine):
    options = ("kosten", "har-financiering")
    await start_clarifying(telegram.db, Channel.TELEGRAM, str(CHAT), options)
    [again] = await telegram.say("7")  # not one of the options: asked again, with buttons
    assert "geen van beide" in again
    keyboard = telegram.fake.sent[-1].params["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["1", "2", "0"]
    clicked = telegram.fake.sent[-1]

    [answer] = await telegram.click("2", message_id=1001)
    expected = engine.kb.get(options[1]).answer_for(Language.NL, Audience.VRIJWILLIGER)
    assert answer.startswith(html.escape(expected[:40], quote=False))
    assert clicked.params["chat_id"] == str(CHAT)
    assert telegram.fake.called("answerCallbackQuery")
    [edit] = telegram.fake.called("editMessageReplyMarkup")
    assert edit.params["message_id"] == "1001" and edit.params["chat_id"] == str(CHAT)
    assert not edit.params.get("reply_markup")
    async with telegram.db.session() as session:
        inbound = (await session.execute(
            select(Message).where(Message.direction == "in").order_by(Message.id.desc())
        )).scalars().first()
    assert inbound is not None and inbound.text == "2" and inbound.entry_id == options[1]


async def test_the_start_button_is_a_greeting_not_an_opt_in(telegram):
    [welcome] = await telegram.say("/start")
    assert "Thuisgeverstelefoon" in welcome and "Welkom terug" not in welcome
    [menu] = await telegram.say("/help@thuisgevers_test_bot")
    assert menu.startswith("Hier kan ik je mee helpen")


async def test_an_escalation_is_acknowledged_with_a_ticket(telegram):
    [reply] = await telegram.say("ik wil een mens spreken")
    assert "pionier" in reply
    async with telegram.db.session() as session:
        tickets = (await session.execute(select(Ticket))).scalars().all()
    assert len(tickets) == 1 and tickets[0].channel == Channel.TELEGRAM.value


@pytest.mark.parametrize(("payload", "reference"), [
    ("photo", "photo:AgACAgQAAxkBAAIBlarge"),
    ("voice", "voice:AwACAgQAAxkBAAIBvoice"),
    ("location", "location:52.370216,4.895168"),
    ("sticker", "sticker:CAACAgIAAxkBAAIBsticker"),
    ("document", "document:BQACAgQAAxkBAAIBdocument"),
])
async def test_non_text_gets_only_text_and_the_media_is_kept(telegram, payload, reference):
    assert await telegram.post(telegram_update(payload)) == 200
    [call] = telegram.fake.sent
    assert call.params["text"].startswith("Ik kan alleen tekst lezen")
    async with telegram.db.session() as session:
        inbound = (await session.execute(select(Message).where(Message.direction == "in"))
                   ).scalar_one()
    assert reference in inbound.media
    assert inbound.provider_id == str(telegram_update(payload)["update_id"])


async def test_a_retried_update_is_processed_once(telegram):
    update = telegram_update("text", update_id=4242)
    assert await telegram.post(update) == 200
    assert await telegram.post(update) == 200
    assert len(telegram.fake.sent) == 1
    assert await telegram.stored() == 2  # one in, one out


async def test_a_reply_that_failed_goes_out_with_telegrams_retry_and_only_once(telegram):
    telegram.fake.fail("sendMessage", 502, "Bad Gateway")
    update = telegram_update("text", update_id=4343)
    assert await telegram.post(update) == 503  # Telegram will deliver the update again
    assert await telegram.post(update) == 200
    assert await telegram.post(update) == 200
    [failed, delivered] = telegram.fake.sent
    assert failed.params["text"] == delivered.params["text"] and "HAR" in delivered.params["text"]
    async with telegram.db.session() as session:
        out = (await session.execute(select(Message).where(Message.direction == "out"))
               ).scalar_one()
    assert out.provider_id == f"{CHAT}:1001"


async def test_a_reply_refused_for_good_asks_for_no_retry(telegram):
    telegram.fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert await telegram.post(telegram_update("text", update_id=4444)) == 200
    assert len(telegram.fake.sent) == 1


async def test_group_messages_go_to_the_group_seam_not_the_engine(telegram):
    assert await telegram.post(telegram_update("group_text")) == 200
    assert telegram.fake.sent == []
    assert await telegram.stored() == 0
    [update] = telegram.group_updates
    assert update.effective_chat is not None and update.effective_chat.id == -1001000000001


async def test_opted_out_chat_gets_nothing(telegram):
    [confirmation] = await telegram.say("STOP")
    assert "afgemeld" in confirmation
    assert await telegram.say("wie betaalt de huur van het pand?") == []
    sender = telegram.client.app[SENDERS][Channel.TELEGRAM]
    with pytest.raises(OptedOut):
        await sender.send(OutboundMessage(Channel.TELEGRAM, str(CHAT), "antwoord van pionier"))
    assert len(telegram.fake.sent) == 1
    assert "Welkom terug" in (await telegram.say("START"))[0]


# ---- refusals --------------------------------------------------------------------------

@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_wrong_or_missing_secret_is_refused_without_side_effects(telegram, secret):
    assert await telegram.post(telegram_update("text"), secret=secret) == 403
    assert await telegram.stored() == 0
    assert telegram.fake.sent == []


@pytest.mark.parametrize(("body", "status"), [
    (b"not json", 400),
    (b'{"message": {"text": "hoi"}}', 400),
    (b'{"update_id": "12"}', 400),
    (b"[1, 2, 3]", 400),
    (b'{"update_id": 1, "message": {"text": "no chat"}}', 400),
    (b'{"update_id": 1, "message": "\xff\xfe"}', 400),
    (b"{" + b" " * (1024 * 1024) + b"}", 413),
])
async def test_malformed_bodies_are_refused_and_the_server_keeps_serving(telegram, body, status):
    response = await telegram.client.post(
        "/webhooks/telegram", data=io.BytesIO(body),
        headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"})
    assert response.status == status
    assert await telegram.stored() == 0
    assert len(await telegram.say("hallo")) == 1


# ---- the sender and the adapter --------------------------------------------------------

async def test_sender_reaches_a_chat_and_returns_the_message_id(telegram):
    sender = telegram.client.app[SENDERS][Channel.TELEGRAM]
    message_id = await sender.send(OutboundMessage(Channel.TELEGRAM, "600000002",
                                                   "Antwoord van een pionier <b>&</b>"))
    [call] = telegram.fake.sent
    assert message_id == "600000002:1001"
    assert call.params["text"] == "Antwoord van een pionier &lt;b&gt;&amp;&lt;/b&gt;"


async def test_sender_waits_out_a_flood_limit_once(telegram):
    telegram.fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    sender = telegram.client.app[SENDERS][Channel.TELEGRAM]
    assert await sender.send(OutboundMessage(Channel.TELEGRAM, "600000002", "hoi"))
    assert len(telegram.fake.sent) == 2


@pytest.mark.parametrize(("status", "description", "code", "retryable"), [
    (500, "Internal Server Error", "network", True),
    (403, "Forbidden: bot was blocked by the user", "403", False),
    (400, "Bad Request: chat not found", "400", False),
    (429, "Too Many Requests: retry after 60", "429", True),
])
async def test_sender_says_whether_a_failure_is_worth_retrying(telegram, status, description,
                                                              code, retryable):
    telegram.fake.fail("sendMessage", status, description,
                       retry_after=60 if status == 429 else None)
    sender = telegram.client.app[SENDERS][Channel.TELEGRAM]
    with pytest.raises(DeliveryError) as raised:
        await sender.send(OutboundMessage(Channel.TELEGRAM, "600000002", "hoi"))
    assert raised.value.code == code and raised.value.retryable is retryable
    assert len(telegram.fake.sent) == 1


async def test_the_fake_serves_what_the_pioneers_group_will_use(telegram):
    bot = telegram.client.app[TELEGRAM].bot
    posted = await bot.send_message(chat_id=-1001000000001, text="#7 nieuwe vraag")
    edited = await bot.edit_message_text("#7 opgepakt", chat_id=-1001000000001,
                                         message_id=posted.message_id)
    assert not isinstance(edited, bool) and edited.text == "#7 opgepakt"
    [call] = telegram.fake.called("editMessageText")
    assert call.params["message_id"] == str(posted.message_id)


def test_long_replies_are_split_below_4096_with_buttons_on_the_last_part():
    text = "\n\n".join(f"Alinea {i}: " + "woord & meer " * 60 for i in range(12))
    parts = render(OutboundMessage(Channel.TELEGRAM, "1", text,
                                   (Choice("Ja", "ja"), Choice("Nee", "nee"))))
    assert len(parts) > 1
    assert all(len(p.html.replace("&amp;", "&")) < 4096 for p in parts)
    assert all(p.keyboard is None for p in parts[:-1])
    assert parts[-1].keyboard is not None
    assert "&amp;" in parts[0].html and "& " not in parts[0].html
