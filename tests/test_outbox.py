"""Durable delivery of pioneer answers through a real local provider, on SQLite and
PostgreSQL: delivered once, retried with backoff, surviving restarts and parallel workers,
the WhatsApp 24-hour window, opt-outs; an attempt with an unknown outcome looked up at
Twilio (through the real client and the fake REST API) or left to a pioneer, never sent
twice."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.helpline import Helpline
from bot.messages import Channel, InboundMessage, OutboundMessage, utcnow
from bot.outbox import Outbox, OutboxPolicy
from bot.ports import Sender
from bot.storage.db import Database
from bot.storage.models import Contact, Delivery, DeliveryStatus, Direction, Message
from bot.tickets import Tickets
from tests.conftest import ChatBot
from tests.fakes.fixtures import fake_telegram, fake_twilio  # noqa: F401
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.local_provider import LocalProvider, provider_fixture, senders_for  # noqa: F401
from tests.test_tickets import QUESTION, RecordingNotifier

TEMPLATE = "HX0000000000000000000000000000test"


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: utcnow() + timedelta(seconds=1))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def outbox(db: Database, provider: LocalProvider, clock: Clock | None = None,
           **policy: object) -> Outbox:
    senders = senders_for(provider)
    return Outbox(db, lambda: senders, OutboxPolicy(**policy),  # type: ignore[arg-type]
                  clock=clock or Clock())


async def escalate(helpline: Helpline, channel: Channel = Channel.SMS,
                   address: str = "+31600000021") -> tuple[ChatBot, int]:
    person = ChatBot(helpline, channel=channel, address=address)
    await person.say(QUESTION)
    assert person.last.ticket_number is not None
    return person, person.last.ticket_number


async def write_back(helpline: Helpline, channel: Channel, address: str, text: str) -> None:
    """The person writes now (not at the fixed test time): their window opens."""
    await helpline.handle(InboundMessage(channel, address, text, provider_id=f"now-{text}",
                                         received_at=utcnow()))


async def deliveries(db: Database) -> list[Delivery]:
    async with db.session() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


@pytest.fixture
def helpline(engine, db) -> Helpline:
    return Helpline(engine, db)


async def test_answer_reaches_the_person_on_their_channel(helpline, db, provider):
    _, number = await escalate(helpline)
    await Tickets(db).answer(number, "Ja, de hond mag mee.", "Pionier Een")
    assert await outbox(db, provider).deliver_due() == 1
    assert provider.sent == [{
        "kind": "text", "channel": "sms", "to": "+31600000021", "sid": "SM000001",
        "text": "Antwoord van Pionier Een (De Thuisgevers):\nJa, de hond mag mee.",
    }]
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.SENT and row.provider_id == "SM000001" and row.sent_at
    async with db.session() as session:
        out = (await session.execute(select(Message).where(
            Message.provider_id == "SM000001"))).scalar_one()
    assert out.direction == Direction.OUT and out.ticket_id == number and out.kind == "pioneer"
    assert await outbox(db, provider).deliver_due() == 0


async def test_provider_down_is_retried_with_backoff(helpline, db, provider):
    _, number = await escalate(helpline)
    await Tickets(db).answer(number, "Ja.", "Pionier Een")
    provider.fail(2)
    clock = Clock()
    worker = outbox(db, provider, clock, backoff=2.0)
    assert await worker.deliver_due() == 1
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1
    assert row.error_code == "down" and row.next_attempt_at == clock.now + timedelta(seconds=2)
    assert await worker.deliver_due() == 0  # not due yet
    clock.advance(2)
    assert await worker.deliver_due() == 1
    [row] = await deliveries(db)
    assert row.next_attempt_at == clock.now + timedelta(seconds=4)  # doubled
    clock.advance(4)
    assert await worker.deliver_due() == 1
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.SENT and row.attempts == 3
    assert len(provider.sent) == 1


async def test_keeps_failing_then_failed_and_shown_never_dropped(helpline, db, provider):
    _, number = await escalate(helpline)
    notifier = RecordingNotifier()
    tickets = Tickets(db)
    await tickets.answer(number, "Ja.", "Pionier Een")
    provider.fail(3, status=500, code="boom")
    clock = Clock()
    senders = senders_for(provider)
    worker = Outbox(db, lambda: senders, OutboxPolicy(max_attempts=3, backoff=1), notifier,
                    clock)
    for _ in range(3):
        await worker.deliver_due()
        clock.advance(60)
    detail = await tickets.get(number)
    [shown] = detail.deliveries
    assert shown.status is DeliveryStatus.FAILED and shown.attempts == 3
    assert "3 pogingen" in (shown.last_error or "")
    assert detail.card.delivery_status == "failed"
    assert [c.delivery_status for c in notifier.updated] == ["failed"]
    assert await worker.deliver_due() == 0 and provider.sent == []
    # The pioneer sends it again once the provider is back.
    assert await tickets.retry(number) == 1
    assert await worker.deliver_due() == 1 and len(provider.sent) == 1
    assert (await tickets.get(number)).deliveries[0].status is DeliveryStatus.SENT
    assert await tickets.retry(number) == 0


async def test_restart_in_between_delivers_exactly_once(helpline, db, provider):
    _, number = await escalate(helpline)
    await Tickets(db).answer(number, "Ja.", "Pionier Een")
    provider.fail(1)
    clock = Clock()
    assert await outbox(db, provider, clock, backoff=1).deliver_due() == 1
    # The server stops; a new process with a new database handle takes over.
    again = Database(db.url) if db.is_sqlite else db
    clock.advance(1)
    assert await outbox(again, provider, clock).deliver_due() == 1
    assert await outbox(again, provider, clock).deliver_due() == 0
    assert len(provider.sent) == 1
    if again is not db:
        await again.dispose()


async def test_two_workers_at_once_deliver_each_answer_once(engine, db, provider):
    helpline = Helpline(engine, db)
    tickets = Tickets(db)
    for i in range(6):
        _, number = await escalate(helpline, address=f"+316000000{30 + i}")
        await tickets.answer(number, f"Antwoord {i}", "Pionier Een")
    other = Database(db.url) if db.is_sqlite else db
    done = await asyncio.gather(outbox(db, provider).deliver_due(),
                                outbox(other, provider).deliver_due())
    assert sum(done) == 6
    assert sorted(m["to"] for m in provider.sent) == [f"+316000000{30 + i}" for i in range(6)]
    assert {r.status for r in await deliveries(db)} == {DeliveryStatus.SENT}
    async with db.session() as session:
        outs = (await session.execute(select(func.count()).select_from(Message).where(
            Message.kind == "pioneer"))).scalar_one()
    assert outs == 6
    if other is not db:
        await other.dispose()


async def test_stale_row_is_not_resent_when_the_provider_cannot_be_asked(
        helpline, db, provider):
    """A dead worker's row, taken over after the timeout, through a sender that cannot ask
    its provider what arrived (like Telegram's): nothing is sent again by itself; the row
    is `uncertain`, shown, and goes out again when a pioneer says so."""
    _, number = await escalate(helpline)
    tickets, notifier = Tickets(db), RecordingNotifier()
    await tickets.answer(number, "Ja.", "Pionier Een")
    clock = Clock()
    crashed = outbox(db, provider, clock)
    assert await crashed.claim() is not None  # claimed, then the process died
    senders = senders_for(provider)
    worker = Outbox(db, lambda: senders, OutboxPolicy(), notifier, clock)  # type: ignore[arg-type]
    assert await worker.deliver_due() == 0  # not before the takeover timeout
    clock.advance(301)
    assert await worker.deliver_due() == 1
    assert provider.sent == []
    detail = await tickets.get(number)
    [shown] = detail.deliveries
    assert shown.status is DeliveryStatus.UNCERTAIN and shown.attempts == 2
    assert "Bezorging onzeker" in (shown.last_error or "")
    assert "Opnieuw versturen" in (shown.last_error or "")
    assert [c.delivery_status for c in notifier.updated] == ["uncertain"]
    clock.advance(3600)
    assert await worker.deliver_due() == 0 and provider.sent == []
    # The pioneer checked with the person: it did not arrive.
    assert await tickets.retry(number) == 1
    assert await worker.deliver_due() == 1 and len(provider.sent) == 1
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.SENT and row.uncertain_since is None


async def _whatsapp_ticket(helpline: Helpline, db: Database, *, hours_ago: float) -> int:
    address = "whatsapp:+31600000041"
    _, number = await escalate(helpline, Channel.WHATSAPP, address)
    async with db.session() as session:
        await session.execute(update(Contact).values(
            last_inbound_at=utcnow() - timedelta(hours=hours_ago)))
    return number


async def test_whatsapp_window_closed_sends_template_then_answer_on_reply(
        helpline, db, provider):
    number = await _whatsapp_ticket(helpline, db, hours_ago=25)
    await Tickets(db).answer(number, "Ja, de hond mag mee.", "Pionier Een")
    worker = outbox(db, provider, whatsapp_template_sid=TEMPLATE)
    await worker.deliver_due()
    assert provider.templates() == [{
        "kind": "template", "channel": "whatsapp", "to": "whatsapp:+31600000041",
        "content_sid": TEMPLATE, "variables": {"1": str(number)}, "sid": "SM000001"}]
    assert provider.texts() == []
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.HELD and row.template_sent_at is not None
    await worker.deliver_due()
    assert len(provider.sent) == 1

    await write_back(helpline, Channel.WHATSAPP, "whatsapp:+31600000041", "ja graag")
    await worker.deliver_due()
    assert provider.texts() == ["Antwoord van Pionier Een (De Thuisgevers):\nJa, de hond mag mee."]
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.SENT


async def test_whatsapp_window_closed_without_template_is_blocked_and_shown(
        helpline, db, provider):
    number = await _whatsapp_ticket(helpline, db, hours_ago=30)
    tickets = Tickets(db)
    await tickets.answer(number, "Ja.", "Pionier Een")
    worker = outbox(db, provider)
    await worker.deliver_due()
    detail = await tickets.get(number)
    assert detail.deliveries[0].status is DeliveryStatus.BLOCKED
    assert "24 uur" in (detail.deliveries[0].last_error or "")
    assert detail.card.delivery_status == "blocked" and provider.sent == []
    await write_back(helpline, Channel.WHATSAPP, "whatsapp:+31600000041", "hallo?")
    await worker.deliver_due()
    assert len(provider.texts()) == 1


async def test_provider_window_error_63016_is_handled_like_a_closed_window(
        helpline, db, provider):
    number = await _whatsapp_ticket(helpline, db, hours_ago=1)
    await Tickets(db).answer(number, "Ja.", "Pionier Een")
    provider.fail(1, status=400, code="63016")
    await outbox(db, provider, whatsapp_template_sid=TEMPLATE).deliver_due()
    assert len(provider.templates()) == 1 and provider.texts() == []
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.HELD


async def test_provider_opt_out_21610_marks_the_contact(helpline, db, provider):
    _, number = await escalate(helpline)
    await Tickets(db).answer(number, "Ja.", "Pionier Een")
    provider.fail(1, status=400, code="21610")
    await outbox(db, provider).deliver_due()
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.BLOCKED and row.error_code == "opted_out"
    async with db.session() as session:
        assert (await session.execute(select(Contact.opted_out))).scalar_one() is True


async def test_opted_out_contact_gets_nothing(helpline, db, provider):
    person, number = await escalate(helpline)
    await person.say("STOP")
    await Tickets(db).answer(number, "Ja.", "Pionier Een")
    await outbox(db, provider).deliver_due()
    assert provider.sent == []
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.BLOCKED and row.error_code == "opted_out"
    assert await Tickets(db).retry(number) == 0  # an opt-out is never overridden


async def test_channel_without_sender_fails_visibly(helpline, db, provider):
    _, number = await escalate(helpline, Channel.WEB, "web:test-visitor")
    await Tickets(db).answer(number, "Ja.", "Pionier Een")
    await outbox(db, provider).deliver_due()
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.FAILED and row.error_code == "no_sender"


async def test_feedback_no_escalates_on_whatsapp(helpline):
    person = ChatBot(helpline, channel=Channel.WHATSAPP, address="whatsapp:+31600000042")
    assert "Heeft dit geholpen?" in await person.say("wie betaalt de huur van het pand?")
    assert "pionier" in (await person.say("nee")).lower()
    assert person.last.ticket_number is not None


# ---- end to end through the channels' real Twilio sender and the fake Twilio REST API ----

@pytest.fixture
async def twilio_app(engine, db, fake_twilio):  # noqa: F811
    from aiohttp.test_utils import TestClient, TestServer

    from bot.core import Core
    from bot.web.app import create_app
    from tests.test_twilio import Twilio, settings_for

    settings = settings_for(db, fake_twilio, outbox_poll_seconds=0.05,
                            outbox_backoff_seconds=0.05, outbox_settle_seconds=0.1,
                            twilio_whatsapp_template_sid=TEMPLATE)
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)))
    async with TestClient(TestServer(app)) as client:
        yield Twilio(client, fake_twilio, db)


async def _until(condition) -> None:  # type: ignore[no-untyped-def]
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_sms_escalation_answered_reaches_twilio_for_the_original_number(twilio_app):
    from tests.test_twilio import SMS_FROM, SMS_USER

    [ack] = await twilio_app.say(QUESTION)
    number = int(re.search(r"vraagnummer (\d+)", ack).group(1))  # type: ignore[union-attr]
    twilio_app.fake.fail(20500, 500)  # Twilio down for the first attempt
    await Tickets(twilio_app.db).answer(number, "Ja, aangelijnd.", "Pionier Een")
    await _until(lambda: twilio_app.fake.bodies(SMS_USER))
    [form] = twilio_app.fake.created
    assert form["To"] == SMS_USER and form["From"] == SMS_FROM
    assert form["Body"] == "Antwoord van Pionier Een (De Thuisgevers):\nJa, aangelijnd."
    for _ in range(250):
        [row] = await deliveries(twilio_app.db)
        if row.status == DeliveryStatus.SENT:
            break
        await asyncio.sleep(0.02)
    assert row.status == DeliveryStatus.SENT and row.attempts == 2
    # An error answer means Twilio took nothing: sent again without asking first, once.
    assert twilio_app.fake.lookups == [] and len(twilio_app.fake.taken(SMS_USER)) == 1


async def test_whatsapp_window_template_through_twilio_then_answer_on_reply(twilio_app):
    from tests.test_twilio import WHATSAPP_USER

    await twilio_app.say(QUESTION, WHATSAPP_USER)
    async with twilio_app.db.session() as session:
        await session.execute(update(Contact).values(
            last_inbound_at=utcnow() - timedelta(hours=25)))
    [ticket] = await Tickets(twilio_app.db).list_tickets()
    await Tickets(twilio_app.db).answer(ticket.number, "Ja.", "Pionier Een")
    await _until(lambda: twilio_app.fake.created)
    [template] = twilio_app.fake.created
    assert template["ContentSid"] == TEMPLATE and "Body" not in template
    assert json.loads(template["ContentVariables"]) == {"1": str(ticket.number)}
    await twilio_app.say("ja graag", WHATSAPP_USER)
    await _until(lambda: any(twilio_app.fake.bodies(WHATSAPP_USER)))
    assert [b for b in twilio_app.fake.bodies(WHATSAPP_USER) if b] == [
        "Antwoord van Pionier Een (De Thuisgevers):\nJa."]


# ---- an attempt whose outcome is unknown: looked up at Twilio, never sent twice ----------


@pytest.fixture
async def twilio_sender(db, fake_twilio):  # noqa: F811
    from handlers.twilio_sender import TwilioSender, build_client
    from tests.test_twilio import settings_for

    settings = settings_for(db, fake_twilio)
    client = build_client(settings)
    yield TwilioSender(client, settings, db)
    await client.http_client.close()


def via(db: Database, sender: Sender, clock: Clock, **policy: object) -> Outbox:
    senders = {Channel.SMS: sender, Channel.WHATSAPP: sender}
    return Outbox(db, lambda: senders, OutboxPolicy(**policy),  # type: ignore[arg-type]
                  clock=clock)


async def _dead_worker(db: Database, sender: Sender, clock: Clock, *, reached: bool) -> None:
    """A worker claims the row and dies in the middle of sending it: after Twilio took the
    message (`reached`) or before the request went out."""
    row = await via(db, sender, clock).claim()
    assert row is not None and row.status == DeliveryStatus.SENDING
    if reached:
        await sender.send(OutboundMessage(Channel(row.channel), row.address, row.text))


@pytest.mark.parametrize("reached", [True, False], ids=["taken", "not-taken"])
async def test_a_dead_workers_answer_is_looked_up_at_twilio_not_resent(
        helpline, db, fake_twilio, twilio_sender, reached):  # noqa: F811
    _, number = await escalate(helpline)
    await Tickets(db).answer(number, "Ja, de hond mag mee.", "Pionier Een")
    clock = Clock()
    await _dead_worker(db, twilio_sender, clock, reached=reached)
    clock.advance(301)
    assert await via(db, twilio_sender, clock).deliver_due() == 1
    # Sent once in both cases: found and recorded, or not found and sent now.
    assert fake_twilio.taken("+31600000021") == [
        "Antwoord van Pionier Een (De Thuisgevers):\nJa, de hond mag mee."]
    [lookup] = fake_twilio.lookups
    assert lookup["To"] == "+31600000021" and lookup["From"] == "+31970000000"
    assert "DateSent>" in lookup
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.SENT and row.attempts == 2
    assert row.provider_id == fake_twilio.messages[0]["sid"] and row.uncertain_since is None
    async with db.session() as session:
        out = (await session.execute(select(Message).where(
            Message.kind == "pioneer"))).scalars().all()
    assert [m.provider_id for m in out] == [row.provider_id]
    assert await via(db, twilio_sender, clock).deliver_due() == 0


async def test_the_lookup_reads_every_page_and_skips_what_belongs_to_other_answers(
        helpline, db, fake_twilio, twilio_sender):  # noqa: F811
    """The same text went to the person a moment before, for another answer (recorded);
    then the dead worker's copy, then 55 more messages: the lookup pages through the list
    (50 a page) to the dead worker's copy and does not take the other answer's for it."""
    _, number = await escalate(helpline)
    tickets = Tickets(db)
    clock = Clock()
    await tickets.answer(number, "Ja.", "Pionier Een")
    assert await via(db, twilio_sender, clock).deliver_due() == 1
    await tickets.answer(number, "Ja.", "Pionier Een")
    await _dead_worker(db, twilio_sender, clock, reached=True)
    for i in range(55):
        await twilio_sender.client.messages.create_async(
            to="+31600000021", from_="+31970000000", body=f"Bericht {i}")
    clock.advance(301)
    assert await via(db, twilio_sender, clock).deliver_due() == 1
    answer = "Antwoord van Pionier Een (De Thuisgevers):\nJa."
    assert fake_twilio.taken("+31600000021").count(answer) == 2  # one per answer, no third
    assert [q.get("Page", "0") for q in fake_twilio.lookups] == ["0", "1"]
    first, second = await deliveries(db)
    assert second.status == DeliveryStatus.SENT
    assert {first.provider_id, second.provider_id} == {
        m["sid"] for m in fake_twilio.messages if m["body"] == answer}


async def test_a_whatsapp_answer_cut_off_mid_parts_sends_only_the_missing_part(
        helpline, db, fake_twilio, twilio_sender):  # noqa: F811
    """Part 1 of 2 taken, part 2 refused (a 500): the retry waits `settle_after`, looks
    the message up, finds part 1 and sends part 2 only."""
    number = await _whatsapp_ticket(helpline, db, hours_ago=1)
    long_answer = " ".join(f"Zin {i} van een lang antwoord over honden in het pand." for i in
                           range(50))
    await Tickets(db).answer(number, long_answer, "Pionier Een")
    fake_twilio.fail(20500, 500, "Internal Server Error", after=1)
    clock = Clock()
    worker = via(db, twilio_sender, clock, backoff=1, settle_after=20)
    assert await worker.deliver_due() == 1
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.PENDING and row.uncertain_since == clock.now
    assert row.next_attempt_at == clock.now + timedelta(seconds=20)
    clock.advance(19)
    assert await worker.deliver_due() == 0  # not before the settle time
    clock.advance(1)
    assert await worker.deliver_due() == 1
    taken = fake_twilio.taken("whatsapp:+31600000041")
    assert len(taken) == 2 and len(set(taken)) == 2  # each part once
    assert "Zin 0 " in taken[0] and "Zin 49 " in taken[1]
    assert len(fake_twilio.created) == 3  # part 1, part 2 refused, part 2
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.SENT and row.provider_id == fake_twilio.messages[1]["sid"]


async def test_an_unanswered_lookup_is_retried_and_never_ends_as_failed(
        helpline, db, fake_twilio, twilio_sender):  # noqa: F811
    """Twilio cannot be asked (refused connection) after a dead worker: retried with
    backoff; after the last attempt the answer is `uncertain`, not `failed` (it may have
    arrived), and nothing was sent."""
    _, number = await escalate(helpline)
    await Tickets(db).answer(number, "Ja.", "Pionier Een")
    clock = Clock()
    await _dead_worker(db, twilio_sender, clock, reached=True)
    await fake_twilio.close()
    clock.advance(301)
    worker = via(db, twilio_sender, clock, max_attempts=3, backoff=1)
    for _ in range(3):
        await worker.deliver_due()
        clock.advance(60)
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.UNCERTAIN and row.attempts == 3
    assert "niet na te gaan" in (row.last_error or "")
    assert len(fake_twilio.created) == 1


async def test_telegram_without_an_answer_is_uncertain_and_not_resent(
        helpline, db, fake_telegram):  # noqa: F811
    """Telegram's Bot API cannot say what a bot sent: a request that got no answer (a
    read timeout) may have arrived, so it is not repeated (at most once) but left to a
    pioneer; a refused connection certainly sent nothing and is retried."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from handlers.telegram import TelegramSender

    _, number = await escalate(helpline, Channel.TELEGRAM, "700000021")
    tickets = Tickets(db)
    await tickets.answer(number, "Ja.", "Pionier Een")
    clock = Clock()
    async with Bot("123:test", base_url=fake_telegram.base_url,
                   request=HTTPXRequest(read_timeout=0.3)) as bot:
        worker = outbox_with(db, Channel.TELEGRAM, TelegramSender(bot, db), clock)
        fake_telegram.delay = 1.0
        assert await worker.deliver_due() == 1
        fake_telegram.delay = 0
        [row] = await deliveries(db)
        assert row.status == DeliveryStatus.UNCERTAIN and row.uncertain_since == clock.now
        assert "Bezorging onzeker" in (row.last_error or "")
        clock.advance(3600)
        assert await worker.deliver_due() == 0
        assert len(fake_telegram.sent) == 1
        assert await tickets.retry(number) == 1
        assert await worker.deliver_due() == 1
        assert len(fake_telegram.sent) == 2  # the pioneer's choice, after checking
    closed = Bot("123:test", base_url="http://127.0.0.1:9/bot")  # nothing listens there
    await tickets.answer(number, "Nog iets.", "Pionier Een")
    worker = outbox_with(db, Channel.TELEGRAM, TelegramSender(closed, db), clock)
    assert await worker.deliver_due() == 1
    await closed.shutdown()
    second = (await deliveries(db))[1]
    assert second.status == DeliveryStatus.PENDING and second.uncertain_since is None


def outbox_with(db: Database, channel: Channel, sender: Sender, clock: Clock) -> Outbox:
    senders = {channel: sender}
    return Outbox(db, lambda: senders, OutboxPolicy(), clock=clock)  # type: ignore[arg-type]


_ = (FakeTelegram, FakeTwilio)
