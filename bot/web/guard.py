"""Middlewares every route gets: a request id for the logs, safe default headers, and
503 (not 500) when the database cannot be reached, so Twilio and Telegram retry later."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import exc as sa_exc

from bot.logging_setup import request_id_middleware

log = logging.getLogger(__name__)

# What a lost or refused database connection raises, through SQLAlchemy or below it.
UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
               sa_exc.TimeoutError, ConnectionRefusedError, ConnectionResetError)
RETRY_AFTER_SECONDS = "5"

# Set where a route did not set its own (the inbox and the chat add a CSP of their own).
DEFAULT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _with_defaults(target: web.StreamResponse | web.HTTPException) -> None:
    for name, value in DEFAULT_HEADERS.items():
        target.headers.setdefault(name, value)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _with_defaults(exc)
        raise
    if not response.prepared:
        _with_defaults(response)
    return response


@web.middleware
async def database_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (*UNAVAILABLE, sa_exc.DBAPIError) as error:
        # Other driver errors (a lost connection: "closed in the middle of operation") count
        # when SQLAlchemy recognised them as a disconnect; the rest are bugs, left as 500.
        if not isinstance(error, UNAVAILABLE) and not getattr(
                error, "connection_invalidated", False):
            raise
        log.warning("database unavailable while handling %s %s: %s", request.method,
                    request.path, type(error).__name__)
        raise web.HTTPServiceUnavailable(
            text="De dienst is even niet beschikbaar. Probeer het zo nog eens.",
            headers={"Retry-After": RETRY_AFTER_SECONDS}) from None


def setup(app: web.Application) -> None:
    app.middlewares.extend([request_id_middleware, security_headers, database_unavailable])
