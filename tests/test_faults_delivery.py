"""Faults in the delivery of pioneer answers, with real processes: `python -m bot serve`
as a child process, answers stored with `python -m bot tickets answer`, the fake Twilio
REST and Telegram Bot API servers in this test process.

What the outbox promises across a crash (measured here, see `bot.outbox`):

- An answer is stored before it is sent, so a SIGKILL at any moment loses nothing: after a
  restart the row is delivered and recorded as `sent`, with one outbound message stored.
- A worker that dies mid-send leaves its row in `sending`. A restarted server does not take
  it over at once but only after the takeover timeout (`OutboxPolicy.stale_after`, 300 s;
  not a setting, so the tests age `claimed_at` in the database instead of waiting).
- Nothing is sent twice. The takeover does not repeat an attempt whose outcome it does not
  know: for SMS/WhatsApp it asks Twilio (the messages list) and records the message Twilio
  already took instead of sending it again, or sends it if Twilio has nothing; for Telegram,
  whose Bot API cannot say what a bot sent, it sends nothing and marks the answer
  `uncertain` on the ticket, for a pioneer to check and send again (`tickets retry`). A
  provider timeout is the same case without a crash: the request that timed out may have
  been taken, so the retry (after OUTBOX_SETTLE_SECONDS) asks first.

Provider errors: 5xx, timeouts and 429 are retried with backoff until they succeed (or are
marked `failed` after OUTBOX_MAX_ATTEMPTS, shown by `tickets show`); Twilio 21610 marks the
contact opted out and blocks the answer at once. The server answers /healthz 200 all along.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from bot.dialogue import DialogueEngine
from bot.helpline import Helpline
from bot.messages import Channel
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.models import Contact, Delivery, Direction, Message
from tests.conftest import KNOWLEDGE, ROOT, ChatBot
from tests.fakes.tcp_proxy import TcpProxy, free_port
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

QUESTION = "Mag mijn hond mee naar de vergadering van de club?"
ANSWER = "Ja, honden zijn welkom in de vergaderzaal."
SMS_NUMBER = "+31600000081"
TELEGRAM_CHAT = "700000081"
WEBHOOK_SECRET = "fault-delivery-secret"
BACKOFF = 0.3  # OUTBOX_BACKOFF_SECONDS: the first retry after 0.3 s, then 0.6 s, ...
POLL = 0.1  # OUTBOX_POLL_SECONDS
SETTLE = 1.0  # OUTBOX_SETTLE_SECONDS
MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(seconds=300)  # bot.outbox.OutboxPolicy.stale_after

T = TypeVar("T")


def _backends() -> list[object]:
    backends: list[object] = ["sqlite"]
    backends.append(pytest.param("postgresql", marks=pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL (TEST_DATABASE_URL)")))
    return backends


# ---- fakes with arrival times ---------------------------------------------------------


@dataclass
class TimedTwilio(FakeTwilio):
    """The fake Twilio REST API, noting when each message creation arrived."""

    arrived: list[float] = field(default_factory=list)
    looked: list[float] = field(default_factory=list)

    async def _create(self, request: web.Request) -> web.Response:
        self.arrived.append(time.monotonic())
        return await super()._create(request)

    async def _list(self, request: web.Request) -> web.Response:
        self.looked.append(time.monotonic())
        return await super()._list(request)


@dataclass
class TimedTelegram(FakeTelegram):
    """The fake Bot API, noting when each sendMessage arrived."""

    arrived: list[float] = field(default_factory=list)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == "sendMessage":
            self.arrived.append(time.monotonic())
        return await super()._handle(request)


class HoldingProxy(TcpProxy):
    """A TCP proxy to the fake Twilio that, while holding, accepts connections and never
    forwards them: a request stuck on its way, which the provider never sees (even later:
    held connections are dropped, not forwarded, on `release()`)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__(target_host, target_port)
        self.holding = True
        self.held: list[asyncio.StreamWriter] = []

    def release(self) -> None:
        self.holding = False
        for writer in self.held:
            writer.transport.abort()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.holding:
            self.held.append(writer)
            return
        await super()._client(reader, writer)


