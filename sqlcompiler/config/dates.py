"""Dates relative to the run (SPEC §2a): ``today``, ``today - 7d``, ``today + 2w``, ``today - 1m``.

A run resolves them against its as-of date, so the same configuration over the same data and
the same as-of date gives the same result on any day. Months follow PostgreSQL's
``date - interval '1 month'``: the day is clamped to the end of a shorter month.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError

TIMEZONE_ENV = "SQLCOMPILER_TIMEZONE"
RELATIVE_RE = re.compile(r"^\s*today\s*(?:([+-])\s*([0-9]{1,5})\s*([dwm]))?\s*$", re.IGNORECASE)
FORMS = "today, today - 7d, today + 2w, today - 1m (d days, w weeks, m calendar months)"


def timezone_name() -> str:
    return os.environ.get(TIMEZONE_ENV, "").strip() or "UTC"


def today() -> dt.date:
    """The current date in the product's time zone (SQLCOMPILER_TIMEZONE, UTC unless set)."""
    name = timezone_name()
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{TIMEZONE_ENV}={name!r} is not a time zone; use an IANA name such as "
            "Asia/Ho_Chi_Minh or UTC"
        ) from None
    return dt.datetime.now(zone).date()


def add_months(day: dt.date, months: int) -> dt.date:
    years, month0 = divmod(day.month - 1 + months, 12)
    year = day.year + years
    if not 1 <= year <= 9999:
        raise OverflowError
    month = month0 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def is_relative(text: object) -> bool:
    return isinstance(text, str) and RELATIVE_RE.match(text) is not None


def canonical(text: str) -> str:
    """``TODAY-7D`` -> ``today - 7d``: how explain, compile comments and exports show it."""
    m = RELATIVE_RE.match(text)
    assert m is not None
    sign, count, unit = m.groups()
    return "today" if sign is None else f"today {sign} {int(count)}{unit.lower()}"


def resolve(text: str, as_of: dt.date) -> dt.date:
    """The calendar date of a relative value; ValueError when it leaves years 1-9999."""
    m = RELATIVE_RE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a relative date; use {FORMS}")
    sign, count, unit = m.groups()
    if sign is None:
        return as_of
    n = int(count) * (-1 if sign == "-" else 1)
    try:
        if unit.lower() == "m":
            return add_months(as_of, n)
        return as_of + dt.timedelta(days=n * (7 if unit.lower() == "w" else 1))
    except OverflowError:
        raise ValueError(f"{text!r} from {as_of} is outside the years 1-9999") from None
