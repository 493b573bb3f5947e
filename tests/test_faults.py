"""Faults with real processes: the server (`python -m bot serve`) talks to PostgreSQL
through a TCP proxy that the test cuts and restores. While the database is unreachable
the Twilio webhook answers 503 (Twilio retries) and /healthz says 503; when it is back the
server serves again by itself, without a restart, and Twilio's retry is stored once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.models import Direction, Message
from tests.conftest import KNOWLEDGE, ROOT
from tests.fakes.payloads import twilio_form, twilio_signature
from tests.fakes.tcp_proxy import TcpProxy, free_port

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                                reason="needs PostgreSQL (TEST_DATABASE_URL)")

AUTH_TOKEN = "fault-test-auth-token"
NUMBER = "+31600000071"


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database (the server process cannot be given a schema)."""
    admin_url = os.environ["TEST_DATABASE_URL"]
    name = f"faults_{uuid.uuid4().hex[:10]}"
    admin = Database(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name)
    db = Database(url.render_as_string(hide_password=False))
    await upgrade(db)
    await db.dispose()
    yield url.render_as_string(hide_password=False)
    async with admin.engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture
async def proxy(database: str) -> AsyncIterator[TcpProxy]:
    url = make_url(database)
    tcp = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await tcp.restore()
    yield tcp
    await tcp.cut()


@pytest.fixture
async def server(database: str, proxy: TcpProxy, tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    through_proxy = make_url(database).set(host="127.0.0.1", port=proxy.port)
    env = {
        **os.environ,
        "DATABASE_URL": through_proxy.render_as_string(hide_password=False),
        "HOST": "127.0.0.1", "PORT": str(port), "PUBLIC_URL": base,
        "KNOWLEDGE_DIR": str(KNOWLEDGE), "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_SMS_FROM": "+31970000000",
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9", "PYTHONPATH": str(ROOT),
    }
    for unset in ("TELEGRAM_BOT_TOKEN", "METRICS_TOKEN"):
        env.pop(unset, None)
    log = (tmp_path / "server.log").open("w")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env, stdout=log,
        stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                assert process.returncode is None, (tmp_path / "server.log").read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(base + "/healthz") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("server did not start")
        yield base
    finally:
        # Waited for without blocking: the proxy runs on this event loop and the server
        # closes its database connections through it on the way out.
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()
    # The server's own logs: JSON lines with request ids, the number never in full.
    lines = (tmp_path / "server.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e["logger"] == "aiohttp.access"]
    assert access and all(e["request_id"] != "-" for e in access)
    assert NUMBER not in "\n".join(lines)


async def post_sms(http: aiohttp.ClientSession, base: str, body: str, sid: str) -> int:
    form = twilio_form("sms", From=NUMBER, Body=body, MessageSid=sid)
    url = base + "/webhooks/twilio"
    headers = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, form),
               "Content-Type": "application/x-www-form-urlencoded"}
    async with http.post(url, data=urlencode(form).encode(), headers=headers) as response:
        await response.read()
        return response.status


async def stored(database: str) -> int:
    db = Database(database)
    try:
        async with db.session() as session:
            return int((await session.execute(select(func.count(Message.id)).where(
                Message.direction == Direction.IN.value))).scalar_one())
    finally:
        await db.dispose()


async def test_database_away_means_503_and_service_resumes_by_itself(
        server: str, proxy: TcpProxy, database: str):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        assert await post_sms(http, server, "hallo", "SM" + "1" * 32) == 200

        await proxy.cut()
        async with http.get(server + "/healthz") as health:
            assert health.status == 503
            assert (await health.json())["database"] is False
        assert await post_sms(http, server, "wie betaalt het pand?", "SM" + "2" * 32) == 503
        async with http.get(server + "/chat") as page:  # no database needed: still served
            assert page.status == 200

        await proxy.restore()
        for _ in range(100):
            async with http.get(server + "/healthz") as health:
                if health.status == 200:
                    break
            await asyncio.sleep(0.05)
        assert health.status == 200
        # Twilio retries the message it got a 503 for: stored now, once.
        assert await post_sms(http, server, "wie betaalt het pand?", "SM" + "2" * 32) == 200
        assert await post_sms(http, server, "wie betaalt het pand?", "SM" + "2" * 32) == 200
    assert await stored(database) == 2


@pytest.mark.timeout(180)
async def test_the_chaos_script_passes_a_short_run(tmp_path: Path):
    """`make chaos` in small: 100 webhooks, database away once, server killed once."""
    results = tmp_path / "RESULTS.md"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "benchmarks/chaos.py", "--webhooks", "100", "--outage", "1",
        "--results", str(results), "--workdir", str(tmp_path / "chaos"), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 170)
    report = out.decode()
    assert process.returncode == 0, report
    assert "| verdict " in report and "PASS" in report
    assert "server killed (SIGKILL)" in results.read_text()
