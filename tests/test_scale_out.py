"""Scale-out on PostgreSQL: two real `python -m bot serve` processes on one database take
interleaved Twilio webhooks (every message sent to one process and its retry to the other)
without duplicates or lost messages; pioneer answers stored from the terminal are delivered
once by the two servers' outbox workers; reminders and the retention purge run once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.conversation import Conversation
from bot.hours import BusinessHours
from bot.ports import TicketCard
from bot.retention import LOCK_KEY, run_once
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.models import ConversationRow, Direction, Message, Ticket, TicketStatus
from bot.tickets import Tickets
from tests.conftest import OFFICE_HOURS, postgres_schema
from tests.fakes.payloads import twilio_form, twilio_signature
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "http://helpline.test"
SENDERS = 5
MESSAGES = 20
pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                                reason="TEST_DATABASE_URL not set (PostgreSQL only)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def autocommit(url: str, statement: str) -> None:
    admin = Database(url)
    try:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A database of its own (a server process cannot be given a schema through the URL),
    migrated, dropped afterwards."""
    admin_url = os.environ["TEST_DATABASE_URL"]
    name = f"t_{uuid.uuid4().hex[:12]}"
    await autocommit(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        db = Database(url)
        await upgrade(db)  # what `python -m bot db upgrade` runs (the Procfile's release:)
        await db.dispose()
        yield url
    finally:
        await autocommit(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(url: str, twilio_api: str, port: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_"))}
    env.update(DATABASE_URL=url, HOST="127.0.0.1", PUBLIC_URL=PUBLIC_URL,
               TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
               TWILIO_SMS_FROM="+31970000000", TWILIO_API_BASE_URL=twilio_api,
               RATE_LIMIT_PER_MINUTE="1000", OUTBOX_POLL_SECONDS="0.2", OUTBOX_BACKOFF_SECONDS="0.2",
               KNOWLEDGE_DIR=str(ROOT / "knowledge"))
    if port is not None:
        env["PORT"] = str(port)
    return env


async def run_cli(url: str, twilio_api: str, *args: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=environment(url, twilio_api), cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await proc.wait()


@contextlib.asynccontextmanager
async def servers(url: str, twilio_api: str, count: int, log_dir: Path) -> AsyncIterator[
        list[int]]:
    """`count` serve processes on one database; yields their ports once all are healthy."""
    ports = [free_port() for _ in range(count)]
    procs = []
    for port in ports:
        with (log_dir / f"serve-{port}.log").open("wb") as log:
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", env=environment(url, twilio_api, port),
                cwd=ROOT, stdout=log, stderr=log))
    try:
        async with aiohttp.ClientSession() as session:
            for port, proc in zip(ports, procs, strict=True):
                for _ in range(300):
                    assert proc.returncode is None, (log_dir / f"serve-{port}.log").read_text()
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.1)
                else:
                    pytest.fail(f"server on port {port} did not start")
        yield ports
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def questions() -> Iterator[str]:
    """Dev-set questions, in scope and out of scope (these open tickets), shuffled."""
    lines = (ROOT / "tests" / "data" / "dev.jsonl").read_text("utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    random.Random(6).shuffle(texts)
    while True:
        yield from texts


@dataclass
class Webhooks:
    """Signed Twilio SMS webhooks posted to the servers' real ports."""

    session: aiohttp.ClientSession
    statuses: list[int] = field(default_factory=list)
    bodies: dict[str, list[str]] = field(default_factory=dict)

    async def post(self, port: int, form: dict[str, str]) -> None:
        signature = twilio_signature(AUTH_TOKEN, PUBLIC_URL + "/webhooks/twilio", form)
        async with self.session.post(
            f"http://127.0.0.1:{port}/webhooks/twilio", data=urlencode(form),
            headers={"X-Twilio-Signature": signature,
                     "Content-Type": "application/x-www-form-urlencoded"},
        ) as response:
            self.statuses.append(response.status)
            self.bodies.setdefault(form["MessageSid"], []).append(await response.text())


async def person(hooks: Webhooks, ports: list[int], sender: int, texts: list[str]) -> None:
    """One person's messages in order; each one and its retry at once, to both servers."""
    for k, body in enumerate(texts):
        form = twilio_form("sms", From=f"+316000000{sender:02d}", Body=body,
                           MessageSid=f"SM{sender:02d}{k:030d}")
        first, retry = (ports[0], ports[1]) if (sender + k) % 2 else (ports[1], ports[0])
        await asyncio.gather(hooks.post(first, form), hooks.post(retry, form))


@pytest.mark.timeout(90)
async def test_two_servers_take_interleaved_webhooks_and_deliver_answers_once(
        database_url: str, fake_twilio: FakeTwilio, tmp_path: Path) -> None:
    stream = questions()
    plan = {s: [next(stream) for _ in range(MESSAGES)] for s in range(10, 10 + SENDERS)}
    async with servers(database_url, fake_twilio.base_url, 2, tmp_path) as ports:
        async with aiohttp.ClientSession() as session:
            hooks = Webhooks(session)
            await asyncio.gather(*(person(hooks, ports, s, texts) for s, texts in plan.items()))
        assert len(hooks.statuses) == 2 * SENDERS * MESSAGES
        assert set(hooks.statuses) == {200}, Counter(hooks.statuses)
        # The retry got the same stored replies as the first delivery.
        assert all(len(set(pair)) == 1 for pair in hooks.bodies.values())

        db = Database(database_url)
        try:
            async with db.session() as s:
                inbound = (await s.execute(select(Message).where(
                    Message.direction == Direction.IN.value))).scalars().all()
                replies = Counter((await s.execute(select(Message.in_reply_to).where(
                    Message.direction == Direction.OUT.value))).scalars())
                tickets = (await s.execute(select(Ticket))).scalars().all()
                conversations = (await s.execute(select(ConversationRow))).scalars().all()
            stored = Counter(m.provider_id for m in inbound)
            assert set(stored) == set(hooks.bodies) and set(stored.values()) == {1}
            assert all(replies[m.id] == 1 for m in inbound), "one reply per message"
            # Per person: one conversation, a readable state, and at most one ticket
            # waiting at a time; every escalated message points at its person's ticket.
            assert len(conversations) == len({m.contact_id for m in inbound}) == SENDERS
            for row in conversations:
                Conversation.from_dict(row.state)
            waiting = Counter(t.contact_id for t in tickets if t.status == TicketStatus.OPEN.value)
            assert tickets and set(waiting.values()) == {1}
            owners = {t.id: t.contact_id for t in tickets}
            assert all(owners[m.ticket_id] == m.contact_id for m in inbound if m.ticket_id)

            # Pioneers answer every ticket while both servers run, the first from the
            # terminal (a third process; each start costs seconds, so the others are
            # stored from here the same way): the two outbox workers deliver each answer
            # exactly once.
            first, *others = tickets
            stored = await asyncio.gather(
                run_cli(database_url, fake_twilio.base_url, "tickets", "answer", str(first.id),
                        f"Antwoord op vraag {first.id}."),
                *(Tickets(db).answer(t.id, f"Antwoord op vraag {t.id}.", "Test Pionier")
                  for t in others))
            assert stored[0] == 0
            expected = {f"Antwoord op vraag {t.id}." for t in tickets}

            def delivered() -> Counter[str]:
                return Counter(a for b in fake_twilio.bodies() for a in expected if a in b)

            for _ in range(150):
                if set(delivered()) == expected:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # time for a second, wrong, delivery to show up
            assert delivered() == Counter(expected)
        finally:
            await db.dispose()


@dataclass
class Reminders:
    reminded: list[int] = field(default_factory=list)

    async def ticket_opened(self, ticket: TicketCard) -> None:
        pass

    async def ticket_updated(self, ticket: TicketCard) -> None:
        pass

    async def reminder(self, ticket: TicketCard) -> None:
        self.reminded.append(ticket.number)


async def test_reminders_go_out_once_when_two_servers_check_at_once() -> None:
    async with postgres_schema() as db:
        async with db.session() as s:
            s.add_all([Ticket(channel="sms", status=TicketStatus.OPEN.value, question="vraag",
                              reason="test", audience="volunteer", language="nl",
                              transcript=[], candidates=[],
                              created_at=OFFICE_HOURS - timedelta(days=3),
                              updated_at=OFFICE_HOURS - timedelta(days=3))
                       for _ in range(6)])
        notifier = Reminders()
        hours = BusinessHours()
        # Four workers on one pool: four connections checking at the same moment.
        workers = [Tickets(db, notifier) for _ in range(4)]
        await asyncio.gather(*(w.remind(hours, timedelta(hours=4), OFFICE_HOURS)
                               for w in workers))
        assert sorted(notifier.reminded) == sorted(set(notifier.reminded))
        assert len(notifier.reminded) == 6


async def test_the_retention_purge_runs_in_one_process_at_a_time() -> None:
    async with postgres_schema() as db:
        async with db.session() as s:
            await s.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
            # Another process is purging: this one skips the round.
            assert await run_once(db, 180) is None
        assert await run_once(db, 180) is not None
