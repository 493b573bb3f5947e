"""The pioneers' web inbox end to end with aiohttp's test client: real login (argon2),
CSRF on every POST, escaping, and the answer reaching the person through the outbox worker
running inside the app."""

from __future__ import annotations

import asyncio
import inspect
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from bot.config import Settings
from bot.core import Core
from bot.helpline import Helpline
from bot.messages import Channel, utcnow
from bot.pioneers import Pioneers
from bot.storage.models import Contact, TicketStatus
from bot.tickets import Tickets
from bot.web.app import create_app
from bot.web.keys import SENDERS
from tests.conftest import KNOWLEDGE, ChatBot
from tests.local_provider import LocalProvider, provider_fixture, senders_for  # noqa: F401

PASSWORD = "een-lang-test-wachtwoord"
EVIL = "Mag <script>alert('x')</script> mee naar de vergadering van de club?"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def wait_for(condition) -> None:  # type: ignore[no-untyped-def]
    """Poll (up to 5 s) for what a background worker does."""
    for _ in range(250):
        if await condition() if inspect.iscoroutinefunction(condition) else condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


@pytest.fixture
async def setup(engine, db, provider: LocalProvider, tmp_path: Path):  # type: ignore[no-untyped-def]
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    settings = Settings(database_url=db.url, knowledge_dir=knowledge, outbox_poll_seconds=0.05,
                        telegram_bot_token=None, twilio_account_sid=None)
    helpline = Helpline(engine, db)
    core = Core(settings, engine.kb, engine, db, helpline)
    await Pioneers(db).add("Pionier Een", PASSWORD)
    person = ChatBot(helpline, address="whatsapp:+31600000051")
    return settings, core, person


async def start(settings: Settings, core: Core, provider: LocalProvider) -> TestClient:
    app = create_app(settings, core)
    app.setdefault(SENDERS, {}).update(senders_for(provider))  # type: ignore[arg-type]
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(setup, provider) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    settings, core, _ = setup
    c = await start(settings, core, provider)
    yield c
    await c.close()


async def login(client: TestClient, password: str = PASSWORD) -> int:
    page = await client.get("/inbox/login")
    response = await client.post("/inbox/login", allow_redirects=False, data={
        "csrf": csrf_of(await page.text()), "name": "Pionier Een", "password": password})
    return response.status


async def recent(person: ChatBot, db) -> None:  # type: ignore[no-untyped-def]
    """Make the person's WhatsApp window open (the test conversation is dated earlier)."""
    async with db.session() as session:
        await session.execute(update(Contact).values(last_inbound_at=utcnow()))


