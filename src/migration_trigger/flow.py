"""The story: one event in, at most one migration Job run, one result reported.

Every side effect happens inside a named step (actions.py), so a replayed execution never repeats
it; decisions between steps use only step records, so replays take the same path. Waits are
durable: no compute while waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from migration_trigger import actions
from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.events import (
    Ignored,
    Parsed,
    Rejected,
    Trigger,
    TriggerKind,
    parse_event,
)
from migration_trigger.domain.jobspec import START_BY, JobPlan
from migration_trigger.domain.jobstate import JobPhase, JobState, Watch
from migration_trigger.domain.masking import shareable_tail
from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.result import FAILING, Result, Status
from migration_trigger.domain.schedule import (
    AVAILABLE_POLL_SECONDS,
    BACKSTOP_SECONDS,
    EVIDENCE_SECONDS,
    QUEUE_SETTLE_SECONDS,
    poll_pause,
)
from migration_trigger.errors import MigrationTriggerError
from migration_trigger.ports import Services
from migration_trigger.records import Declined, Logs, Observation, Refused, Resolved
from migration_trigger.steps import PrefixedSteps, Steps

_OUTCOMES = {JobPhase.SUCCEEDED: Status.SUCCEEDED, JobPhase.TIMED_OUT: Status.TIMED_OUT}


class MigrationFailedError(MigrationTriggerError):
    """Raised after reporting, so a failed or timed-out migration fails the execution."""


def run_invocation(
    event: Any, steps: Steps, services: Services
) -> dict[str, Any] | list[dict[str, Any]]:
    """Handle one event, or each event of a batch; raise if any migration failed or timed out."""
    results = [handle_event(item, item_steps, services) for item, item_steps in each(event, steps)]
    failing = [r for r in results if r.status in FAILING]
    if failing:
        raise MigrationFailedError("; ".join(f"{r.status}: {r.reason}" for r in failing))
    documents = [r.to_dict() for r in results]
    return documents if isinstance(event, list) else documents[0]


def report_misconfiguration(
    event: Any, error: MigrationTriggerError, steps: Steps, services: Services
) -> dict[str, Any] | list[dict[str, Any]]:
    """Report every event of an invocation the deployment's settings keep from running; raise."""
    reason = f"the function's configuration is invalid: {error}"
    for item, item_steps in each(event, steps):
        report(failed(parse_event(item), reason), item_steps, services)
    raise MigrationFailedError(f"failed: the function's configuration is invalid: {error}")


def handle_event(event: Any, steps: Steps, services: Services) -> Result:
    """The whole flow for one event; every outcome is a reported Result."""
    parsed = parse_event(event, home=services.home)
    if isinstance(parsed, Ignored | Rejected):
        status = Status.IGNORED if isinstance(parsed, Ignored) else Status.REJECTED
        return report(Result(status, parsed.reason, event_id=parsed.event_id), steps, services)
    try:
        result = migrate(parsed, steps, services)
    except MigrationTriggerError as error:
        # Retries are spent or the error cannot pass: report it rather than fail silently.
        result = failed(parsed, str(error))
    return report(result, steps, services)


def each(event: Any, steps: Steps) -> list[tuple[Any, Steps]]:
    """The events of an invocation, each with its steps (a batch's named per event)."""
    if isinstance(event, list):
        return [(item, PrefixedSteps(steps, f"event-{i}/")) for i, item in enumerate(event)]
    return [(event, steps)]


def failed(parsed: Parsed, reason: str) -> Result:
    """A failed result about an event, with what is known of it."""
    trigger = parsed if isinstance(parsed, Trigger) else None
    return Result(
        Status.FAILED,
        reason,
        trigger=str(trigger.kind) if trigger else None,
        event_id=parsed.event_id,
        database=trigger.database if trigger else None,
    )


def migrate(trigger: Trigger, steps: Steps, services: Services) -> Result:
    """Resolve, wait for the database, launch suspended, wait for our turn, start, follow."""
    resolved = steps.step("resolve", lambda: actions.resolve(trigger, services))
    if isinstance(resolved, Declined):
        return resolved.result()
    facts = wait_until_available(resolved.facts, resolved.profile, steps, services)
    if isinstance(facts, str):
        return resolved.result(Status.TIMED_OUT, facts)
    if (
        resolved.trigger.kind is TriggerKind.SECRET_ROTATED
        and resolved.profile.rotation_settle_seconds
    ):
        steps.wait("rotation-settle", resolved.profile.rotation_settle_seconds)
    plan = job_plan(resolved, facts, steps.execution_id)
    return launch(plan, resolved, steps, services)


