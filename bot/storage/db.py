"""The database handle: an async engine and session factory for SQLite or PostgreSQL, and
`transaction()`, the lean way through for the hot path (one webhook's statements)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql import Executable

from bot.storage import inline_sqlite
from bot.storage.direct import Plan, is_direct, plan


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the CLI, the inbox) work while `serve` writes; busy_timeout makes
    # a second process wait for the write lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


class Rows(Protocol):
    """What a `Tx` statement gives back: SQLAlchemy's `Result`, or `DirectRows`."""

    @property
    def rowcount(self) -> int: ...

    def all(self) -> Sequence[Sequence[Any]]: ...

    def first(self) -> Sequence[Any] | None: ...

    def one(self) -> Sequence[Any]: ...

    def scalar_one(self) -> Any: ...


class Tx(Protocol):
    """One transaction for SQLAlchemy Core statements (see `Database.transaction`)."""

    dialect: str

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        ...


class SyncTx:
    """A transaction on a synchronous SQLite connection, run where it is awaited.
    Statements marked `bot.storage.direct.direct` go straight to the driver."""

    __slots__ = ("conn", "dialect", "plans", "raw")

    def __init__(self, conn: Connection, plans: dict[tuple[int, tuple[str, ...]], Plan | None]
                 ) -> None:
        self.conn = conn
        self.dialect = "sqlite"
        self.plans = plans
        self.raw: Any = None

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        if isinstance(params, Mapping | None) and is_direct(statement):
            given = params or {}
            key = (id(statement), tuple(given))
            try:
                found = self.plans[key]
            except KeyError:
                found = self.plans[key] = plan(statement, key[1], self.conn.dialect)
            if found is not None:
                if self.raw is None:
                    self.raw = self.conn.connection.driver_connection
                return found.run(self.raw, given)
        return self.conn.execute(statement, params)


class AsyncTx:
    """A transaction on an async connection (PostgreSQL, or an in-memory SQLite)."""

    __slots__ = ("conn", "dialect")

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        return await self.conn.execute(statement, params)


class Database:
    """Owns the engines; `session()` gives one ORM transaction, `transaction()` one for
    Core statements.

    On SQLite the transactions of one process take turns (an asyncio lock): SQLite has one
    writer at a time, and pooled connections racing for its lock wait in its busy handler
    (sleeps of up to 100 ms) or fail outright when a reader's snapshot must become a
    writer, which under a burst of webhooks meant 503s and timeouts. Taking turns on the
    event loop costs nothing: the work is on one core either way. A transaction opened
    inside another by the same task does not wait for itself.

    `transaction()` on an SQLite file runs on a plain synchronous connection (SQLAlchemy's
    pysqlite dialect) right on the loop: a statement there costs about a third of one
    through the async adapter, whose every cursor call is a greenlet switch and a
    coroutine (benchmarks/load.py). It blocks the loop only for as long as the statement
    runs, which is what the inline aiosqlite connection does too.
    """

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        options: dict[str, Any] = {"pool_pre_ping": not self.is_sqlite}
        path = parsed.database
        self._sqlite_file: str | None = None
        if self.is_sqlite and path and path != ":memory:" and not path.startswith("file:"):
            options["async_creator"] = inline_sqlite.creator(path)
            self._sqlite_file = path
        options.update(engine_options)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._sync_engine: Engine | None = None
        self._hot: Connection | None = None
        self._plans: dict[tuple[int, tuple[str, ...]], Plan | None] = {}
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def _taking_turns(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if not self.is_sqlite or task is None or self._holder is task:
            yield
            return
        async with self._turn:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._taking_turns(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One transaction for Core statements: committed when the block ends, rolled
        back when it raises."""
        async with self._taking_turns():
            if self._sqlite_file is not None:
                conn = self._hot_connection()
                try:
                    with conn.begin():
                        yield SyncTx(conn, self._plans)
                except BaseException:
                    if conn.invalidated or conn.closed:  # not to be used again
                        self._hot = None
                    raise
            else:
                async with self.engine.begin() as async_conn:
                    yield AsyncTx(async_conn)

    def _hot_connection(self) -> Connection:
        """The one synchronous connection the SQLite transactions of this process take
        turns on (kept open: no pool checkout, reset and return per message)."""
        if self._hot is None or self._hot.closed or self._hot.invalidated:
            if self._sync_engine is None:
                assert self._sqlite_file is not None
                self._sync_engine = create_engine(f"sqlite:///{self._sqlite_file}")
                event.listen(self._sync_engine, "connect", _sqlite_pragmas)
            self._hot = self._sync_engine.connect()
        return self._hot

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._hot is not None:
            self._hot.close()
            self._hot = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()
