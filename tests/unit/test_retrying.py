"""A profile's `retry` (domain/retrying.py): which failures are tried again, how the attempts'
Jobs are named, what the profile may say, and what retries cost."""

from __future__ import annotations

from typing import Any

import pytest

from migration_trigger.domain.retrying import Retry, attempt_key
from migration_trigger.domain.schedule import refusal, worst_case
from migration_trigger.errors import ConfigurationError
from tests.helpers import sample_profile

LOCKS = Retry(attempts=3, delay_seconds=600, when_log_matches="lock timeout|55P03")
TIMED_OUT_ON_A_LOCK = "ERROR: canceling statement due to lock timeout (SQLSTATE 55P03)"


def test_a_failure_whose_log_matches_is_tried_again_until_the_attempts_are_spent():
    assert LOCKS.again(1, failed=True, tail=TIMED_OUT_ON_A_LOCK)
    assert LOCKS.again(2, failed=True, tail=TIMED_OUT_ON_A_LOCK)
    assert not LOCKS.again(3, failed=True, tail=TIMED_OUT_ON_A_LOCK)


@pytest.mark.parametrize(
    ("failed", "tail"),
    [
        (True, 'ERROR: relation "orders" already exists'),
        (True, None),
        (False, TIMED_OUT_ON_A_LOCK),
    ],
    ids=["another-failure", "no-log", "not-failed"],
)
def test_anything_else_is_not_tried_again(failed: bool, tail: str | None):
    assert not LOCKS.again(1, failed=failed, tail=tail)


def test_each_attempt_after_the_first_has_a_job_of_its_own():
    assert attempt_key("creation|db|t", 1) == "creation|db|t"
    assert attempt_key("creation|db|t", 2) == "creation|db|t|attempt-2"


def profile_with(retry: Any) -> Any:
    return sample_profile(retry=retry)


def test_a_profiles_retry_is_read_with_a_default_delay():
    assert profile_with({"attempts": 3, "whenLogMatches": "55P03"}).retry == Retry(3, 600, "55P03")


@pytest.mark.parametrize(
    ("retry", "message"),
    [
        (3, "must be an object"),
        ({"attempts": 3, "whenLogMatches": "x", "on": "y"}, "unknown keys ['on']"),
        ({"attempts": 1, "whenLogMatches": "x"}, "attempts must be an integer from 2 to 10"),
        ({"attempts": True, "whenLogMatches": "x"}, "attempts must be an integer"),
        ({"attempts": 3, "delaySeconds": 0, "whenLogMatches": "x"}, "delaySeconds must be"),
        ({"attempts": 3}, "whenLogMatches must be a regular expression"),
        ({"attempts": 3, "whenLogMatches": "  "}, "whenLogMatches must be a regular expression"),
        ({"attempts": 3, "whenLogMatches": "lock ("}, "whenLogMatches is not a regular expression"),
    ],
)
def test_a_retry_that_means_nothing_is_refused_naming_profile_key_and_fault(
    retry: Any, message: str
):
    with pytest.raises(ConfigurationError) as refused:
        profile_with(retry)

    assert "profile 'p': 'retry'" in str(refused.value)
    assert message in str(refused.value)


def test_the_cost_model_counts_every_attempt_in_full():
    # No Blue/Green wait: its 6 hours come once, and would hide what the attempts add.
    plain = profile_with(None)._replace(wait_for_blue_green_seconds=0)
    retried = profile_with({"attempts": 3, "delaySeconds": 600, "whenLogMatches": "x"})
    retried = retried._replace(wait_for_blue_green_seconds=0)
    once, thrice = worst_case(plain), worst_case(retried)

    # resolve, the database's checks and the settle pause, report and notify come once.
    assert thrice.operations > 2 * once.operations
    assert thrice.seconds > 2 * once.seconds + 2 * 600
    why = refusal(retried, execution_timeout=thrice.seconds - 1)
    assert why is not None and "3 times (its retry's attempts) with 600s between two" in why


def test_retries_that_would_exhaust_the_operations_quota_are_refused_saying_so():
    chatty = {"attempts": 10, "delaySeconds": 60, "whenLogMatches": "x"}
    retried = profile_with(chatty)

    why = refusal(retried, execution_timeout=31_622_400)

    assert why is not None and "or lower retry.attempts (10)" in why
