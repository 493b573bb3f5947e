"""The per-sender rate limit: one polite notice past the limit, then silence, every message
stored; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.dialogue import DialogueEngine
from bot.helpline import Handled, Helpline
from bot.messages import Channel, InboundMessage
from bot.ratelimit import RATE_LIMITED, RateLimit
from bot.storage.db import Database
from bot.storage.models import Contact, Direction, Message
from bot.texts import nl
from tests.conftest import OFFICE_HOURS

USER = "+31600000031"


class Sender:
    def __init__(self, helpline: Helpline, address: str = USER) -> None:
        self.helpline = helpline
        self.address = address
        self.n = 0

    async def send(self, text: str, seconds: float = 0) -> Handled:
        self.n += 1
        return await self.helpline.handle(InboundMessage(
            Channel.SMS, self.address, text, provider_id=f"SM-rate-{self.address}-{self.n}",
            received_at=OFFICE_HOURS + timedelta(seconds=seconds)))


async def stored_inbound(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count(Message.id)).where(
            Message.direction == Direction.IN.value))).scalar_one())


async def test_past_the_limit_one_notice_then_silence_then_answers_again(
        engine: DialogueEngine, db: Database) -> None:
    person = Sender(Helpline(engine, db, rate_limit=RateLimit(20)))
    for i in range(20):
        handled = await person.send("hallo", seconds=i)
        assert handled.replies, f"message {i + 1} is within the limit"

    notice = await person.send("hallo?", seconds=20)
    assert [m.text for m in notice.replies] == [nl.TEXTS.rate_limited]
    assert notice.decision.id == RATE_LIMITED

    silence = await person.send("hallo??", seconds=21)
    assert silence.replies == ()
    assert await stored_inbound(db) == 22

    # Still in the window of the flood: no second notice.
    assert (await person.send("hallo???", seconds=61)).replies == ()

    # A minute after the last message the window has room again.
    later = await person.send("wie betaalt het pand?", seconds=122)
    assert later.replies and later.decision.id != RATE_LIMITED
    assert await stored_inbound(db) == 24


async def test_a_retry_of_a_limited_message_replays_the_notice(
        engine: DialogueEngine, db: Database) -> None:
    helpline = Helpline(engine, db, rate_limit=RateLimit(2))
    person = Sender(helpline)
    await person.send("hallo")
    await person.send("hallo")
    first = await person.send("hallo")
    again = await helpline.handle(InboundMessage(
        Channel.SMS, USER, "hallo", provider_id=f"SM-rate-{USER}-3", received_at=OFFICE_HOURS))
    assert again.duplicate
    assert [m.text for m in again.replies] == [m.text for m in first.replies]


async def test_others_and_stop_are_not_limited(engine: DialogueEngine, db: Database) -> None:
    helpline = Helpline(engine, db, rate_limit=RateLimit(2))
    flooder, other = Sender(helpline), Sender(helpline, "+31600000032")
    for _ in range(4):
        await flooder.send("hallo")
    assert (await other.send("hallo")).replies
    stop = await flooder.send("STOP")
    assert stop.decision.id == "stop" and stop.replies


async def test_zero_turns_the_limit_off(engine: DialogueEngine, db: Database) -> None:
    person = Sender(Helpline(engine, db, rate_limit=RateLimit(0)))
    for _ in range(25):
        assert (await person.send("hallo")).replies


def test_the_count_is_skipped_only_when_no_other_message_can_be_in_the_window() -> None:
    limit, at = RateLimit(20), OFFICE_HOURS
    assert limit.cannot_trigger(None, at)  # the first message of this person
    assert limit.cannot_trigger(at - timedelta(seconds=60), at)  # just outside the window
    assert not limit.cannot_trigger(at - timedelta(seconds=59), at)
    assert not limit.cannot_trigger(at + timedelta(seconds=5), at)  # handled out of order
    assert RateLimit(0).cannot_trigger(at, at)


async def test_the_last_message_time_only_moves_forward(
        engine: DialogueEngine, db: Database) -> None:
    """Messages handled out of order (two processes, a provider's late delivery) leave the
    contact's last-message time at the newest, which the rate limit and the WhatsApp window
    rely on."""
    person = Sender(Helpline(engine, db, rate_limit=RateLimit(2)))
    await person.send("hallo", seconds=100)
    await person.send("hallo", seconds=60)
    async with db.session() as session:
        last = (await session.execute(select(Contact.last_inbound_at))).scalar_one()
    assert last == OFFICE_HOURS + timedelta(seconds=100)
    # Both earlier messages are in the window of one at 100 s: the third is over the limit.
    over = await person.send("hallo", seconds=101)
    assert over.decision.id == RATE_LIMITED