def launch(plan: JobPlan, resolved: Resolved, steps: Steps, services: Services) -> Result:
    """Create the Job suspended, then run it; whatever ends the run early (retries spent, an error
    that cannot pass), the Job and its credentials Secret are deleted, not left to block the
    database's next migration."""
    launched = steps.step("create-job", lambda: actions.create_job(plan, services))
    if isinstance(launched, Refused):
        return resolved.result(launched.status, launched.reason, job=plan.name)
    try:
        return run(plan, launched.uid, resolved, steps, services)
    except MigrationTriggerError as error:
        try:
            steps.step("clean-up", lambda: actions.stop_job(plan, services))
        except MigrationTriggerError as cleanup:
            left = (
                f"; the Job could not be deleted ({cleanup}): delete it with `kubectl delete job "
                f"{plan.name} -n {plan.profile.namespace}`; otherwise the next migration of "
                "this database deletes it, as this execution has ended (or, if it cannot ask "
                "Lambda, once the Job's start deadline has passed)"
            )
        else:
            left = f"; Job {plan.name} and its credentials Secret were deleted"
        return resolved.result(Status.FAILED, f"{error}{left}", job=plan.name)


def run(
    plan: JobPlan, job_uid: str, resolved: Resolved, steps: Steps, services: Services
) -> Result:
    """Wait for the Job's turn, start it, follow it to the end, read its log."""
    refusal = wait_for_turn(plan, steps, services)
    if refusal is not None:
        return resolved.result(refusal.status, refusal.reason, job=plan.name)
    started = steps.step("start-job", lambda: actions.start_job(plan, job_uid, services))
    if isinstance(started, Refused):
        steps.step("stop-job", lambda: actions.stop_job(plan, services))
        return resolved.result(started.status, started.reason, job=plan.name)
    plan = plan._replace(secret_version=started.secret_version)

    state, evidence, last_at = follow(plan, started.at, steps, services)
    try:
        logs = steps.step("collect-logs", lambda: actions.collect_logs(plan, job_uid, services))
    except MigrationTriggerError as error:
        # The outcome is known; a log that cannot be read (an outage outlasting the step's
        # retries) is a warning in the result, not a failure.
        services.log.warning("could not read the migration log", job=plan.name, error=str(error))
        logs = Logs(tail=f"[the log could not be read: {error}]", at=last_at)
    tail = logs.tail
    if evidence is not None and (tail is None or tail.startswith("[the log could not be read")):
        # The pod is gone (a deadline kills it first), or unreadable: what was read while it ran.
        tail = f"{tail or '[read while the Job ran; its pod is gone]'}\n{evidence}"
    if state.phase in (JobPhase.STUCK, JobPhase.TIMED_OUT):
        steps.step("stop-job", lambda: actions.stop_job(plan, services))
    return resolved.result(
        _OUTCOMES.get(state.phase, Status.FAILED),
        state.reason,
        job=plan.name,
        duration_seconds=round(logs.at - started.at, 1),
        log_tail=shareable_tail(tail, share=plan.profile.shares_log_tail),
    )


def job_plan(resolved: Resolved, facts: DatabaseFacts, execution: str) -> JobPlan:
    """The Job this execution launches, from what `resolve` found and the database's endpoint."""
    return JobPlan(
        name=resolved.job,
        profile=resolved.profile,
        trigger=resolved.trigger,
        database_arn=facts.arn,
        secret_arn=resolved.secret_arn,
        endpoint=facts.endpoint,
        execution=execution,
    )


def wait_until_available(
    facts: DatabaseFacts, profile: Profile, steps: Steps, services: Services
) -> DatabaseFacts | str:
    """The database's facts once it is ready (a cluster: with an available writer), or why
    waiting for it ran out."""
    waited, check, arn = 0, 0, facts.arn
    while not facts.ready:
        if waited >= profile.wait_for_available_seconds:
            return (
                f"{facts.identifier} {facts.waiting_for()} after {waited}s "
                f"(waitForAvailableSeconds {profile.wait_for_available_seconds})"
            )
        pause = min(AVAILABLE_POLL_SECONDS, max(1, profile.wait_for_available_seconds - waited))
        steps.wait(f"database-available-{check}", pause)
        waited += pause
        check += 1
        facts = steps.step(
            f"database-status-{check}", lambda: actions.database_status(arn, services)
        )
    return facts


