"""The story: one event in, at most one migration Job run, one result reported.

The stages (stages/: resolve, queue, launch, watch, report) hold every side effect, each inside
a named step, so a replayed execution never repeats it; decisions between steps use only step
records, so replays take the same path. Waits are durable: no compute while waiting.
"""

from __future__ import annotations

from typing import Any

from migration_trigger.domain import checking, jobspec
from migration_trigger.domain.accounts import owner, session_name
from migration_trigger.domain.events import (
    Ended,
    Ignored,
    Parsed,
    Rejected,
    Sweep,
    SwitchedOver,
    Trigger,
    parse_event,
)
from migration_trigger.domain.jobspec import JobPlan
from migration_trigger.domain.jobstate import JobPhase
from migration_trigger.domain.masking import shareable_tail
from migration_trigger.domain.result import FAILING, GUARD_FIELDS, Result, Status
from migration_trigger.domain.retrying import attempt_key
from migration_trigger.errors import MigrationTriggerError
from migration_trigger.ports import Services
from migration_trigger.records import Declined, Logs, Refused, Resolved
from migration_trigger.stages import (
    aftermath,
    approval,
    bluegreen,
    guard,
    launch,
    queue,
    report,
    resolve,
    snapshot,
    sweep,
    watch,
)
from migration_trigger.steps import PrefixedSteps, Steps

_OUTCOMES = {JobPhase.SUCCEEDED: Status.SUCCEEDED, JobPhase.TIMED_OUT: Status.TIMED_OUT}


class MigrationFailedError(MigrationTriggerError):
    """Raised after reporting, so a failed or timed-out migration fails the execution."""


def run_invocation(
    event: Any, steps: Steps, services: Services
) -> dict[str, Any] | list[dict[str, Any]]:
    """Handle one event, or each event of a batch; raise if any migration failed or timed out.
    The sweep's schedule runs the reconciliation sweep (EventBridge sends a rule's events one
    by one: a sweep never comes in a batch)."""
    if not isinstance(event, list) and isinstance(parsed := parse_event(event), Sweep):
        return sweep.sweep(parsed, steps, services).to_dict()
    results = [handle_event(item, item_steps, services) for item, item_steps in each(event, steps)]
    # An execution's end is reported, not failed for again (its own end would be announced).
    ends = [isinstance(parse_event(item), Ended) for item, _ in each(event, steps)]
    failing = [r for r, end in zip(results, ends, strict=True) if r.status in FAILING and not end]
    if failing:
        raise MigrationFailedError("; ".join(f"{r.status}: {r.reason}" for r in failing))
    documents = [r.to_dict() for r in results]
    return documents if isinstance(event, list) else documents[0]


def report_misconfiguration(
    event: Any, error: MigrationTriggerError, steps: Steps, services: Services
) -> dict[str, Any] | list[dict[str, Any]]:
    """Report every event of an invocation the deployment's settings keep from running; raise.
    An execution's end is left alone: the execution it names reported this same configuration
    (or will), and failing here would announce one more end, and so on while it stays invalid."""
    reason = f"the function's configuration is invalid: {error}"
    documents = []
    for item, item_steps in each(event, steps):
        parsed = parse_event(item)
        if isinstance(parsed, Ended):
            documents.append(Result(Status.IGNORED, reason, event_id=parsed.event_id).to_dict())
            continue
        report.report(failed(parsed, reason), item_steps, services)
    if len(documents) < len(each(event, steps)):
        raise MigrationFailedError(f"failed: the function's configuration is invalid: {error}")
    return documents if isinstance(event, list) else documents[0]


