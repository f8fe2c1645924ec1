"""Queue: one migration at a time per database. A Job waits its turn behind the database's earlier
unfinished Jobs, asks Lambda whether the execution behind an abandoned-looking Job has ended, and
gives up at its start-by time. The rules are domain/queueing.py's; this stage does their I/O."""

from __future__ import annotations

from typing import Any

from migration_trigger.domain import jobspec
from migration_trigger.domain.jobspec import START_BY, JobPlan
from migration_trigger.domain.queueing import (
    QUEUE_SETTLE_SECONDS,
    ahead_of,
    is_abandoned,
    left_behind,
    waits_to_start,
)
from migration_trigger.domain.result import Status
from migration_trigger.domain.schedule import QUEUE
from migration_trigger.errors import KubernetesError
from migration_trigger.ports import Jobs, Services
from migration_trigger.records import (
    Queue,
    Refused,
)
from migration_trigger.stages import launch
from migration_trigger.steps import Poll, Steps


def jobs_ahead(plan: jobspec.JobPlan, services: Services) -> Queue:
    """Unfinished Jobs of the same database ordered before this one (creation time, then name).

    A suspended Job ahead that no execution will ever start would block the database for good:
    one whose durable execution has ended (stopped, timed out, failed without cleaning up), or,
    when Lambda cannot say, one still suspended past its start-by time. It is deleted here, and
    logged, instead of waited for. A running Job ahead is always waited for: it is migrating the
    database, and its activeDeadlineSeconds ends it. Our own Job past its start-by time is
    `overran`: another migration of the database that cannot ask Lambda may take it for
    abandoned, so this execution gives up rather than start it.
    """
    gateway = services.jobs_for(plan.profile)
    jobs = gateway.database_jobs(jobspec.database_key(plan.database_arn))
    ours = next((j for j in jobs if j["metadata"]["name"] == plan.name), None)
    if ours is None:
        return Queue(ahead=(), missing=True)
    if is_abandoned(ours, services.clock()):
        return Queue(ahead=(), overran=True)
    earlier = ahead_of(jobs, ours)
    orphans: list[str] = []
    for job in earlier:
        why = _left_behind(job, plan, services)
        if why is not None and _delete_left_behind(gateway, job, why, plan, services):
            orphans.append(job["metadata"]["name"])
    return Queue(
        ahead=tuple(j["metadata"]["name"] for j in earlier if j["metadata"]["name"] not in orphans),
        removed=tuple(orphans),
    )


def _left_behind(job: dict[str, Any], plan: jobspec.JobPlan, services: Services) -> str | None:
    """Why a Job ahead will never be started by its execution; None if it may still be. Lambda
    is asked first; the start-by time decides only when it cannot answer."""
    if not waits_to_start(job):
        return None
    return left_behind(job, services.clock(), launch.execution_status(job, plan, services))


def _delete_left_behind(
    gateway: Jobs, job: dict[str, Any], why: str, plan: jobspec.JobPlan, services: Services
) -> bool:
    """Delete a Job ahead that will never start, only as it was seen (uid and resourceVersion
    preconditions): one re-created at its name, or un-suspended meanwhile, is kept. Whether it
    was deleted; if not, the queue waits behind it and checks again."""
    meta = job["metadata"]
    try:
        gateway.delete_job(
            meta["name"], uid=meta.get("uid"), resource_version=meta.get("resourceVersion")
        )
    except KubernetesError as error:
        services.log.warning(
            "could not delete a migration Job ahead that will never start; waiting behind it",
            job=meta["name"],
            reason=why,
            error=str(error),
        )
        return False
    services.log.warning(
        f"deleted a migration Job ahead that will never start: {why}",
        job=meta["name"],
        execution=jobspec.execution_of(job),
        ahead_of=plan.name,
    )
    return True


def wait_for_turn(plan: JobPlan, steps: Steps, services: Services) -> Refused | None:
    """Serialize per database: run only when no earlier unfinished Job of it remains."""
    steps.wait("queue-settle", QUEUE_SETTLE_SECONDS)
    poll, limit = Poll.along(steps, QUEUE, plan.profile), QUEUE.limit(plan.profile)
    while True:
        queue = steps.step(f"{QUEUE.check}-{poll.waits}", lambda: jobs_ahead(plan, services))
        if queue.missing:
            return Refused(Status.FAILED, f"Job {plan.name} was deleted while it waited its turn")
        if queue.overran:
            launch.stop(plan, steps, services)
            return Refused(
                Status.TIMED_OUT,
                f"Job {plan.name} was not started by its start-by time (its "
                f"{START_BY} annotation), after which another migration of the database may "
                "take it for abandoned: it was deleted and nothing ran. Send the event again",
            )
        if not queue.ahead:
            return None
        if poll.waited >= limit:
            launch.stop(plan, steps, services)
            return Refused(
                Status.TIMED_OUT,
                f"waited {poll.waited}s behind {', '.join(queue.ahead)} migrating the same "
                f"database (queueTimeoutSeconds {plan.profile.queue_timeout_seconds}); the Job "
                "was deleted",
            )
        poll.pause()


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (jobs_ahead,)
