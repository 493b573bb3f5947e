"""Logs: JSON lines with a request id, and never a phone number or chat id in full."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.core import Core
from bot.helpline import Helpline
from bot.logging_setup import HUMAN_FORMAT, build_handler, mask_text
from bot.web.app import create_app
from tests.fakes.fixtures import fake_twilio  # noqa: F401
from tests.fakes.payloads import twilio_form, twilio_signature
from tests.test_twilio import PUBLIC, settings_for

NUMBER = "+31600000099"
QUESTION = "Mag mijn hond mee naar de vergadering van de club? Bel me op 0600000099"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG and up, through the handler `bot.cli` installs."""
    stream = io.StringIO()
    handler = build_handler(stream, json_lines=True)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_handling_a_message_never_logs_the_number(engine, db, fake_twilio,  # noqa: F811
                                                        captured: io.StringIO):
    settings = settings_for(db, fake_twilio)
    app = create_app(settings, Core(settings, engine.kb, engine, db, Helpline(engine, db)))
    form = twilio_form("sms", From=NUMBER, Body=QUESTION, MessageSid="SM" + "9" * 32)
    headers = {"X-Twilio-Signature": twilio_signature(
        fake_twilio.auth_token, PUBLIC + "/webhooks/twilio", form)}
    async with TestClient(TestServer(app)) as client:
        first = await client.post("/webhooks/twilio", data=form, headers=headers)
        assert first.status == 200
        retry = await client.post("/webhooks/twilio", data=form, headers=headers)
        assert retry.status == 200
        # A careless line anywhere in the code is masked too, with its traceback.
        logging.getLogger("bot.anywhere").info("message from %s (chat 123456789)", NUMBER)
        try:
            raise ValueError(f"no contact whatsapp:{NUMBER}")
        except ValueError:
            logging.getLogger("bot.anywhere").exception("failed for %s", NUMBER)

    output = captured.getvalue()
    assert output, "nothing was logged"
    assert NUMBER not in output and NUMBER[1:] not in output and "0600000099" not in output
    assert "123456789" not in output
    assert "+316******99" in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert all({"time", "level", "logger", "message", "request_id"} <= set(e) for e in lines)
    retried = [e for e in lines if "twilio retry" in e["message"]]
    assert retried and retried[0]["request_id"] == retry.headers["X-Request-Id"]
    assert any("Traceback" in e.get("exception", "") for e in lines)


def test_human_format_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    handler = build_handler(stream)
    assert handler.formatter is not None and handler.formatter._fmt == HUMAN_FORMAT
    handler.handle(logging.LogRecord("bot", logging.INFO, __file__, 1, "to %s", (NUMBER,), None))
    line = stream.getvalue()
    assert "+316******99" in line and "[-]" in line and not line.startswith("{")
    assert isinstance(build_handler(io.StringIO()).formatter, logging.Formatter)


@pytest.mark.parametrize(("text", "masked"), [
    ("+31600000099", "+316******99"),
    ("whatsapp:+31612345678", "whatsapp:+316******78"),
    ("bel 06-12345678 of 0612345678", "bel 06******78 of 06******78"),
    ("+44 7700 900123", "+447*******23"),
    ("telegram:987654321", "telegram:98*****21"),
    ("ticket #12 at 2026-11-21 16:10:00, 3 replies", "ticket #12 at 2026-11-21 16:10:00, 3 replies"),
])
def test_mask_text(text: str, masked: str):
    assert mask_text(text) == masked


def test_values_of_a_failed_statement_are_left_out():
    error = ("(sqlite3.IntegrityError) UNIQUE constraint failed\n[SQL: INSERT INTO contacts "
             "(channel, address, display_name) VALUES (?, ?, ?)]\n"
             "[parameters: ('telegram', '600000001', 'Test Persoon')]\n(Background on this error)")
    masked = mask_text(error)
    assert "Test Persoon" not in masked and "600000001" not in masked
    assert "[SQL: INSERT INTO contacts" in masked and "[parameters: hidden]" in masked
    assert masked.endswith("(Background on this error)")
