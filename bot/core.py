"""Builds the helpline's core objects from the settings: one place, no globals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.dialogue import DialogueEngine
from bot.helpline import Helpline
from bot.hours import BusinessHours
from bot.knowledge import KnowledgeBase, load
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
    return DialogueEngine(kb, hours=business_hours(settings))


def build_core(settings: Settings, engine: DialogueEngine | None = None) -> Core:
    engine = engine or build_engine(settings)
    db = Database(settings.database_url)
    helpline = Helpline(engine, db, rate_limit=RateLimit(settings.rate_limit_per_minute))
    return Core(settings, engine.kb, engine, db, helpline)
