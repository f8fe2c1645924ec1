"""The pending-migration check: a profile's `checkCommand` runs its migration tool's status
command as a Job, with the same image and credentials as its migrations, and applies nothing.
Its exit code and output (the masked log tail) say whether the database is up to date, has
migrations pending, or the tool itself failed; `checkPending` says how the tool tells pending.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from migration_trigger.domain.result import Result, Status
from migration_trigger.domain.retrying import log_pattern


class CheckPending(NamedTuple):
    """How a check's tool says migrations are pending: it exits with one of `exit_codes` and
    its output matches `log_matches` (a regular expression). Exit 0 otherwise: up to date;
    anything else: the tool failed (it could not connect, say)."""

    exit_codes: frozenset[int]
    log_matches: str

    def seen(self, log: str) -> bool:
        """Whether the tool's output says pending (its whole log, masked)."""
        return re.search(self.log_matches, log, re.MULTILINE) is not None

    def verdict(self, exit_code: int, log: str) -> Status:
        """up_to_date, pending, or failed."""
        return self.judge(exit_code, self.seen(log))

    def judge(self, exit_code: int, seen: bool) -> Status:
        """up_to_date, pending, or failed, from the exit code and whether the output said
        pending."""
        if exit_code in self.exit_codes and seen:
            return Status.PENDING
        return Status.UP_TO_DATE if exit_code == 0 else Status.FAILED


def parse_check_pending(raw: Any) -> CheckPending:
    """A profile's `checkPending` object; ValueError saying what is wrong with it."""
    if not isinstance(raw, dict) or set(raw) - {"exitCodes", "logMatches"}:
        raise ValueError(
            'must be an object: {"exitCodes": [1], "logMatches": "Pending: [1-9]"} (the tool '
            "says pending when it exits with one of exitCodes and its output matches logMatches)"
        )
    codes, pattern = raw.get("exitCodes", [0, 1]), raw.get("logMatches")
    if (
        not isinstance(codes, list)
        or not codes
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 256 for c in codes)
    ):
        raise ValueError("exitCodes must be a list of exit codes (0-255)")
    says = " that the tool's output matches when migrations are pending"
    return CheckPending(frozenset(codes), log_pattern("logMatches", pattern, says))


#: What each status of a check says, for its result's reason.
_SAYS = {
    Status.UP_TO_DATE: "the check found no pending migration",
    Status.PENDING: "the check found pending migrations",
}


def judged(
    result: Result, pending: CheckPending | None, exit_code: int | None, seen: bool | None
) -> Result:
    """A check's result: its Job's outcome read as the tool's verdict (`seen`: whether its whole
    log said pending; None if the log could not be read). A Job that did not end on its own
    (timed out, stuck, refused) keeps its result; one whose output could not be read fails, as
    its verdict cannot be told."""
    ended = result.status in (Status.SUCCEEDED, Status.FAILED)
    if pending is None or exit_code is None or not ended:
        return result
    if seen is None:
        reason = (
            f"the check's output could not be read, so its verdict is not known (exit code "
            f"{exit_code})"
        )
        return result._replace(status=Status.FAILED, reason=reason)
    status = pending.judge(exit_code, seen)
    if status is Status.FAILED:
        reason = f"the check command failed (exit code {exit_code}): {result.reason}"
        return result._replace(status=status, reason=reason)
    return result._replace(status=status, reason=f"{_SAYS[status]} (exit code {exit_code})")
