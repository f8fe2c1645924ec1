"""The one result document every invocation produces."""

from __future__ import annotations

import re
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
    DECLINED = "declined"  # the approval the profile asks for was refused: nothing ran
    UP_TO_DATE = "up_to_date"  # a check: the tool found no pending migration
    PENDING = "pending"  # a check: the tool found migrations not yet applied


#: A failed or timed-out migration ends the durable execution as failed.
FAILING = frozenset({Status.FAILED, Status.TIMED_OUT})
#: Bytes of log tail a result carries: it crosses a checkpoint (256 KiB each) and an SNS message
#: (256 KiB with its attributes) along with everything else.
MAX_TAIL_BYTES = 64 * 1024
#: Bytes of reason a result carries (reasons quote API errors, which are not bounded).
MAX_REASON_BYTES = 4 * 1024


def keep_end(text: str, max_bytes: int) -> str:
    """The end of `text` in at most `max_bytes` (UTF-8), cut at a line boundary, marked as cut."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    # The marker for the whole size is at least as long as the one finally written.
    kept = data[len(data) - (max_bytes - len(_cut(len(data)))) :]
    newline = kept.find(b"\n")
    if newline != -1:
        kept = kept[newline + 1 :]
    return _cut(len(data) - len(kept)) + kept.decode(errors="ignore")


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable(text: str) -> str:
    """`text` without terminal colour codes and other control characters (kept: tabs, newlines).

    In JSON each control character becomes six bytes: a log tail full of them would overflow the
    checkpoint and notification its byte budget is meant to fit.
    """
    return _CONTROL.sub("?", _ANSI.sub("", text))


def _cut(size: int) -> str:
    return f"[{size} earlier bytes cut]\n"


def keep_start(text: str, max_bytes: int) -> str:
    """The start of `text` in at most `max_bytes` (UTF-8), marked as cut."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    marker = " [… cut]"
    return data[: max_bytes - len(marker.encode())].decode(errors="ignore") + marker


#: Result fields only some results have (a Job that ran, a guarded migration): omitted when None.
GUARD_FIELDS = frozenset(
    {"approved_by", "approved_at", "fingerprint", "image", "image_ref", "snapshot"}
)


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
    #: Who approved the Job (as the answer named them) and when the function read the answer.
    approved_by: str | None = None
    approved_at: str | None = None
    #: domain.approval.fingerprint of the Job that ran (profiles with `approval`).
    fingerprint: str | None = None
    #: The image the Job ran (by digest, when a profile with approval pinned its ECR tag).
    image: str | None = None
    #: The image as the profile named it, when `image` is its tag pinned by digest.
    image_ref: str | None = None
    #: The snapshot taken before the Job started (profiles with snapshotBeforeMigration), or
    #: `skipped: …` and why.
    snapshot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the function's return value and the SNS message body. The guards'
        fields appear only where a guard applied."""
        document = {**self._asdict(), "status": str(self.status)}
        return {k: v for k, v in document.items() if v is not None or k not in GUARD_FIELDS}

    def capped(self) -> Result:
        """The result with its reason and log tail within their byte budgets."""
        return self._replace(
            reason=keep_start(self.reason, MAX_REASON_BYTES),
            log_tail=None if self.log_tail is None else keep_end(self.log_tail, MAX_TAIL_BYTES),
        )
