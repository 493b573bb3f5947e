"""The pioneer queue: escalation to a ticket, claim/answer/close, the conversation handed
back to the bot, reminders, stats and knowledge-base suggestions, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.conversation import Conversation, State
from bot.helpline import Helpline, TicketEvents
from bot.hours import BusinessHours
from bot.knowledge import load
from bot.messages import Channel
from bot.ports import TicketCard
from bot.stats import collect
from bot.storage.models import ConversationRow, Delivery, DeliveryStatus, Ticket, TicketStatus
from bot.suggestions import draft_entry, listing, write
from bot.tickets import TicketError, Tickets, mask_address
from tests.conftest import OFFICE_HOURS, ChatBot

QUESTION = "Mag mijn hond mee naar de vergadering van de club?"


@dataclass
class RecordingNotifier:
    """A pioneers' group that only remembers what it was told."""

    opened: list[TicketCard] = field(default_factory=list)
    updated: list[TicketCard] = field(default_factory=list)
    reminded: list[TicketCard] = field(default_factory=list)

    async def ticket_opened(self, ticket: TicketCard) -> None:
        self.opened.append(ticket)

    async def ticket_updated(self, ticket: TicketCard) -> None:
        self.updated.append(ticket)

    async def reminder(self, ticket: TicketCard) -> None:
        self.reminded.append(ticket)


@pytest.fixture
def person(engine, db) -> ChatBot:
    return ChatBot(Helpline(engine, db), channel=Channel.SMS, address="+31600000011")


async def _state(person: ChatBot) -> Conversation:
    async with person.helpline.db.session() as session:
        row = (await session.execute(select(ConversationRow))).scalar_one()
        return Conversation.from_dict(row.state)


async def test_escalation_opens_a_ticket_with_context(person: ChatBot):
    reply = await person.say(QUESTION)
    number = person.last.ticket_number
    assert number is not None and f"vraagnummer {number}" in reply
    detail = await Tickets(person.helpline.db).get(number)
    card = detail.card
    assert card.status == TicketStatus.OPEN and card.channel is Channel.SMS
    assert card.question == QUESTION and card.display_name == "Test Persoon"
    assert card.masked_address == "+316••••••11" and "+31600000011" not in repr(card)
    assert card.transcript[-1]["text"] == QUESTION
    assert card.audience == "ambtenaar"


async def test_answer_is_stored_first_and_hands_the_conversation_back(person: ChatBot):
    await person.say(QUESTION)
    number = person.last.ticket_number
    tickets = Tickets(person.helpline.db)
    await tickets.claim(number, "Pionier Een")
    # While a pioneer has it, a real question is added to the ticket, not answered.
    reply = await person.say("wie betaalt de huur van het pand?")
    assert "Aangevuld" in reply and "HAR" not in reply
    assert (await _state(person)).state is State.WITH_PIONEER

    delivery_id = await tickets.answer(number, "Ja, honden zijn welkom.", "Pionier Een")
    detail = await tickets.get(number)
    assert detail.card.status == TicketStatus.ANSWERED and detail.card.answered_at
    assert [d.id for d in detail.deliveries] == [delivery_id]
    assert detail.deliveries[0].status is DeliveryStatus.PENDING
    assert detail.deliveries[0].text == (
        "Antwoord van Pionier Een (De Thuisgevers):\nJa, honden zijn welkom.")
    assert (await _state(person)).state is State.IDLE
    assert "HAR" in await person.say("wie betaalt de huur van het pand?")


async def test_close_hands_back_and_transitions_are_enforced(person: ChatBot):
    await person.say(QUESTION)
    number = person.last.ticket_number
    tickets = Tickets(person.helpline.db)
    await tickets.claim(number, "Pionier Een")
    with pytest.raises(TicketError, match="al opgepakt door Pionier Een"):
        await tickets.claim(number, "Pionier Twee")
    await tickets.close(number, "Pionier Een")
    assert (await _state(person)).state is State.IDLE
    with pytest.raises(TicketError):
        await tickets.answer(number, "te laat", "Pionier Een")
    with pytest.raises(TicketError):
        await tickets.close(number, "Pionier Een")
    with pytest.raises(TicketError, match="bestaat niet"):
        await tickets.get(9999)
    with pytest.raises(TicketError, match="leeg"):
        await tickets.answer(number, "  ", "Pionier Een")


async def test_listing_filters_by_status_and_channel(engine, db):
    helpline = Helpline(engine, db)
    sms = ChatBot(helpline, channel=Channel.SMS, address="+31600000012")
    wa = ChatBot(helpline, channel=Channel.WHATSAPP, address="whatsapp:+31600000013")
    await sms.say(QUESTION)
    await wa.say(QUESTION)
    tickets = Tickets(db)
    await tickets.claim(wa.last.ticket_number, "Pionier Een")
    everything = await tickets.list_tickets()
    assert [c.channel for c in everything] == [Channel.SMS, Channel.WHATSAPP]
    only_open = await tickets.list_tickets((TicketStatus.OPEN,))
    assert [c.number for c in only_open] == [sms.last.ticket_number]
    only_wa = await tickets.list_tickets(channel=Channel.WHATSAPP)
    assert [c.masked_address for c in only_wa] == ["whatsapp:+316••••••13"]


async def test_listeners_hear_about_opened_and_added_tickets(engine, db):
    heard: list[TicketEvents] = []

    async def listen(events: TicketEvents) -> None:
        heard.append(events)

    person = ChatBot(Helpline(engine, db, [listen]), channel=Channel.SMS,
                     address="+31600000014")
    await person.say(QUESTION)
    await person.say("het is een kleine hond")
    number = person.last.ticket_number
    assert heard == [TicketEvents(opened=(number,)), TicketEvents(added_to=number)]


