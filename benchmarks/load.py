"""Webhook load (issue 6): signed Twilio SMS webhooks at fixed offered rates against
`python -m bot serve` on SQLite and PostgreSQL, the same load against a bare aiohttp
handler (benchmarks/bare_server.py, the floor), and Telegram webhooks with replies going
to a fake Bot API.

    python benchmarks/load.py [--rates 50 200 500] [--duration 20] [--telegram-rates 50 200]
                              [--targets bare sqlite postgresql] [--smoke] [--results FILE]

Each run starts a fresh server (and a fresh database) as its own process, then the load
generator (benchmarks/loadgen.py) as another: open loop on loopback, bounded count and
duration. Reported per run: achieved rate (answered requests per second of sending),
p50/p95/p99 latency, errors (non-2xx and timeouts), the server's peak RSS (VmRSS sampled
every 50 ms), and each figure's ratio to the bare handler's at the same rate. After each
run against `serve`, the database is checked: every accepted (2xx) webhook's id must be
stored exactly once as an inbound message ("lost" counts those that are not).
PostgreSQL runs need TEST_DATABASE_URL (a database per run is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from benchkit import RESULTS, ROOT, percentile, record, revision, table
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.storage.db import Database

sys.path.insert(0, str(ROOT))
from tests.fakes.telegram_api import FakeTelegram

PUBLIC_URL = "http://helpline.test"
AUTH_TOKEN = "bench-auth-token-000000000000000"
ACCOUNT_SID = "AC" + "0" * 32
BOT_TOKEN = "123456:bench-token"
SECRET = "bench-webhook-secret"
# Each sender writes at most twice per run, but a burst must not meet the rate limit.
RATE_LIMIT = "1000"


@dataclass(frozen=True, slots=True)
class Outcome:
    target: str
    kind: str
    offered: float
    sent: int
    achieved: float
    p50: float
    p95: float
    p99: float
    errors: int
    timeouts: int
    rss_mb: float
    cpu_ms: float  # server CPU time per request sent, over the sending and the drain
    lost: int | None  # None: not checked (the bare handler stores nothing)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tail(log: Path) -> str:
    return log.read_text("utf-8", errors="replace")[-3000:]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sample_peak(pid: int, stop: asyncio.Event) -> float:
    peak = rss_mb(pid)
    while not stop.is_set():
        peak = max(peak, rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    return max(peak, rss_mb(pid))


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A database of its own on the server of `admin_url`, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = Database(admin_url)
    async with admin.engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
            text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
                text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def server_env(database_url: str, port: int, telegram_api: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "TELEGRAM_", "DATABASE_URL", "PUBLIC_URL"))}
    env.update(DATABASE_URL=database_url, HOST="127.0.0.1", PORT=str(port),
               PUBLIC_URL=PUBLIC_URL, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
               TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_SMS_FROM="+31970000000",
               TWILIO_API_BASE_URL="http://127.0.0.1:9", RATE_LIMIT_PER_MINUTE=RATE_LIMIT,
               KNOWLEDGE_DIR=str(ROOT / "knowledge"))
    if telegram_api is not None:
        env.update(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET=SECRET,
                   TELEGRAM_API_BASE_URL=telegram_api)
    return env


@contextlib.asynccontextmanager
async def server(command: Sequence[str], env: dict[str, str], port: int,
                 log: Path) -> AsyncIterator[int]:
    """Start a server process, wait for /healthz, yield its pid, stop it."""
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(*command, env=env, cwd=ROOT,
                                                    stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while True:
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start:\n{tail(log)}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.1)
        yield proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def run_loadgen(port: int, kind: str, rate: float, duration: float,
                      workdir: Path) -> dict[str, Any]:
    out = workdir / f"load-{kind}-{rate:g}-{uuid.uuid4().hex[:6]}.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "benchmarks" / "loadgen.py"),
        "--target", f"http://127.0.0.1:{port}", "--kind", kind, "--rate", str(rate),
        "--duration", str(duration), "--public-url", PUBLIC_URL, "--auth-token", AUTH_TOKEN,
        "--secret", SECRET, "--out", str(out), cwd=ROOT)
    if await proc.wait() != 0:
        raise RuntimeError("the load generator failed")
    result: dict[str, Any] = json.loads(out.read_text("utf-8"))
    return result


async def lost_messages(database_url: str, channel: str, accepted: Sequence[str]) -> int:
    """How many accepted ids are not stored exactly once as an inbound message."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            rows = (await session.execute(text(
                "SELECT provider_id, count(*) FROM messages "
                "WHERE direction = 'in' AND channel = :channel GROUP BY provider_id"),
                {"channel": channel})).all()
    finally:
        await db.dispose()
    stored = {str(provider_id): int(count) for provider_id, count in rows}
    return sum(1 for sid in accepted if stored.get(sid) != 1)


def outcome(target: str, kind: str, load: dict[str, Any], rss: float, cpu: float,
            lost: int | None) -> Outcome:
    results = load["results"]
    ok = sorted(ms for _, status, ms in results if 200 <= status < 300)
    everything = sorted(ms for _, _, ms in results)
    return Outcome(
        target, kind, load["offered_rate"], load["sent"],
        len(ok) / max(load["send_seconds"], 1e-9),
        percentile(everything, 0.50), percentile(everything, 0.95),
        percentile(everything, 0.99),
        sum(1 for _, status, _ in results if not 200 <= status < 300),
        sum(1 for _, status, _ in results if status == 0), rss,
        cpu * 1000 / max(1, len(results) + len(load["warmup"])), lost)


