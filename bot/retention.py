"""The daily retention job: `bot.privacy.purge` with RETENTION_DAYS, owned by the app.

Several server processes may share one PostgreSQL database; the purge runs under a
transaction-scoped advisory lock (`pg_try_advisory_xact_lock`), so one process purges at a
time and the others skip that round. The purge is idempotent, so a process that comes
later in the day finds nothing left to do. SQLite serves one process: no lock needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import func, select

from bot.privacy import PurgeReport, purge_in
from bot.storage.db import Database
from bot.web.keys import CORE, SETTINGS

log = logging.getLogger(__name__)

# Any fixed 64-bit number works; this one spells "thuisgevers retention" to whoever asks.
LOCK_KEY = 0x7468_7573_7265_7400
FIRST_RUN_AFTER = timedelta(minutes=1)
EVERY = timedelta(days=1)


async def run_once(db: Database, days: int, now: datetime | None = None) -> PurgeReport | None:
    """One purge; None when another process holds the lock (it is purging right now)."""
    async with db.session() as session:
        if not db.is_sqlite:
            got = (await session.execute(select(func.pg_try_advisory_xact_lock(LOCK_KEY)))).scalar()
            if not got:
                return None
        return await purge_in(session, timedelta(days=days), now)


async def run_daily(db: Database, days: int, *, first: timedelta = FIRST_RUN_AFTER,
                    every: timedelta = EVERY) -> None:
    """Purge shortly after start, then once a day; a failed round is retried the next day."""
    await asyncio.sleep(first.total_seconds())
    while True:
        try:
            report = await run_once(db, days)
            if report is None:
                log.info("retention: another process is purging; skipped")
            else:
                log.info("retention: %s", report.text())
        except Exception:
            log.exception("retention: purge failed")
        await asyncio.sleep(every.total_seconds())


def setup(app: web.Application) -> None:
    """Own the daily job as a background task of the app (RETENTION_DAYS <= 0: off)."""

    async def job(app: web.Application) -> AsyncIterator[None]:
        days = app[SETTINGS].retention_days
        task = asyncio.create_task(run_daily(app[CORE].db, days)) if days > 0 else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(job)
