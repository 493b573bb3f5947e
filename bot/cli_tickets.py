"""The pioneer queue from the terminal: `tickets`, `stats`, `pioneers add`, `kb suggestions`.

These work while `serve` runs in another process: an answer is stored in the outbox and
the server's worker delivers it (it polls the outbox twice a second). Without a running
server the answer waits, safely stored, until `serve` starts.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bot.config import Settings
from bot.messages import utcnow
from bot.storage.db import Database
from bot.tickets import WAITING, TicketError, Tickets, label

T = TypeVar("T")
PIONEER_ENV = "THUISGEVERS_PIONEER"


def _with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(Settings().database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


Command = Callable[[argparse.Namespace], int]


def _reports_ticket_errors(command: Command) -> Command:
    """A ticket that does not exist or cannot take the step is said plainly, exit code 1."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except TicketError as exc:
            print(exc, file=sys.stderr)
            return 1

    return run


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}u" if minutes < 48 * 60 else f"{minutes // 1440}d"


def _one_line(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _pioneer(args: argparse.Namespace) -> str:
    return str(args.pioneer or os.environ.get(PIONEER_ENV) or getpass.getuser() or "pionier")


def cmd_list(args: argparse.Namespace) -> int:
    cards = _with_db(lambda db: Tickets(db).list_tickets(WAITING))
    now = utcnow()
    for c in cards:
        who = f" [{c.claimed_by}]" if c.claimed_by else ""
        print(f"#{c.number} {_age((now - c.created_at).total_seconds()):>4} "
              f"{c.channel.value:<8} {c.masked_address:<22} {_one_line(c.question)}{who}")
    if not cards:
        print("Geen open vragen.", file=sys.stderr)
    return 0


@_reports_ticket_errors
def cmd_show(args: argparse.Namespace) -> int:
    detail = _with_db(lambda db: Tickets(db).get(args.number))
    c = detail.card
    print(f"#{c.number} {label(c.status)} · {c.channel.value} · {c.display_name or 'onbekend'} "
          f"{c.masked_address} · {c.audience} · {c.language}")
    print(f"Geopend {c.created_at:%Y-%m-%d %H:%M} UTC"
          + (f", opgepakt door {c.claimed_by}" if c.claimed_by else ""))
    print(f"\nVraag: {c.question}\n\nGesprek:")
    for m in c.transcript:
        arrow = "<" if m.get("direction") == "in" else ">"
        print(f"  {arrow} {m.get('text', '')}")
    if c.candidates:
        print("\nKandidaten: " + ", ".join(f"{x['id']} ({x['score']:.0f})" for x in c.candidates))
    for d in detail.deliveries:
        print(f"\nAntwoord van {d.pioneer or '?'}: {label(d.status.value)} "
              f"({d.attempts} poging(en))" + (f" - {d.last_error}" if d.last_error else ""))
        print("  " + d.text.replace("\n", "\n  "))
    return 0


@_reports_ticket_errors
def cmd_answer(args: argparse.Namespace) -> int:
    text = " ".join(args.text)
    delivery = _with_db(lambda db: Tickets(db).answer(args.number, text, _pioneer(args)))
    print(f"Antwoord op #{args.number} opgeslagen (bezorging {delivery}); de server "
          "(`serve`) bezorgt het. Volg het met `tickets show`.")
    return 0


@_reports_ticket_errors
def cmd_retry(args: argparse.Namespace) -> int:
    queued = _with_db(lambda db: Tickets(db).retry(args.number))
    if not queued:
        print(f"#{args.number} heeft geen mislukt, tegengehouden of onzeker antwoord.",
              file=sys.stderr)
        return 1
    print(f"{queued} antwoord(en) op #{args.number} gaan opnieuw uit; de server (`serve`) "
          "bezorgt ze.")
    return 0


@_reports_ticket_errors
def cmd_close(args: argparse.Namespace) -> int:
    _with_db(lambda db: Tickets(db).close(args.number, _pioneer(args)))
    print(f"#{args.number} gesloten.")
    return 0


def cmd_stats(_args: argparse.Namespace) -> int:
    from bot.stats import collect

    print(_with_db(collect).text())
    return 0


def cmd_pioneers_add(args: argparse.Namespace) -> int:
    from bot.pioneers import PioneerError, Pioneers

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Wachtwoord: ")
        if getpass.getpass("Nog een keer: ") != password:
            print("De wachtwoorden verschillen.", file=sys.stderr)
            return 1
    try:
        _with_db(lambda db: Pioneers(db).add(args.name, password))
    except PioneerError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Pionier {args.name.strip()} kan inloggen op /inbox.")
    return 0


def cmd_kb_suggestions(_args: argparse.Namespace) -> int:
    from bot.suggestions import listing

    found = listing(Path(Settings().knowledge_dir))
    for s in found:
        print(f"{s.path}: {s.id} - {_one_line(s.question, 60)}")
        for todo in s.problems:
            print(f"    nog te doen: {todo}")
    if not found:
        print("Geen suggesties.", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             kb: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the pioneer-queue commands to the main parser and to `kb`."""
    tickets = sub.add_parser("tickets", help="the pioneer queue").add_subparsers(
        dest="tickets", required=True)
    tickets.add_parser("list", help="open tickets, one a line").set_defaults(func=cmd_list)
    p = tickets.add_parser("show", help="one ticket with its transcript and answers")
    p.add_argument("number", type=int)
    p.set_defaults(func=cmd_show)
    p = tickets.add_parser("answer", help="answer a ticket (delivered on the person's channel)")
    p.add_argument("number", type=int)
    p.add_argument("text", nargs="+")
    p.add_argument("--pioneer", help=f"your name (default ${PIONEER_ENV} or your login)")
    p.set_defaults(func=cmd_answer)
    p = tickets.add_parser("retry", help="send a failed or uncertain answer again (check "
                                         "first that an uncertain one did not arrive)")
    p.add_argument("number", type=int)
    p.set_defaults(func=cmd_retry)
    p = tickets.add_parser("close", help="close a ticket")
    p.add_argument("number", type=int)
    p.add_argument("--pioneer")
    p.set_defaults(func=cmd_close)

    sub.add_parser("stats", help="figures of the helpline").set_defaults(func=cmd_stats)

    pioneers = sub.add_parser("pioneers", help="inbox accounts").add_subparsers(
        dest="pioneers", required=True)
    p = pioneers.add_parser("add", help="create (or reset) a pioneer account")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    p.set_defaults(func=cmd_pioneers_add)

    kb.add_parser("suggestions", help="list draft entries in knowledge/suggestions/"
                  ).set_defaults(func=cmd_kb_suggestions)
