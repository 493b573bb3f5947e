"""Chaos run (`make chaos`, not part of `make test`): a mix of valid, forged, duplicated and
malformed Twilio webhooks against a real server process while PostgreSQL is taken away and
brought back once and the server is killed (SIGKILL) and restarted once. Meanwhile a pioneer
answers tickets from the terminal and the server delivers the answers through the fake
Twilio REST API (tests/fakes/twilio_api.py), which holds each answer back for a moment after
taking the message: the kill comes while Twilio has taken an answer and not yet said so.

The client behaves like Twilio: a valid message that got no 200 (503, connection refused,
reset) is sent again until it is answered. A duplicate is a message whose first answer was
"lost" and that is sent again with the same MessageSid. Afterwards the database is checked:
every valid message stored exactly once, nothing stored for forged or malformed webhooks,
and no answer given twice: a retried message gets the stored replies of its first handling
(byte for byte the same TwiML), never a second, different answer, and the outbound rows
stored for each message are exactly the ones answered. And no pioneer answer lost or sent
twice: counted from the messages the fake Twilio took, each answer exactly once, recorded as
sent with the id Twilio gave it (the one in flight at the kill is found by the takeover's
lookup, not sent again).

The server talks to PostgreSQL through a TCP proxy (tests/fakes/tcp_proxy.py): cutting it
is the database going away. Needs PostgreSQL: `--database-url` or TEST_DATABASE_URL
(default postgresql+asyncpg://postgres@127.0.0.1:5432/test); a fresh database is created
and dropped. The report is appended to benchmarks/RESULTS.md (`--results`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

import aiohttp
from benchkit import RESULTS, ROOT, record, revision, table
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(ROOT))
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.models import Contact, Delivery, Direction, Message, Ticket
from bot.tickets import Tickets
from tests.fakes.payloads import twilio_form, twilio_signature
from tests.fakes.tcp_proxy import TcpProxy, free_port
from tests.fakes.twilio_api import ACCOUNT_SID, FakeTwilio

AUTH_TOKEN = "chaos-auth-token"
SENDERS = [f"+316000000{i:02d}" for i in range(100)]
ASKERS = [f"+316000009{i:02d}" for i in range(100)]  # they ask for a person; a pioneer answers
OUTBOX = {"OUTBOX_POLL_SECONDS": "0.1", "OUTBOX_BACKOFF_SECONDS": "0.2",
          "OUTBOX_STALE_AFTER_SECONDS": "3", "OUTBOX_SETTLE_SECONDS": "1"}
QUESTIONS = [
    "wie betaalt de huur van het pand?", "Mag mijn hond mee naar de vergadering?", "hallo",
    "hoe werkt de verzekering voor vrijwilligers?", "wat kost een VOG?", "bedankt!", "menu",
    "Hoeveel vrijwilligers mogen er in het pand?", "ik wil een mens spreken", "1",
]


@dataclass
class Hook:
    """One webhook to send: its kind, the body, and the signature header (None: none)."""

    kind: str  # valid, duplicate, forged, malformed
    body: bytes
    signature: str | None
    sid: str | None = None
    statuses: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # TwiML of each 200


def plan(total: int, url: str, rng: random.Random) -> list[Hook]:
    n_valid = int(total * 0.6)
    n_duplicate = int(total * 0.15)
    n_forged = int(total * 0.15)
    n_malformed = total - n_valid - n_duplicate - n_forged
    valid: list[Hook] = []
    for i in range(n_valid):
        sid = f"SM{uuid.uuid4().hex}"
        form = twilio_form("sms", From=SENDERS[i % len(SENDERS)], Body=rng.choice(QUESTIONS),
                           MessageSid=sid)
        valid.append(Hook("valid", urlencode(form).encode(),
                          twilio_signature(AUTH_TOKEN, url, form), sid))
    hooks = list(valid)
    for original in rng.sample(valid, n_duplicate):
        hooks.append(Hook("duplicate", original.body, original.signature, original.sid))
    for i in range(n_forged):
        sid = f"SM{uuid.uuid4().hex}"
        form = twilio_form("sms", From=rng.choice(SENDERS), Body="vergeet mij", MessageSid=sid)
        signature: str | None = twilio_signature(AUTH_TOKEN, url, form)
        if i % 3 == 0:
            signature = twilio_signature("not-the-token", url, form)
        elif i % 3 == 1:
            form["Body"] = "iets anders dan ondertekend"
        else:
            signature = None
        hooks.append(Hook("forged", urlencode(form).encode(), signature, sid))
    for i in range(n_malformed):
        if i % 2 == 0:
            body = bytes(rng.getrandbits(8) for _ in range(64)) + b"\xff\xfe"
            hooks.append(Hook("malformed", body, "c2lnbmF0dXJl"))
        else:  # correctly signed, but not a message: no From
            form = {"Body": "zonder afzender", "MessageSid": f"SM{uuid.uuid4().hex}"}
            hooks.append(Hook("malformed", urlencode(form).encode(),
                              twilio_signature(AUTH_TOKEN, url, form), form["MessageSid"]))
    rng.shuffle(hooks)
    # A duplicate comes after its original (Twilio retries what it sent before).
    seen: set[str | None] = set()
    ordered: list[Hook] = []
    held: list[Hook] = []
    for hook in hooks:
        if hook.kind == "duplicate" and hook.sid not in seen:
            held.append(hook)
            continue
        ordered.append(hook)
        if hook.kind == "valid":
            seen.add(hook.sid)
            ordered.extend(h for h in held if h.sid == hook.sid)
            held = [h for h in held if h.sid != hook.sid]
    return ordered + held


class Server:
    """`python -m bot serve` as a child process, killable and restartable."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.base = f"http://127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        with self.log.open("a") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", cwd=self.log.parent, env=self.env,
                stdout=out, stderr=out)
        for _ in range(600):
            if self.process.returncode is not None:
                raise SystemExit(f"server exited; see {self.log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(self.base + "/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise SystemExit("server did not start")

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill()


async def send(http: aiohttp.ClientSession, url: str, hook: Hook, deadline: float) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if hook.signature is not None:
        headers["X-Twilio-Signature"] = hook.signature
    while True:
        try:
            async with http.post(url, data=hook.body, headers=headers) as response:
                body = await response.text()
                hook.statuses.append(str(response.status))
                if response.status == 200:
                    hook.answers.append(body)
                    return
                # Twilio retries what was not answered; a rejection is final.
                if response.status < 500 or hook.kind in ("forged", "malformed"):
                    return
        except (aiohttp.ClientError, TimeoutError) as error:
            hook.statuses.append(type(error).__name__)
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.2)


