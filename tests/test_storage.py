"""Storage on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL."""

import asyncio

from sqlalchemy import func, select

from bot.helpline import Helpline
from bot.messages import Channel, InboundMessage
from bot.storage import repository as repo
from bot.storage.models import Contact, Message, Ticket


async def count(db, model) -> int:
    async with db.session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_contact_is_created_once(db):
    async with db.session() as session:
        a = await repo.contact_for(session, Channel.SMS, "+31600000010", "A")
    async with db.session() as session:
        b = await repo.contact_for(session, Channel.SMS, "+31600000010")
    assert a.id == b.id
    assert await count(db, Contact) == 1


async def test_provider_id_is_unique_per_channel(db, engine):
    helpline = Helpline(engine, db)
    message = InboundMessage(Channel.SMS, "+31600000011", "wie betaalt de huur van het pand?",
                             provider_id="SM123")
    first = await helpline.handle(message)
    again = await helpline.handle(message)
    assert not first.duplicate and again.duplicate
    assert [m.text for m in again.replies] == [m.text for m in first.replies]
    assert await count(db, Message) == 2  # one in, one out


async def test_concurrent_retries_are_processed_once(db, engine):
    helpline = Helpline(engine, db)
    message = InboundMessage(Channel.SMS, "+31600000012", "ik wil een mens spreken",
                             provider_id="SM-race")
    results = await asyncio.gather(*(helpline.handle(message) for _ in range(5)),
                                   return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)]
    assert sum(not r.duplicate for r in results) == 1
    assert await count(db, Ticket) == 1


async def test_escalation_stores_ticket_with_transcript(db, engine):
    helpline = Helpline(engine, db)
    await helpline.handle(InboundMessage(Channel.WHATSAPP, "whatsapp:+31600000013", "hallo",
                                         provider_id="w1"))
    handled = await helpline.handle(InboundMessage(
        Channel.WHATSAPP, "whatsapp:+31600000013", "ik wil een mens spreken", provider_id="w2"))
    assert handled.ticket_number is not None
    async with db.session() as session:
        ticket = await session.get(Ticket, handled.ticket_number)
        assert ticket is not None and ticket.status == "open" and ticket.channel == "whatsapp"
        assert [line["text"] for line in ticket.transcript][:1] == ["hallo"]


async def test_erasure_keeps_anonymous_ticket(db, engine):
    helpline = Helpline(engine, db)
    address = "+31600000014"
    await helpline.handle(InboundMessage(Channel.SMS, address, "ik wil een mens spreken",
                                         provider_id="e1"))
    async with db.session() as session:
        contact = await repo.find_contact(session, Channel.SMS, address)
        assert contact is not None
        await repo.erase_contact(session, contact)
    assert await count(db, Contact) == 0 and await count(db, Message) == 0
    async with db.session() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        assert ticket.question == "[gewist]" and ticket.contact_id is None


async def test_times_come_back_timezone_aware(db):
    async with db.session() as session:
        contact = await repo.contact_for(session, Channel.SMS, "+31600000015")
    async with db.session() as session:
        again = await session.get(Contact, contact.id)
        assert again is not None and again.created_at.tzinfo is not None
