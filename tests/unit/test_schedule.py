"""The poll schedule and what a profile's waits cost, checked when the profiles are loaded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from migration_trigger.domain.profiles import Profile, parse_profiles
from migration_trigger.domain.schedule import (
    EARLY_SECONDS,
    MAX_OPERATIONS,
    fitted,
    poll_pause,
    refusal,
    usual_case,
    worst_case,
)
from migration_trigger.errors import ConfigurationError
from migration_trigger.settings import Settings
from tests.helpers import sample_profile


def profile(**keys: Any) -> Profile:
    built: Profile = sample_profile(**keys)
    return built


def test_a_job_is_checked_every_poll_seconds_for_ten_minutes_then_every_minute():
    default = profile()

    assert [poll_pause(default, waited) for waited in (0, 300, 590)] == [10, 10, 10]
    assert [poll_pause(default, waited) for waited in (600, 3600, 43200)] == [60, 60, 60]
    assert poll_pause(profile(pollSeconds=120), EARLY_SECONDS) == 120


@pytest.mark.parametrize(("hours", "at_most"), [(5 / 60, 80), (1, 240), (12, 1600)])
def test_a_long_migration_stays_well_under_the_operations_quota(hours: float, at_most: int):
    assert usual_case(profile(), runs_for=int(hours * 3600)).operations <= at_most


def test_a_migration_of_five_minutes_takes_its_steps_and_a_check_every_ten_seconds():
    """resolve, create-job, queue-settle, queue-0, start-job, 30 waits and checks, collect-logs,
    report, notify-0."""
    assert usual_case(profile(), runs_for=300) == (2 + 300, 8 + 60)


def test_the_worst_case_takes_every_operation_of_the_story_at_its_limit():
    """The default profile: waitForBlueGreenSeconds 21600 (72 looks, 300 s apart, and the
    resolve after them), waitForAvailableSeconds 3600 (120 status checks, 30 s apart),
    rotationSettleSeconds 30, queue-settle 2 s, queueTimeoutSeconds 3600 and
    activeDeadlineSeconds 1800 with its backstop of 600 on the poll schedule (10 s for 600 s,
    then 60 s; the Job's checks go on until that limit has passed), and every one-off step, a
    failed notification included."""
    queued = 60 + (3600 - 600) // 60  # 110 waits, and one check more
    running = 60 + (2400 - 600) // 60 + 1  # 91 waits: the last one passes 2,400 s

    cost = worst_case(profile(), notifiers=1)

    assert cost.seconds == 21600 + 3600 + 30 + 2 + 3600 + 2460
    assert cost.operations == (
        1 + 2 * 72 + 1 + 2 * 120 + 1 + 1 + 1 + (2 * queued + 1) + 1 + 2 * running + 3 + 1 + 2
    )


def test_the_example_profiles_fit_one_execution():
    examples = parse_profiles(
        (
            __import__("tests.helpers", fromlist=["ROOT"]).ROOT / "k8s/profiles/examples.json"
        ).read_text()
    )

    assert all(refusal(p, execution_timeout=86400) is None for p in examples.values())


def test_waits_longer_than_the_execution_timeout_are_refused_with_the_arithmetic():
    long = profile(waitForAvailableSeconds=86400, queueTimeoutSeconds=86400)
    blue_green = long.wait_for_blue_green_seconds

    why = refusal(long, execution_timeout=86400)

    assert why is not None
    assert f"its waits can last {worst_case(long).seconds}s" in why
    assert (
        f"waitForBlueGreenSeconds {blue_green} + waitForAvailableSeconds 86400 + "
        "rotationSettleSeconds 30 + queueTimeoutSeconds 86400" in why
    )
    assert "more than the execution timeout of 86400s" in why


def test_a_poll_schedule_that_would_exhaust_the_operations_quota_is_refused():
    chatty = profile(pollSeconds=1, activeDeadlineSeconds=6 * 3600)

    why = refusal(chatty, execution_timeout=7 * 86400)

    assert why is not None
    assert worst_case(chatty).operations > MAX_OPERATIONS
    assert "raise pollSeconds (1)" in why


def test_settings_refuse_a_profile_that_cannot_fit_naming_the_variable():
    document = {
        "profiles": {
            "slow": {
                "cluster": {"eksClusterName": "c"},
                "namespace": "m",
                "image": "i",
                "activeDeadlineSeconds": 90000,
            }
        }
    }

    settings = Settings.from_env(
        {
            "ENVIRONMENT": "dev",
            "MIGRATION_PROFILES": json.dumps(document),
            "EXECUTION_TIMEOUT_SECONDS": "86400",
        }
    )

    with pytest.raises(ConfigurationError) as caught:
        _ = settings.profiles

    assert str(caught.value).startswith("MIGRATION_PROFILES: profile 'slow': its waits can last")


class _Waits:
    """Steps that only record the durable waits asked of them."""

    execution_id = "test"

    def __init__(self) -> None:
        self.waits: list[tuple[str, int]] = []

    def step(self, name: str, fn: Any) -> Any:
        return fn()

    def wait(self, name: str, seconds: int) -> None:
        self.waits.append((name, seconds))


def test_a_poll_numbers_its_waits_from_0_and_sums_them():
    from migration_trigger.steps import Poll

    steps = _Waits()
    poll = Poll(steps, "running", lambda waited: 5 if waited < 10 else 60)

    pauses = [poll.pause() for _ in range(4)]

    assert pauses == [5, 5, 60, 60]
    assert steps.waits == [("running-0", 5), ("running-1", 5), ("running-2", 60), ("running-3", 60)]
    assert (poll.waits, poll.waited) == (4, 130)


def test_a_watch_that_expects_a_long_migration_pauses_longer_only_after_the_first_minutes():
    from migration_trigger.domain.schedule import (
        EARLY_SECONDS,
        LONG_PAUSE_SECONDS,
        poll_pause,
        watch_pause,
    )
    from tests.helpers import sample_profile

    profile = sample_profile()
    hour = 3600.0

    assert watch_pause(profile, hour, 0) == poll_pause(profile, 0), "a pod that cannot start"
    assert watch_pause(profile, hour, EARLY_SECONDS) == LONG_PAUSE_SECONDS
    assert watch_pause(profile, hour, 2400) == int(hour * 0.8) - 2400, "ends at 80 % of it"
    assert watch_pause(profile, hour, int(hour * 0.8)) == poll_pause(profile, 2880)
    assert watch_pause(profile, None, EARLY_SECONDS) == poll_pause(profile, EARLY_SECONDS)
    assert watch_pause(profile, 300.0, EARLY_SECONDS) == poll_pause(profile, EARLY_SECONDS)


def test_a_profile_leaving_the_blue_green_wait_to_its_default_is_fitted_to_the_execution():
    """A deployment whose profiles fitted before waitForBlueGreenSeconds existed still fits: the
    wait is shortened, by whole looks, to what the execution leaves it (settings.py fits only
    the profiles that leave the key unset)."""
    plain = profile()
    without = worst_case(plain._replace(wait_for_blue_green_seconds=0)).seconds
    timeout = without + 1000

    fitted_one = fitted(plain, execution_timeout=timeout)

    assert refusal(plain, execution_timeout=timeout) is not None
    assert fitted_one.wait_for_blue_green_seconds == 900
    assert refusal(fitted_one, execution_timeout=timeout) is None
    assert fitted(plain, execution_timeout=86400) == plain
    too_short = without - 1
    assert fitted(plain, execution_timeout=too_short) == plain  # refused, saying why
