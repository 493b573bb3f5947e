"""The database handle: an async engine and session factory for SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.storage import inline_sqlite


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the CLI, the inbox) work while `serve` writes; busy_timeout makes
    # a second process wait for the write lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """Owns the engine; `session()` gives one transaction.

    On SQLite the transactions of one process take turns (an asyncio lock): SQLite has one
    writer at a time, and pooled connections racing for its lock wait in its busy handler
    (sleeps of up to 100 ms) or fail outright when a reader's snapshot must become a
    writer, which under a burst of webhooks meant 503s and timeouts. Taking turns on the
    event loop costs nothing: the work is on one core either way. A session opened inside
    another by the same task does not wait for itself.
    """

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        options: dict[str, Any] = {"pool_pre_ping": not self.is_sqlite}
        path = make_url(url).database
        if self.is_sqlite and path and path != ":memory:" and not path.startswith("file:"):
            options["async_creator"] = inline_sqlite.creator(path)
        options.update(engine_options)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        task = asyncio.current_task()
        if not self.is_sqlite or task is None or self._holder is task:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._turn:
            self._holder = task
            try:
                async with self.sessions() as session, session.begin():
                    yield session
            finally:
                self._holder = None

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
