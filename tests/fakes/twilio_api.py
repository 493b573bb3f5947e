"""A local fake of Twilio's REST API (Messages) that the real twilio client talks to.

Create: form fields in, a 201 message resource out. The message is taken (`messages`) as
soon as the request is in, before the answer (`delay` holds only the answer back, as a slow
or lost response does). List: GET …/Messages.json with Twilio's filters (`To`, `From`,
`DateSent`, `DateSent<`, `DateSent>`: a date `YYYY-MM-DD` or a time `YYYY-MM-DDTHH:MM:SSZ`,
the upper bound exclusive of the day after a date), newest first, in pages (`PageSize`,
default 50; `next_page_uri` carries the filters and a `PageToken`), as Twilio serves it.

Every request is recorded (`requests`; `created` holds the creations' forms). `fail`
answers the next creations with a Twilio error body such as
`{"code": 21610, "message": ..., "status": 400}`; nothing is taken then.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

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
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class _Failure:
    code: int
    status: int
    message: str
    times: int
    after: int = 0  # creations let through first


@dataclass
class FakeTwilio:
    """The fake REST API; `base_url` goes into TWILIO_API_BASE_URL."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[TwilioRequest] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # taken, oldest first
    failures: list[_Failure] = field(default_factory=list)
    delay: float = 0.0  # seconds before each answer (to exercise client timeouts)
    in_flight: int = 0  # creations received and not yet answered
    server: TestServer | None = None
    _sids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self._list)
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
             *, times: int = 1, after: int = 0) -> None:
        """Answer `times` message creations with Twilio error `code`, after letting the
        next `after` through."""
        self.failures.append(_Failure(code, status, message or KNOWN_ERRORS.get(code, "Error"),
                                      times, after))

    @property
    def created(self) -> list[dict[str, str]]:
        """The form of every message creation, in order (failed ones included)."""
        return [r.form for r in self.requests
                if r.method == "POST" and r.path.endswith("/Messages.json")]

    @property
    def lookups(self) -> list[dict[str, str]]:
        """The query of every list request, in order."""
        return [r.query for r in self.requests
                if r.method == "GET" and r.path.endswith("/Messages.json")]

    def bodies(self, to: str | None = None) -> list[str]:
        """The body of every creation request (failed ones included)."""
        return [f.get("Body", "") for f in self.created if to is None or f.get("To") == to]

    def taken(self, to: str | None = None) -> list[str]:
        """The body of every message Twilio took (and would send), in order."""
        return [m["body"] for m in self.messages if to is None or m["to"] == to]

    def _refused(self, request: web.Request, username: str | None,
                 password: str | None) -> web.Response | None:
        if username != self.account_sid or password != self.auth_token:
            return _error(20003, 401, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return _error(20404, 404, "The requested resource was not found")
        return None

    async def _create(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        username, password = _basic_auth(request)
        self.requests.append(TwilioRequest(request.method, request.path, form, username))
        answer = self._refused(request, username, password) or self._take(form)
        self.in_flight += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        return answer

    def _take(self, form: dict[str, str]) -> web.Response:
        if self.failures and self.failures[0].after > 0:
            self.failures[0].after -= 1
        elif self.failures:
            failure = self.failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self.failures.pop(0)
            return _error(failure.code, failure.status, failure.message)
        if not form.get("To") or not (form.get("Body") or form.get("ContentSid")):
            return _error(21602, 400, "Message body is required.")
        sid = f"SM{next(self._sids):032x}"
        taken = datetime.now(UTC)
        self.messages.append({
            "sid": sid, "to": form["To"], "from": form.get("From"),
            # A template is listed with its rendered text; the fake renders its id.
            "body": form.get("Body") or f"[template {form.get('ContentSid')}]",
            "taken": taken})
        now = _rfc2822(taken)
        body: dict[str, Any] = {
            **self._resource(self.messages[-1]), "status": "queued", "date_created": now,
            "date_updated": now, "date_sent": None, "body": form.get("Body", ""),
        }
        return web.json_response(body, status=201)

    def _resource(self, message: dict[str, Any]) -> dict[str, Any]:
        """A taken message as the list shows it later: sent the moment it was taken."""
        when = _rfc2822(message["taken"])
        sid = message["sid"]
        return {
            "sid": sid, "account_sid": self.account_sid, "api_version": "2010-04-01",
            "to": message["to"], "from": message["from"], "body": message["body"],
            "status": "sent", "direction": "outbound-api", "num_media": "0",
            "num_segments": "1", "date_created": when, "date_updated": when,
            "date_sent": when, "error_code": None, "error_message": None, "price": None,
            "price_unit": "EUR", "messaging_service_sid": None, "subresource_uris": {},
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    async def _list(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        username, password = _basic_auth(request)
        self.requests.append(TwilioRequest(request.method, request.path, {}, username, query))
        refused = self._refused(request, username, password)
        if refused is not None:
            return refused
        try:
            size = min(int(query.get("PageSize", "50")), 1000)
            page = int(query.get("Page", "0"))
            bounds = [(key, _when(query[key])) for key in ("DateSent", "DateSent>", "DateSent<")
                      if key in query]
        except ValueError:
            return _error(20001, 400, "Invalid parameter")
        if size < 1:
            return _error(20001, 400, "Invalid PageSize")

        def wanted(m: dict[str, Any]) -> bool:
            if query.get("To") and m["to"] != query["To"]:
                return False
            if query.get("From") and m["from"] != query["From"]:
                return False
            for key, (start, end) in bounds:
                sent = m["taken"]
                if key == "DateSent" and not start <= sent < end:
                    return False
                if key == "DateSent>" and sent < start:
                    return False
                if key == "DateSent<" and sent >= end:
                    return False
            return True

        found = sorted((m for m in self.messages if wanted(m)),
                       key=lambda m: (m["taken"], m["sid"]), reverse=True)
        token = query.get("PageToken", "")
        start = 0
        if token.startswith("PA"):  # the sid of the last message on the page before
            after = token[2:]
            start = next((i + 1 for i, m in enumerate(found) if m["sid"] == after), len(found))
        records = found[start:start + size]
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(page_number: int, page_token: str | None) -> str:
            params = {**filters, "PageSize": str(size), "Page": str(page_number)}
            if page_token:
                params["PageToken"] = page_token
            return f"{base}?{urlencode(params)}"

        more = start + size < len(found)
        return web.json_response({
            "messages": [self._resource(m) for m in records],
            "uri": uri(page, token or None), "first_page_uri": uri(0, None),
            "next_page_uri": uri(page + 1, f"PA{records[-1]['sid']}") if more else None,
            "previous_page_uri": None if page == 0 else uri(page - 1, None),
            "page": page, "page_size": size, "start": start,
            "end": start + max(len(records) - 1, 0),
        })


def _rfc2822(when: datetime) -> str:
    return when.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _when(value: str) -> tuple[datetime, datetime]:
    """A DateSent filter value as [start, end): a whole day for a date, else one second."""
    if "T" in value:
        start = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return start, start + timedelta(seconds=1)
    start = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    return start, start + timedelta(days=1)


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
