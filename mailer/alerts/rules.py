"""The rules a newsroom expects of alerts, as data: quiet hours in each reader's own
zone, a cap a day, how long an alert may wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    start: int  # local hour quiet begins
    end: int  # local hour it ends

    @classmethod
    def parse(cls, value: str) -> QuietHours:
        """"22-7" (MAILER_QUIET_HOURS, checked by the settings)."""
        start, _, end = value.partition("-")
        return cls(int(start), int(end))

    def at(self, now: datetime, timezone: str) -> bool:
        """Whether it is quiet now in `timezone`."""
        hour = now.astimezone(ZoneInfo(timezone)).hour
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end

    @property
    def label(self) -> str:
        return f"{self.start:02d}:00–{self.end:02d}:00"


@dataclass(frozen=True)
class AlertRules:
    quiet: QuietHours
    daily_cap: int
    window: timedelta  # how long a planned alert may take to go out
    morning: timedelta  # how old a story may be and still reach those it waited for


def local_midnight(now: datetime, timezone: str) -> datetime:
    """The start of today in `timezone`: the cap counts from there."""
    zone = ZoneInfo(timezone)
    return datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
