"""Pay periods `YYYY-MM`, with boundaries in the configured time zone."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
FIRST_YEAR, LAST_YEAR = 1900, 9998


class PeriodError(ValueError):
    pass


def time_zone(name: str) -> ZoneInfo:
    """The zone called `name` (an IANA name like "Asia/Shanghai"), or PeriodError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class Period:
    year: int
    month: int
    timezone: str = "UTC"

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> "Period":
        match = _PERIOD.match(text or "")
        if not match:
            raise PeriodError(f"period {text!r} is not YYYY-MM")
        year = int(match.group(1))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            # Outside this, a boundary in UTC (or the next period's) is no valid date.
            raise PeriodError(f"period {text!r} is out of range: the year must be "
                              f"{FIRST_YEAR}-{LAST_YEAR}")
        time_zone(timezone)
        return cls(year, int(match.group(2)), timezone)

    @classmethod
    def of(cls, instant: dt.datetime, timezone: str = "UTC") -> "Period":
        """The period `instant` falls in, by the calendar of `timezone`."""
        local = instant.astimezone(time_zone(timezone))
        return cls(local.year, local.month, timezone)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> dt.datetime:
        """First instant of the period, as UTC."""
        local = dt.datetime(self.year, self.month, 1, tzinfo=ZoneInfo(self.timezone))
        return local.astimezone(dt.timezone.utc)

    @property
    def end(self) -> dt.datetime:
        """First instant after the period, as UTC (periods are half-open)."""
        return self.next().start

    def next(self) -> "Period":
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return Period(year, month, self.timezone)

    def previous(self) -> "Period":
        year, month = (self.year - 1, 12) if self.month == 1 else (self.year, self.month - 1)
        return Period(year, month, self.timezone)
