"""`privacy export ADDRESS` and `privacy purge --older-than DAYS` (see bot.privacy)."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from typing import Any

from bot.config import Settings
from bot.privacy import PurgeReport, export, purge
from bot.storage.db import Database


def cmd_export(args: argparse.Namespace) -> int:
    async def run() -> dict[str, Any]:
        db = Database(Settings().database_url)
        try:
            return await export(db, args.address)
        finally:
            await db.dispose()

    data = asyncio.run(run())
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0 if data["contacts"] else 1


def cmd_purge(args: argparse.Namespace) -> int:
    async def run() -> PurgeReport:
        db = Database(Settings().database_url)
        try:
            return await purge(db, timedelta(days=args.older_than))
        finally:
            await db.dispose()

    report = asyncio.run(run())
    print(json.dumps(report.as_dict()) if args.json else report.text())
    return 0


def _days(value: str) -> int:
    days = int(value)
    if days < 0:
        raise argparse.ArgumentTypeError("DAYS must be 0 or more")
    return days


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    privacy = sub.add_parser("privacy", help="a person's data: export, purge").add_subparsers(
        dest="privacy", required=True)
    p = privacy.add_parser("export", help="everything stored about ADDRESS, as JSON")
    p.add_argument("address", help="as the channel gives it: +316…, whatsapp:+316…, a chat id")
    p.set_defaults(func=cmd_export)
    p = privacy.add_parser("purge", help="remove closed conversations past retention")
    p.add_argument("--older-than", type=_days, required=True, metavar="DAYS")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_purge)
