"""/healthz and the local web chat through aiohttp's test client."""

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.core import Core
from bot.helpline import Helpline
from bot.web.app import create_app


@pytest.fixture
async def client(engine, db):
    settings = Settings(database_url=db.url)
    core = Core(settings, engine.kb, engine, db, Helpline(engine, db))
    async with TestClient(TestServer(create_app(settings, core))) as c:
        yield c


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_healthz_reports_database_down(engine, tmp_path: Path):
    from bot.storage.db import Database

    broken = Database(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    settings = Settings()
    core = Core(settings, engine.kb, engine, broken, Helpline(engine, broken))
    async with TestClient(TestServer(create_app(settings, core))) as c:
        response = await c.get("/healthz")
        assert response.status == 503
    await broken.dispose()


async def test_chat_page_and_conversation(client):
    page = await client.get("/chat")
    assert page.status == 200 and "Thuisgeverstelefoon" in await page.text()
    first = await (await client.post("/chat/messages", json={"text": "hallo"})).json()
    assert first["kind"] == "intent"
    second = await (await client.post(
        "/chat/messages", json={"text": "wie betaalt de huur van het pand?"})).json()
    assert second["id"] == "har-financiering" and "HAR" in second["replies"][0]["text"]


async def test_chat_rejects_malformed_bodies(client):
    assert (await client.post("/chat/messages", data=b"not json")).status == 400
    assert (await client.post("/chat/messages", json={"tekst": 1})).status == 400


async def test_pioneer_answer_reaches_the_web_chat(client):
    import asyncio

    from bot.web.queue import TICKETS

    first = await client.get("/chat/messages?after=0")
    assert (await first.json())["replies"] == []
    escalated = await (await client.post(
        "/chat/messages", json={"text": "ik wil een mens spreken"})).json()
    assert escalated["id"] == "mens"
    start = await (await client.get("/chat/messages?after=0")).json()
    tickets = client.server.app[TICKETS]
    [ticket] = await tickets.list_tickets()
    await tickets.answer(ticket.number, "Een pionier belt je morgen.", "Test Pionier")
    for _ in range(100):
        polled = await (await client.get(f"/chat/messages?after={start['last']}")).json()
        if polled["replies"]:
            break
        await asyncio.sleep(0.05)
    assert any("Een pionier belt je morgen." in r["text"] for r in polled["replies"])
