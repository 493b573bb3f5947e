"""Pioneer accounts and inbox sessions: argon2 password hashes, server-side sessions.

Hashing is deliberately slow, so it runs in a thread (`asyncio.to_thread`) and never
blocks the event loop. The session cookie carries a random token; only its SHA-256 is
stored, so a leaked database does not leak live sessions.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from bot.messages import utcnow
from bot.storage.db import Database
from bot.storage.models import Pioneer, PioneerSession

MIN_PASSWORD = 10
MAX_NAME = 64
# A real hash to verify against when the name is unknown, so timing does not tell.
_DUMMY_PASSWORD = "thuisgevers-dummy-password"


class PioneerError(Exception):
    """An account that cannot be created; the message says why."""


@dataclass(frozen=True, slots=True)
class Login:
    """A logged-in pioneer, as the inbox sees them."""

    pioneer_id: int
    name: str
    csrf_token: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Pioneers:
    """Accounts and sessions on one database."""

    def __init__(self, db: Database, hasher: PasswordHasher | None = None) -> None:
        self.db = db
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    async def add(self, name: str, password: str) -> None:
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise PioneerError(f"Een naam is 1 tot {MAX_NAME} tekens.")
        if len(password) < MIN_PASSWORD:
            raise PioneerError(f"Een wachtwoord heeft minstens {MIN_PASSWORD} tekens.")
        hashed = await asyncio.to_thread(self.hasher.hash, password)
        async with self.db.session() as session:
            existing = (await session.execute(
                select(Pioneer).where(Pioneer.name == name))).scalar_one_or_none()
            if existing is not None:
                existing.password_hash = hashed
            else:
                session.add(Pioneer(name=name, password_hash=hashed, created_at=utcnow()))

    async def verify(self, name: str, password: str) -> Pioneer | None:
        async with self.db.session() as session:
            pioneer = (await session.execute(
                select(Pioneer).where(Pioneer.name == name.strip()))).scalar_one_or_none()
        if pioneer is None:
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(self.hasher.hash, _DUMMY_PASSWORD)
            await asyncio.to_thread(self._check, self._dummy_hash, password)
            return None
        return pioneer if await asyncio.to_thread(self._check, pioneer.password_hash,
                                                  password) else None

    def _check(self, hashed: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(hashed, password))
        except (VerificationError, InvalidHashError):
            return False

    async def start_session(self, pioneer: Pioneer, lifetime: timedelta) -> tuple[str, Login]:
        """A new session; returns the cookie token and the login."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.session() as session:
            await session.execute(delete(PioneerSession).where(PioneerSession.expires_at < now))
            session.add(PioneerSession(token_hash=_token_hash(token), pioneer_id=pioneer.id,
                                       csrf_token=csrf, created_at=now,
                                       expires_at=now + lifetime))
        return token, Login(pioneer.id, pioneer.name, csrf)

    async def session_for(self, token: str | None) -> Login | None:
        if not token or len(token) > 128:
            return None
        async with self.db.session() as session:
            row = await session.get(PioneerSession, _token_hash(token))
            if row is None or row.expires_at < utcnow():
                return None
            pioneer = await session.get(Pioneer, row.pioneer_id)
            return Login(pioneer.id, pioneer.name, row.csrf_token) if pioneer else None

    async def end_session(self, token: str | None) -> None:
        if token:
            async with self.db.session() as session:
                await session.execute(delete(PioneerSession).where(
                    PioneerSession.token_hash == _token_hash(token)))


@dataclass
class LoginThrottle:
    """At most `limit` failed logins per `window` for one name and address."""

    limit: int = 5
    window: timedelta = timedelta(minutes=15)
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def blocked(self, key: str, now: datetime | None = None) -> bool:
        return len(self._recent(key, now or utcnow())) >= self.limit

    def failed(self, key: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