async def test_reminder_after_four_business_hours_once_per_period(person: ChatBot):
    await person.say(QUESTION)
    async with person.helpline.db.session() as session:  # 11:00 on a Wednesday in Amsterdam
        await session.execute(update(Ticket).values(created_at=OFFICE_HOURS))
    notifier = RecordingNotifier()
    tickets = Tickets(person.helpline.db, notifier)
    hours, after = BusinessHours(), timedelta(hours=4)
    assert await tickets.remind(hours, after, OFFICE_HOURS + timedelta(hours=3)) == []
    number = person.last.ticket_number
    assert await tickets.remind(hours, after, OFFICE_HOURS + timedelta(hours=4, minutes=1)) == [
        number]
    assert await tickets.remind(hours, after, OFFICE_HOURS + timedelta(hours=5)) == []
    # 15:01 → 17:00 is 2 business hours, the next morning 09:00 → 11:01 makes 4.
    nxt = OFFICE_HOURS + timedelta(hours=24, minutes=2)
    assert await tickets.remind(hours, after, nxt) == [number]
    assert [c.number for c in notifier.reminded] == [number, number]
    await tickets.claim(number, "Pionier Een")
    assert await tickets.remind(hours, after, nxt + timedelta(days=7)) == []


async def test_stats_count_messages_tickets_and_time_to_answer(person: ChatBot):
    await person.say("wie betaalt de huur van het pand?")
    await person.say(QUESTION)
    tickets = Tickets(person.helpline.db)
    await tickets.answer(person.last.ticket_number, "Ja.", "Pionier Een")
    stats = await collect(person.helpline.db)
    assert stats.inbound_per_channel == {"sms": 2}
    assert stats.answered == 1 and stats.escalated == 1
    assert stats.tickets == {"answered": 1}
    assert stats.median_first_answer is not None
    assert stats.unanswered == [(QUESTION.lower(), 1)]
    text = stats.text()
    assert "sms" in text and "Doorgezet naar een pionier: 1" in text


async def test_answered_ticket_becomes_a_draft_that_is_never_served(
        person: ChatBot, tmp_path: Path):
    from tests.conftest import KNOWLEDGE

    await person.say(QUESTION)
    number = person.last.ticket_number
    tickets = Tickets(person.helpline.db)
    await tickets.answer(number, "Honden zijn welkom, aan de lijn.", "Pionier Een")
    detail = await tickets.get(number)
    entry = draft_entry(detail)
    assert entry["draft"] is True and entry["questions"] == [QUESTION]
    assert entry["answer"] == "Honden zijn welkom, aan de lijn."

    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    for path in KNOWLEDGE.glob("*.yaml"):
        (knowledge / path.name).write_text(path.read_text("utf-8"), "utf-8")
    path = write(knowledge, detail)
    assert path == knowledge / "suggestions" / f"{number}.yaml"
    served = load(knowledge)
    assert f"suggestie-{number}" not in served
    [found] = listing(knowledge)
    assert found.id == f"suggestie-{number}" and found.question == QUESTION
    # Only what an editor must still add keeps it from validating.
    assert all("questions" in p or "answer_en" in p for p in found.problems)


def test_mask_address():
    assert mask_address("+31600000099") == "+316••••••99"
    assert mask_address("whatsapp:+31600000099") == "whatsapp:+316••••••99"
    assert mask_address("123456789") == "12•••••89"


async def test_answer_for_erased_person_is_refused(person: ChatBot):
    await person.say(QUESTION)
    number = person.last.ticket_number
    await person.say("verwijder al mijn gegevens")
    await person.say("ja")
    with pytest.raises(TicketError, match="wissen"):
        await Tickets(person.helpline.db).answer(number, "hallo", "Pionier Een")
    async with person.helpline.db.session() as session:
        assert (await session.execute(select(Delivery))).first() is None


async def test_migration_0002_goes_down_and_up_again(db):
    from alembic import command
    from sqlalchemy import inspect
    from sqlalchemy.engine import Connection

    from bot.storage.migrate import alembic_config

    cfg = alembic_config(db.url)

    def migrate(connection: Connection, revision: str, up: bool) -> list[str]:
        cfg.attributes["connection"] = connection
        (command.upgrade if up else command.downgrade)(cfg, revision)
        return sorted(inspect(connection).get_table_names())

    async with db.engine.begin() as conn:
        tables = await conn.run_sync(migrate, "0001", False)
    assert "outbox" not in tables and "pioneers" not in tables and "tickets" in tables
    async with db.engine.begin() as conn:
        tables = await conn.run_sync(migrate, "head", True)
    assert {"outbox", "pioneers", "pioneer_sessions"} <= set(tables)


async def test_person_writing_while_the_pioneer_answers_both_succeed(engine, db):
    import asyncio

    helpline = Helpline(engine, db)
    tickets = Tickets(db)
    for i in range(4):
        person = ChatBot(helpline, channel=Channel.SMS, address=f"+316000000{80 + i}")
        await person.say(QUESTION)
        number = person.last.ticket_number
        act = (tickets.answer(number, "Ja.", "Pionier Een") if i % 2
               else tickets.close(number, "Pionier Een"))
        await asyncio.gather(person.say("het is een kleine hond"), act)
        assert (await tickets.get(number)).card.status in {TicketStatus.ANSWERED,
                                                           TicketStatus.CLOSED}
