"""The inbound path's statements run straight on the sqlite3 driver (bot.storage.direct):
same rows and types as through SQLAlchemy, in the same transaction, rolled back with it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.dialogue import DialogueEngine
from bot.helpline import Helpline
from bot.messages import Channel, InboundMessage
from bot.ratelimit import RateLimit
from bot.storage import repository as repo
from bot.storage.db import Database, SyncTx
from bot.storage.direct import DirectRows, is_direct
from bot.storage.migrate import upgrade
from bot.storage.models import Contact, Message
from tests.conftest import OFFICE_HOURS


@pytest.fixture
async def sqlite(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'direct.db'}")
    await upgrade(database)
    yield database  # type: ignore[misc]
    await database.dispose()


async def test_every_statement_of_a_message_runs_directly(
        engine: DialogueEngine, sqlite: Database) -> None:
    helpline = Helpline(engine, sqlite, rate_limit=RateLimit(2))
    texts = ["hallo", "wat kost het?", "hallo", "hallo"]  # the third is over the limit
    for i, text in enumerate(texts):
        await helpline.handle(InboundMessage(Channel.SMS, "+31600000071", text,
                                             provider_id=f"SM-direct-{i}"))
    retry = await helpline.handle(InboundMessage(Channel.SMS, "+31600000071", "hallo",
                                                 provider_id="SM-direct-1"))
    assert retry.duplicate and retry.replies
    plans = sqlite._plans
    assert len(plans) >= 10
    assert all(p is not None for p in plans.values()), [k for k, p in plans.items() if not p]


async def test_direct_rows_are_what_sqlalchemy_gives(sqlite: Database) -> None:
    """The same statement through SQLAlchemy and directly: equal values, equal types."""
    received = datetime(2026, 11, 18, 10, 0, 0, 123456, tzinfo=UTC)
    s = repo.statements("sqlite")
    assert is_direct(s.contact) and is_direct(s.conversation)
    async with sqlite.transaction() as tx:
        assert isinstance(tx, SyncTx)
        contact = await repo.upsert_contact(tx, Channel.SMS, "+31600000072", "Naam",
                                            received)
        await repo.touch_contact(tx, contact.id, last_inbound_at=received, opted_out=True)
        await repo.save_conversation(tx, contact.id, {"state": "idle", "options": ["a"]},
                                     received)
        inbound = await repo.insert_inbound(tx, contact.id, Channel.SMS, "vraag", "SM-72",
                                            ["https://example.test/a.jpg (image/jpeg)"],
                                            received)
        assert inbound is not None
        for statement, params in (
                (s.contact, {"channel": "sms", "address": "+31600000072",
                             "display_name": None, "opted_out": False,
                             "created_at": received}),
                (s.conversation, {"b_contact_id": contact.id}),
                (s.by_provider_id, {"b_channel": "sms", "b_provider_id": "SM-72"})):
            direct = await tx.execute(statement, params)
            assert isinstance(direct, DirectRows)
            through = tx.conn.execute(statement, params).all()
            assert [tuple(r) for r in through] == direct.all()
            assert [[type(v) for v in r] for r in through] == [
                [type(v) for v in r] for r in direct.all()]
        row = (await tx.execute(s.contact, {
            "channel": "sms", "address": "+31600000072", "display_name": None,
            "opted_out": False, "created_at": received})).one()
        assert row[1] is True and row[2] == received and row[2].tzinfo is not None
        assert await repo.conversation_state(tx, contact.id) == {"state": "idle",
                                                                  "options": ["a"]}
    async with sqlite.session() as session:
        stored = (await session.execute(select(Message))).scalar_one()
        assert stored.media == ["https://example.test/a.jpg (image/jpeg)"]
        assert stored.created_at == received
        person = (await session.execute(select(Contact))).scalar_one()
        assert person.display_name == "Naam" and person.opted_out


async def test_a_failed_transaction_leaves_nothing_and_the_next_one_works(
        sqlite: Database) -> None:
    with pytest.raises(RuntimeError):
        async with sqlite.transaction() as tx:
            contact = await repo.upsert_contact(tx, Channel.SMS, "+31600000073", None,
                                                OFFICE_HOURS)
            await repo.insert_inbound(tx, contact.id, Channel.SMS, "weg", "SM-73", (),
                                      OFFICE_HOURS)
            raise RuntimeError("the handler failed")
    async with sqlite.transaction() as tx:
        contact = await repo.upsert_contact(tx, Channel.SMS, "+31600000074", None,
                                            OFFICE_HOURS)
        await repo.insert_inbound(tx, contact.id, Channel.SMS, "blijft", "SM-74", (),
                                  OFFICE_HOURS)
    async with sqlite.session() as session:
        texts = (await session.execute(select(Message.text))).scalars().all()
        contacts = (await session.execute(select(func.count(Contact.id)))).scalar_one()
    assert texts == ["blijft"] and contacts == 1
