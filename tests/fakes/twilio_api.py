"""A local fake of Twilio's REST API (Messages) that the real twilio client talks to.

Form fields in, a 201 message resource out; every request is recorded (`requests`,
`created`). `fail` answers the next call with a Twilio error body such as
`{"code": 21610, "message": ..., "status": 400}`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0000000000000000"

KNOWN_ERRORS = {
    21610: "Attempt to send to unsubscribed recipient",
    21211: "The 'To' number is not a valid phone number.",
    63016: "Failed to send freeform message because you are outside the allowed window. "
           "If you are using WhatsApp, please use a Message Template.",
    20429: "Too Many Requests",
}


@dataclass(frozen=True)
class TwilioRequest:
    """One REST request as the fake received it."""

    method: str
    path: str
    form: dict[str, str]
    username: str | None


@dataclass
class _Failure:
    code: int
    status: int
    message: str
    times: int


@dataclass
class FakeTwilio:
    """The fake REST API; `base_url` goes into TWILIO_API_BASE_URL."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[TwilioRequest] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    delay: float = 0.0  # seconds before each answer (to exercise client timeouts)
    server: TestServer | None = None
    _sids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    @property
    def base_url(self) -> str:
        assert self.server is not None and self.server.port is not None, "start() first"
        return f"http://127.0.0.1:{self.server.port}"

    def fail(self, code: int = 21610, status: int = 400, message: str | None = None,
             *, times: int = 1) -> None:
        """Answer the next `times` message creations with Twilio error `code`."""
        self.failures.append(_Failure(code, status, message or KNOWN_ERRORS.get(code, "Error"),
                                      times))

    @property
    def created(self) -> list[dict[str, str]]:
        """The form of every message creation, in order (failed ones included)."""
        return [r.form for r in self.requests if r.path.endswith("/Messages.json")]

    def bodies(self, to: str | None = None) -> list[str]:
        return [f.get("Body", "") for f in self.created if to is None or f.get("To") == to]

    async def _create(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        username, password = _basic_auth(request)
        self.requests.append(TwilioRequest(request.method, request.path, form, username))
        if self.delay:
            await asyncio.sleep(self.delay)
        if username != self.account_sid or password != self.auth_token:
            return _error(20003, 401, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return _error(20404, 404, "The requested resource was not found")
        if self.failures:
            failure = self.failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self.failures.pop(0)
            return _error(failure.code, failure.status, failure.message)
        if not form.get("To") or not (form.get("Body") or form.get("ContentSid")):
            return _error(21602, 400, "Message body is required.")
        sid = f"SM{next(self._sids):032x}"
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        body: dict[str, Any] = {
            "sid": sid, "account_sid": self.account_sid, "api_version": "2010-04-01",
            "to": form["To"], "from": form.get("From"), "body": form.get("Body", ""),
            "status": "queued", "direction": "outbound-api", "num_media": "0",
            "num_segments": "1", "date_created": now, "date_updated": now, "date_sent": None,
            "error_code": None, "error_message": None, "price": None, "price_unit": "EUR",
            "messaging_service_sid": None, "subresource_uris": {},
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return web.json_response(body, status=201)


def _basic_auth(request: web.Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None, None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _error(code: int, status: int, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "status": status,
         "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=status)
