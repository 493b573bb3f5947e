"""The application factory: one aiohttp app owning every resource through cleanup contexts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot import retention
from bot.config import Settings
from bot.core import Core, build_core, freeze_startup_objects
from bot.storage.migrate import upgrade
from bot.web import channels, chat, guard, health, metrics, queue
from bot.web.keys import CORE, SETTINGS
from handlers import inbox, pioneer_telegram

MAX_BODY = 256 * 1024


def create_app(
    settings: Settings,
    core: Core | None = None,
    *,
    migrate: bool = False,
    telegram_polling: bool = False,
) -> web.Application:
    """Build the app. With `core`, use it (tests); otherwise build one from the settings."""
    app = web.Application(client_max_size=MAX_BODY)
    app[SETTINGS] = settings

    async def own_core(app: web.Application) -> AsyncIterator[None]:
        owned = core is None
        app[CORE] = core if core is not None else build_core(settings)
        if migrate:
            await upgrade(app[CORE].db)
        yield
        if owned:
            await app[CORE].db.dispose()

    app.cleanup_ctx.append(own_core)
    guard.setup(app)
    metrics.setup(app)
    retention.setup(app)
    health.setup(app)
    chat.setup(app)
    channels.setup(app, telegram_polling=telegram_polling)
    queue.setup(app)
    pioneer_telegram.setup(app)
    inbox.setup(app)
    app.router.add_get("/", _home)
    app.on_startup.append(_freeze_startup_objects)
    return app


async def _freeze_startup_objects(_app: web.Application) -> None:
    freeze_startup_objects()


async def _home(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/chat")
