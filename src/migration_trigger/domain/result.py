"""The one result document every invocation produces."""

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
