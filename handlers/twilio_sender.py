"""Twilio REST for SMS and WhatsApp: the async client pointed at `TWILIO_API_BASE_URL`,
and the sender the pioneer queue uses (`messages.create`).

twilio 9 builds every URL from fixed hosts (`https://api.twilio.com/2010-04-01/…`), so
the HTTP client rewrites that origin to the configured base; it also applies our request
timeout, which `AsyncTwilioHttpClient` keeps but never passes on to aiohttp, and sends
the credentials as a header.
"""

from __future__ import annotations

import base64
import json
import logging

from aiohttp import ClientError, ClientTimeout
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.config import Settings
from bot.messages import Channel, OutboundMessage
from bot.storage.db import Database
from handlers.delivery import DeliveryError, OptedOut, ensure_may_send, mark_opted_out, mask
from handlers.twilio import bodies

log = logging.getLogger(__name__)

TWILIO_ORIGIN = "https://api.twilio.com"
REQUEST_TIMEOUT = 10.0
# Twilio error codes we act on.
UNSUBSCRIBED = 21610  # the recipient replied STOP to the carrier
OUTSIDE_WINDOW = 63016  # WhatsApp free-form message outside the 24-hour window


class TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """`AsyncTwilioHttpClient` with a base URL and a request timeout of our choosing."""

    def __init__(self, base_url: str = TWILIO_ORIGIN, timeout: float = REQUEST_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    # twilio's own signature, so the per-request `timeout` stays.
    async def request(
        self, method: str, url: str, params: dict[str, object] | None = None,
        data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None, timeout: float | None = None,  # noqa: ASYNC109
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        if url.startswith(TWILIO_ORIGIN):
            url = self.base_url + url[len(TWILIO_ORIGIN):]
        headers = dict(headers or {})
        if auth is not None:  # as a header: aiohttp deprecates `auth` and BasicAuth
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {credentials}"
        log.debug("twilio %s %s", method.upper(), url)
        async with self.session.request(
            method.upper(), url, params=params, data=data, headers=headers,
            timeout=ClientTimeout(total=timeout or self.timeout),
            allow_redirects=allow_redirects,
        ) as response:
            return Response(response.status, await response.text(), response.headers)


def build_client(settings: Settings) -> Client:
    """A Twilio client with its own aiohttp session: call inside the running event loop,
    and close it with `await client.http_client.close()`."""
    http = TwilioHttpClient(settings.twilio_api_base_url)
    return Client(settings.twilio_account_sid, settings.twilio_auth_token,
                  account_sid=settings.twilio_account_sid, http_client=http)


class TwilioSender:
    """`bot.ports.Sender` for SMS and WhatsApp through Twilio's REST API."""

    def __init__(self, client: Client, settings: Settings, db: Database) -> None:
        self.client = client
        self.settings = settings
        self.db = db

    def _sender_for(self, channel: Channel) -> str:
        sender = (self.settings.twilio_whatsapp_from if channel is Channel.WHATSAPP
                  else self.settings.twilio_sms_from)
        if not sender:
            variable = ("TWILIO_WHATSAPP_FROM" if channel is Channel.WHATSAPP
                        else "TWILIO_SMS_FROM")
            raise DeliveryError("config", False,
                                f"{variable} is not set: cannot send by {channel.value}")
        return sender

    async def send(self, message: OutboundMessage) -> str | None:
        if message.channel not in (Channel.SMS, Channel.WHATSAPP):
            raise DeliveryError("channel", False,
                                f"Twilio does not carry the {message.channel.value} channel")
        await ensure_may_send(self.db, message.channel, message.address)
        sender = self._sender_for(message.channel)
        sid: str | None = None
        for body in bodies(message):
            sid = await self._create(message.channel, message.address,
                                     to=message.address, from_=sender, body=body)
        return sid

    async def send_template(self, address: str, content_sid: str,
                            variables: dict[str, str]) -> str | None:
        """`bot.ports.TemplateSender`: an approved WhatsApp template, for outside the
        24-hour window (the outbox decides when)."""
        await ensure_may_send(self.db, Channel.WHATSAPP, address)
        return await self._create(Channel.WHATSAPP, address, to=address,
                                  from_=self._sender_for(Channel.WHATSAPP),
                                  content_sid=content_sid,
                                  content_variables=json.dumps(variables))

    async def _create(self, channel: Channel, address: str, **fields: str) -> str | None:
        try:
            created = await self.client.messages.create_async(**fields)
        except TwilioRestException as error:
            if error.code == UNSUBSCRIBED:
                await mark_opted_out(self.db, channel, address)
                raise OptedOut.by_provider(channel, address) from error
            status = error.status if isinstance(error.status, int) else 0
            hint = " (outside WhatsApp's 24-hour window: set TWILIO_WHATSAPP_TEMPLATE_SID)" \
                if error.code == OUTSIDE_WINDOW else ""
            raise DeliveryError(
                str(error.code or status), status >= 500 or status == 429,
                f"Twilio refused a message to {mask(address)}: {error.msg}{hint}",
            ) from error
        except (ClientError, TimeoutError) as error:
            raise DeliveryError("network", True, f"Twilio unreachable: {error!r}") from error
        return str(created.sid) if created.sid else None
