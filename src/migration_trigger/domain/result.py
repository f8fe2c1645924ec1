"""The one result document every invocation produces, and how it reads in a notification."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple


class Status(StrEnum):
    """Outcome of one event."""

    SUCCEEDED = "succeeded"  # the migration Job completed
    FAILED = "failed"  # the Job failed, could not start, or the cluster refused it
    TIMED_OUT = "timed_out"  # a deadline passed: database never available, queue or Job too long
    SKIPPED = "skipped"  # relevant event, but the database is not opted in for this trigger
    IGNORED = "ignored"  # an event this product does not act on
    REJECTED = "rejected"  # a malformed event or a tag naming an unknown profile
    DUPLICATE = "duplicate"  # a redelivered event whose Job another execution owns


#: A failed or timed-out migration ends the execution as failed (destinations and alarms see it).
FAILING = frozenset({Status.FAILED, Status.TIMED_OUT})


class Result(NamedTuple):
    """What happened to one event."""

    status: Status
    reason: str
    trigger: str | None = None
    event_id: str | None = None
    database: str | None = None
    profile: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    job: str | None = None
    duration_seconds: float | None = None
    log_tail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the function's return value and the SNS message body."""
        return {**self._asdict(), "status": str(self.status)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """Inverse of to_dict."""
        return cls(**{**data, "status": Status(data["status"])})


_VERBS = {
    Status.SUCCEEDED: "succeeded",
    Status.FAILED: "FAILED",
    Status.TIMED_OUT: "TIMED OUT",
    Status.SKIPPED: "skipped",
    Status.IGNORED: "ignored",
    Status.REJECTED: "rejected",
    Status.DUPLICATE: "duplicate",
}


def subject(result: Result, environment: str) -> str:
    """A mail subject: `[prod] Migration FAILED: orders-db (db-created)`, at most 100 characters."""
    database = (result.database or "unknown database").rsplit(":", 1)[-1]
    text = f"[{environment}] Migration {_VERBS[result.status]}: {database}"
    if result.trigger:
        text += f" ({result.trigger})"
    # SNS subjects: ASCII without control characters, 100 characters at most.
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return clean[:100]
