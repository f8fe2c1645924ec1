"""When a failed migration is tried again: a profile's `retry`. Pure.

A migration that gives up politely (a `lock_timeout` that a busy table's lock outlasted) fails
with a recognisable line in its log. A profile may name that line: a failed migration whose log
tail matches is tried again after a durable wait (nothing is billed while it waits), with a new
Job, named for its attempt, that goes through the database's queue and the run window like the
first. The log tail is matched after masking, inside the function: whatever it matches, only the
decision leaves it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

#: Attempts a profile may ask for, the first included.
MAX_ATTEMPTS = 10
#: The longest pause between two attempts.
MAX_DELAY_SECONDS = 86400
_MAX_PATTERN = 200


class Retry(NamedTuple):
    """A profile's `retry`: how many attempts in all, the pause between two, and the pattern
    (a Python regular expression, searched in the masked log tail) that makes a failure worth
    another attempt."""

    attempts: int
    delay_seconds: int
    when_log_matches: str

    def again(self, attempt: int, failed: bool, tail: str | None) -> bool:
        """Whether attempt number `attempt` (1 for the first), which `failed` with this log
        tail, is followed by another."""
        return (
            failed
            and attempt < self.attempts
            and tail is not None
            and re.search(self.when_log_matches, tail) is not None
        )


def attempts(retry: Retry | None) -> int:
    """How many attempts a profile's migration may take."""
    return retry.attempts if retry is not None else 1


def attempt_key(dedup_key: str, attempt: int) -> str:
    """The key naming the Job of attempt `attempt`: the migration's own for the first (so a Job
    of a version without retries is the same Job), one per later attempt."""
    return dedup_key if attempt == 1 else f"{dedup_key}|attempt-{attempt}"


def parse_retry(raw: object) -> Retry:
    """A profile's `retry` object; ValueError saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError(
            'must be an object: {"attempts": 3, "delaySeconds": 600, '
            '"whenLogMatches": "lock timeout|55P03"}'
        )
    unknown = sorted(set(raw) - {"attempts", "delaySeconds", "whenLogMatches"})
    if unknown:
        raise ValueError(f"unknown keys {unknown}; allowed: attempts, delaySeconds, whenLogMatches")
    count, delay, pattern = (
        raw.get("attempts"),
        raw.get("delaySeconds", 600),
        raw.get("whenLogMatches"),
    )
    if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= MAX_ATTEMPTS:
        raise ValueError(
            f"attempts must be an integer from 2 to {MAX_ATTEMPTS} (the first included)"
        )
    if isinstance(delay, bool) or not isinstance(delay, int) or not 1 <= delay <= MAX_DELAY_SECONDS:
        raise ValueError(f"delaySeconds must be an integer from 1 to {MAX_DELAY_SECONDS}")
    pattern = log_pattern(
        "whenLogMatches",
        pattern,
        ", such as 'lock timeout|55P03': only failures whose log says so are tried again",
    )
    return Retry(count, delay, pattern)


def log_pattern(key: str, raw: object, says: str) -> str:
    """A regular expression searched in a masked log tail (a profile's `key`), of 1 to
    _MAX_PATTERN characters; ValueError naming the key, with what it `says`."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > _MAX_PATTERN:
        raise ValueError(
            f"{key} must be a regular expression of 1 to {_MAX_PATTERN} characters{says}"
        )
    try:
        re.compile(raw)
    except re.error as error:
        raise ValueError(f"{key} is not a regular expression: {error}") from None
    return raw
