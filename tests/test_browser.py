"""One test in a real browser: Playwright drives Debian's Chromium through the inbox.

The server (the whole app with its outbox worker, and a local provider standing in for
the channel) runs in a thread on 127.0.0.1 with a random port. Without /usr/bin/chromium
the test is skipped, except in CI (CI=true), where `make install-test` installs it and a
missing browser is a failure. `UPDATE_SCREENSHOT=1` refreshes docs/inbox.png.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import Settings
from bot.core import Core
from bot.dialogue import DialogueEngine
from bot.helpline import Helpline
from bot.messages import Channel
from bot.pioneers import Pioneers
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.web.app import create_app
from bot.web.keys import SENDERS
from tests.conftest import ROOT, ChatBot
from tests.local_provider import LocalProvider, senders_for

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "een-lang-test-wachtwoord"
QUESTION = "Mag mijn hond mee naar de vergadering van de club?"


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser test: /usr/bin/chromium is missing "
                    "(make install-test installs it)")
    pytest.skip("Chromium is not installed (/usr/bin/chromium); `make install-test` "
                "installs it with apt-get")


class ServerThread(threading.Thread):
    """The app on its own event loop, with one escalated SMS question and a pioneer."""

    def __init__(self, engine: DialogueEngine, database_url: str) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.database_url = database_url
        self.provider = LocalProvider()
        self.ready = threading.Event()
        self.port = 0
        self.ticket = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        db = Database(self.database_url)
        await upgrade(db)
        helpline = Helpline(self.engine, db)
        person = ChatBot(helpline, channel=Channel.SMS, address="+31600000071")
        await person.say(QUESTION)
        other = ChatBot(helpline, channel=Channel.WHATSAPP, address="whatsapp:+31600000072")
        await other.say("Kunnen we <b>samen</b> met de buurtkerk een pand openen?")
        self.ticket = person.last.ticket_number or 0
        await Pioneers(db).add("Pionier Een", PASSWORD)
        await self.provider.start()
        settings = Settings(database_url=self.database_url, outbox_poll_seconds=0.1)
        app = create_app(settings, Core(settings, self.engine.kb, self.engine, db, helpline))
        app.setdefault(SENDERS, {}).update(senders_for(self.provider))  # type: ignore[arg-type]
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self.ready.set()
        await self._stopping.wait()
        await runner.cleanup()
        await self.provider.close()
        await db.dispose()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(timeout=10)


def test_pioneer_answers_in_a_real_browser(engine: DialogueEngine, tmp_path: Path) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    server = ServerThread(engine, f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}")
    server.start()
    try:
        assert server.ready.wait(30), "server did not start"
        base = f"http://127.0.0.1:{server.port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 420, "height": 860})
                page.goto(f"{base}/inbox")
                assert page.url.endswith("/inbox/login")
                page.fill("input[name=name]", "Pionier Een")
                page.fill("input[name=password]", PASSWORD)
                page.click("button:has-text('Inloggen')")
                page.wait_for_url(f"{base}/inbox")
                assert page.locator(f"text=#{server.ticket}").count() == 1
                screenshot = tmp_path / "inbox.png"
                page.screenshot(path=str(screenshot), full_page=True)
                if os.environ.get("UPDATE_SCREENSHOT"):
                    (ROOT / "docs").mkdir(exist_ok=True)
                    shutil.copy(screenshot, ROOT / "docs" / "inbox.png")

                page.click(f"text=#{server.ticket}")
                page.wait_for_url(f"{base}/inbox/tickets/{server.ticket}")
                assert QUESTION in page.content()
                page.click("button:has-text('Oppakken')")
                page.fill("textarea[name=text]", "Ja, aangelijnde honden zijn welkom.")
                page.click("button:has-text('Verstuur antwoord')")
                page.wait_for_selector("text=Antwoord opgeslagen")
                deadline = time.monotonic() + 10
                while not server.provider.sent and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert server.provider.texts("+31600000071") == [
                    "Antwoord van Pionier Een (De Thuisgevers):\n"
                    "Ja, aangelijnde honden zijn welkom."]
                page.reload()
                page.wait_for_selector(".delivery-sent")
            finally:
                browser.close()
    finally:
        server.stop()