def wait_for_turn(plan: JobPlan, steps: Steps, services: Services) -> Refused | None:
    """Serialize per database: run only when no earlier unfinished Job of it remains."""
    steps.wait("queue-settle", QUEUE_SETTLE_SECONDS)
    waited, check = 0, 0
    while True:
        queue = steps.step(f"queue-{check}", lambda: actions.jobs_ahead(plan, services))
        if queue.missing:
            return Refused(Status.FAILED, f"Job {plan.name} was deleted while it waited its turn")
        if queue.overran:
            steps.step("stop-job", lambda: actions.stop_job(plan, services))
            return Refused(
                Status.TIMED_OUT,
                f"Job {plan.name} was not started by its start-by time (its "
                f"{START_BY} annotation), after which another migration of the database may "
                "take it for abandoned: it was deleted and nothing ran. Send the event again",
            )
        if not queue.ahead:
            return None
        if waited >= plan.profile.queue_timeout_seconds:
            steps.step("stop-job", lambda: actions.stop_job(plan, services))
            return Refused(
                Status.TIMED_OUT,
                f"waited {waited}s behind {', '.join(queue.ahead)} migrating the same database "
                f"(queueTimeoutSeconds {plan.profile.queue_timeout_seconds}); the Job was deleted",
            )
        pause = poll_pause(plan.profile, waited)
        steps.wait(f"queued-{check}", pause)
        waited += pause
        check += 1


def follow(
    plan: JobPlan, started_at: float, steps: Steps, services: Services
) -> tuple[JobState, str | None, float]:
    """Check the Job with growing pauses until it finishes, is stuck, or overruns its deadline.

    Returns the final state, the log tail last read while it ran (read on the second check, then
    every EVIDENCE_SECONDS of waiting) and when it was last seen. A pod that cannot pull its
    image or create its container is stuck once that lasted PERSIST_GRACE_SECONDS; one that has
    not started within startTimeoutSeconds, too. A check whose retries are spent (an API outage)
    does not end the migration: following goes on with the same durable pauses until the
    deadline has passed.
    """
    check, waited, read_at, evidence, seen_at, unseen = 0, 0, 0, None, started_at, 0
    watch = Watch(start_timeout=plan.profile.start_timeout_seconds)
    state = JobState(JobPhase.RUNNING, "the migration is running")
    # Backstop for a Job Kubernetes does not stop (its deadline only counts once it runs).
    limit = plan.profile.active_deadline_seconds + BACKSTOP_SECONDS
    while True:
        pause = poll_pause(plan.profile, waited)
        steps.wait(f"running-{check}", pause)
        waited += pause
        with_tail = check == 1 or (check > 1 and waited - read_at >= EVIDENCE_SECONDS)
        read_at = waited if with_tail else read_at
        try:
            observed = steps.step(f"check-{check}", _checker(plan, services, with_tail=with_tail))
        except MigrationTriggerError as error:
            unseen += pause
            if waited > limit:
                reason = (
                    f"the Job could not be checked for {unseen}s of waiting, until its deadline "
                    f"had passed: {error}"
                )
                return JobState(JobPhase.TIMED_OUT, reason, state.pod), evidence, seen_at
            services.log.warning("could not check the Job; still following", error=str(error))
            check += 1
            continue
        seen_at, unseen = observed.at, 0
        evidence = observed.tail if observed.tail is not None else evidence
        watch, state = watch.see(observed.state, waited)
        if state.finished:
            return state, evidence, seen_at
        if observed.at - started_at > limit:
            reason = f"the Job did not finish within {limit}s"
            _, state = watch.see(JobState(JobPhase.TIMED_OUT, reason, state.pod), waited)
            return state, evidence, seen_at
        check += 1


def _checker(plan: JobPlan, services: Services, *, with_tail: bool) -> Callable[[], Observation]:
    """The check step's body, bound to this check's choice of reading the log tail."""
    return lambda: actions.check_job(plan, services, with_tail=with_tail)


def report(result: Result, steps: Steps, services: Services) -> Result:
    """Log the result and emit its metrics (a step that cannot fail on the network), then notify
    if its status is one that notifies: each notifier in a step of its own, with retries. A
    notification that still fails is logged and counted; the result stands."""
    capped = result.capped()
    checkpoint = steps.step("report", lambda: actions.record(capped, services))
    if isinstance(checkpoint, Result):
        return checkpoint  # checkpointed by a version whose report step also notified
    recorded = checkpoint.result
    if recorded.status not in services.settings.NOTIFY_STATUSES:
        return recorded
    for index in range(len(services.notifiers)):
        try:
            steps.step(f"notify-{index}", partial(actions.notify, recorded, index, services))
        except MigrationTriggerError as error:
            failure = partial(actions.notification_failed, recorded, str(error), services)
            steps.step(f"notify-{index}-failed", failure)
    return recorded
