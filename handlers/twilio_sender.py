"""Twilio REST for SMS and WhatsApp: the async client pointed at `TWILIO_API_BASE_URL`,
and the sender the pioneer queue uses (`messages.create`, and `messages.list` to find out
whether an attempt that got no answer arrived after all: `bot.ports.Reconciler`).

twilio 9 builds every URL from fixed hosts (`https://api.twilio.com/2010-04-01/…`), so
the HTTP client rewrites that origin to the configured base; it also applies our request
timeout, which `AsyncTwilioHttpClient` keeps but never passes on to aiohttp, and sends
the credentials as a header.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta

from aiohttp import ClientConnectorError, ClientError, ClientTimeout, ConnectionTimeoutError
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.config import Settings
from bot.messages import Channel, OutboundMessage
from bot.ports import PriorSend
from bot.storage.db import Database
from handlers.delivery import DeliveryError, OptedOut, ensure_may_send, mark_opted_out, mask
from handlers.twilio import bodies

log = logging.getLogger(__name__)

TWILIO_ORIGIN = "https://api.twilio.com"
REQUEST_TIMEOUT = 10.0
# Twilio error codes we act on.
UNSUBSCRIBED = 21610  # the recipient replied STOP to the carrier
OUTSIDE_WINDOW = 63016  # WhatsApp free-form message outside the 24-hour window
# Our clock and Twilio's may differ this much: a lookup starts this long before the attempt.
CLOCK_SKEW = timedelta(minutes=1)
# At most this many of our messages to one person since an uncertain attempt are read,
# in pages of this size.
LOOKUP_LIMIT = 200
LOOKUP_PAGE = 50


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
        return await self.send_rest(message, PriorSend(()))

    async def send_rest(self, message: OutboundMessage, prior: PriorSend) -> str | None:
        """`bot.ports.Reconciler`: send the parts `prior` did not find at Twilio (all of
        them for a fresh `PriorSend(())`)."""
        if message.channel not in (Channel.SMS, Channel.WHATSAPP):
            raise DeliveryError("channel", False,
                                f"Twilio does not carry the {message.channel.value} channel")
        await ensure_may_send(self.db, message.channel, message.address)
        sender = self._sender_for(message.channel)
        sid = prior.last_id
        sent_any = False
        for i, body in enumerate(bodies(message)):
            if i < len(prior.parts) and prior.parts[i]:
                continue
            try:
                sid = await self._create(message.channel, message.address,
                                         to=message.address, from_=sender, body=body)
            except DeliveryError as error:
                if sent_any and not error.uncertain:
                    # Part of the message went: the retry must look up what, not resend it.
                    raise DeliveryError(error.code, error.retryable, error.message,
                                        uncertain=True) from error
                raise
            sent_any = True
        return sid

    async def prior_send(self, message: OutboundMessage, since: datetime,
                         known: frozenset[str]) -> PriorSend:
        """`bot.ports.Reconciler`: which parts of `message` Twilio took from us for this
        address at or after `since` (GET …/Messages.json filtered on To, From and
        DateSent, newest first), leaving out the ids in `known`. A part matches a message
        with the same body; each message matches once."""
        sender = self._sender_for(message.channel)
        after = since - CLOCK_SKEW
        try:
            listed = await self.client.messages.list_async(
                to=message.address, from_=sender, date_sent_after=after, limit=LOOKUP_LIMIT,
                page_size=LOOKUP_PAGE)
        except TwilioRestException as error:
            status = error.status if isinstance(error.status, int) else 0
            raise DeliveryError(str(error.code or status), status >= 500 or status == 429,
                                f"Twilio lookup for {mask(message.address)} failed: "
                                f"{error.msg}") from error
        except (ClientError, TimeoutError) as error:  # a lookup sends nothing: safe to retry
            raise DeliveryError("network", True, f"Twilio unreachable: {error!r}") from error
        ours = [m for m in listed
                if str(m.sid) not in known and str(m.direction or "").startswith("outbound")
                and (m.date_created is None or m.date_created >= after)]
        parts: list[str | None] = []
        used: set[str] = set()
        for body in bodies(message):
            match = next((m for m in reversed(ours)  # oldest first: parts went in order
                          if str(m.sid) not in used and _same(m.body, body)), None)
            parts.append(str(match.sid) if match is not None else None)
            if match is not None:
                used.add(str(match.sid))
        others = tuple(str(m.sid) for m in ours
                       if str(m.sid) not in used and not any(_same(m.body, b)
                                                             for b in bodies(message)))
        found = sum(1 for p in parts if p)
        if found:
            log.info("twilio: %s of %s part(s) to %s found sent already", found, len(parts),
                     mask(message.address))
        return PriorSend(tuple(parts), others)

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
            # An error answer (5xx included) means Twilio did not take the message.
            raise DeliveryError(
                str(error.code or status), status >= 500 or status == 429,
                f"Twilio refused a message to {mask(address)}: {error.msg}{hint}",
            ) from error
        except (ClientConnectorError, ConnectionTimeoutError) as error:
            # No connection was made, so no request went out.
            raise DeliveryError("network", True, f"Twilio unreachable: {error!r}") from error
        except (ClientError, TimeoutError) as error:
            # The request may have gone out (no answer, or the connection lost after it).
            raise DeliveryError("network", True, f"No answer from Twilio: {error!r}",
                                uncertain=True) from error
        return str(created.sid) if created.sid else None


def _same(listed: str | None, body: str) -> bool:
    """Twilio lists the body as it was given; line endings and outer spaces aside."""
    def norm(text: str) -> str:
        return text.replace("\r\n", "\n").strip()
    return listed is not None and norm(listed) == norm(body)
