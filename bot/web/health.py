"""GET /healthz: 200 when the database answers and the knowledge base is loaded."""

from __future__ import annotations

from aiohttp import web

from bot.web.keys import CORE


async def healthz(request: web.Request) -> web.Response:
    core = request.app[CORE]
    database = await core.db.ping()
    entries = len(core.kb)
    ok = database and entries > 0
    body = {"status": "ok" if ok else "unavailable", "database": database, "entries": entries}
    return web.json_response(body, status=200 if ok else 503)


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
