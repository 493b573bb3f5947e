"""A local fake of the Telegram Bot API that the real python-telegram-bot talks to.

It records every call (`calls`, `sent`), answers the methods the helpline uses, hands
out queued updates through getUpdates, and fails on demand (`fail`): an HTTP 500, or a
429 with `retry_after`, the way the real Bot API answers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

BOT_ID = 7000000001
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Thuisgevers Test",
            "username": "thuisgevers_test_bot", "can_join_groups": True,
            "can_read_all_group_messages": False, "supports_inline_queries": False}
# Parameters python-telegram-bot sends JSON-encoded inside the form.
JSON_FIELDS = frozenset({"reply_markup", "allowed_updates", "link_preview_options",
                         "entities", "reply_parameters"})
# How long an empty getUpdates may hang, whatever `timeout` the client asks for.
MAX_LONG_POLL = 0.5


@dataclass(frozen=True)
class Call:
    """One Bot API request as the fake received it."""

    method: str
    params: dict[str, Any]
    token: str


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class FakeTelegram:
    """The fake Bot API; `base_url` goes into TELEGRAM_API_BASE_URL."""

    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    delay: float = 0.0  # seconds before each answer (to exercise client timeouts)
    server: TestServer | None = None
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _new_updates: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    @property
    def base_url(self) -> str:
        assert self.server is not None and self.server.port is not None, "start() first"
        return f"http://127.0.0.1:{self.server.port}/bot"

    # ---- test controls -------------------------------------------------------------

    def fail(self, method: str, status: int = 500, description: str = "Internal Server Error",
             *, retry_after: int | None = None, times: int = 1) -> None:
        """Make the next `times` calls of `method` fail (429 + retry_after for flood waits)."""
        self.failures.setdefault(method, []).append(
            Failure(status, description, retry_after, times))

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (long polling)."""
        self.updates.append(update)
        self._new_updates.set()

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    @property
    def sent(self) -> list[Call]:
        """Every sendMessage, in order."""
        return self.called("sendMessage")

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        return [c.params["text"] for c in self.sent
                if chat_id is None or str(c.params["chat_id"]) == str(chat_id)]

    async def wait_for(self, method: str, count: int = 1, within: float = 5.0) -> list[Call]:
        """Poll until `count` calls of `method` arrived (for background senders)."""
        deadline = time.monotonic() + within
        while len(self.called(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} called {len(self.called(method))}x, "
                                     f"expected {count}")
            await asyncio.sleep(0.01)
        return self.called(method)

    # ---- the API -------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append(Call(method, params, request.match_info["token"]))
        if self.delay and method != "getUpdates":
            await asyncio.sleep(self.delay)
        failure = self._next_failure(method)
        if failure is not None:
            body: dict[str, Any] = {"ok": False, "error_code": failure.status,
                                    "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return web.json_response(body, status=failure.status)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found: method not found"},
                                     status=404)
        result = await handler(params)
        return web.json_response({"ok": True, "result": result})

    def _next_failure(self, method: str) -> Failure | None:
        pending = self.failures.get(method)
        if not pending:
            return None
        failure = pending[0]
        failure.times -= 1
        if failure.times <= 0:
            pending.pop(0)
        return failure

    def _message(self, params: dict[str, Any], message_id: int | None = None) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat: dict[str, Any] = ({"id": chat_id, "type": "private", "first_name": "Test"}
                                if chat_id > 0 else
                                {"id": chat_id, "type": "supergroup", "title": "Pioniers"})
        message: dict[str, Any] = {
            "message_id": message_id or next(self._message_ids), "date": int(time.time()),
            "chat": chat, "from": BOT_USER, "text": params.get("text", ""),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _api_getMe(self, _params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _api_setWebhook(self, _params: dict[str, Any]) -> Any:
        return True

    async def _api_deleteWebhook(self, _params: dict[str, Any]) -> Any:
        return True

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        return self._message(params)

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        return self._message(params, int(params["message_id"]))

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        return self._message(params, int(params["message_id"]))

    async def _api_answerCallbackQuery(self, _params: dict[str, Any]) -> Any:
        return True

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates:
            self._new_updates.clear()
            wait = min(float(params.get("timeout") or 0), MAX_LONG_POLL)
            try:
                await asyncio.wait_for(self._new_updates.wait(), wait)
            except TimeoutError:
                return []
        return list(self.updates)


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = await request.json()
        return dict(data) if isinstance(data, dict) else {}
    form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            continue  # an uploaded file; the helpline sends none
        params[key] = json.loads(value) if key in JSON_FIELDS else value
    return params