async def one_run(target: str, kind: str, rate: float, duration: float, workdir: Path,
                  pg_admin: str | None, telegram_api: str | None) -> Outcome:
    port = free_port()
    log = workdir / f"server-{target}-{kind}-{rate:g}.log"
    async with contextlib.AsyncExitStack() as stack:
        if target == "bare":
            command = [sys.executable, str(ROOT / "benchmarks" / "bare_server.py"),
                       "--port", str(port)]
            env = dict(os.environ)
            database_url = ""
        else:
            if target == "sqlite":
                database_url = f"sqlite+aiosqlite:///{workdir / f'{kind}-{rate:g}.db'}"
            else:
                assert pg_admin is not None
                database_url = await stack.enter_async_context(postgres_database(pg_admin))
            env = server_env(database_url, port, telegram_api)
            upgrade = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "db", "upgrade", env=env, cwd=ROOT,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            if await upgrade.wait() != 0:
                raise RuntimeError("db upgrade failed")
            command = [sys.executable, "-m", "bot", "serve"]
        pid = await stack.enter_async_context(server(command, env, port, log))
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_peak(pid, stop))
        cpu_start = cpu_seconds(pid)
        load = await run_loadgen(port, kind, rate, duration, workdir)
        cpu = cpu_seconds(pid) - cpu_start
        stop.set()
        rss = await sampler
        lost = None
        if target != "bare":
            accepted = [sid for sid, status, _ in load["results"] if 200 <= status < 300]
            accepted += load["warmup"]
            lost = await lost_messages(database_url, "sms" if kind == "twilio" else "telegram",
                                       accepted)
    result = outcome(target, kind, load, rss, cpu, lost)
    print(f"  {target:10} {kind:8} {rate:>5g}/s  achieved {result.achieved:7.1f}/s  "
          f"p50 {result.p50:7.1f}  p99 {result.p99:8.1f} ms  errors {result.errors}  "
          f"rss {result.rss_mb:5.0f} MB  cpu {result.cpu_ms:5.1f} ms/req  lost {result.lost}",
          flush=True)
    return result


def ratio(value: float, floor: float | None) -> str:
    if floor is None or floor <= 0:
        return "–"
    return f"{value / floor:.1f}×"


def report(outcomes: Sequence[Outcome]) -> str:
    floors = {(o.kind, o.offered): o for o in outcomes if o.target == "bare"}
    header = ["target", "webhook", "offered/s", "sent", "achieved/s", "p50 ms", "p95 ms",
              "p99 ms", "errors (timeouts)", "peak RSS MB", "CPU ms/req", "lost", "p50 / bare",
              "p99 / bare", "RSS / bare", "CPU / bare"]
    rows = []
    for o in outcomes:
        bare = floors.get((o.kind, o.offered))
        rows.append([
            o.target, o.kind, f"{o.offered:g}", o.sent, f"{o.achieved:.1f}", f"{o.p50:.1f}",
            f"{o.p95:.1f}", f"{o.p99:.1f}", f"{o.errors} ({o.timeouts})", f"{o.rss_mb:.0f}",
            f"{o.cpu_ms:.2f}", "–" if o.lost is None else o.lost,
            ratio(o.p50, bare.p50 if bare else None), ratio(o.p99, bare.p99 if bare else None),
            ratio(o.rss_mb, bare.rss_mb if bare else None),
            ratio(o.cpu_ms, bare.cpu_ms if bare else None)])
    return table(header, rows)


async def main_async(args: argparse.Namespace) -> str:
    pg_admin = os.environ.get("TEST_DATABASE_URL")
    targets = [t for t in args.targets if t != "postgresql" or pg_admin]
    if "postgresql" in args.targets and not pg_admin:
        print("TEST_DATABASE_URL not set: no PostgreSQL runs")
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="load-") as tmp:
        workdir = Path(tmp)
        for target in targets:
            for rate in args.rates:
                outcomes.append(await one_run(target, "twilio", rate, args.duration, workdir,
                                              pg_admin, None))
        if args.telegram_rates:
            fake = FakeTelegram()
            await fake.start()
            try:
                for target in [t for t in ("bare", "sqlite") if t in targets]:
                    for rate in args.telegram_rates:
                        outcomes.append(await one_run(target, "telegram", rate, args.duration,
                                                      workdir, pg_admin, fake.base_url))
                sent = sum(1 for call in fake.calls if call.method == "sendMessage")
                print(f"  fake Bot API received {sent} sendMessage calls")
            finally:
                await fake.close()
    return report(outcomes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="*", default=[50.0, 200.0, 500.0],
                        help="Twilio SMS rates (none: no Twilio runs)")
    parser.add_argument("--telegram-rates", type=float, nargs="*", default=[50.0, 200.0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--targets", nargs="+", default=["bare", "sqlite", "postgresql"],
                        choices=["bare", "sqlite", "postgresql"])
    parser.add_argument("--smoke", action="store_true", help="2 s at 20/s (for the tests)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="Markdown file to append to (default benchmarks/RESULTS.md)")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rates, args.telegram_rates, args.duration = [20.0], [20.0], 2.0
    code = revision()
    body = asyncio.run(main_async(args))
    print(body)
    record("Webhook load", body, None if args.no_record else args.results, code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
