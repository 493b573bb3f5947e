"""Logging: JSON lines for machines, plain lines for people, phone numbers masked.

`configure_logging` is called once by the command line (`bot.cli.main`). Every record
passes `MaskingFilter` (phone numbers, WhatsApp addresses and Telegram chat ids never reach
a log in full) and `RequestIdFilter` (the id of the HTTP request being handled, set by
`request_id_middleware`, so all lines of one webhook can be found together).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_log import AccessLogger

# The request being handled in this task. A ContextVar is the one kind of module-level
# object that is not shared state: each asyncio task sees its own value.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
REQUEST_ID_HEADER = "X-Request-Id"
_GIVEN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# E.164 (+ and 8-15 digits, maybe with spaces or dashes), Dutch mobile numbers written
# 06-12345678 / 06 12345678 / 0612345678, and 0031/0316-style international prefixes.
_E164 = re.compile(r"(?<![\w+])\+\d[\d \-]{6,17}\d(?!\d)")
_DUTCH = re.compile(r"(?<![\w+])(?:00316|06)[ \-]?\d{8}(?!\d)")
# A Telegram chat id logged as an address: `telegram:123456789`, `chat 123456789`,
# `chat_id=123456789`, `"address": "123456789"`.
_CHAT_ID = re.compile(
    r"(?i)(\b(?:telegram|chat|chat[_ ]?id|address)\b[\"']?\s*[:= ]\s*[\"']?)(-?\d{5,})"
)
# SQLAlchemy puts the bound values of a failed statement in its error message: names,
# message texts, chat ids. The statement stays (it says what failed); the values go.
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
MASK = "*"


def _mask_number(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 6:
        return MASK * len(number)
    plus = "+" if number.startswith("+") else ""
    head = "".join(digits[:3]) if plus else "".join(digits[:2])
    tail = "".join(digits[-2:])
    return plus + head + MASK * (len(digits) - len(head) - 2) + tail


def mask_text(text: str) -> str:
    """`+31612345678` → `+316******78`, `0612345678` → `06******78`, chat ids alike;
    the values of a failed SQL statement are left out."""
    text = _SQL_PARAMETERS.sub("[parameters: hidden]", text)
    text = _E164.sub(lambda m: _mask_number(m.group(0)), text)
    text = _DUTCH.sub(lambda m: _mask_number(m.group(0)), text)
    return _CHAT_ID.sub(lambda m: m.group(1) + _mask_number(m.group(2).lstrip("-")), text)


class MaskingFilter(logging.Filter):
    """Masks personal numbers in the message, its arguments and any traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logged as it is, never lost
            message = str(record.msg)
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def build_handler(stream: IO[str], *, json_lines: bool | None = None) -> logging.Handler:
    """A handler for `stream`: JSON unless the stream is a terminal (or `json_lines` says)."""
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(HUMAN_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(MaskingFilter())
    return handler


def configure_logging(
    stream: IO[str] | None = None, level: int = logging.INFO, *,
    json_lines: bool | None = None, force: bool = False,
) -> logging.Handler | None:
    """Give the root logger one masked, structured handler.

    Like `logging.basicConfig`, nothing changes when the root logger already has handlers
    (the CLI called from tests, where pytest captures the logs) unless `force` is given.
    """
    root = logging.getLogger()
    if root.handlers and not force:
        return None
    handler = build_handler(stream or sys.stderr, json_lines=json_lines)
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id (the caller's `X-Request-Id` when it is sane) for its logs."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _GIVEN_ID.match(given) else uuid.uuid4().hex[:16]
    token = REQUEST_ID.set(request_id)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    finally:
        REQUEST_ID.reset(token)


class RequestIdAccessLogger(AccessLogger):
    """aiohttp's access log line, tagged with the request id (it is written after the
    middleware has finished, so the id is read back from the response)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        token = REQUEST_ID.set(response.headers.get(REQUEST_ID_HEADER, "-"))
        try:
            super().log(request, response, time)
        finally:
            REQUEST_ID.reset(token)
