"""The floor of the load benchmark (issue 6): a bare aiohttp server that reads the webhook
and answers a fixed TwiML reply (Twilio) or "ok" (Telegram), with no signature check, no
database and no matching. What `serve` adds on top of this is what the helpline costs.

    python benchmarks/bare_server.py --port PORT
"""

from __future__ import annotations

import argparse

from aiohttp import web

TWIML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
         "Dank voor je vraag. De Thuisgevers helpen je graag.</Message></Response>")


async def twilio(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text=TWIML, content_type="text/xml")


async def telegram(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build() -> web.Application:
    app = web.Application()
    app.router.add_post("/webhooks/twilio", twilio)
    app.router.add_post("/webhooks/telegram", telegram)
    app.router.add_get("/healthz", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    web.run_app(build(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
