"""Shared fixtures: the real knowledge base, real databases (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set), and a conversation helper in the style of errbot's testbot."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.dialogue import DialogueEngine
from bot.helpline import Handled, Helpline
from bot.knowledge import KnowledgeBase, load
from bot.messages import Channel, InboundMessage, OutboundMessage
from bot.storage.db import Database
from bot.storage.migrate import upgrade

pytest_plugins = ("tests.fakes.fixtures",)

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
SHARED = ROOT.parent / "shared"
# A weekday morning in Amsterdam: pioneers are at work.
OFFICE_HOURS = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CI") and not os.environ.get("TEST_DATABASE_URL"):
        raise pytest.UsageError("CI must set TEST_DATABASE_URL: storage tests may not skip there")


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load(KNOWLEDGE)


@pytest.fixture(scope="session")
def engine(kb: KnowledgeBase) -> DialogueEngine:
    return DialogueEngine(kb)


def _backends() -> list[object]:
    backends: list[object] = ["sqlite"]
    if os.environ.get("TEST_DATABASE_URL"):
        backends.append("postgresql")
    else:
        backends.append(pytest.param("postgresql", marks=pytest.mark.skip(
            reason="TEST_DATABASE_URL not set")))
    return backends


@pytest.fixture(params=_backends())
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database; PostgreSQL gets a schema of its own per test."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await upgrade(database)
        yield database
        await database.dispose()
        return
    async with postgres_schema() as database:
        yield database


class postgres_schema:
    """A fresh schema on TEST_DATABASE_URL, migrated, dropped afterwards."""

    def __init__(self) -> None:
        self.url = os.environ["TEST_DATABASE_URL"]
        self.schema = f"t_{uuid.uuid4().hex[:12]}"

    async def __aenter__(self) -> Database:
        from sqlalchemy import text

        admin = Database(self.url)
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        await admin.dispose()
        self.db = Database(self.url, connect_args={
            "server_settings": {"search_path": self.schema}})
        await upgrade(self.db)
        return self.db

    async def __aexit__(self, *exc: object) -> None:
        from sqlalchemy import text

        await self.db.dispose()
        admin = Database(self.url)
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        await admin.dispose()


@dataclass
class ChatBot:
    """Talk to the whole helpline (engine and storage) as one person on one channel."""

    helpline: Helpline
    channel: Channel = Channel.WHATSAPP
    address: str = "whatsapp:+31600000001"
    name: str | None = "Test Persoon"
    last: Handled | None = None
    _counter: int = field(default=0)

    async def send(self, text: str, **kwargs: object) -> Handled:
        self._counter += 1
        message = InboundMessage(
            self.channel, self.address, text, self.name,
            provider_id=f"test-{self.address}-{self._counter}",
            received_at=OFFICE_HOURS, **kwargs,  # type: ignore[arg-type]
        )
        self.last = await self.helpline.handle(message)
        return self.last

    async def say(self, text: str) -> str:
        handled = await self.send(text)
        return "\n".join(m.text for m in handled.replies)

    @property
    def replies(self) -> tuple[OutboundMessage, ...]:
        return self.last.replies if self.last else ()


@pytest.fixture
async def bot(engine: DialogueEngine, tmp_path: Path) -> AsyncIterator[ChatBot]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await upgrade(database)
    yield ChatBot(Helpline(engine, database))
    await database.dispose()
