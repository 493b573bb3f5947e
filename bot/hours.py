"""Business hours of the pioneers (weekdays, Europe/Amsterdam by default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class BusinessHours:
    start: int = 9
    end: int = 17
    timezone: str = "Europe/Amsterdam"

    def is_open(self, when: datetime) -> bool:
        local = when.astimezone(ZoneInfo(self.timezone))
        return local.weekday() < 5 and self.start <= local.hour < self.end

    def elapsed(self, since: datetime, until: datetime) -> timedelta:
        """Business time between two moments (for reminders): only open hours count."""
        zone = ZoneInfo(self.timezone)
        cursor = since.astimezone(zone)
        end = until.astimezone(zone)
        total = timedelta()
        while cursor < end:
            day_open = cursor.replace(hour=self.start, minute=0, second=0, microsecond=0)
            day_close = cursor.replace(hour=self.end, minute=0, second=0, microsecond=0)
            if cursor.weekday() < 5:
                lo = max(cursor, day_open)
                hi = min(end, day_close)
                if hi > lo:
                    total += hi - lo
            cursor = (cursor + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return total
