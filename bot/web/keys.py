"""Typed keys for what the application owns."""

from __future__ import annotations

from aiohttp import web

from bot.config import Settings
from bot.core import Core
from bot.messages import Channel
from bot.ports import Sender

SETTINGS = web.AppKey("settings", Settings)
CORE = web.AppKey("core", Core)
SENDERS: web.AppKey[dict[Channel, Sender]] = web.AppKey("senders")
