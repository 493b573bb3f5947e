"""The load generator (issue 6): an open-loop aiohttp client, run as its own process.

    python benchmarks/loadgen.py --target http://127.0.0.1:PORT --kind twilio \
        --rate 200 --duration 20 --out result.json [--public-url URL --auth-token T]
    python benchmarks/loadgen.py --target ... --kind telegram --secret S ...

Open loop: request i is sent at start + i / rate whatever happened to the earlier ones, so
a slow server shows up as latency and errors, not as a lower offered rate (closed-loop
generators hide that: coordinated omission). Every request body (and Twilio signature) is
built before the clock starts. Bounded: at most rate × duration requests (`--max-requests`
caps it further), each with a `--timeout`; loopback targets only. The result file holds
the summary and, per request, its id (MessageSid or Telegram update_id: the provider id
stored with the message), HTTP status (0 = timeout or connection error) and latency in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "tests" / "data" / "dev.jsonl"
TWILIO_PATH = "/webhooks/twilio"
TELEGRAM_PATH = "/webhooks/telegram"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Each sender writes at most a few times per run: far below the per-sender rate limit.
SENDERS = 5000


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    path: str
    body: bytes
    headers: dict[str, str]


def questions(path: Path = DEV_SET) -> list[str]:
    """Realistic texts: the questions of the development set."""
    lines = path.read_text("utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def sender(i: int) -> str:
    """A fictional number of the +3160000xxxx test range (never a real person's)."""
    return f"+3160000{i % SENDERS:04d}"


def twilio_requests(n: int, texts: Sequence[str], public_url: str, auth_token: str,
                    run: str, seed: int = 1) -> list[Request]:
    rng = random.Random(seed)
    validator = RequestValidator(auth_token)
    url = public_url.rstrip("/") + TWILIO_PATH
    out = []
    for i in range(n):
        sid = f"SM{run}{i:024x}"
        form = {"ToCountry": "NL", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
                "SmsStatus": "received", "Body": rng.choice(texts), "FromCountry": "NL",
                "To": "+31970000000", "NumSegments": "1", "MessageSid": sid,
                "AccountSid": "AC" + "0" * 32, "From": sender(i),
                "ApiVersion": "2010-04-01"}
        signature = str(validator.compute_signature(url, form))
        out.append(Request(sid, TWILIO_PATH, urlencode(form).encode(), {
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}))
    return out


def telegram_requests(n: int, texts: Sequence[str], secret: str, run: str,
                      seed: int = 1) -> list[Request]:
    rng = random.Random(seed)
    base = int(run, 16) % 10**4
    out = []
    for i in range(n):
        chat = 600_000_000 + i % SENDERS
        message_id, update_id = 10 + i, base * 10**5 + i
        update: dict[str, Any] = {"update_id": update_id, "message": {
            "message_id": message_id,
            "from": {"id": chat, "is_bot": False, "first_name": "Test", "last_name": "Persoon",
                     "language_code": "nl"},
            "chat": {"id": chat, "first_name": "Test", "last_name": "Persoon",
                     "type": "private"},
            "date": int(time.time()), "text": rng.choice(texts)}}
        out.append(Request(str(update_id), TELEGRAM_PATH, json.dumps(update).encode(),
                           {"X-Telegram-Bot-Api-Secret-Token": secret,
                            "Content-Type": "application/json"}))
    return out


async def run(target: str, requests: Sequence[Request], rate: float, limit: float,
              warmup: int) -> dict[str, Any]:
    """Send `requests[:warmup]` one by one, then the rest open-loop at `rate` per second."""
    results: list[tuple[str, int, float]] = []
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=limit)
    async with aiohttp.ClientSession(target, connector=connector,
                                     timeout=client_timeout) as session:

        async def one(request: Request, record: bool) -> None:
            start = time.perf_counter()
            try:
                async with session.post(request.path, data=request.body,
                                        headers=request.headers) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError, OSError):
                status = 0
            if record:
                results.append((request.id, status, (time.perf_counter() - start) * 1000))

        warm, timed = requests[:warmup], requests[warmup:]
        for request in warm:
            await one(request, record=False)
        tasks = []
        start = time.perf_counter()
        for i, request in enumerate(timed):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(request, record=True)))
        sent_s = time.perf_counter() - start
        await asyncio.gather(*tasks)
        total_s = time.perf_counter() - start
    return {"offered_rate": rate, "sent": len(timed), "send_seconds": sent_s,
            "total_seconds": total_s, "warmup": [r.id for r in warm],
            "results": results}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--kind", choices=("twilio", "telegram"), default="twilio")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds")
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=20,
                        help="requests sent one by one first, not timed")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--public-url", default="http://helpline.test")
    parser.add_argument("--auth-token", default="bench-auth-token")
    parser.add_argument("--secret", default="bench-secret")
    parser.add_argument("--run-id", default=None, help="8 hex digits making ids unique")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    host = urlsplit(args.target).hostname
    if host not in LOOPBACK:
        parser.error("the load generator only targets loopback addresses")
    run_id = args.run_id or f"{random.randrange(16**8):08x}"
    n = min(args.max_requests, int(args.rate * args.duration)) + args.warmup
    texts = questions()
    requests = (twilio_requests(n, texts, args.public_url, args.auth_token, run_id)
                if args.kind == "twilio" else
                telegram_requests(n, texts, args.secret, run_id))
    summary = asyncio.run(run(args.target, requests, args.rate, args.timeout, args.warmup))
    args.out.write_text(json.dumps(summary), "utf-8")
    ok = sum(1 for _, status, _ in summary["results"] if 200 <= status < 300)
    print(f"{args.kind} {args.rate:g}/s: {ok}/{summary['sent']} accepted "
          f"in {summary['total_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
