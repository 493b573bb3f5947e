"""The pioneer queue from the terminal, while a server (with its outbox worker) runs on
the same database: `pioneers add`, `tickets list|show|answer|close`, `stats`,
`kb suggestions`. The CLI runs in a thread with its own event loop and engine, as it
would in another process."""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.cli import main
from bot.config import Settings
from bot.core import Core
from bot.helpline import Helpline
from bot.messages import Channel
from bot.pioneers import Pioneers
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.tickets import Tickets
from bot.web.app import create_app
from bot.web.keys import SENDERS
from tests.conftest import KNOWLEDGE, ChatBot
from tests.local_provider import LocalProvider, provider_fixture, senders_for  # noqa: F401

QUESTION = "Mag mijn hond mee naar de vergadering van de club?"


@pytest.fixture
async def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    await upgrade(db)
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("KNOWLEDGE_DIR", str(knowledge))
    monkeypatch.setenv("THUISGEVERS_PIONEER", "Pionier Terminal")
    yield db
    await db.dispose()


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_tickets_from_the_terminal_while_the_server_runs(
        engine, database, provider: LocalProvider, capsys):
    helpline = Helpline(engine, database)
    person = ChatBot(helpline, channel=Channel.SMS, address="+31600000061")
    await person.say(QUESTION)
    number = person.last.ticket_number
    other = ChatBot(helpline, channel=Channel.SMS, address="+31600000062")
    await other.say("Hoe laat begint de vergadering van de club?")

    settings = Settings(database_url=database.url, outbox_poll_seconds=0.05)
    app = create_app(settings, Core(settings, engine.kb, engine, database, helpline))
    app.setdefault(SENDERS, {}).update(senders_for(provider))  # type: ignore[arg-type]
    async with TestClient(TestServer(app, host="127.0.0.1")):
        code, out, _ = await cli(capsys, "tickets", "list")
        lines = out.splitlines()
        assert code == 0 and len(lines) == 2
        assert lines[0].startswith(f"#{number} ") and "+316••••••61" in lines[0]
        assert "hond mee" in lines[0] and "+31600000061" not in out

        code, out, _ = await cli(capsys, "tickets", "show", str(number))
        assert code == 0 and QUESTION in out and "Test Persoon" in out

        code, out, _ = await cli(capsys, "tickets", "answer", str(number), "Ja,", "hij", "mag",
                                 "mee.")
        assert code == 0 and "opgeslagen" in out
        for _ in range(250):
            if provider.sent:
                break
            await asyncio.sleep(0.02)
        assert provider.texts("+31600000061") == [
            "Antwoord van Pionier Terminal (De Thuisgevers):\nJa, hij mag mee."]

        for _ in range(250):
            _, out, _ = await cli(capsys, "tickets", "show", str(number))
            if ": verstuurd" in out:
                break
        assert "Antwoord van Pionier Terminal: verstuurd" in out

        code, out, _ = await cli(capsys, "tickets", "list")
        assert f"#{number} " not in out and f"#{other.last.ticket_number} " in out
        code, out, _ = await cli(capsys, "tickets", "close", str(other.last.ticket_number))
        assert code == 0 and "gesloten" in out
        code, out, err = await cli(capsys, "tickets", "list")
        assert out == "" and "Geen open vragen" in err


async def test_unknown_ticket_and_closed_ticket_errors(engine, database, capsys):
    person = ChatBot(Helpline(engine, database), channel=Channel.SMS, address="+31600000063")
    await person.say(QUESTION)
    number = str(person.last.ticket_number)
    code, _, err = await cli(capsys, "tickets", "show", "999")
    assert code == 1 and "bestaat niet" in err
    assert (await cli(capsys, "tickets", "close", number))[0] == 0
    code, _, err = await cli(capsys, "tickets", "answer", number, "te laat")
    assert code == 1 and "closed" in err


async def test_pioneers_add_reads_the_password_from_stdin(database, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("een-lang-wachtwoord\n"))
    code, out, _ = await cli(capsys, "pioneers", "add", "Pionier Twee", "--password-stdin")
    assert code == 0 and "Pionier Twee" in out
    pioneers = Pioneers(database)
    assert await pioneers.verify("Pionier Twee", "een-lang-wachtwoord") is not None
    assert await pioneers.verify("Pionier Twee", "fout") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("kort\n"))
    code, _, err = await cli(capsys, "pioneers", "add", "Pionier Drie", "--password-stdin")
    assert code == 1 and "minstens" in err


async def test_stats_and_kb_suggestions(engine, database, capsys, tmp_path: Path):
    person = ChatBot(Helpline(engine, database), channel=Channel.WHATSAPP,
                     address="whatsapp:+31600000064")
    await person.say("wie betaalt de huur van het pand?")
    await person.say("ja")
    await person.say(QUESTION)
    await Tickets(database).answer(person.last.ticket_number, "Ja.", "Pionier Een")
    code, out, _ = await cli(capsys, "stats")
    assert code == 0
    assert "whatsapp   3" in out and "Beantwoord door de bot: 1" in out
    assert "Doorgezet naar een pionier: 1" in out and "1x mag mijn hond" in out

    code, _, err = await cli(capsys, "kb", "suggestions")
    assert code == 0 and "Geen suggesties" in err
    from bot.suggestions import write

    write(tmp_path / "knowledge", await Tickets(database).get(person.last.ticket_number))
    code, out, _ = await cli(capsys, "kb", "suggestions")
    assert f"suggestie-{person.last.ticket_number}" in out and "nog te doen" in out
    code, out, _ = await cli(capsys, "kb", "check", "--seeds", str(tmp_path / "none"))
    assert f"suggestie-{person.last.ticket_number}" not in out
