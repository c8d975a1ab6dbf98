"""The configuration's ``contact_policy`` (SPEC §6): the file's form, its checks, the typed
form the run's stage and the reference evaluator share, and its canonical form.

Without a ``contact_policy`` nothing changes: the document, the fingerprint and the results
are those of a configuration written before the policy existed.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field

PER = ("party", "phone")
OUTCOMES = ("connected", "no_answer", "busy", "voicemail", "failed", "wrong_party")
MAX_DAYS = 400  # attempts are kept 400 days by default (runs prune --keep-attempts-days)
_zones = functools.cache(available_timezones)
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# the checks are check()'s (messages with their place); the schema says the same for editors
_HHMM = {"pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_DAYS = {"minimum": 0, "maximum": MAX_DAYS}


class WindowSpec(_Strict):
    start: str = Field(json_schema_extra=_HHMM)
    end: str = Field(json_schema_extra=_HHMM)


class LimitSpec(_Strict):
    per: str = Field(json_schema_extra={"enum": list(PER)})
    days: int = Field(json_schema_extra={"minimum": 1, "maximum": MAX_DAYS})
    attempts: int = Field(json_schema_extra={"minimum": 1})


class ContactPolicySpec(_Strict):
    """SPEC §6: an IANA time zone, the calling window, rolling limits, pauses."""

    timezone: str = Field(json_schema_extra={"examples": ["Asia/Ho_Chi_Minh"]})
    calling_window: WindowSpec
    limits: list[LimitSpec] = []
    after_connected_days: int = Field(0, json_schema_extra=_DAYS)
    reference_min_days: int = Field(0, json_schema_extra=_DAYS)


@dataclass(frozen=True)
class Limit:
    per: str  # party | phone
    days: int
    attempts: int


@dataclass(frozen=True)
class ContactPolicy:
    timezone: str
    start: dt.time
    end: dt.time
    limits: tuple[Limit, ...] = ()
    after_connected_days: int = 0  # 0: off
    reference_min_days: int = 0  # 0: off

    @property
    def longest(self) -> int:
        """The most days any rule looks back (what the stage reads of the attempts)."""
        return max([self.after_connected_days, self.reference_min_days,
                    *(x.days for x in self.limits)], default=0)  # fmt: skip

    def window(self, as_of: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The calling window of day ``as_of``: its start and end in the policy's time zone."""
        zone = ZoneInfo(self.timezone)
        return (dt.datetime.combine(as_of, self.start, zone),
                dt.datetime.combine(as_of, self.end, zone))  # fmt: skip


def check(spec: ContactPolicySpec | None, fail: Callable[[str, str], None]) -> ContactPolicy | None:
    """The typed policy; every problem goes to ``fail(location, message)``."""
    if spec is None:
        return None
    where = "contact_policy"
    try:
        if spec.timezone not in _zones() and spec.timezone != "UTC":
            raise ZoneInfoNotFoundError(spec.timezone)
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"{where}.timezone", f"{spec.timezone!r} is not an IANA time zone name, such as "
                                  "Asia/Ho_Chi_Minh or Asia/Jakarta")  # fmt: skip
    times = {}
    for key in ("start", "end"):
        text = getattr(spec.calling_window, key)
        m = _TIME.match(text)
        if m is None:
            fail(f"{where}.calling_window.{key}", f"{text!r} is not a time: write it as HH:MM, "
                                                  "e.g. 07:00 or 21:00")  # fmt: skip
        else:
            times[key] = dt.time(int(m[1]), int(m[2]))
    if len(times) == 2 and times["start"] >= times["end"]:
        fail(f"{where}.calling_window", f"start {spec.calling_window.start} must be before end "
                                        f"{spec.calling_window.end}")  # fmt: skip
    for i, limit in enumerate(spec.limits):
        loc = f"{where}.limits[{i}]"
        if limit.per not in PER:
            fail(loc, f"per {limit.per!r}: use party or phone")
        if not 1 <= limit.days <= MAX_DAYS:
            fail(
                loc, f"days {limit.days}: from 1 to {MAX_DAYS} (attempts are kept {MAX_DAYS} days)"
            )
        if limit.attempts < 1:
            fail(loc, f"attempts {limit.attempts}: at least 1")
    for key in ("after_connected_days", "reference_min_days"):
        days = getattr(spec, key)
        if not 0 <= days <= MAX_DAYS:
            fail(f"{where}.{key}", f"{days}: from 0 (off) to {MAX_DAYS}")
    if len(times) < 2:
        return None
    return ContactPolicy(
        spec.timezone, times["start"], times["end"],
        tuple(Limit(x.per, x.days, x.attempts) for x in spec.limits),
        spec.after_connected_days, spec.reference_min_days,
    )  # fmt: skip


def document(spec: ContactPolicySpec) -> dict[str, Any]:
    """The file form, keys in the documented order (optional ones only when set)."""
    doc: dict[str, Any] = {
        "timezone": spec.timezone,
        "calling_window": {"start": spec.calling_window.start, "end": spec.calling_window.end},
        "limits": [{"per": x.per, "days": x.days, "attempts": x.attempts} for x in spec.limits],
    }
    for key in ("after_connected_days", "reference_min_days"):
        if getattr(spec, key):
            doc[key] = getattr(spec, key)
    return doc


def describe(spec: ContactPolicySpec) -> str:
    """One line for plans and history."""
    w = spec.calling_window
    parts = [f"{spec.timezone} {w.start}-{w.end}"]
    parts += [f"{x.attempts} per {x.per} in {x.days}d" for x in spec.limits]
    if spec.after_connected_days:
        parts.append(f"{spec.after_connected_days}d after connected")
    if spec.reference_min_days:
        parts.append(f"references every {spec.reference_min_days}d")
    return ", ".join(parts)
