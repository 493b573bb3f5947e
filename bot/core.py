"""Builds the helpline's core objects from the settings: one place, no globals."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.dialogue import DialogueEngine
from bot.helpline import Helpline
from bot.hours import BusinessHours
from bot.knowledge import KnowledgeBase, load
from bot.matcher import Matcher
from bot.ratelimit import RateLimit
from bot.storage.db import Database


@dataclass(frozen=True, slots=True)
class Core:
    settings: Settings
    kb: KnowledgeBase
    engine: DialogueEngine
    db: Database
    helpline: Helpline


def business_hours(settings: Settings) -> BusinessHours:
    return BusinessHours(settings.business_hours_start, settings.business_hours_end,
                         settings.business_timezone)


def build_engine(settings: Settings) -> DialogueEngine:
    """Load the knowledge base (raises KnowledgeError) and build the engine around it."""
    kb = load(Path(settings.knowledge_dir))
    return DialogueEngine(kb, Matcher(kb, cache_dir=settings.cache_dir),
                          hours=business_hours(settings))


def freeze_startup_objects() -> None:
    """Leave what startup built (the knowledge base, the matcher's index, the libraries'
    modules: some 150 000 objects) out of the garbage collector's collections: each full
    one walked them all, a pause of 70 ms and more in the middle of answering webhooks
    (benchmarks/load.py's p99), and a decision that triggers a younger one pays for the
    objects startup left in it (benchmarks/quality.py's p99). They live as long as the
    process anyway. The web app calls this once started; the benchmarks after building."""
    gc.collect()
    gc.freeze()


def build_core(settings: Settings, engine: DialogueEngine | None = None) -> Core:
    engine = engine or build_engine(settings)
    db = Database(settings.database_url)
    helpline = Helpline(engine, db, rate_limit=RateLimit(settings.rate_limit_per_minute))
    return Core(settings, engine.kb, engine, db, helpline)