async def test_inbox_requires_login(client):
    response = await client.get("/inbox", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/inbox/login"
    response = await client.get("/inbox/tickets/1", allow_redirects=False)
    assert response.status == 303


async def test_login_answer_and_delivery_end_to_end(setup, client, provider, db):
    _, core, person = setup
    await person.say(EVIL)
    number = person.last.ticket_number
    await recent(person, db)

    page = await client.get("/inbox/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    response = await client.post("/inbox/login", allow_redirects=False, data={
        "csrf": csrf_of(await page.text()), "name": "Pionier Een", "password": PASSWORD})
    assert response.status == 303
    cookie = response.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("thuisgevers_inbox="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    assert "Secure" not in session_cookie  # PUBLIC_URL is http here

    listing = await (await client.get("/inbox")).text()
    assert f"#{number}" in listing and "<script>alert" not in listing
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in listing
    assert "whatsapp:+316••••••51" in listing and "+31600000051" not in listing

    ticket = await (await client.get(f"/inbox/tickets/{number}")).text()
    assert "<script>" not in ticket and "&lt;script&gt;" in ticket
    csrf = csrf_of(ticket)
    claimed = await client.post(f"/inbox/tickets/{number}/claim", data={"csrf": csrf})
    assert claimed.status == 200 and "Opgepakt" in await claimed.text()
    answered = await client.post(f"/inbox/tickets/{number}/answer",
                                 data={"csrf": csrf, "text": "Ja, <b>welkom</b>!"})
    assert answered.status == 200
    await wait_for(lambda: provider.texts())
    assert provider.texts("whatsapp:+31600000051") == [
        "Antwoord van Pionier Een (De Thuisgevers):\nJa, <b>welkom</b>!"]

    async def shows_sent() -> bool:
        return ">verstuurd<" in await (await client.get(f"/inbox/tickets/{number}")).text()

    await wait_for(shows_sent)
    page_text = await (await client.get(f"/inbox/tickets/{number}")).text()
    assert ">verstuurd<" in page_text and "Ja, &lt;b&gt;welkom&lt;/b&gt;!" in page_text

    suggested = await client.post(f"/inbox/tickets/{number}/suggest", data={"csrf": csrf})
    assert "Suggestie geschreven" in await suggested.text()
    assert (core.settings.knowledge_dir / "suggestions" / f"{number}.yaml").is_file()

    closed = await client.post(f"/inbox/tickets/{number}/close", data={"csrf": csrf})
    assert "Gesloten" in await closed.text()
    assert f"#{number}" not in await (await client.get("/inbox")).text()


async def test_post_without_or_with_wrong_csrf_is_refused(setup, client, db):
    _, _, person = setup
    await person.say(EVIL)
    number = person.last.ticket_number
    assert await login(client) == 303
    for data in ({"text": "hallo"}, {"csrf": "verkeerd", "text": "hallo"}):
        response = await client.post(f"/inbox/tickets/{number}/answer", data=data)
        assert response.status == 403
    detail = await Tickets(db).get(number)
    assert detail.card.status == TicketStatus.OPEN and detail.deliveries == ()
    # The login form is protected too.
    response = await client.post("/inbox/login", data={"name": "Pionier Een",
                                                       "password": PASSWORD})
    assert response.status == 403


async def test_wrong_password_and_throttling(client):
    for _ in range(5):
        assert await login(client, "fout-wachtwoord-123") == 401
    assert await login(client) == 429  # even the right password waits now


async def test_filters_and_logout(setup, client, engine, db):
    _, _, person = setup
    await person.say(EVIL)
    sms = ChatBot(Helpline(engine, db), channel=Channel.SMS,
                  address="+31600000052")
    await sms.say("Hoe laat begint de vergadering van de club?")
    assert await login(client) == 303
    only_sms = await (await client.get("/inbox?channel=sms")).text()
    assert f"#{sms.last.ticket_number}" in only_sms
    assert f"#{person.last.ticket_number}<" not in only_sms
    answered = await (await client.get("/inbox?status=answered")).text()
    assert "Geen vragen" in answered
    page = await (await client.get("/inbox")).text()
    response = await client.post("/inbox/logout", data={"csrf": csrf_of(page)},
                                 allow_redirects=False)
    assert response.status == 303
    after = await client.get("/inbox", allow_redirects=False)
    assert after.status == 303


async def test_answer_stored_while_server_down_goes_out_when_it_starts(setup, provider, db):
    settings, core, person = setup
    await person.say(EVIL)
    await recent(person, db)
    await Tickets(db).answer(person.last.ticket_number, "Ja.", "Pionier Een")
    assert provider.sent == []
    client = await start(settings, core, provider)
    try:
        await wait_for(lambda: provider.texts())
    finally:
        await client.close()
    assert len(provider.texts()) == 1


async def test_pioneer_notifier_hears_opened_updated_and_failed(setup, provider, db):
    from bot.web.queue import NOTIFIER
    from tests.test_tickets import RecordingNotifier

    settings, core, person = setup
    notifier = RecordingNotifier()
    app = create_app(settings, core)
    app[NOTIFIER] = notifier
    app.setdefault(SENDERS, {}).update(senders_for(provider))  # type: ignore[arg-type]
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        await person.say(EVIL)  # through the core's helpline, as a webhook would
        number = person.last.ticket_number
        await person.say("het is een kleine hond")
        assert [c.number for c in notifier.opened] == [number]
        assert notifier.opened[0].masked_address == "whatsapp:+316••••••51"
        assert [c.transcript[-1]["text"] for c in notifier.updated] == ["het is een kleine hond"]
        assert await login(client) == 303
        page = await (await client.get(f"/inbox/tickets/{number}")).text()
        await client.post(f"/inbox/tickets/{number}/answer",
                          data={"csrf": csrf_of(page), "text": "Ja."})
        # The window is closed (the test conversation is dated days ago) and no template
        # is set: the pioneers are told the answer is blocked.
        await wait_for(lambda: notifier.updated[-1].delivery_status == "blocked")
        assert notifier.updated[-2].status == "answered"
        blocked = await (await client.get(f"/inbox/tickets/{number}")).text()
        assert "Opnieuw versturen" in blocked
        assert "TWILIO_WHATSAPP_TEMPLATE_SID" in blocked and provider.sent == []
        retried = await client.post(f"/inbox/tickets/{number}/retry",
                                    data={"csrf": csrf_of(blocked)})
        assert "opnieuw verstuurd" in await retried.text()
    assert core.helpline.listeners == []


async def test_secure_cookie_behind_https(setup, provider):
    settings, core, _ = setup
    secure = settings.model_copy(update={"public_url": "https://helpline.example"})
    client = await start(secure, core, provider)
    try:
        page = await client.get("/inbox/login")
        assert "Secure" in page.headers["Set-Cookie"]
    finally:
        await client.close()


async def test_server_reminds_about_long_unclaimed_tickets(setup, provider, db):
    from datetime import timedelta

    from bot.storage.models import Ticket
    from bot.web.queue import NOTIFIER
    from tests.test_tickets import RecordingNotifier

    settings, core, person = setup
    await person.say(EVIL)
    async with db.session() as session:
        await session.execute(update(Ticket).values(created_at=utcnow() - timedelta(days=7)))
    notifier = RecordingNotifier()
    app = create_app(settings, core)
    app[NOTIFIER] = notifier
    async with TestClient(TestServer(app, host="127.0.0.1")):
        await wait_for(lambda: notifier.reminded)
    assert [c.number for c in notifier.reminded] == [person.last.ticket_number]
    async with db.session() as session:
        assert (await session.get(Ticket, person.last.ticket_number)).reminded_at is not None
