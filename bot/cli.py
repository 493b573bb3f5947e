"""Command line: `python -m bot COMMAND` (also installed as `thuisgevers`). See INTERFACE.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from bot.config import Settings
from bot.knowledge import KnowledgeError

SHARED = Path("..") / "shared"


def _settings() -> Settings:
    return Settings()


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.core import build_engine

    return build_engine(settings)


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.messages import Channel

    engine = _engine(_settings())
    reply = engine.decide(args.text, Channel(args.channel))
    d = reply.decision
    if args.json:
        print(json.dumps({"kind": d.kind.value, "id": d.id, "options": list(d.options),
                          "score": d.score, "reply": reply.text}, ensure_ascii=False))
    else:
        print(reply.text)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.evaluation import evaluate, read_cases, summary

    engine = _engine(_settings())
    metrics = evaluate(engine, read_cases(Path(args.file), args.split))
    if args.metrics_only:  # a held-out set is measured without its questions being shown
        metrics = {**metrics, "items": []}
    if args.json:
        print(json.dumps(metrics, ensure_ascii=False))
    else:
        print(summary(metrics))
    return 0


def cmd_kb_check(args: argparse.Namespace) -> int:
    from bot.kbcheck import check

    settings = _settings()
    seeds = Path(args.seeds) if args.seeds else SHARED / "seeds"
    topics = Path(args.topics) if args.topics else SHARED / "topics.yaml"
    report = check(Path(settings.knowledge_dir), seeds if seeds.is_dir() else None,
                   topics if topics.is_file() else None, settings.cache_dir)
    print(report.text())
    return 0 if report.ok else 1


def cmd_kb_words(args: argparse.Namespace) -> int:
    from wordfreq import top_n_list

    from bot.kbcheck import false_friends
    from bot.knowledge import load
    from bot.matcher import Matcher

    settings = _settings()
    matcher = Matcher(load(Path(settings.knowledge_dir)), cache_dir=settings.cache_dir)
    words = [w for lang in args.lang for w in top_n_list(lang, args.top)]
    found = false_friends(matcher, words)
    for word, concept in found:
        print(f"{word} -> {concept}")
    print(f"{len(found)} of the {args.top} most common words per language ({', '.join(args.lang)}) "
          "read as a concept they are not listed under; a false friend goes into "
          "bot/lexicon/stems.yaml")
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from bot.storage.db import Database
    from bot.storage.migrate import upgrade

    async def run() -> None:
        db = Database(_settings().database_url)
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(run())
    print("database is up to date")
    return 0


def cmd_chat(_args: argparse.Namespace) -> int:
    from bot.core import build_core
    from bot.storage.migrate import upgrade
    from handlers.console import chat

    async def run() -> None:
        core = build_core(_settings())
        try:
            await upgrade(core.db)
            await chat(core.helpline)
        finally:
            await core.db.dispose()

    asyncio.run(run())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.core import build_engine
    from bot.logging_setup import RequestIdAccessLogger
    from bot.web.app import create_app

    settings = _settings()
    build_engine(settings)  # fail fast, with the file and line, on a broken knowledge base
    is_sqlite = settings.database_url.startswith("sqlite")
    app = create_app(settings, migrate=is_sqlite, telegram_polling=args.telegram_polling)
    web.run_app(app, host=settings.host, port=settings.port, print=None,
                access_log_class=RequestIdAccessLogger)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thuisgevers", description="De Thuisgeverstelefoon")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the web server (webhooks, /chat, /inbox)")
    p.add_argument("--telegram-polling", action="store_true",
                   help="run Telegram by long polling (local use, no public URL)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("chat", help="talk to the bot in the terminal")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("ask", help="one question, no conversation state")
    p.add_argument("text")
    p.add_argument("--channel", default="web",
                   choices=["sms", "whatsapp", "telegram", "web", "console"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="run an evaluation set and print its metrics")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--split", choices=["odd", "even"],
                   help="only the odd (tuning) or even (held-out) lines")
    p.add_argument("--metrics-only", action="store_true",
                   help="the figures without the questions and their decisions (for a "
                        "held-out set: measured, never read)")
    p.set_defaults(func=cmd_eval)

    kb = sub.add_parser("kb", help="knowledge base").add_subparsers(dest="kb", required=True)
    p = kb.add_parser("check", help="validate the knowledge base")
    p.add_argument("--seeds", help="folder of seed documents (default ../shared/seeds)")
    p.add_argument("--topics", help="topics.yaml to cover (default ../shared/topics.yaml)")
    p.set_defaults(func=cmd_kb_check)
    p = kb.add_parser("words", help="common words the normaliser reads as a concept they are "
                                    "not listed under (false friends, for review)")
    p.add_argument("--top", type=int, default=6000, help="how many common words per language")
    p.add_argument("--lang", nargs="+", default=["nl"], choices=["nl", "en"],
                   help="word lists to read (wordfreq)")
    p.set_defaults(func=cmd_kb_words)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    from bot import cli_tickets

    cli_tickets.register(sub, kb)
    from bot import cli_privacy

    cli_privacy.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from bot.logging_setup import configure_logging

    configure_logging(level=logging.INFO)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KnowledgeError as exc:
        print("The knowledge base has problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
