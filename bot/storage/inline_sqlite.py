"""aiosqlite's connection, run on the event loop's own thread.

aiosqlite hands every call (execute, fetch, cursor, close…) to a worker thread and back:
about 80 hand-offs for one webhook, each a thread wake-up and a GIL hand-over, which made
the SQLite store 10–15 ms a message under load while the statements themselves take
microseconds (WAL with synchronous=NORMAL: no fsync at commit). Running them inline
costs the loop a few microseconds per statement instead. What can still block the loop
is another process holding SQLite's write lock (the busy timeout; a CLI command's
transaction lasts milliseconds) and an occasional WAL checkpoint.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import aiosqlite


class InlineConnection(aiosqlite.Connection):
    """An `aiosqlite.Connection` whose calls run where they are awaited (no thread)."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


def creator(path: str) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect: a new inline connection."""

    async def connect() -> InlineConnection:
        return await InlineConnection(
            partial(sqlite3.connect, path, check_same_thread=False), iter_chunk_size=64)

    return connect
