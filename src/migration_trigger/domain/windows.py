"""When a profile lets a migration start: its run window. Pure.

A window is wall-clock time in an IANA time zone: on each of its days, from the first moment the
zone's clock shows `start` until the first moment it shows `end` (on the next day when `end` is
not after `start`: a window across midnight). So on the day a daylight-saving change skips the
start (02:30 when clocks go from 02:00 to 03:00), the window opens at the change, and a window
spanning the hour repeated in autumn lasts that hour longer. The zone rules are Python's
zoneinfo, over the IANA database (the `tzdata` package ships in the bundle, so a runtime without
/usr/share/zoneinfo reads the same rules).

The window gates the start of the Job only: a migration that started inside it runs to its end.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

#: The days a window may name, Monday first (`date.weekday()`).
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The longest a migration can wait for its window to open: a week between two openings, and a
#: day for what a zone's changes may add (an hour in most zones, two in Antarctica/Troll).
#: One durable wait holds it: Lambda's WaitOptions.WaitSeconds goes up to 31,622,400 (Lambda API
#: reference, WaitOptions).
LONGEST_WAIT_SECONDS = 8 * 86400
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class RunWindow(NamedTuple):
    """A profile's `window`: the days, the local start and end (HH:MM), the IANA time zone."""

    days: tuple[str, ...]
    start: str
    end: str
    time_zone: str

    def opens_in(self, now: float) -> int:
        """0 if the window is open at `now` (epoch seconds); otherwise the seconds until it next
        opens."""
        spans = self._spans(now)
        if any(begin <= now < end for begin, end in spans):
            return 0
        return max(1, math.ceil(min(begin for begin, _ in spans if begin > now) - now))

    def describe(self) -> str:
        """The window in words, as a result or `plan` shows it."""
        return f"{','.join(self.days)} {self.start}-{self.end} {self.time_zone}"

    def _spans(self, around: float) -> list[tuple[float, float]]:
        """(opening, closing) epoch seconds of the window's occurrences from the day before
        `around` to eight days after it."""
        zone = ZoneInfo(self.time_zone)
        today = datetime.fromtimestamp(around, zone).date()
        overnight = self.end <= self.start
        spans = []
        for offset in range(-1, 9):
            day = today + timedelta(days=offset)
            if DAYS[day.weekday()] in self.days:
                closes = day + timedelta(days=1) if overnight else day
                opening = _first_shown(day, self.start, zone)
                closing = _first_shown(closes, self.end, zone)
                if closing > opening:  # a window the clocks skip whole is not open that day
                    spans.append((opening, closing))
        return spans


def longest_wait(window: RunWindow | None) -> int:
    """The longest a migration of a profile with this window (or none) can wait for it."""
    return LONGEST_WAIT_SECONDS if window is not None else 0


def _first_shown(day: date, clock: str, zone: ZoneInfo) -> float:
    """The first instant the zone's clock shows `clock` on `day` (epoch seconds). A time the
    clocks skip is first reached at the change itself; of a time shown twice, the first."""
    hour, minute = (int(part) for part in clock.split(":"))
    local = datetime.combine(day, time(hour, minute))
    first = local.replace(tzinfo=zone, fold=0).timestamp()
    second = local.replace(tzinfo=zone, fold=1).timestamp()
    if first <= second:
        return first  # shown once, or twice (the first time)
    # Skipped (PEP 495, "Mind the gap"): fold=0 reads it with the offset from before the change,
    # landing after it; fold=1 with the offset from after it, landing before it. The change is
    # the first second in between with the offset from after it.
    after = datetime.fromtimestamp(first, zone).utcoffset()
    low, high = int(second), int(first)
    while low < high:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after:
            high = middle
        else:
            low = middle + 1
    return float(low)


def parse_window(raw: object) -> RunWindow:
    """A profile's `window` object; ValueError saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError(
            'must be an object: {"days": [...], "start": "HH:MM", "end": "HH:MM", '
            '"timeZone": "Europe/Berlin"}'
        )
    unknown = sorted(set(raw) - {"days", "start", "end", "timeZone"})
    if unknown:
        raise ValueError(f"unknown keys {unknown}; allowed: days, start, end, timeZone")
    days = raw.get("days", list(DAYS))
    if (
        not isinstance(days, list)
        or not days
        or any(day not in DAYS for day in days)
        or len(set(days)) != len(days)
    ):
        raise ValueError(f"days must be a non-empty list of distinct days among {', '.join(DAYS)}")
    clocks = {}
    for key in ("start", "end"):
        value = raw.get(key)
        if not isinstance(value, str) or not _CLOCK.match(value):
            raise ValueError(f"{key} must be a 24-hour time HH:MM, such as 02:00")
        clocks[key] = value
    if clocks["start"] == clocks["end"]:
        raise ValueError("start and end are the same time: the window would never be open")
    zone = raw.get("timeZone")
    if not isinstance(zone, str) or not _known_zone(zone):
        raise ValueError(f"timeZone must be an IANA time zone such as Europe/Berlin, not {zone!r}")
    ordered = tuple(day for day in DAYS if day in days)
    return RunWindow(ordered, clocks["start"], clocks["end"], zone)


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return False
    return True
