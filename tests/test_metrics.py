"""GET /metrics: Prometheus text from the database and the app's latency histogram, behind
METRICS_TOKEN when set; request ids and default security headers on every response."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from bot.config import Settings
from bot.core import Core
from bot.helpline import Helpline
from bot.storage.db import Database
from bot.storage.models import Delivery, DeliveryStatus
from bot.tickets import Tickets
from bot.web.app import create_app
from bot.web.metrics import Histogram

TOKEN = "metrics-test-token"
QUESTION = "Mag mijn hond mee naar de vergadering van de club?"


def settings(db: Database, **extra: Any) -> Settings:
    return Settings(_env_file=None, database_url=db.url, telegram_bot_token=None,  # type: ignore[call-arg]
                    twilio_account_sid=None, twilio_auth_token=None, **extra)


async def client_for(engine, db, **extra: Any) -> TestClient:
    s = settings(db, **extra)
    app = create_app(s, Core(s, engine.kb, engine, db, Helpline(engine, db)))
    return TestClient(TestServer(app))


@pytest.fixture
async def client(engine, db) -> AsyncIterator[TestClient]:
    async with await client_for(engine, db) as client:
        yield client


def value(body: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", body, re.MULTILINE)
    assert match, f"{series} not in\n{body}"
    return float(match.group(1))


async def test_messages_tickets_and_failures_are_counted(client: TestClient, db: Database):
    for text in ("wie betaalt de huur van het pand?", QUESTION):
        response = await client.post("/chat/messages", json={"text": text})
        assert response.status == 200
    number = (await (await client.post("/chat/messages", json={"text": "hallo"})).json())
    assert number["kind"] == "intent"
    async with db.session() as session:
        from sqlalchemy import select

        from bot.storage.models import Ticket
        ticket_id = (await session.execute(select(Ticket.id))).scalar_one()
    await Tickets(db).answer(ticket_id, "Ja.", "Pionier Een")
    async with db.session() as session:
        await session.execute(update(Delivery).values(status=DeliveryStatus.FAILED.value))

    response = await client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    body = await response.text()
    assert value(body, 'thuisgevers_messages_total{channel="web",direction="in",outcome="answer"}') == 1
    assert value(body, 'thuisgevers_messages_total{channel="web",direction="in",outcome="escalate"}') == 1
    assert value(body, 'thuisgevers_messages_total{channel="web",direction="in",outcome="intent"}') == 1
    assert value(body, 'thuisgevers_tickets{status="answered"}') == 1
    assert value(body, "thuisgevers_tickets_open") == 0
    assert value(body, "thuisgevers_delivery_failures_total") == 1
    assert "# TYPE thuisgevers_webhook_latency_seconds histogram" in body


async def test_webhook_latency_is_observed(client: TestClient):
    for _ in range(3):
        await client.post("/webhooks/telegram", data=b"{}")
    await client.post("/webhooks/anything-else", data=b"{}")
    body = await (await client.get("/metrics")).text()
    assert value(body, 'thuisgevers_webhook_latency_seconds_count{route="telegram"}') == 3
    assert value(body, 'thuisgevers_webhook_latency_seconds_bucket{route="telegram",le="+Inf"}') == 3
    assert value(body, 'thuisgevers_webhook_latency_seconds_count{route="other"}') == 1


def test_histogram_buckets_are_cumulative():
    h = Histogram(buckets=(0.1, 1.0))
    for seconds in (0.05, 0.5, 0.5, 5.0):
        h.observe("twilio", seconds)
    lines = list(h.lines("x", "route"))
    assert lines[:3] == ['x_bucket{route="twilio",le="0.1"} 1', 'x_bucket{route="twilio",le="1.0"} 3',
                         'x_bucket{route="twilio",le="+Inf"} 4']
    assert lines[-1] == 'x_count{route="twilio"} 4'


async def test_a_configured_token_is_required(engine, db):
    async with await client_for(engine, db, metrics_token=TOKEN) as client:
        assert (await client.get("/metrics")).status == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status == 200


async def test_every_response_has_a_request_id_and_safe_headers(client: TestClient):
    response = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers["X-Request-Id"])
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    given = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    odd = await client.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert odd.headers["X-Request-Id"] != "<script>"
    missing = await client.get("/nowhere")
    assert missing.status == 404 and "X-Request-Id" in missing.headers
    chat = await client.get("/chat")
    assert "default-src 'none'" in chat.headers["Content-Security-Policy"]
    assert chat.headers["X-Content-Type-Options"] == "nosniff"


async def test_bodies_over_the_limit_are_refused(client: TestClient):
    big = {"text": "x" * (300 * 1024)}
    assert (await client.post("/chat/messages", json=big)).status == 413
