"""One migration at a time per database: the queue's rules. Pure.

A migration's Job is created suspended and started only once no earlier unfinished Job of its
database remains (`ahead_of`). Its execution promises to start it, or delete it, by its start-by
time (`start_window` after its creation, written on the Job by jobspec.render_job). A suspended
Job ahead whose execution will never start it is left behind: Lambda is asked about that
execution (`execution_to_ask`) and its answer decides (`left_behind`); only when Lambda cannot
answer does the start-by time (`is_abandoned`). A Job at a migration's name may be replaced by a
new run of the same event once its execution has ended, if it failed or never started
(`replaceable`).
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

from migration_trigger.domain.jobspec import START_BY
from migration_trigger.domain.jobstate import completed, is_finished
from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.windows import longest_wait

#: Seconds after creating a Job before comparing it with other Jobs of the database: creation
#: timestamps have one-second resolution, so after this every earlier Job is visible.
QUEUE_SETTLE_SECONDS = 2
#: Beyond the queue timeout, what starting a Job may take: a poll pause overrunning the timeout,
#: and the retries of a queue check and of the start (5 + 10 + 20 + 40 s each).
START_MARGIN_SECONDS = 900


def start_window(profile: Profile) -> int:
    """Seconds after a Job's creation by which its execution has started it or deleted it: the
    queue's settle pause and timeout, the margin, and the longest wait for the profile's run
    window (and, for a profile that asks for approval, the longest wait for it and for the
    window again after it; for one that snapshots first, the longest wait for its snapshot)."""
    wanted = profile.approval
    return (
        QUEUE_SETTLE_SECONDS
        + profile.queue_timeout_seconds
        + START_MARGIN_SECONDS
        + longest_wait(profile.window)
        + (wanted.timeout_seconds + longest_wait(profile.window) if wanted else 0)
        + (profile.snapshot_timeout_seconds if profile.snapshot_before_migration else 0)
    )


def start_deadline(job: dict[str, Any]) -> float | None:
    """The START_BY annotation of a Job, in epoch seconds; None if absent or unreadable."""
    value = ((job.get("metadata") or {}).get("annotations") or {}).get(START_BY)
    try:
        return calendar.timegm(time.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ")) if value else None
    except ValueError:
        return None


#: Durable execution statuses after which no code of that execution runs again: Lambda's
#: GetDurableExecution answers SUCCEEDED, FAILED, TIMED_OUT or STOPPED once an execution has ended
#: (Lambda API reference, GetDurableExecution: EndTimestamp "only present if the execution has
#: completed"), and DELETING while it is removed (botocore's model of ExecutionStatus). RUNNING,
#: PAUSING and PAUSED executions may still act. An execution Lambda does not find is not taken
#: for ended: within a Job's start window its record cannot have expired (30 days' retention).
ENDED_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "DELETING"})


def execution_ended(status: str) -> bool:
    """Whether a durable execution with this status will never act again."""
    return status in ENDED_EXECUTION_STATUSES


def waits_to_start(job: dict[str, Any]) -> bool:
    """A Job still suspended: it runs only if its execution un-suspends it."""
    return bool((job.get("spec") or {}).get("suspend"))


def is_abandoned(job: dict[str, Any], now: float) -> bool:
    """A Job still suspended after the time its execution would have started it by."""
    deadline = start_deadline(job)
    return waits_to_start(job) and deadline is not None and now > deadline


def left_behind(job: dict[str, Any], now: float, execution: str | None) -> str | None:
    """Why a suspended Job of another execution will never be started; None if it may still be.

    `execution` is what Lambda says of the Job's execution (its status), or None when Lambda
    could not be asked or could not answer. Lambda's answer decides: an execution it reports
    running may still start its Job, whatever the time. Only without an answer does the Job's
    start-by time, the promise its execution made, decide.
    """
    if not waits_to_start(job):
        return None
    if execution is not None:
        return (
            f"its durable execution has ended ({execution})" if execution_ended(execution) else None
        )
    if is_abandoned(job, now):
        return (
            "still suspended past its start-by time, and Lambda could not say its execution ended"
        )
    return None


def replaceable(job: dict[str, Any]) -> bool:
    """A Job at a migration's name that may be replaced by a new run once its execution has ended:
    one that failed, or that never started. A completed Job is never replaced (the migration ran),
    nor one running (it is migrating the database right now)."""
    if is_finished(job):
        return not completed(job)
    return waits_to_start(job)


def same_function(execution: str | None, ours: str) -> bool:
    """Whether an execution id (a Job's execution annotation) may be one of this function's, in
    any version. A durable execution ARN is `arn:…:function:<name>:<version>/durable-execution/…`
    (Lambda API reference, Execution: DurableExecutionArn); two such ARNs must name the same
    function. Ids of local runs (the CLI, the local stack) are not ARNs: there the annotation's
    presence is all there is to go by."""
    if not execution:
        return False
    theirs, mine = _function_of(execution), _function_of(ours)
    return theirs is None or mine is None or theirs == mine


#: A durable execution ARN (Lambda API reference, Execution: DurableExecutionArn).
_EXECUTION_ARN = re.compile(
    r"arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:function:[a-zA-Z0-9_-]+:"
    r"(\$LATEST(\.PUBLISHED)?|[0-9]+)/durable-execution/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+"
)


def execution_to_ask(theirs: str, ours: str) -> str | None:
    """The durable execution to ask Lambda about, for a Job made by execution id `theirs`, seen
    from the execution `ours`; None when there is none to ask about.

    A batch gives each event the id `<execution>#event-N/` (steps.PrefixedSteps): the execution
    is what precedes `#`, and another event of our own batch is our own, running execution. From
    a durable execution of Lambda's, only another durable execution ARN of the same function is
    asked about (never a CLI run's id); from a local run (the testing runner's bare ids), only
    another bare id."""
    their, our = theirs.split("#", 1)[0], ours.split("#", 1)[0]
    if not their or their == our:
        return None
    if _EXECUTION_ARN.fullmatch(our):
        same = _EXECUTION_ARN.fullmatch(their) and _function_of(their) == _function_of(our)
        return their if same else None
    return None if their.startswith("arn:") else their


def _function_of(execution: str) -> str | None:
    head = execution.split("/", 1)[0]
    return head.rsplit(":", 1)[0] if ":function:" in head else None


def ahead_of(jobs: list[dict[str, Any]], ours: dict[str, Any]) -> list[dict[str, Any]]:
    """The database's Jobs ordered before ours (creation time, then name) that have not finished
    and are not being deleted: the Jobs our Job waits behind."""

    def order(job: dict[str, Any]) -> tuple[str, str]:
        return (job["metadata"].get("creationTimestamp", ""), job["metadata"]["name"])

    return [
        job
        for job in jobs
        if order(job) < order(ours)
        and not is_finished(job)
        and not job["metadata"].get("deletionTimestamp")
    ]
