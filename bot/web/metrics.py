"""GET /metrics in the Prometheus text format, behind METRICS_TOKEN when it is set.

Counts come from the database at scrape time, so they are the same whichever process is
asked and survive restarts; the webhook latency histogram is this process's own, kept on
the app (`LATENCY`) and filled by `latency_middleware`.
"""

from __future__ import annotations

import bisect
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import func, select

from bot.ratelimit import RATE_LIMITED
from bot.storage.models import Delivery, DeliveryStatus, Direction, Message, Ticket, TicketStatus
from bot.web.keys import CORE, SETTINGS

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain"
WEBHOOKS = "/webhooks/"
KNOWN_WEBHOOKS = frozenset({"telegram", "twilio"})


@dataclass
class Histogram:
    """Cumulative-bucket histogram, one series per label value."""

    buckets: tuple[float, ...] = BUCKETS
    counts: dict[str, list[int]] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)

    def observe(self, label: str, seconds: float) -> None:
        counts = self.counts.setdefault(label, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.sums[label] = self.sums.get(label, 0.0) + seconds

    def lines(self, name: str, label: str) -> Iterable[str]:
        for value in sorted(self.counts):
            running = 0
            for bound, count in zip((*self.buckets, float("inf")), self.counts[value],
                                    strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                yield f'{name}_bucket{{{label}="{value}",le="{le}"}} {running}'
            yield f'{name}_sum{{{label}="{value}"}} {self.sums[value]:.6f}'
            yield f'{name}_count{{{label}="{value}"}} {running}'


LATENCY: web.AppKey[Histogram] = web.AppKey("webhook_latency", Histogram)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _outcome(kind: str | None, entry_id: str | None) -> str:
    if kind == "intent" and entry_id == RATE_LIMITED:
        return RATE_LIMITED
    return kind or "unhandled"


async def render(request: web.Request) -> str:
    db = request.app[CORE].db
    async with db.session() as session:
        messages = (await session.execute(
            select(Message.channel, Message.direction, Message.kind, Message.entry_id,
                   func.count())
            .group_by(Message.channel, Message.direction, Message.kind, Message.entry_id)
        )).all()
        tickets: dict[str, int] = {
            status: int(n) for status, n in (await session.execute(
                select(Ticket.status, func.count()).group_by(Ticket.status))).all()}
        outbox: dict[str, int] = {
            status: int(n) for status, n in (await session.execute(
                select(Delivery.status, func.count()).group_by(Delivery.status))).all()}

    by_label: dict[tuple[str, str, str], int] = {}
    for channel, direction, kind, entry_id, count in messages:
        outcome = _outcome(kind, entry_id) if direction == Direction.IN.value else "reply"
        key = (channel, direction, outcome)
        by_label[key] = by_label.get(key, 0) + int(count)

    out = ["# HELP thuisgevers_messages_total Messages stored, by channel, direction and outcome.",
           "# TYPE thuisgevers_messages_total counter"]
    out += [f'thuisgevers_messages_total{{channel="{_escape(c)}",direction="{d}",'
            f'outcome="{_escape(o)}"}} {n}' for (c, d, o), n in sorted(by_label.items())]
    out += ["# HELP thuisgevers_tickets Tickets by status.", "# TYPE thuisgevers_tickets gauge"]
    out += [f'thuisgevers_tickets{{status="{s.value}"}} {int(tickets.get(s.value, 0))}'
            for s in TicketStatus]
    waiting = sum(int(tickets.get(s.value, 0)) for s in (TicketStatus.OPEN, TicketStatus.CLAIMED))
    out += ["# HELP thuisgevers_tickets_open Tickets waiting for a pioneer (open or claimed).",
            "# TYPE thuisgevers_tickets_open gauge", f"thuisgevers_tickets_open {waiting}"]
    out += ["# HELP thuisgevers_outbox Pioneer answers in the outbox, by status.",
            "# TYPE thuisgevers_outbox gauge"]
    out += [f'thuisgevers_outbox{{status="{s.value}"}} {int(outbox.get(s.value, 0))}'
            for s in DeliveryStatus]
    failed = int(outbox.get(DeliveryStatus.FAILED.value, 0))
    out += ["# HELP thuisgevers_delivery_failures_total Pioneer answers that could not be "
            "delivered.", "# TYPE thuisgevers_delivery_failures_total counter",
            f"thuisgevers_delivery_failures_total {failed}"]
    out += ["# HELP thuisgevers_webhook_latency_seconds Time to answer a webhook (this process).",
            "# TYPE thuisgevers_webhook_latency_seconds histogram"]
    out += list(request.app[LATENCY].lines("thuisgevers_webhook_latency_seconds", "route"))
    return "\n".join(out) + "\n"


def authorised(request: web.Request) -> bool:
    token = request.app[SETTINGS].metrics_token
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode())


async def metrics(request: web.Request) -> web.Response:
    if not authorised(request):
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                                   text="a metrics token is required")
    return web.Response(text=await render(request), content_type=CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})


@web.middleware
async def latency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(WEBHOOKS):
        return await handler(request)
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        route = request.path.removeprefix(WEBHOOKS).split("/")[0]
        route = route if route in KNOWN_WEBHOOKS else "other"  # no label per random path
        request.app[LATENCY].observe(route, time.perf_counter() - started)


def setup(app: web.Application) -> None:
    app[LATENCY] = Histogram()
    app.middlewares.append(latency_middleware)
    app.router.add_get("/metrics", metrics)
