"""A small real message provider on 127.0.0.1 for the pioneer-queue tests, and a
`bot.ports.Sender` that talks HTTP to it (the network edge; the channel senders of the
channels work are tested against their own fakes).

`provider.fail(n, status, code)` makes the next n sends fail the way a provider does.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.messages import Channel, OutboundMessage
from bot.ports import DeliveryError


@dataclass
class LocalProvider:
    sent: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    server: TestServer | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/messages", self._message)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/messages"))

    def fail(self, times: int, status: int = 503, code: str = "down") -> None:
        self.failures.extend([(status, code)] * times)

    async def _message(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.failures:
            status, code = self.failures.pop(0)
            return web.json_response({"code": code, "message": "failed"}, status=status)
        body["sid"] = f"SM{next(self._ids):06d}"
        self.sent.append(body)
        return web.json_response({"sid": body["sid"]}, status=201)

    def texts(self, to: str | None = None) -> list[str]:
        return [m.get("text", "") for m in self.sent
                if m.get("kind") == "text" and (to is None or m["to"] == to)]

    def templates(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("kind") == "template"]


class HttpSender:
    """Posts to the local provider; errors become `DeliveryError` like a real sender's."""

    def __init__(self, url: str, channel: Channel) -> None:
        self.url = url
        self.channel = channel

    async def _post(self, payload: dict[str, Any]) -> str | None:
        try:
            async with aiohttp.ClientSession() as session, session.post(
                    self.url, json=payload, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                body = await resp.json()
        except aiohttp.ClientError as exc:
            raise DeliveryError("network", True, repr(exc)) from exc
        if resp.status >= 400:
            raise DeliveryError(str(body.get("code")), resp.status >= 500 or resp.status == 429,
                                str(body.get("message")))
        return str(body["sid"])

    async def send(self, message: OutboundMessage) -> str | None:
        return await self._post({"kind": "text", "channel": message.channel.value,
                                 "to": message.address, "text": message.text})

    async def send_template(self, address: str, content_sid: str,
                            variables: dict[str, str]) -> str | None:
        return await self._post({"kind": "template", "channel": self.channel.value,
                                 "to": address, "content_sid": content_sid,
                                 "variables": variables})


def senders_for(provider: LocalProvider) -> dict[Channel, HttpSender]:
    return {c: HttpSender(provider.url, c)
            for c in (Channel.SMS, Channel.WHATSAPP, Channel.TELEGRAM)}


@pytest.fixture(name="provider")
async def provider_fixture() -> AsyncIterator[LocalProvider]:
    fake = LocalProvider()
    await fake.start()
    yield fake
    await fake.close()
