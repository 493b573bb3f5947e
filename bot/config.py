"""Configuration from the environment (and `.env`), names fixed by INTERFACE.md."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "thuisgevers"


class Settings(BaseSettings):
    """Every setting the helpline reads; see the README's configuration table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite+aiosqlite:///thuisgevers.db"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    knowledge_dir: Path = Path("knowledge")
    # Where the classifier trained on the knowledge base is kept between starts
    # (`bot.classifier.trained`); unwritable: each start trains afresh (a few seconds).
    cache_dir: Path = Field(default_factory=_default_cache_dir)

    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_pioneer_chat_id: int | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_whatsapp_template_sid: str | None = None

    # Pioneer business hours (Europe/Amsterdam), used to tell people when to expect an answer.
    business_timezone: str = "Europe/Amsterdam"
    business_hours_start: int = 9
    business_hours_end: int = 17
    reminder_business_hours: float = 4.0

    # Pioneer answers (bot.outbox): retries with exponential backoff, then marked failed.
    outbox_max_attempts: int = 6
    outbox_backoff_seconds: float = 2.0
    outbox_max_backoff_seconds: float = 900.0
    outbox_poll_seconds: float = 0.5
    # A delivery left "sending" by a crashed process is taken over after this long.
    outbox_stale_after_seconds: float = 300.0
    # After an attempt that got no answer (a timeout), wait this long before asking the
    # provider whether it arrived after all, and only then send again.
    outbox_settle_seconds: float = 30.0
    inbox_session_hours: int = 12

    retention_days: int = 180
    rate_limit_per_minute: int = 20
    metrics_token: str | None = None
    session_secret: str | None = None

    @property
    def base_url(self) -> str:
        """The URL the outside world uses to reach us, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)