@pytest.fixture
async def twilio() -> AsyncIterator[TimedTwilio]:
    fake = TimedTwilio()
    await fake.start()
    yield fake
    fake.delay = 0
    await fake.close()


@pytest.fixture
async def telegram() -> AsyncIterator[TimedTelegram]:
    fake = TimedTelegram()
    await fake.start()
    yield fake
    await fake.close()


# ---- the database, the server and the CLI ---------------------------------------------


@pytest.fixture(params=_backends())
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database the server and the CLI processes share (a file for SQLite, a
    database of its own for PostgreSQL: a process cannot be given a schema)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}"
        db = Database(url)
        await upgrade(db)
        await db.dispose()
        yield url
        return
    admin_url = os.environ["TEST_DATABASE_URL"]
    name = f"delivery_{uuid.uuid4().hex[:10]}"
    admin = Database(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    await upgrade(db)
    await db.dispose()
    yield url
    async with admin.engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


def environment(database: str, port: int, twilio_api: str,
                telegram_api: str | None = None, settle: float = SETTLE) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "TELEGRAM_", "OUTBOX_"))}
    env.pop("METRICS_TOKEN", None)
    env.update({
        "DATABASE_URL": database, "HOST": "127.0.0.1", "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}", "KNOWLEDGE_DIR": str(KNOWLEDGE),
        "PYTHONPATH": str(ROOT), "THUISGEVERS_PIONEER": "Pionier Test",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": "+31970000000", "TWILIO_API_BASE_URL": twilio_api,
        "OUTBOX_BACKOFF_SECONDS": str(BACKOFF), "OUTBOX_POLL_SECONDS": str(POLL),
        "OUTBOX_MAX_ATTEMPTS": str(MAX_ATTEMPTS), "OUTBOX_SETTLE_SECONDS": str(settle),
    })
    if telegram_api is not None:
        env.update({"TELEGRAM_BOT_TOKEN": "123456:fault-test-token",
                    "TELEGRAM_API_BASE_URL": telegram_api,
                    "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET})
    return env


class Server:
    """`python -m bot serve` as a child process: started, SIGKILLed, started again; a
    watcher checks /healthz every 50 ms while it is meant to be up."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.base = env["PUBLIC_URL"]
        self.process: asyncio.subprocess.Process | None = None
        self.health: list[int] = []
        self.failures: list[str] = []  # why a poll got no answer, with its time
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        with self.log.open("a") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", cwd=self.log.parent, env=self.env,
                stdout=out, stderr=subprocess.STDOUT)
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                assert self.process.returncode is None, self.log.read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.base + "/healthz") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("server did not start:\n" + self.log.read_text())
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                sent = time.monotonic()
                try:
                    async with http.get(self.base + "/healthz") as response:
                        self.health.append(response.status)
                except (aiohttp.ClientError, TimeoutError) as error:
                    self.health.append(0)
                    self.failures.append(
                        f"{type(error).__name__}: {error} after {time.monotonic() - sent:.2f} s")
                await asyncio.sleep(0.05)

    async def _unwatch(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    def assert_healthy(self) -> None:
        """Up all along: every /healthz answer 200, the process still running."""
        assert self.process is not None and self.process.returncode is None, \
            self.log.read_text()
        assert self.health and set(self.health) == {200}, (self.health, self.failures)

    async def kill(self) -> None:
        await self._unwatch()
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        await self._unwatch()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], tmp_path: Path) -> AsyncIterator[Server]:
    server = Server(env, tmp_path / "server.log")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def cli(env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def ticket_for(engine: DialogueEngine, database: str, channel: Channel,
                     address: str) -> int:
    """A person's question that goes to the pioneers, handled by the helpline itself."""
    db = Database(database)
    try:
        person = ChatBot(Helpline(engine, db), channel=channel, address=address)
        await person.say(QUESTION)
        assert person.last is not None and person.last.ticket_number is not None
        return person.last.ticket_number
    finally:
        await db.dispose()


async def in_db(database: str, work: Callable[[Database], Awaitable[T]]) -> T:
    db = Database(database)
    try:
        return await work(db)
    finally:
        await db.dispose()


async def delivery(database: str) -> Delivery:
    async def one(db: Database) -> Delivery:
        async with db.session() as session:
            rows = (await session.execute(select(Delivery))).scalars().all()
            assert len(rows) == 1, rows
            return rows[0]
    return await in_db(database, one)


async def pioneer_messages(database: str) -> int:
    async def count(db: Database) -> int:
        async with db.session() as session:
            return int((await session.execute(select(func.count(Message.id)).where(
                Message.direction == Direction.OUT.value, Message.kind == "pioneer"))
            ).scalar_one())
    return await in_db(database, count)


async def age_claim(database: str) -> None:
    """Let the takeover timeout pass without waiting for it: the claim is made older."""
    async def age(db: Database) -> None:
        async with db.session() as session:
            row = (await session.execute(select(Delivery))).scalar_one()
            assert row.claimed_at is not None
            await session.execute(update(Delivery).where(Delivery.id == row.id).values(
                claimed_at=row.claimed_at - STALE_AFTER - timedelta(seconds=1)))
    await in_db(database, age)


async def until(check: Callable[[], Awaitable[bool]] | Callable[[], bool],
                within: float = 8.0) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def status_is(database: str, status: str) -> bool:
    return (await delivery(database)).status == status


def gaps(arrived: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(arrived)]


# ---- 1. SIGKILL during delivery -------------------------------------------------------


@pytest.mark.parametrize("reached", [False, True], ids=["before-provider", "at-provider"])
async def test_a_kill_during_delivery_loses_nothing_and_sends_nothing_twice(
        engine: DialogueEngine, database: str, twilio: TimedTwilio, tmp_path: Path,
        reached: bool) -> None:
    """Killed while the request is on its way (`reached=False`: held in a proxy, the
    provider never sees it) or after Twilio took the message (`reached=True`: taken, the
    answer not yet given). After a restart, and the takeover timeout only, Twilio is asked:
    the answer is recorded as sent (taken) or sent now (not taken); once either way."""
    number = await ticket_for(engine, database, Channel.SMS, SMS_NUMBER)
    assert twilio.server is not None and twilio.server.port is not None
    proxy = HoldingProxy("127.0.0.1", twilio.server.port)
    await proxy.restore()
    env = environment(database, free_port(), f"http://127.0.0.1:{proxy.port}")
    if reached:
        proxy.release()  # straight through; the fake keeps the request 5 s unanswered
        twilio.delay = 5.0
    server = Server(env, tmp_path / "server.log")
    await server.start()
    try:
        await cli(env, "tickets", "answer", str(number), ANSWER)
        if reached:
            await until(lambda: len(twilio.created) == 1)
        else:
            await until(lambda: bool(proxy.held))
        assert await status_is(database, "sending")
        await server.kill()
        proxy.release()
        twilio.delay = 0

        await server.start()
        # The row of the dead worker is not taken over before the timeout.
        await asyncio.sleep(10 * POLL)
        row = await delivery(database)
        assert row.status == "sending" and row.attempts == 1
        assert len(twilio.created) == (1 if reached else 0)

        await age_claim(database)
        await until(lambda: status_is(database, "sent"))
        server.assert_healthy()
    finally:
        await server.stop()
        await proxy.cut()
    row = await delivery(database)
    assert row.attempts == 2 and row.sent_at is not None and row.uncertain_since is None
    assert await pioneer_messages(database) == 1  # recorded as delivered once
    # What Twilio took: the answer exactly once, whether or not the dead worker's got in.
    [taken] = twilio.taken(SMS_NUMBER)
    assert ANSWER in taken and row.provider_id == twilio.messages[0]["sid"]
    assert len(twilio.created) == 1  # no second request either, once Twilio had it
    assert len(twilio.lookups) == 1 and twilio.lookups[0]["To"] == SMS_NUMBER
    shown = await cli(env, "tickets", "show", str(number))
    assert "verstuurd (2 poging(en))" in shown


async def test_a_kill_during_a_telegram_delivery_is_shown_uncertain_not_resent(
        engine: DialogueEngine, database: str, twilio: TimedTwilio, telegram: TimedTelegram,
        tmp_path: Path) -> None:
    """Killed while the Bot API holds the sendMessage (received, not yet answered: it may
    have gone out). Telegram cannot be asked, so the takeover sends nothing: the answer is
    `uncertain` on the ticket until a pioneer, having checked, sends it again."""
    number = await ticket_for(engine, database, Channel.TELEGRAM, TELEGRAM_CHAT)
    env = environment(database, free_port(), twilio.base_url, telegram.base_url)
    server = Server(env, tmp_path / "server.log")
    await server.start()
    try:
        telegram.delay = 5.0
        await cli(env, "tickets", "answer", str(number), ANSWER)
        await until(lambda: len(telegram.sent) == 1)
        assert await status_is(database, "sending")
        await server.kill()
        telegram.delay = 0

        await server.start()
        await asyncio.sleep(10 * POLL)
        assert await status_is(database, "sending")
        await age_claim(database)
        await until(lambda: status_is(database, "uncertain"))
        await asyncio.sleep(10 * POLL)
        assert len(telegram.sent) == 1  # not repeated by itself
        shown = await cli(env, "tickets", "show", str(number))
        assert "onzeker (2 poging(en))" in shown and "Bezorging onzeker" in shown
        assert await pioneer_messages(database) == 0

        # The pioneer checked with the person: it did not arrive. Sent once more, on request.
        assert "opnieuw uit" in await cli(env, "tickets", "retry", str(number))
        await until(lambda: status_is(database, "sent"))
        server.assert_healthy()
    finally:
        await server.stop()
    assert len(telegram.sent) == 2 and all(ANSWER in t for t in telegram.sent_texts())
    assert await pioneer_messages(database) == 1


# ---- 2. provider errors, timeouts and 429 ---------------------------------------------


async def test_twilio_500_is_retried_with_backoff_and_gives_up_visibly(
        engine: DialogueEngine, database: str, twilio: TimedTwilio, tmp_path: Path) -> None:
    first = await ticket_for(engine, database, Channel.SMS, SMS_NUMBER)
    second = await ticket_for(engine, database, Channel.SMS, "+31600000082")
    env = environment(database, free_port(), twilio.base_url)
    async with serving(env, tmp_path) as server:
        twilio.fail(20500, 500, "Internal Server Error", times=2)
        await cli(env, "tickets", "answer", str(first), ANSWER)
        await until(lambda: len(twilio.created) == 3)
        spacing = gaps(twilio.arrived)
        assert spacing[0] >= BACKOFF and spacing[1] >= 2 * BACKOFF, spacing
        shown = await cli(env, "tickets", "show", str(first))
        assert "verstuurd (3 poging(en))" in shown

        # Failing for good: after OUTBOX_MAX_ATTEMPTS the answer is marked failed.
        twilio.fail(20500, 500, "Internal Server Error", times=MAX_ATTEMPTS)
        await cli(env, "tickets", "answer", str(second), ANSWER)
        await until(lambda: len(twilio.created) == 3 + MAX_ATTEMPTS)
        await asyncio.sleep(5 * POLL)
        shown = await cli(env, "tickets", "show", str(second))
        assert f"mislukt ({MAX_ATTEMPTS} poging(en))" in shown
        assert f"na {MAX_ATTEMPTS} pogingen opgegeven" in shown
        server.assert_healthy()
    assert twilio.bodies("+31600000082") == [twilio.bodies()[-1]] * MAX_ATTEMPTS
    assert len(twilio.created) == 3 + MAX_ATTEMPTS


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_twilio_timeout_is_retried(
        engine: DialogueEngine, database: str, twilio: TimedTwilio, tmp_path: Path) -> None:
    """The client gives up after 10 s (handlers.twilio_sender.REQUEST_TIMEOUT; aiohttp
    rounds timeouts of 5 s and more up to the next whole second of its clock, so up to
    11 s). Twilio took the message all the same (its answer came too late), as it may: the
    retry waits OUTBOX_SETTLE_SECONDS from the attempt's start, asks Twilio, finds it and
    records it without sending it again."""
    number = await ticket_for(engine, database, Channel.SMS, SMS_NUMBER)
    env = environment(database, free_port(), twilio.base_url, settle=12.0)
    async with serving(env, tmp_path) as server:
        twilio.delay = 11.2
        await cli(env, "tickets", "answer", str(number), ANSWER)
        await until(lambda: len(twilio.created) == 1)
        twilio.delay = 0
        await until(lambda: status_is(database, "sent"), within=16)
        server.assert_healthy()
    row = await delivery(database)
    assert row.attempts == 2 and row.error_code is None
    assert row.provider_id == twilio.messages[0]["sid"]
    assert len(twilio.created) == 1 and twilio.taken(SMS_NUMBER) == twilio.bodies(SMS_NUMBER)
    [looked] = twilio.looked
    assert looked - twilio.arrived[0] >= 12.0 - 0.5  # settled (claimed just before arrival)
    assert await pioneer_messages(database) == 1


# Opting out and flood waits do not depend on the database (the outbox's claims do, and
# run on both above): SQLite only, to keep the file short.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_telegram_429_waits_for_retry_after_then_delivers(
        engine: DialogueEngine, database: str, twilio: TimedTwilio, telegram: TimedTelegram,
        tmp_path: Path) -> None:
    number = await ticket_for(engine, database, Channel.TELEGRAM, TELEGRAM_CHAT)
    env = environment(database, free_port(), twilio.base_url, telegram.base_url)
    async with serving(env, tmp_path) as server:
        telegram.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1,
                      times=2)
        await cli(env, "tickets", "answer", str(number), ANSWER)
        await until(lambda: status_is(database, "sent"))
        server.assert_healthy()
    sent = telegram.sent_texts(TELEGRAM_CHAT)
    assert len(sent) == 3 and all(ANSWER in t for t in sent)
    # The sender waits retry_after itself once, then the outbox retries after its backoff.
    spacing = gaps(telegram.arrived)
    assert spacing[0] >= 1.0 and spacing[1] >= BACKOFF, spacing
    row = await delivery(database)
    assert row.attempts == 2
    assert await pioneer_messages(database) == 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_twilio_21610_opts_the_contact_out_and_nothing_more_is_sent(
        engine: DialogueEngine, database: str, twilio: TimedTwilio, tmp_path: Path) -> None:
    number = await ticket_for(engine, database, Channel.SMS, SMS_NUMBER)
    env = environment(database, free_port(), twilio.base_url)
    async with serving(env, tmp_path) as server:
        twilio.fail(21610, 400)
        await cli(env, "tickets", "answer", str(number), ANSWER)
        await until(lambda: status_is(database, "blocked"))
        # A second answer to the same person is blocked before it reaches Twilio.
        await cli(env, "tickets", "answer", str(number), "Nog een aanvulling.")
        await asyncio.sleep(10 * POLL)
        shown = await cli(env, "tickets", "show", str(number))
        server.assert_healthy()
    assert len(twilio.created) == 1
    assert shown.count("tegengehouden") == 2 and "afgemeld" in shown

    async def opted_out(db: Database) -> bool:
        async with db.session() as session:
            return bool((await session.execute(select(Contact.opted_out).where(
                Contact.address == SMS_NUMBER))).scalar_one())
    assert await in_db(database, opted_out)
    assert await pioneer_messages(database) == 0
