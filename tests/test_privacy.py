"""A person's rights: export of their data, purge past retention (also as the daily job),
erasure on `vergeet` covering the outbox; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from bot.helpline import Helpline, TicketEvents
from bot.messages import Channel, utcnow
from bot.privacy import ERASED, export, purge
from bot.retention import LOCK_KEY, run_daily, run_once
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.models import (
    Contact,
    Delivery,
    DeliveryStatus,
    Message,
    Ticket,
    TicketStatus,
)
from bot.tickets import Tickets
from tests.conftest import ROOT, ChatBot
from tests.test_pioneer_telegram import Group, group  # noqa: F401

QUESTION = "Mag mijn hond mee naar de vergadering van de club?"
OLD = timedelta(days=200)


def person(helpline: Helpline, n: int) -> ChatBot:
    return ChatBot(helpline, channel=Channel.SMS, address=f"+316000000{n}")


async def count(db: Database, model: type, *where: object) -> int:
    async with db.session() as session:
        return int((await session.execute(
            select(func.count()).select_from(model).where(*where))).scalar_one())


async def make_old(db: Database, address: str) -> None:
    """Move everything of `address` back in time, past the retention period."""
    then = utcnow() - OLD
    async with db.session() as session:
        contact = (await session.execute(
            select(Contact).where(Contact.address == address))).scalar_one()
        contact.created_at = then
        contact.last_inbound_at = then
        await session.execute(update(Message).where(Message.contact_id == contact.id)
                              .values(created_at=then))
        await session.execute(update(Ticket).where(Ticket.contact_id == contact.id)
                              .values(created_at=then))
        await session.execute(update(Ticket).where(Ticket.contact_id == contact.id,
                                                   Ticket.closed_at.is_not(None))
                              .values(closed_at=then))
        await session.execute(update(Delivery).where(Delivery.contact_id == contact.id)
                              .values(created_at=then))


async def test_export_holds_messages_tickets_and_answers(engine, db):
    someone = person(Helpline(engine, db), 41)
    await someone.say("wie betaalt de huur van het pand?")
    await someone.say(QUESTION)
    number = someone.last.ticket_number
    await Tickets(db).answer(number, "Ja, dat mag.", "Pionier Een")
    await person(Helpline(engine, db), 42).say("hallo")

    data = await export(db, "+31600000041")
    json.dumps(data)  # plain JSON all the way down
    assert data["address"] == "+31600000041"
    [contact] = data["contacts"]
    assert contact["channel"] == "sms" and contact["display_name"] == "Test Persoon"
    texts = [m["text"] for m in contact["messages"]]
    assert "wie betaalt de huur van het pand?" in texts and QUESTION in texts
    assert any(m["direction"] == "out" for m in contact["messages"])
    assert [t["number"] for t in contact["tickets"]] == [number]
    assert contact["tickets"][0]["question"] == QUESTION
    assert "Ja, dat mag." in contact["answers"][0]["text"]
    assert "+31600000042" not in json.dumps(data)
    assert (await export(db, "+31600000049"))["contacts"] == []


async def test_export_of_a_number_covers_sms_and_whatsapp(engine, db):
    helpline = Helpline(engine, db)
    await person(helpline, 39).say("hallo via sms")
    await ChatBot(helpline, address="whatsapp:+31600000039").say("hallo via whatsapp")
    await ChatBot(helpline, channel=Channel.TELEGRAM, address="600000039").say("hallo")
    for asked in ("+31600000039", "whatsapp:+31600000039"):
        contacts = (await export(db, asked))["contacts"]
        assert sorted(c["channel"] for c in contacts) == ["sms", "whatsapp"]
    [telegram] = (await export(db, "600000039"))["contacts"]
    assert telegram["channel"] == "telegram"


async def test_purge_erases_quiet_closed_conversations_and_keeps_ticket_counts(engine, db):
    helpline = Helpline(engine, db)
    gone, recent, waiting = person(helpline, 43), person(helpline, 44), person(helpline, 45)
    await gone.say(QUESTION)
    closed = gone.last.ticket_number
    await Tickets(db).answer(closed, "Ja, dat mag.", "Pionier Een")
    await Tickets(db).close(closed, "Pionier Een")
    async with db.session() as session:  # delivered by the outbox worker
        await session.execute(update(Delivery).values(status=DeliveryStatus.SENT.value))
    await recent.say(QUESTION)
    await waiting.say(QUESTION)  # an open ticket: a pioneer still needs this
    await make_old(db, gone.address)
    await make_old(db, waiting.address)
    tickets_before = await count(db, Ticket)

    report = await purge(db, timedelta(days=180))

    assert report.contacts_erased == 1 and report.tickets_anonymised == 0
    assert await count(db, Contact, Contact.address == gone.address) == 0
    assert await count(db, Delivery) == 0
    assert await count(db, Ticket) == tickets_before
    async with db.session() as session:
        erased = await session.get(Ticket, closed)
        assert erased is not None and erased.question == ERASED and erased.transcript == []
        assert erased.status == TicketStatus.CLOSED.value and erased.contact_id is None
    for kept in (recent, waiting):
        assert (await export(db, kept.address))["contacts"][0]["messages"]
    assert QUESTION not in json.dumps(await export(db, gone.address))
    assert (await purge(db, timedelta(days=180))).contacts_erased == 0


async def test_vergeet_erases_the_outbox_too(engine, db):
    someone = person(Helpline(engine, db), 46)
    await someone.say(QUESTION)
    number = someone.last.ticket_number
    await Tickets(db).answer(number, "Ja, dat mag.", "Pionier Een")
    assert await count(db, Delivery) == 1
    await someone.say("verwijder al mijn gegevens")
    assert someone.last.decision.id == "vergeet"
    await someone.say("ja")
    assert await count(db, Delivery) == 0
    assert await count(db, Message) == 0
    assert (await export(db, someone.address))["contacts"] == []
    async with db.session() as session:
        ticket = await session.get(Ticket, number)
        assert ticket is not None and ticket.question == ERASED


async def test_vergeet_closes_the_tickets_and_tells_the_listeners(engine, db):
    heard: list[TicketEvents] = []

    async def listen(events: TicketEvents) -> None:
        heard.append(events)

    someone = person(Helpline(engine, db, [listen]), 38)
    await someone.say(QUESTION)
    number = someone.last.ticket_number
    await someone.say("verwijder al mijn gegevens")
    await someone.say("ja")
    assert heard[-1] == TicketEvents(erased=(number,))
    async with db.session() as session:
        ticket = await session.get(Ticket, number)
        assert ticket is not None and ticket.status == TicketStatus.CLOSED.value
        assert ticket.closed_at is not None
    assert await count(db, Ticket) == 1  # kept as an anonymous count


async def test_vergeet_wipes_the_card_in_the_pioneers_group(group: Group):  # noqa: F811
    number, card_id = await group.escalate()
    assert QUESTION in group.to_group()[-1].params["text"]
    await group.sms("verwijder al mijn gegevens")
    await group.sms("ja")
    wiped = await group.edits_of(card_id, "[gewist]")
    assert QUESTION not in wiped.params["text"] and "Test Persoon" not in wiped.params["text"]
    assert "+316" not in wiped.params["text"]
    assert (await group.ticket(number)).status == TicketStatus.CLOSED.value


async def test_retention_job_runs_once_at_a_time(engine, db):
    someone = person(Helpline(engine, db), 47)
    await someone.say("hallo")
    await make_old(db, someone.address)
    if not db.is_sqlite:
        # Another process purging right now holds the lock: this one skips its round.
        async with db.engine.connect() as other:
            await other.execute(text(f"SELECT pg_advisory_lock({LOCK_KEY})"))
            assert await run_once(db, 180) is None
            await other.execute(text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
    report = await run_once(db, 180)
    assert report is not None and report.contacts_erased == 1


async def test_the_daily_job_purges_in_the_background(engine, db):
    someone = person(Helpline(engine, db), 40)
    await someone.say("hallo")
    await make_old(db, someone.address)
    job = asyncio.create_task(run_daily(db, 180, first=timedelta(0), every=timedelta(hours=1)))
    try:
        for _ in range(200):
            if await count(db, Contact) == 0:
                break
            await asyncio.sleep(0.02)
        assert await count(db, Contact) == 0
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job


@pytest.fixture
async def sqlite_file(engine, tmp_path: Path) -> Path:
    path = tmp_path / "cli.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(database)
    await person(Helpline(engine, database), 48).say(QUESTION)
    await database.dispose()
    return path


def run_cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{path}",
           "KNOWLEDGE_DIR": str(ROOT / "knowledge")}
    return subprocess.run([sys.executable, "-m", "bot", "privacy", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_cli_export_and_purge(sqlite_file: Path):
    done = run_cli(sqlite_file, "export", "+31600000048")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["contacts"][0]["messages"][0]["text"] == QUESTION
    assert run_cli(sqlite_file, "export", "+31600000049").returncode == 1

    done = run_cli(sqlite_file, "purge", "--older-than", "180", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["contacts_erased"] == 0
    assert run_cli(sqlite_file, "purge", "--older-than", "-1").returncode == 2