def handle_event(event: Any, steps: Steps, services: Services) -> Result:
    """The whole flow for one event; every outcome is a reported Result."""
    parsed = parse_event(event, home=services.home)
    if services.home is not None and isinstance(parsed, Trigger | SwitchedOver):
        # A spoke's database is read through the role the hub assumes there (domain/accounts.py).
        account = owner(parsed, services.home) if isinstance(parsed, Trigger) else parsed.account
        services = services.within(account, session_name(steps.execution_id))
    if isinstance(parsed, Ended):
        return report.report(aftermath.report_ended(parsed, steps, services), steps, services)
    if isinstance(parsed, SwitchedOver):
        return report.report(bluegreen.switched_over(parsed, steps, services), steps, services)
    if isinstance(parsed, Sweep):
        reason = "a sweep's schedule event in a batch is not run: EventBridge sends them alone"
        return report.report(
            Result(Status.IGNORED, reason, event_id=parsed.event_id), steps, services
        )
    if isinstance(parsed, Ignored | Rejected):
        status = Status.IGNORED if isinstance(parsed, Ignored) else Status.REJECTED
        return report.report(
            Result(status, parsed.reason, event_id=parsed.event_id), steps, services
        )
    try:
        result = migrate(parsed, steps, services)
    except MigrationTriggerError as error:
        # Retries are spent or the error cannot pass: report it rather than fail silently.
        result = failed(parsed, str(error))
    return report.report(result, steps, services)


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
    """Resolve (and, for a blue database, wait out its Blue/Green deployment), wait for the
    database, launch suspended, wait for our turn, start, follow."""
    resolved = steps.step("resolve", lambda: resolve.resolve(trigger, services))
    if isinstance(resolved, Resolved) and resolved.blue_green is not None:
        waited = bluegreen.wait_out(trigger, resolved, steps, services)
        if isinstance(waited, Result):
            return waited
        resolved = waited
    if isinstance(resolved, Declined):
        return resolved.result()
    facts = resolve.wait_until_available(resolved.facts, resolved.profile, steps, services)
    if isinstance(facts, str):
        return resolved.result(Status.TIMED_OUT, facts)
    if resolved.trigger.rule.settles and resolved.profile.rotation_settle_seconds:
        steps.wait("rotation-settle", resolved.profile.rotation_settle_seconds)
    plan = resolve.job_plan(resolved, facts, steps.execution_id)
    plan = approval.pinned(plan, steps, services)
    return attempts(plan, resolved, steps, services)


def attempts(plan: JobPlan, resolved: Resolved, steps: Steps, services: Services) -> Result:
    """Run the migration; a failure the profile's `retry` recognises in its log is tried again
    after a durable pause, with the Job of the next attempt (its steps named `attempt-<n>/…`)."""
    retry = plan.profile.retry
    result, tail = launch_and_run(plan, resolved, steps, services, first=True)
    guarded = {k: v for k in GUARD_FIELDS if (v := getattr(result, k)) is not None}
    attempt = 1
    while retry is not None and retry.again(attempt, result.status is Status.FAILED, tail):
        services.log.warning(
            "the migration failed as the profile's retry expects: trying again",
            job=result.job,
            attempt=attempt,
            seconds=retry.delay_seconds,
        )
        steps.wait(f"retry-{attempt}", retry.delay_seconds)
        attempt += 1
        key = attempt_key(plan.trigger.dedup_key, attempt)
        again = plan._replace(name=jobspec.job_name(plan.database_arn, key))
        prefixed = PrefixedSteps(steps, f"attempt-{attempt}/")
        result, tail = launch_and_run(
            again, resolved, prefixed, services, first=False, approved=guarded.get("fingerprint")
        )
    if attempt > 1 and retry is not None:
        result = result._replace(
            reason=f"{result.reason} (attempt {attempt} of {retry.attempts})", **guarded
        )
    if result.status is Status.SUCCEEDED and result.snapshot:
        snapshot.after_success(plan, resolved.facts, result.snapshot, steps, services)
    return result


