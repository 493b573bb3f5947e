"""SMS and WhatsApp end to end: signed Messaging webhooks posted to /webhooks/twilio of
the real aiohttp app, TwiML back; the sender through the real twilio client against a
local fake REST API."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict, MultiDictProxy
from sqlalchemy import func, select
from twilio.rest import Client

from bot.config import Settings
from bot.core import Core
from bot.gsm7 import is_gsm7, segments
from bot.helpline import Helpline
from bot.messages import Channel, Choice, OutboundMessage
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import Contact, Message, Ticket
from bot.web.app import create_app
from bot.web.keys import SENDERS
from handlers.delivery import DeliveryError, OptedOut
from handlers.twilio import bodies, signature_valid, twiml, whatsapp_text
from handlers.twilio_sender import TwilioHttpClient
from tests.fakes.fixtures import fake_twilio  # noqa: F401
from tests.fakes.payloads import start_clarifying, twilio_form, twilio_signature
from tests.fakes.twilio_api import FakeTwilio

PUBLIC = "https://helpline.example"
SMS_FROM = "+31970000000"
WHATSAPP_FROM = "whatsapp:+31970000001"
SMS_USER = "+31600000011"
WHATSAPP_USER = "whatsapp:+31600000012"


def settings_for(db: Database, fake: FakeTwilio, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url, "public_url": PUBLIC, "telegram_bot_token": None,
        "twilio_account_sid": fake.account_sid, "twilio_auth_token": fake.auth_token,
        "twilio_sms_from": SMS_FROM, "twilio_whatsapp_from": WHATSAPP_FROM,
        "twilio_api_base_url": fake.base_url,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def messages_in(xml: str) -> list[str]:
    root = ElementTree.fromstring(xml)
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


@dataclass
class Twilio:
    client: TestClient
    fake: FakeTwilio
    db: Database
    _sid: int = 0

    async def post(self, form: dict[str, str], *, path: str = "/webhooks/twilio",
                   signed_url: str | None = None, signature: str | None = "sign") -> Any:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature == "sign":
            signature = twilio_signature(self.fake.auth_token, signed_url or PUBLIC + path, form)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.client.post(path, data=io.BytesIO(urlencode(form).encode()),
                                      headers=headers)

    async def say(self, text: str, user: str = SMS_USER) -> list[str]:
        """Text the helpline as `user`; the <Message>s of the TwiML answer."""
        self._sid += 1
        name = "whatsapp" if user.startswith("whatsapp:") else "sms"
        form = twilio_form(name, From=user, Body=text, MessageSid=f"SM{self._sid:032d}")
        response = await self.post(form)
        assert response.status == 200, await response.text()
        assert response.content_type == "text/xml"
        return messages_in(await response.text())

    async def stored(self) -> int:
        async with self.db.session() as session:
            return int((await session.execute(select(func.count(Message.id)))).scalar_one())


@pytest.fixture
async def twilio(engine, db, fake_twilio) -> AsyncIterator[Twilio]:  # noqa: F811
    settings = settings_for(db, fake_twilio)
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)))
    async with TestClient(TestServer(app)) as client:
        yield Twilio(client, fake_twilio, db)


# ---- signatures ------------------------------------------------------------------------

def test_twilios_documented_vector_passes_our_validation():
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    expected = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    form = MultiDictProxy(MultiDict(params))
    assert twilio_signature("12345", url, params) == expected
    assert signature_valid("12345", url, form, expected)
    assert not signature_valid("12345", url.replace("https", "http"), form, expected)
    assert not signature_valid("12345", url, MultiDictProxy(MultiDict({**params, "Digits": "1"})),
                               expected)
    assert not signature_valid("54321", url, form, expected)


async def test_query_string_is_part_of_what_twilio_signed(twilio):
    form = twilio_form("sms")
    path = "/webhooks/twilio?tenant=1"
    assert (await twilio.post(form, path=path)).status == 200
    other = twilio_form("sms", MessageSid="SM" + "9" * 32)
    assert (await twilio.post(other, path=path, signed_url=PUBLIC + "/webhooks/twilio")
            ).status == 403


@pytest.mark.parametrize("case", ["forged", "http-not-https", "missing", "other-host",
                                  "tampered-body"])
async def test_unsigned_or_forged_webhooks_are_refused_without_side_effects(twilio, case):
    form = twilio_form("sms")
    if case == "forged":
        response = await twilio.post(form, signature="0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    elif case == "http-not-https":
        response = await twilio.post(
            form, signed_url=PUBLIC.replace("https://", "http://") + "/webhooks/twilio")
    elif case == "missing":
        response = await twilio.post(form, signature=None)
    elif case == "other-host":
        response = await twilio.post(form, signed_url="https://evil.example/webhooks/twilio")
    else:
        signature = twilio_signature(twilio.fake.auth_token, PUBLIC + "/webhooks/twilio", form)
        response = await twilio.post({**form, "Body": "iets anders"}, signature=signature)
    assert response.status == 403
    assert await twilio.stored() == 0
    assert twilio.fake.requests == []


# ---- conversations on SMS and WhatsApp -------------------------------------------------

async def test_sms_question_is_answered_in_gsm7_within_three_segments(twilio):
    [answer] = await twilio.say("wie betaalt de huur van het pand?")
    assert "HAR" in answer
    assert is_gsm7(answer) and segments(answer) <= 3


async def test_whatsapp_question_is_answered(twilio):
    [answer] = await twilio.say("wie betaalt de huur van het pand?", WHATSAPP_USER)
    assert "HAR" in answer
    async with twilio.db.session() as session:
        contact = await repo.find_contact(session, Channel.WHATSAPP, WHATSAPP_USER)
    assert contact is not None and contact.display_name == "Test Persoon"


@pytest.mark.parametrize("user", [SMS_USER, WHATSAPP_USER])
async def test_a_clarification_is_chosen(twilio, user):
    channel = Channel.WHATSAPP if user.startswith("whatsapp:") else Channel.SMS
    options = ("kosten", "har-financiering")
    await start_clarifying(twilio.db, channel, user, options)
    [again] = await twilio.say("7", user)
    assert "geen van beide" in again
    [answer] = await twilio.say("2", user)
    assert "HAR" in answer
    async with twilio.db.session() as session:
        last = (await session.execute(
            select(Message).where(Message.direction == "out").order_by(Message.id.desc())
        )).scalars().first()
    assert last is not None and last.entry_id == options[1]


@pytest.mark.parametrize("user", [SMS_USER, WHATSAPP_USER])
async def test_an_escalation_is_acknowledged(twilio, user):
    [reply] = await twilio.say("ik wil een mens spreken", user)
    assert "pionier" in reply
    async with twilio.db.session() as session:
        tickets = (await session.execute(select(Ticket))).scalars().all()
    assert len(tickets) == 1


@pytest.mark.parametrize(("payload", "reference"), [
    ("whatsapp_image", "/Media/ME33333333333333333333333333333333 (image/jpeg)"),
    ("sms_mms", "/Media/ME55555555555555555555555555555555 (image/png)"),
    ("whatsapp_location", "location:52.370216,4.895168"),
])
async def test_media_without_text_gets_only_text_and_is_kept(twilio, payload, reference):
    response = await twilio.post(twilio_form(payload))
    assert response.status == 200
    [reply] = messages_in(await response.text())
    assert reply.startswith("Ik kan alleen tekst lezen")
    async with twilio.db.session() as session:
        inbound = (await session.execute(select(Message).where(Message.direction == "in"))
                   ).scalar_one()
    assert any(ref.endswith(reference) for ref in inbound.media)


async def test_a_retried_webhook_is_processed_once_and_answered_alike(twilio):
    form = twilio_form("whatsapp", Body="ik wil een mens spreken")
    first = await twilio.post(form)
    again = await twilio.post(form)
    assert first.status == again.status == 200
    assert await first.text() == await again.text()
    assert "pionier" in messages_in(await again.text())[0]
    assert await twilio.stored() == 2
    async with twilio.db.session() as session:
        assert len((await session.execute(select(Ticket))).scalars().all()) == 1


async def test_a_status_callback_is_not_answered(twilio):
    callback = {"MessageSid": "SM" + "7" * 32, "MessageStatus": "delivered",
                "SmsStatus": "delivered", "From": SMS_FROM, "To": SMS_USER,
                "AccountSid": twilio.fake.account_sid, "ApiVersion": "2010-04-01"}
    response = await twilio.post(callback)
    assert response.status == 200 and messages_in(await response.text()) == []
    assert await twilio.stored() == 0


# ---- opt-out ---------------------------------------------------------------------------

@pytest.mark.parametrize("word", ["STOP", "stopall", "AFMELDEN"])
@pytest.mark.parametrize("user", [SMS_USER, WHATSAPP_USER])
async def test_opt_out_is_confirmed_once_and_silences_every_path(twilio, word, user):
    [confirmation] = await twilio.say(word, user)
    assert "afgemeld" in confirmation
    assert await twilio.say(word, user) == []
    assert await twilio.say("wie betaalt de huur van het pand?", user) == []
    sender = twilio.client.app[SENDERS][Channel.WHATSAPP if "whatsapp" in user else Channel.SMS]
    channel = Channel.WHATSAPP if "whatsapp" in user else Channel.SMS
    with pytest.raises(OptedOut):
        await sender.send(OutboundMessage(channel, user, "antwoord van een pionier"))
    assert twilio.fake.requests == []
    [welcome] = await twilio.say("START", user)
    assert "Welkom terug" in welcome
    assert await twilio.say("wie betaalt de huur van het pand?", user) != []


async def test_a_retried_stop_still_confirms_but_a_later_retry_stays_silent(twilio):
    question = twilio_form("sms", Body="wie betaalt de huur?", MessageSid="SM" + "1" * 32)
    stop = twilio_form("sms", Body="STOP", MessageSid="SM" + "2" * 32)
    assert messages_in(await (await twilio.post(question)).text())
    first = messages_in(await (await twilio.post(stop)).text())
    assert first == messages_in(await (await twilio.post(stop)).text())
    # The question's retry arrives after the opt-out: nothing more is sent.
    assert messages_in(await (await twilio.post(question)).text()) == []


# ---- bad input -------------------------------------------------------------------------

async def test_malformed_bodies_are_refused_and_the_server_keeps_serving(twilio):
    no_from = {k: v for k, v in twilio_form("sms").items() if k != "From"}
    assert (await twilio.post(no_from)).status == 400
    assert (await twilio.post(twilio_form("sms", From=""))).status == 400
    bad_utf8 = await twilio.client.post(
        "/webhooks/twilio", data=b"From=%2B31600000011&Body=\xff\xfe",
        headers={"X-Twilio-Signature": "x", "Content-Type": "application/x-www-form-urlencoded"})
    assert bad_utf8.status == 400
    escaped_bad_utf8 = await twilio.client.post(
        "/webhooks/twilio", data=b"From=%2B31600000011&Body=%FF%FE",
        headers={"X-Twilio-Signature": "x", "Content-Type": "application/x-www-form-urlencoded"})
    assert escaped_bad_utf8.status == 400
    huge = await twilio.post(twilio_form("sms", Body="x" * (1024 * 1024)))
    assert huge.status == 413
    assert await twilio.stored() == 0
    assert await twilio.say("hallo")


async def test_without_credentials_twilio_is_off(engine, db):
    settings = Settings(_env_file=None, database_url=db.url,  # type: ignore[call-arg]
                        twilio_account_sid=None, twilio_auth_token=None,
                        telegram_bot_token=None)
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)))
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/webhooks/twilio", data={"From": SMS_USER})
        assert response.status == 404
        assert not {Channel.SMS, Channel.WHATSAPP} & set(client.app[SENDERS])


# ---- the sender ------------------------------------------------------------------------

async def test_sender_sends_sms_and_whatsapp_through_the_rest_api(twilio):
    senders = twilio.client.app[SENDERS]
    assert senders[Channel.SMS] is senders[Channel.WHATSAPP]
    sid = await senders[Channel.SMS].send(OutboundMessage(Channel.SMS, SMS_USER, "Hoi €"))
    await senders[Channel.WHATSAPP].send(OutboundMessage(
        Channel.WHATSAPP, WHATSAPP_USER, "Bedoel je:\n1) Iets\n2) Anders",
        (Choice("1) Iets", "1"), Choice("2) Anders", "2"))))
    sms, whatsapp = twilio.fake.created
    assert sid and re.fullmatch(r"SM[0-9a-f]{32}", sid)
    assert sms == {"To": SMS_USER, "From": SMS_FROM, "Body": "Hoi €"}
    assert whatsapp["From"] == WHATSAPP_FROM and whatsapp["To"] == WHATSAPP_USER
    assert whatsapp["Body"] == "Bedoel je:\n1) *Iets*\n2) *Anders*"
    request = twilio.fake.requests[0]
    assert request.username == twilio.fake.account_sid
    assert request.path == f"/2010-04-01/Accounts/{twilio.fake.account_sid}/Messages.json"


async def test_sender_marks_an_unsubscribed_number_opted_out(twilio):
    twilio.fake.fail(21610)
    sender = twilio.client.app[SENDERS][Channel.SMS]
    await twilio.say("hallo")  # the contact exists
    with pytest.raises(OptedOut) as raised:
        await sender.send(OutboundMessage(Channel.SMS, SMS_USER, "antwoord"))
    assert raised.value.code == "21610" and not raised.value.retryable
    async with twilio.db.session() as session:
        contact = (await session.execute(select(Contact))).scalar_one()
    assert contact.opted_out
    with pytest.raises(OptedOut):
        await sender.send(OutboundMessage(Channel.SMS, SMS_USER, "nog een"))
    assert len(twilio.fake.created) == 1


async def test_sender_reports_the_whatsapp_window(twilio):
    twilio.fake.fail(63016)
    sender = twilio.client.app[SENDERS][Channel.WHATSAPP]
    with pytest.raises(DeliveryError, match=r"63016.*TWILIO_WHATSAPP_TEMPLATE_SID") as raised:
        await sender.send(OutboundMessage(Channel.WHATSAPP, WHATSAPP_USER, "antwoord"))
    assert raised.value.code == "63016" and not raised.value.retryable


async def test_sender_sends_an_approved_template(twilio):
    sender = twilio.client.app[SENDERS][Channel.WHATSAPP]
    sid = await sender.send_template(WHATSAPP_USER, "HX" + "0" * 32, {"1": "42"})
    [form] = twilio.fake.created
    assert sid and form["ContentSid"] == "HX" + "0" * 32
    assert json.loads(form["ContentVariables"]) == {"1": "42"} and "Body" not in form
    assert form["From"] == WHATSAPP_FROM


@pytest.mark.parametrize(("status", "code", "retryable"), [
    (500, 20500, True), (429, 20429, True), (400, 21211, False)])
async def test_sender_says_whether_a_failure_is_worth_retrying(twilio, status, code, retryable):
    twilio.fake.fail(code, status)
    with pytest.raises(DeliveryError) as raised:
        await twilio.client.app[SENDERS][Channel.SMS].send(
            OutboundMessage(Channel.SMS, SMS_USER, "antwoord"))
    assert raised.value.code == str(code) and raised.value.retryable is retryable


async def test_sender_reports_an_unreachable_twilio(twilio):
    await twilio.fake.close()
    with pytest.raises(DeliveryError) as raised:
        await twilio.client.app[SENDERS][Channel.SMS].send(
            OutboundMessage(Channel.SMS, SMS_USER, "antwoord"))
    assert raised.value.code == "network" and raised.value.retryable


async def test_the_rest_client_gives_up_after_its_timeout(fake_twilio):  # noqa: F811
    fake_twilio.delay = 1.0
    http = TwilioHttpClient(fake_twilio.base_url, timeout=0.1)
    client = Client(fake_twilio.account_sid, fake_twilio.auth_token, http_client=http)
    try:
        with pytest.raises(TimeoutError):
            await client.messages.create_async(to=SMS_USER, from_=SMS_FROM, body="hoi")
    finally:
        await http.close()


async def test_sender_needs_the_from_number(engine, db, fake_twilio):  # noqa: F811
    settings = settings_for(db, fake_twilio, twilio_sms_from=None)
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)))
    async with TestClient(TestServer(app)) as client:
        with pytest.raises(DeliveryError, match="TWILIO_SMS_FROM"):
            await client.app[SENDERS][Channel.SMS].send(
                OutboundMessage(Channel.SMS, SMS_USER, "antwoord"))
    assert fake_twilio.requests == []


def test_twiml_is_empty_without_replies_and_one_message_per_reply():
    assert messages_in(twiml([])) == []
    replies = [OutboundMessage(Channel.SMS, SMS_USER, "een"),
               OutboundMessage(Channel.SMS, SMS_USER, "twee & <drie>")]
    assert messages_in(twiml(replies)) == ["een", "twee & <drie>"]


def test_twiml_is_what_the_twilio_library_writes():
    from twilio.twiml.messaging_response import MessagingResponse

    texts = ["een", "twee & <drie> \"vier\" 'vijf' ]]> é 😀\nzes", "x" * 3500, ""]
    for channel, address in ((Channel.SMS, SMS_USER), (Channel.WHATSAPP, WHATSAPP_USER)):
        replies = [OutboundMessage(channel, address, text) for text in texts]
        expected = MessagingResponse()
        for reply in replies:
            for body in bodies(reply):
                expected.message(body)
        assert twiml(replies) == str(expected)
    assert twiml([]) == str(MessagingResponse())


def test_whatsapp_bolds_the_offered_choices_only():
    message = OutboundMessage(Channel.WHATSAPP, WHATSAPP_USER,
                              "Bedoel je:\n1) Kosten\n2) Huur\nTyp het nummer.",
                              (Choice("1) Kosten", "1"), Choice("2) Huur", "2"),
                               Choice("Geen van beide", "0")))
    assert whatsapp_text(message) == "Bedoel je:\n1) *Kosten*\n2) *Huur*\nTyp het nummer."
