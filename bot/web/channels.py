"""The messaging channels on the web server: Telegram, SMS and WhatsApp.

Each channel whose credentials are set is owned by a cleanup context (client sessions
opened inside the running loop, closed on shutdown) and gets its webhook route and its
sender in `SENDERS`. A channel without credentials stays off: its webhook answers 404.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.messages import Channel
from bot.web.keys import CORE, SENDERS, SETTINGS
from handlers import telegram_webhook as tg
from handlers.delivery import is_opted_out, mask, replay_allowed
from handlers.twilio import (
    BadForm,
    inbound_from_form,
    is_status_callback,
    parse_form,
    signature_valid,
    twiml,
)
from handlers.twilio_sender import TwilioSender, build_client

log = logging.getLogger(__name__)

TWILIO_PATH = "/webhooks/twilio"
TELEGRAM = web.AppKey("telegram", tg.TelegramChannel)
TWILIO = web.AppKey("twilio", TwilioSender)
# The seam for the pioneers' Telegram group: append handlers before the app starts.
GROUP_HANDLERS: web.AppKey[list[tg.GroupHandler]] = web.AppKey("telegram_group_handlers")


def setup(app: web.Application, *, telegram_polling: bool = False) -> None:
    """Register the webhooks and the channels' cleanup contexts (after the core's)."""
    app[SENDERS] = {}
    if GROUP_HANDLERS not in app:
        app[GROUP_HANDLERS] = []

    async def own_telegram(app: web.Application) -> AsyncIterator[None]:
        settings, core = app[SETTINGS], app[CORE]
        if not settings.telegram_enabled:
            log.info("Telegram is off (TELEGRAM_BOT_TOKEN not set)")
            yield
            return
        group_handlers: list[tg.GroupHandler] = app[GROUP_HANDLERS]
        async with tg.running(settings, core.helpline, core.db, group_handlers,
                              polling=telegram_polling) as channel:
            app[TELEGRAM] = channel
            app[SENDERS][Channel.TELEGRAM] = channel.sender
            yield

    async def own_twilio(app: web.Application) -> AsyncIterator[None]:
        settings, core = app[SETTINGS], app[CORE]
        if not settings.twilio_enabled:
            log.info("SMS and WhatsApp are off (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not set)")
            yield
            return
        if not settings.public_url:
            log.warning("PUBLIC_URL is not set: Twilio signatures are checked against %s, "
                        "so webhooks through a tunnel or proxy get 403", settings.base_url)
        client = build_client(settings)
        try:
            sender = TwilioSender(client, settings, core.db)
            app[TWILIO] = sender
            app[SENDERS][Channel.SMS] = sender
            app[SENDERS][Channel.WHATSAPP] = sender
            yield
        finally:
            await client.http_client.close()

    app.cleanup_ctx.append(own_telegram)
    app.cleanup_ctx.append(own_twilio)
    app.router.add_post(tg.WEBHOOK_PATH, telegram_webhook)
    app.router.add_post(TWILIO_PATH, twilio_webhook)


async def telegram_webhook(request: web.Request) -> web.Response:
    channel = request.app.get(TELEGRAM)
    if channel is None:
        raise web.HTTPNotFound(text="Telegram is off")
    if not tg.secret_matches(request.app[SETTINGS], request.headers.get(tg.SECRET_HEADER)):
        raise web.HTTPForbidden(text="wrong secret token")
    update = tg.parse_update(await request.read(), channel.bot)
    if not await channel.process(update):
        # A reply could not be sent for now: Telegram retries the update, and the retry
        # sends what is still unsent (the message itself is stored once).
        raise web.HTTPServiceUnavailable(text="reply not sent yet")
    return web.Response(text="ok")


async def twilio_webhook(request: web.Request) -> web.Response:
    """Answer a Messaging webhook with TwiML, after checking Twilio signed it."""
    settings = request.app[SETTINGS]
    if request.app.get(TWILIO) is None or not settings.twilio_auth_token:
        raise web.HTTPNotFound(text="SMS and WhatsApp are off")
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise web.HTTPForbidden(text="missing signature")
    try:
        form = parse_form(await request.read())
    except BadForm:
        raise web.HTTPBadRequest(text="not a form") from None
    # Twilio signs the URL it called: PUBLIC_URL plus our path and query, byte for byte.
    url = settings.base_url + request.raw_path
    if not signature_valid(settings.twilio_auth_token, url, form, signature,
                           request.headers.get("X-Twilio-Webhooks-Signature-Settings")):
        log.warning("twilio webhook with a bad signature for %s", url)
        raise web.HTTPForbidden(text="bad signature")
    if is_status_callback(form):
        return web.Response(text=twiml(()), content_type="text/xml")
    try:
        inbound = inbound_from_form(form)
    except BadForm:
        raise web.HTTPBadRequest(text="not a Twilio message") from None
    handled = await request.app[CORE].helpline.handle(inbound)
    replies = handled.replies
    # A retry comes when Twilio did not get our first answer, so the person got nothing
    # yet: answering with the same stored replies gives them exactly one. An opted-out
    # contact only ever gets the confirmation of their opt-out.
    if handled.suppressed or (handled.duplicate and not replay_allowed(
            handled, await is_opted_out(request.app[CORE].db, inbound.channel, inbound.address))):
        replies = ()
    if handled.duplicate:
        log.info("twilio retry of %s from %s", inbound.provider_id, mask(inbound.address))
    return web.Response(text=twiml(replies), content_type="text/xml")