def launch_and_run(
    plan: JobPlan,
    resolved: Resolved,
    steps: Steps,
    services: Services,
    *,
    first: bool,
    approved: str | None = None,
) -> tuple[Result, str | None]:
    """Create the Job suspended, then run it (the first attempt only after the approval the
    profile asks for: later ones run the same Job again); the result, and the masked log tail of
    a migration that failed on its own (None otherwise).
    Whatever ends the run early (retries spent, an error that cannot pass), the Job and its
    credentials Secret are deleted, not left to block the database's next migration."""
    launched = steps.step("create-job", lambda: launch.create_job(plan, services))
    if isinstance(launched, Refused):
        return resolved.result(launched.status, launched.reason, job=plan.name), None
    try:
        return run(plan, launched.uid, resolved, steps, services, first=first, approved=approved)
    except MigrationTriggerError as error:
        try:
            steps.step("clean-up", lambda: launch.stop_job(plan, services))
        except MigrationTriggerError as cleanup:
            left = (
                f"; the Job could not be deleted ({cleanup}): delete it with `kubectl delete job "
                f"{plan.name} -n {plan.profile.namespace}`; otherwise the next migration of "
                "this database deletes it, as this execution has ended (or, if it cannot ask "
                "Lambda, once the Job's start deadline has passed)"
            )
        else:
            left = f"; Job {plan.name} and its credentials Secret were deleted"
        return resolved.result(Status.FAILED, f"{error}{left}", job=plan.name), None


def ran_by_digest(plan: JobPlan) -> dict[str, str]:
    """The profile's image reference, for a result whose Job ran it pinned by digest."""
    return {"image_ref": plan.profile.image} if plan.image else {}


def run(
    plan: JobPlan,
    job_uid: str,
    resolved: Resolved,
    steps: Steps,
    services: Services,
    *,
    first: bool,
    approved: str | None = None,
) -> tuple[Result, str | None]:
    """Wait for the Job's turn and what must hold before it starts (stages/guard.py: its run
    window, and on the first attempt its approval and snapshot), start it, follow it to the end,
    read its log; the result, and the masked log tail if the migration failed on its own."""
    refusal = queue.wait_for_turn(plan, steps, services)
    if refusal is not None:
        return resolved.result(refusal.status, refusal.reason, job=plan.name), None
    guarded = guard.clear_to_start(
        plan, resolved.facts, steps, services, first=first, approved=approved
    )
    if isinstance(guarded, Refused):
        launch.stop(plan, steps, services)
        return resolved.result(guarded.status, guarded.reason, job=plan.name), None
    started = steps.step("start-job", lambda: launch.start_job(plan, job_uid, services))
    if isinstance(started, Refused):
        launch.stop(plan, steps, services)
        return resolved.result(started.status, started.reason, job=plan.name, **guarded), None
    plan = plan._replace(secret_version=started.secret_version)

    state, evidence, last_at = watch.follow(plan, started.at, steps, services)
    try:
        logs = steps.step("collect-logs", lambda: watch.collect_logs(plan, job_uid, services))
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
        launch.stop(plan, steps, services)
    result = resolved.result(
        _OUTCOMES.get(state.phase, Status.FAILED),
        state.reason,
        job=plan.name,
        duration_seconds=round(logs.at - started.at, 1),
        log_tail=shareable_tail(tail, share=plan.profile.shares_log_tail),
        **{"image": plan.image or plan.profile.image, **ran_by_digest(plan), **guarded},
    )
    if plan.trigger.rule.checks:
        # A check's Job ends as its tool exits: up to date, pending, or a failed check.
        exit_code = 0 if state.phase is JobPhase.SUCCEEDED else state.exit_code
        verdict = checking.judged(result, plan.profile.check_pending, exit_code, logs.pending_seen)
        return verdict, None
    # A retry looks only at a migration that failed on its own (its pod exited non-zero): never
    # at one stuck, deleted, timed out or unobservable, whatever its log said while it ran.
    return result, (tail if state.phase is JobPhase.FAILED and state.exit_code else None)