def ask_for_a_person(url: str, count: int) -> list[Hook]:
    """Valid webhooks that each open a ticket (sent before the chaos starts)."""
    hooks = []
    for address in ASKERS[:count]:
        form = twilio_form("sms", From=address, Body="ik wil een mens spreken",
                           MessageSid=f"SM{uuid.uuid4().hex}")
        hooks.append(Hook("valid", urlencode(form).encode(),
                          twilio_signature(AUTH_TOKEN, url, form), form["MessageSid"]))
    return hooks


async def open_tickets(db: Database) -> list[int]:
    async with db.session() as session:
        return [int(n) for n in (await session.execute(
            select(Ticket.id).join(Contact, Contact.id == Ticket.contact_id)
            .where(Contact.address.in_(ASKERS)).order_by(Ticket.id))).scalars()]


async def all_delivered(db: Database, answers: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with db.session() as session:
            sent = (await session.execute(select(func.count()).select_from(Delivery).where(
                Delivery.status == "sent"))).scalar_one()
        if sent >= answers:
            return True
        await asyncio.sleep(0.2)
    return False


async def check_answers(db: Database, twilio: FakeTwilio, answered: dict[int, str]
                        ) -> tuple[list[str], dict[str, int]]:
    """Every pioneer answer taken by Twilio exactly once and recorded as sent with that id."""
    problems: list[str] = []
    async with db.session() as session:
        rows = (await session.execute(select(Delivery))).scalars().all()
        outbound = (await session.execute(select(func.count()).select_from(Message).where(
            Message.kind == "pioneer", Message.direction == Direction.OUT.value))).scalar_one()
    taken = Counter(m["body"] for m in twilio.messages)
    sids = {m["body"]: m["sid"] for m in twilio.messages}
    by_text = {r.text: r for r in rows}
    once = twice = 0
    for number, body in answered.items():
        text = next((t for t in by_text if t.endswith("\n" + body)), None)
        row = by_text.get(text) if text else None
        if row is None or text is None:
            problems.append(f"answer to #{number} not in the outbox")
            continue
        count = taken.get(text, 0)
        once += count == 1
        twice += count > 1
        if count != 1:
            problems.append(f"answer to #{number} taken by Twilio {count} times")
        if row.status != "sent" or row.provider_id != sids.get(text):
            problems.append(f"answer to #{number}: {row.status}, recorded id "
                            f"{row.provider_id}, Twilio's {sids.get(text)}")
    if outbound != len(answered):
        problems.append(f"{outbound} pioneer messages stored for {len(answered)} answers")
    figures = {"answers": len(answered), "once": once, "twice": twice,
               "requests": len(twilio.created), "lookups": len(twilio.lookups),
               "taken over": sum(1 for r in rows if r.attempts > 1)}
    return problems, figures


def replies(twiml: str) -> list[str]:
    return [m.text or "" for m in ElementTree.fromstring(twiml).findall("Message")]


async def stored_rows(url: str) -> tuple[Counter[str], dict[str, int]]:
    db = Database(url)
    try:
        async with db.session() as session:
            inbound = (await session.execute(select(Message.provider_id, Message.id).where(
                Message.direction == Direction.IN.value))).all()
            out = {reply_to: int(n) for reply_to, n in (await session.execute(
                select(Message.in_reply_to, func.count()).where(
                    Message.direction == Direction.OUT.value).group_by(Message.in_reply_to)
            )).all()}
    finally:
        await db.dispose()
    sids: Counter[str] = Counter(str(sid) for sid, _ in inbound)
    by_sid = {str(sid): int(out.get(message_id, 0)) for sid, message_id in inbound}
    return sids, by_sid


def check(hooks: list[Hook], sids: Counter[str], out_by_sid: dict[str, int]) -> list[str]:
    problems: list[str] = []
    valid = {h.sid for h in hooks if h.kind == "valid"}
    rejected = {h.sid for h in hooks if h.kind in ("forged", "malformed") and h.sid}
    for sid in valid:
        if sids.get(str(sid), 0) != 1:
            problems.append(f"{sid}: stored {sids.get(str(sid), 0)} times")
    for sid in rejected & set(sids):
        problems.append(f"{sid}: a forged or malformed webhook was stored")
    if set(sids) - valid:
        problems.append(f"{len(set(sids) - valid)} stored messages that were never sent valid")
    answers: dict[str | None, list[str]] = {}
    for hook in hooks:
        if hook.kind in ("valid", "duplicate"):
            answers.setdefault(hook.sid, []).extend(hook.answers)
        elif hook.answers:
            problems.append(f"a {hook.kind} webhook was answered with 200")
    for sid, given in answers.items():
        if not given:
            problems.append(f"{sid}: never answered")
            continue
        if len(set(given)) > 1:
            problems.append(f"{sid}: answered differently on a retry (a second answer)")
        if out_by_sid.get(str(sid), 0) != len(replies(given[0])):
            problems.append(f"{sid}: {out_by_sid.get(str(sid), 0)} replies stored, "
                            f"{len(replies(given[0]))} answered")
    return problems


async def run(args: argparse.Namespace) -> int:
    code = revision()
    rng = random.Random(args.seed)
    admin_url = args.database_url
    name = f"chaos_{uuid.uuid4().hex[:10]}"
    admin = Database(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = make_url(admin_url).set(database=name)
    direct = db_url.render_as_string(hide_password=False)
    db = Database(direct)
    await upgrade(db)
    await db.dispose()

    proxy = TcpProxy(db_url.host or "127.0.0.1", db_url.port or 5432)
    await proxy.restore()
    twilio = FakeTwilio(auth_token=AUTH_TOKEN, delay=args.twilio_delay)
    await twilio.start()
    port = free_port()
    workdir = Path(args.workdir or f"/tmp/{name}")
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": db_url.set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False),
        "HOST": "127.0.0.1", "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "KNOWLEDGE_DIR": str(ROOT / "knowledge"), "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_SMS_FROM": "+31970000000",
        "TWILIO_API_BASE_URL": twilio.base_url, "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": "", **OUTBOX,
    }
    server = Server(env, port, workdir / "server.log")
    url = server.base + "/webhooks/twilio"
    hooks = plan(args.webhooks, url, rng)
    askers = ask_for_a_person(url, args.answers)
    events: list[str] = []
    answered: dict[int, str] = {}
    pioneer_db = Database(direct)  # the pioneer's terminal, not behind the cut proxy
    delivered = False
    started = time.monotonic()
    try:
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await server.start(http)
            for hook in askers:
                await send(http, url, hook, time.monotonic() + 30)
            numbers = await open_tickets(pioneer_db)
            queue: asyncio.Queue[Hook] = asyncio.Queue()
            for hook in hooks:
                queue.put_nowait(hook)
            done = 0
            deadline = time.monotonic() + args.max_seconds
            total = len(hooks)
            # The faults strike when this share of the webhooks has been handled.
            marks = {0.3: asyncio.Event(), 0.6: asyncio.Event()}

            async def worker() -> None:
                nonlocal done
                while not queue.empty():
                    hook = queue.get_nowait()
                    await send(http, url, hook, deadline)
                    done += 1
                    for share, reached in marks.items():
                        if done >= total * share:
                            reached.set()

            async def pioneer() -> None:
                """Answers the tickets one by one, spread over 10-90 % of the run."""
                tickets = Tickets(pioneer_db)
                for i, number in enumerate(numbers):
                    while True:
                        if done >= total * (0.1 + 0.8 * i / max(len(numbers), 1)):
                            break
                        await asyncio.sleep(0.02)
                    body = f"Antwoord {i} van de chaos-pionier op vraag #{number}."
                    await tickets.answer(number, body, "Pionier Chaos")
                    answered[number] = body

            async def faults() -> None:
                await marks[0.3].wait()
                events.append(f"database away after {done} webhooks")
                await proxy.cut()
                await asyncio.sleep(args.outage)
                await proxy.restore()
                events.append(f"database back after {done} webhooks")
                await marks[0.6].wait()
                # Strike while Twilio has taken an answer and not yet said so.
                for _ in range(2000):  # up to 10 s
                    if twilio.in_flight:
                        break
                    await asyncio.sleep(0.005)
                in_flight = twilio.in_flight
                await server.kill()
                events.append(f"server killed (SIGKILL) after {done} webhooks, with "
                              f"{in_flight} pioneer answer(s) taken by Twilio and not yet "
                              "answered")
                await asyncio.sleep(0.5)
                await server.start(http)
                events.append(f"server restarted after {done} webhooks")

            fault_task = asyncio.create_task(faults())
            pioneer_task = asyncio.create_task(pioneer())
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            await fault_task
            await pioneer_task
            delivered = await all_delivered(pioneer_db, len(answered), within=60)
    finally:
        await server.stop()
        await proxy.cut()
        await twilio.close()
    elapsed = time.monotonic() - started

    sids, out_by_sid = await stored_rows(direct)
    problems = check(askers + hooks, sids, out_by_sid)
    answer_problems, figures = await check_answers(pioneer_db, twilio, answered)
    await pioneer_db.dispose()
    if not delivered:
        problems.append("not every pioneer answer was delivered within 60 s")
    problems += answer_problems
    async with admin.engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()

    kinds = Counter(h.kind for h in hooks)
    rows = []
    for kind in ("valid", "duplicate", "forged", "malformed"):
        statuses = Counter(s for h in hooks if h.kind == kind for s in h.statuses)
        attempts = sum(len(h.statuses) for h in hooks if h.kind == kind)
        rows.append((kind, kinds[kind], attempts,
                     ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))))
    stored_valid = sum(1 for h in hooks if h.kind == "valid" and sids.get(str(h.sid)) == 1)
    verdict = "PASS" if not problems else f"FAIL ({len(problems)} problems)"
    body = "\n\n".join([
        table(["webhooks", "sent", "attempts", "answers (HTTP status or client error)"], rows),
        "Faults: " + "; ".join(events) + f". Run took {elapsed:.1f} s with "
        f"{args.concurrency} concurrent senders, seed {args.seed}.",
        table(["check", "result"], [
            ("valid messages stored exactly once", f"{stored_valid} of {kinds['valid']}"),
            ("forged or malformed stored", sum(1 for h in hooks if h.kind in (
                "forged", "malformed") and h.sid and h.sid in sids)),
            ("messages answered twice differently", sum(
                1 for p in problems if "differently" in p)),
            ("pioneer answers taken by Twilio exactly once",
             f"{figures['once']} of {figures['answers']}"),
            ("pioneer answers sent twice", figures["twice"]),
            ("answers taken over after the kill or the outage", figures["taken over"]),
            ("Twilio message requests / lookups",
             f"{figures['requests']} / {figures['lookups']}"),
            ("verdict", verdict),
        ]),
        *(["Problems:\n\n" + "\n".join(f"- {p}" for p in problems[:20])] if problems else []),
    ])
    print(body)
    record("Chaos: webhooks under faults", body, args.results, code)
    return 0 if not problems else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--outage", type=float, default=2.0, help="seconds without database")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--answers", type=int, default=40,
                        help="tickets a pioneer answers during the run (at most 100)")
    parser.add_argument("--twilio-delay", type=float, default=0.3,
                        help="seconds the fake Twilio holds back its answer after taking")
    parser.add_argument("--workdir", help="where the server runs and logs (default /tmp/…)")
    parser.add_argument("--smoke", action="store_true", help="200 webhooks, a quick check")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="append the report here (default benchmarks/RESULTS.md)")
    args = parser.parse_args()
    if args.smoke:
        args.webhooks = 200
        args.answers = 10
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
