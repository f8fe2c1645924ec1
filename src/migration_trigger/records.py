"""What each step of the flow returns: the typed records its checkpoints hold.

These shapes are a contract with executions already in flight: after a deploy, a suspended
execution replays its checkpointed records into this code. Add fields with defaults; never rename,
remove or retype one (tests/unit/test_replay.py replays a recorded history to hold this).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from migration_trigger.domain.approval import Outcome
from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.events import Trigger
from migration_trigger.domain.jobstate import JobState
from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.result import Result, Status
from migration_trigger.domain.sweep import Summary


class Resolved(NamedTuple):
    """`resolve`: the database, its profile and credentials secret, and the Job's name."""

    trigger: Trigger
    facts: DatabaseFacts
    profile: Profile
    secret_arn: str
    job: str
    #: How long the database's last successful migration ran, as the ledger knew at resolve
    #: (profiles with watchFromLedger; None otherwise, or if the ledger did not know).
    expected_seconds: float | None = None
    #: The Blue/Green deployment, not switched over yet, on either side of which the database is:
    #: the migration waits for it (stages/bluegreen.py). None: none holds it.
    blue_green: str | None = None

    def result(self, status: Status, reason: str, **more: Any) -> Result:
        """A result about this migration; `job=` once the Job is planned."""
        return Result(
            status,
            reason,
            trigger=str(self.trigger.kind),
            event_id=self.trigger.event_id,
            database=self.facts.arn,
            profile=self.profile.name,
            cluster=self.profile.cluster.describe(),
            namespace=self.profile.namespace,
            **more,
        )


class Declined(NamedTuple):
    """`resolve`: nothing runs for this event (skipped, rejected, or failed), and why."""

    status: Status
    reason: str
    trigger: Trigger
    database: str | None

    def result(self) -> Result:
        """The result reported for it."""
        return Result(
            self.status,
            self.reason,
            trigger=str(self.trigger.kind),
            event_id=self.trigger.event_id,
            database=self.database,
        )


class Launched(NamedTuple):
    """`create-job`: the Job exists, suspended, created by this execution."""

    uid: str


class Pinned(NamedTuple):
    """`pin-image`: the image the Job runs, by the digest its ECR tag named then."""

    image: str
    digest: str


class Asked(NamedTuple):
    """`approval-N-request`: a request for approval of the Job with this fingerprint (domain.
    approval.fingerprint of the Job as the cluster held it) was sent at `at` (epoch seconds)."""

    at: float
    callback_id: str
    fingerprint: str


class Accounted(NamedTuple):
    """`ended-execution`: what an execution that ended FAILED, TIMED_OUT or STOPPED left to
    report (domain/aftermath.py), and the triggers its input named."""

    report: bool
    timed_out: bool
    reason: str
    triggers: tuple[Trigger, ...] = ()


class BlueGreenHold(NamedTuple):
    """`blue-green-<n>`: the Blue/Green deployment that still holds a database's migration
    (None: none does, switched over or deleted), and its status."""

    deployment: str | None
    status: str = ""


class Switched(NamedTuple):
    """`switchover`: what a Blue/Green deployment's switchover left in the ledger."""

    reason: str
    database: str | None = None


class Fingerprinted(NamedTuple):
    """`approved-job`: the fingerprint of a retry's Job as the cluster holds it (domain.
    approval.fingerprint), to compare with the one approved."""

    fingerprint: str


class SnapshotCheck(NamedTuple):
    """`snapshot` and `snapshot-status-N`: the snapshot taken before the Job starts, as RDS
    described it at `at` (epoch seconds)."""

    identifier: str
    status: str
    at: float


class Pruned(NamedTuple):
    """`prune-snapshots`: this product's older snapshots of the database, deleted; and those it
    could not delete, with why."""

    deleted: tuple[str, ...]
    error: str | None = None


class Judged(NamedTuple):
    """`approval-N-answer`: what the answer to request N was (domain.approval.Answer's outcome:
    approved, rejected, timed_out or unreadable), who sent it, and when the function read it."""

    outcome: Outcome
    at: float
    approver: str | None = None
    reason: str | None = None
    fingerprint: str | None = None


class Refused(NamedTuple):
    """The Job will not run (`create-job`, `start-job`, the queue): failed, duplicate or
    timed_out, and why."""

    status: Status
    reason: str


class Queue(NamedTuple):
    """`queue-N`: unfinished Jobs of the same database ahead of this one."""

    ahead: tuple[str, ...]
    #: Our own Job is gone (deleted while it waited).
    missing: bool = False
    #: Jobs ahead that will never start (their execution ended, or past their start-by time
    #: when Lambda could not say) and were deleted.
    removed: tuple[str, ...] = ()
    #: Our own Job is still suspended past its start-by time: this execution gives up.
    overran: bool = False


class WindowCheck(NamedTuple):
    """`window-N`: whether the profile's run window was open at `at` (epoch seconds): 0, or the
    seconds until it opens."""

    opens_in: int
    at: float


class Started(NamedTuple):
    """`start-job`: the Job was un-suspended at `at` (epoch seconds)."""

    at: float
    #: The version of the secret whose password the Job was given (its id, never its value): the
    #: log is masked with it even if the secret rotated meanwhile.
    secret_version: str | None = None


class Observation(NamedTuple):
    """`check-N`: the Job's state at `at` (epoch seconds)."""

    state: JobState
    at: float
    #: The log tail read with this check, when one was: the evidence a Job keeps nowhere once its
    #: deadline kills its pod (Kubernetes deletes the pod before it marks the Job failed).
    tail: str | None = None


class Logs(NamedTuple):
    """`collect-logs`: the masked log tail for the result, read at `at` (epoch seconds)."""

    tail: str | None
    at: float
    #: For a check: whether its whole (scrubbed) log matched the profile's checkPending
    #: pattern; None when it is no check, or the log could not be read.
    pending_seen: bool | None = None


class Recorded(NamedTuple):
    """`report`: the result, logged and counted. (Before notifications had steps of their own,
    `report` returned the Result itself, after notifying.)"""

    result: Result


class Notified(NamedTuple):
    """`notify-N`: the result was published through notifier N; or, from `notify-N-failed`, it
    could not be after its retries, and why."""

    delivered: bool
    error: str | None = None


class Stopped(NamedTuple):
    """`stop-job`: the Job was deleted (with its pods and Secret)."""

    job: str


#: Every type a step may return, by the name its checkpoints carry.
RECORDS: dict[str, type[tuple[Any, ...]]] = {
    cls.__name__: cls
    for cls in (
        Resolved,
        Declined,
        Launched,
        Pinned,
        Asked,
        Judged,
        SnapshotCheck,
        Pruned,
        Fingerprinted,
        Accounted,
        BlueGreenHold,
        Switched,
        Refused,
        Queue,
        WindowCheck,
        Started,
        Observation,
        Logs,
        Recorded,
        Notified,
        Stopped,
        DatabaseFacts,
        Result,
        Summary,
    )
}
