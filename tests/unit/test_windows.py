"""Run windows (domain/windows.py): wall-clock time in an IANA zone, across midnight, on both
daylight-saving days; and what a profile's `window` may say."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from migration_trigger.domain.queueing import start_window
from migration_trigger.domain.schedule import refusal, worst_case
from migration_trigger.domain.windows import LONGEST_WAIT_SECONDS, RunWindow, parse_window
from migration_trigger.errors import ConfigurationError
from tests.helpers import sample_profile

WEEKEND_NIGHTS = RunWindow(("sat", "sun"), "02:00", "05:00", "Europe/Berlin")


def at(text: str) -> float:
    """Epoch seconds of a UTC time written `2026-03-28T01:00`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_open_inside_the_window_closed_outside_it_in_the_zones_local_time():
    # Saturday 2026-03-21, Berlin is UTC+1 (CET): 02:00-05:00 local is 01:00-04:00 UTC.
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-21T01:00")) == 0
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-21T03:59")) == 0
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-21T00:59")) == 60
    # Saturday 04:00 UTC (05:00 local): closed until Sunday 02:00 local.
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-21T04:00")) == 21 * 3600


def test_a_closed_window_opens_on_its_next_day_even_a_week_later():
    # Sunday 2026-03-22 05:00 CET (04:00 UTC): the next opening is Saturday 2026-03-28 02:00 CET.
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-22T04:00")) == 6 * 86400 - 3 * 3600 + 0
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-22T04:00")) <= LONGEST_WAIT_SECONDS


def test_on_the_spring_forward_day_the_window_opens_at_the_change_and_lasts_two_hours():
    """Sunday 2026-03-29 in Berlin: clocks go from 02:00 CET to 03:00 CEST at 01:00 UTC, so the
    clock never shows 02:00-02:59; it first shows the start at the change."""
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-29T00:59")) == 60
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-29T01:00")) == 0
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-29T02:59")) == 0  # 04:59 CEST
    assert WEEKEND_NIGHTS.opens_in(at("2026-03-29T03:00")) > 0  # 05:00 CEST


def test_on_the_fall_back_day_the_window_lasts_the_repeated_hour_longer():
    """Sunday 2026-10-25 in Berlin: clocks go back from 03:00 CEST to 02:00 CET at 01:00 UTC;
    02:00 is first shown at 00:00 UTC (CEST), 05:00 at 04:00 UTC (CET): four hours."""
    assert WEEKEND_NIGHTS.opens_in(at("2026-10-24T23:59")) == 60
    assert WEEKEND_NIGHTS.opens_in(at("2026-10-25T00:00")) == 0
    assert WEEKEND_NIGHTS.opens_in(at("2026-10-25T03:59")) == 0
    assert WEEKEND_NIGHTS.opens_in(at("2026-10-25T04:00")) > 0


def test_a_window_the_clocks_skip_whole_is_not_open_that_day_and_the_wait_stays_bounded():
    """02:00-02:30 in Berlin does not exist on 2026-03-29: the next opening is a week later, not
    the change itself (where the window would be open for no time at all)."""
    skipped = RunWindow(("sun",), "02:00", "02:30", "Europe/Berlin")
    saturday_night = at("2026-03-28T12:00")

    wait = skipped.opens_in(saturday_night)

    assert wait == at("2026-04-05T00:00") - saturday_night  # Sunday 5 April, 02:00 CEST
    assert wait <= LONGEST_WAIT_SECONDS


def test_a_window_across_midnight_belongs_to_the_day_it_starts():
    friday_nights = RunWindow(("fri",), "22:00", "02:00", "America/New_York")

    # Friday 2026-06-05 22:00 EDT is Saturday 02:00 UTC; it closes Saturday 02:00 EDT (06:00 UTC).
    assert friday_nights.opens_in(at("2026-06-06T01:59")) == 60
    assert friday_nights.opens_in(at("2026-06-06T02:00")) == 0
    assert friday_nights.opens_in(at("2026-06-06T05:59")) == 0  # Saturday 01:59 EDT
    assert friday_nights.opens_in(at("2026-06-06T06:00")) == 7 * 86400 - 4 * 3600


def profile_with(window: Any, **keys: Any) -> Any:
    return sample_profile(window=window, **keys)


def test_a_profiles_window_is_read_with_all_days_by_default():
    profile = profile_with({"start": "22:00", "end": "02:00", "timeZone": "UTC"})

    assert profile.window == RunWindow(
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "22:00", "02:00", "UTC"
    )
    assert profile.window.describe() == "mon,tue,wed,thu,fri,sat,sun 22:00-02:00 UTC"


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("sat 02:00", "must be an object"),
        ({"start": "02:00", "end": "05:00", "timeZone": "UTC", "tz": "x"}, "unknown keys ['tz']"),
        ({"days": [], "start": "02:00", "end": "05:00", "timeZone": "UTC"}, "days must be"),
        ({"days": ["saturday"], "start": "02:00", "end": "05:00", "timeZone": "UTC"}, "days must"),
        ({"days": ["sat", "sat"], "start": "02:00", "end": "05:00", "timeZone": "UTC"}, "distinct"),
        ({"start": "2:00", "end": "05:00", "timeZone": "UTC"}, "start must be a 24-hour time"),
        ({"start": "02:00", "end": "24:00", "timeZone": "UTC"}, "end must be a 24-hour time"),
        ({"start": "02:00", "end": "02:00", "timeZone": "UTC"}, "would never be open"),
        ({"start": "02:00", "end": "05:00", "timeZone": "Mars/Olympus"}, "IANA time zone"),
        ({"start": "02:00", "end": "05:00", "timeZone": "/etc/localtime"}, "IANA time zone"),
        ({"start": "02:00", "end": "05:00"}, "IANA time zone"),
    ],
)
def test_a_window_that_means_nothing_is_refused_naming_profile_key_and_fault(
    window: Any, message: str
):
    with pytest.raises(ConfigurationError) as refused:
        profile_with(window)

    assert "profile 'p': 'window'" in str(refused.value)
    assert message in str(refused.value)


def test_parsing_keeps_days_in_week_order():
    window = parse_window(
        {"days": ["sun", "mon"], "start": "01:00", "end": "02:00", "timeZone": "UTC"}
    )

    assert window.days == ("mon", "sun")


def test_a_windowed_profile_counts_the_longest_wait_for_its_window():
    window = {"days": ["sat"], "start": "02:00", "end": "05:00", "timeZone": "UTC"}
    plain, windowed = profile_with(None), profile_with(window)

    assert worst_case(windowed).seconds == worst_case(plain).seconds + LONGEST_WAIT_SECONDS
    assert start_window(windowed) == start_window(plain) + LONGEST_WAIT_SECONDS
    why = refusal(windowed, execution_timeout=86400)
    assert why is not None and f"+ {LONGEST_WAIT_SECONDS} waiting for its run window" in why
    assert refusal(windowed, execution_timeout=9 * 86400) is None
