"""The orchestration: one event in, at most one migration Job run, one result reported.

Every side effect (creating the Job or its Secret, starting it, notifying, emitting metrics) happens
inside a named step, so a replayed execution never repeats it. Decisions between steps use only
step results, so replays take the same path. Waits are durable: no compute while waiting.
"""

from __future__ import annotations

import json
import re
from typing import Any

from migration_trigger.domain import jobspec
from migration_trigger.domain.decision import (
    AVAILABLE,
    DatabaseFacts,
    Reject,
    Route,
    Skip,
    credentials_secret,
    route,
)
from migration_trigger.domain.events import Ignored, Rejected, Trigger, TriggerKind, parse_event
from migration_trigger.domain.jobstate import JobState, is_finished, job_state, latest_pod
from migration_trigger.domain.profiles import CredentialMode, Profile
from migration_trigger.domain.result import FAILING, Result, Status, subject
from migration_trigger.errors import AwsError, KubernetesError, MigrationTriggerError
from migration_trigger.services import Services
from migration_trigger.steps import PrefixedSteps, Steps

#: Seconds between database status checks while it is being created or restored.
AVAILABLE_POLL_SECONDS = 30
#: Seconds after creating a Job before comparing it with other Jobs of the database: creation
#: timestamps have one-second resolution, so after this every earlier Job is visible.
QUEUE_SETTLE_SECONDS = 2
#: Longest gap between status checks of a running Job.
MAX_POLL_SECONDS = 60
#: Lines of the migration log written to the function's log.
FUNCTION_LOG_LINES = 2000
_URL_PASSWORD = re.compile(r"(://[^:/\s@]+:)[^@\s]+@")


class MigrationFailedError(MigrationTriggerError):
    """Raised after reporting, so a failed or timed-out migration fails the execution."""


def run_invocation(
    event: Any, steps: Steps, services: Services
) -> dict[str, Any] | list[dict[str, Any]]:
    """Handle one event, or each event of a batch; raise if any migration failed or timed out."""
    if isinstance(event, list):
        results = [
            handle_event(item, PrefixedSteps(steps, f"event-{index}/"), services)
            for index, item in enumerate(event)
        ]
    else:
        results = [handle_event(event, steps, services)]
    failing = [r for r in results if r.status in FAILING]
    if failing:
        raise MigrationFailedError("; ".join(f"{r.status}: {r.reason}" for r in failing))
    documents = [r.to_dict() for r in results]
    return documents if isinstance(event, list) else documents[0]


def handle_event(event: Any, steps: Steps, services: Services) -> Result:
    """The whole flow for one event; every outcome is a reported Result."""
    parsed = parse_event(event)
    if isinstance(parsed, Ignored | Rejected):
        status = Status.IGNORED if isinstance(parsed, Ignored) else Status.REJECTED
        return report(steps, services, Result(status, parsed.reason, event_id=parsed.event_id))
    try:
        result = _migrate(parsed, steps, services)
    except MigrationTriggerError as error:
        # Retries are spent or the error cannot pass: report it rather than fail silently.
        result = Result(
            Status.FAILED,
            str(error),
            trigger=str(parsed.kind),
            event_id=parsed.event_id,
            database=parsed.database,
        )
    return report(steps, services, result)


def _migrate(trigger: Trigger, steps: Steps, services: Services) -> Result:
    resolved = steps.step("resolve", lambda: resolve(trigger, services))
    trigger = Trigger.from_dict(resolved["trigger"])
    base: dict[str, Any] = {
        "trigger": str(trigger.kind),
        "event_id": trigger.event_id,
        "database": resolved.get("database"),
    }
    if resolved["outcome"] != "route":
        status = {"skip": Status.SKIPPED, "reject": Status.REJECTED, "fail": Status.FAILED}[
            resolved["outcome"]
        ]
        return Result(status, resolved["reason"], **base)
    profile = Profile.from_dict(resolved["profile"])
    facts = DatabaseFacts.from_dict(resolved["facts"])
    base.update(
        profile=profile.name, cluster=profile.cluster.describe(), namespace=profile.namespace
    )

    available = _wait_until_available(facts, profile, steps, services)
    if isinstance(available, Result):
        return Result(available.status, available.reason, **base)
    facts = available
    if trigger.kind is TriggerKind.SECRET_ROTATED and profile.rotation_settle_seconds:
        steps.wait("rotation-settle", profile.rotation_settle_seconds)

    plan = jobspec.JobPlan(
        name=resolved["job"],
        profile=profile,
        trigger=trigger,
        database_arn=facts.arn,
        secret_arn=resolved["secret_arn"],
        endpoint=facts.endpoint,
        execution=steps.execution_id,
    )
    base["job"] = plan.name
    launched = steps.step("create-job", lambda: create_job(plan, services))
    if launched["outcome"] != "created":
        status = Status.DUPLICATE if launched["outcome"] == "duplicate" else Status.FAILED
        return Result(status, launched["reason"], **base)

    queued = _wait_for_turn(plan, steps, services)
    if queued is not None:
        return Result(queued.status, queued.reason, **base)

    started = steps.step("start-job", lambda: start_job(plan, launched["uid"], services))
    if "error" in started:
        steps.step("stop-job", lambda: stop_job(plan, services))
        return Result(Status.FAILED, started["error"], **base)

    state = _follow(plan, started["at"], steps, services)
    collected = steps.step("collect-logs", lambda: collect_logs(plan, state, services))
    if state.phase == "stuck" or collected.get("overran"):
        steps.step("stop-job", lambda: stop_job(plan, services))
    status = {
        "succeeded": Status.SUCCEEDED,
        "timed_out": Status.TIMED_OUT,
    }.get(state.phase, Status.FAILED)
    duration = round(collected["at"] - started["at"], 1)
    return Result(
        status, state.reason, duration_seconds=duration, log_tail=collected["tail"], **base
    )


# -- steps ------------------------------------------------------------------------------------


def resolve(trigger: Trigger, services: Services) -> dict[str, Any]:
    """Find the database, read its facts and tags, choose the profile, name the Job."""
    settings = services.settings
    secret_arn: str | None = None
    database = trigger.database
    if trigger.kind is TriggerKind.SECRET_ROTATED:
        secret = services.secrets.describe(
            trigger.secret_id or "", database_tag_key=settings.DATABASE_TAG_KEY
        )
        version = trigger.rotation_version or secret.current_version
        trigger = Trigger.from_dict(
            {
                **trigger.to_dict(),
                "secret_id": secret.arn,
                "rotation_version": version,
                "dedup_key": f"rotation|{secret.arn}|{version}",
            }
        )
        if secret.database_arn is None:
            return _outcome(
                "skip",
                trigger,
                f"secret {secret.arn} belongs to no database: it has no "
                f"aws:rds:primaryDBInstanceArn/ClusterArn or {settings.DATABASE_TAG_KEY} tag",
            )
        database, secret_arn = secret.database_arn, secret.arn
    assert database is not None
    try:
        facts = services.rds.describe(database)
    except AwsError as error:
        if error.code in (
            "DBInstanceNotFound",
            "DBInstanceNotFoundFault",
            "DBClusterNotFoundFault",
        ):
            return _outcome("skip", trigger, f"{database} no longer exists", database)
        raise
    decision = route(trigger, facts, dict(settings.PROFILES), tag_key=settings.PROFILE_TAG_KEY)
    if isinstance(decision, Skip | Reject):
        kind = "skip" if isinstance(decision, Skip) else "reject"
        return _outcome(kind, trigger, decision.reason, facts.arn)
    assert isinstance(decision, Route)
    expected = credentials_secret(facts, secret_tag_key=settings.SECRET_TAG_KEY)
    if expected is None:
        return _outcome(
            "fail",
            trigger,
            f"{facts.identifier} has no credentials to migrate with: no RDS-managed master secret "
            f"and no '{settings.SECRET_TAG_KEY}' tag",
            facts.arn,
        )
    # RDS gives its managed secret's full ARN. The database's tag may give a name or a partial ARN:
    # Secrets Manager resolves it to the full ARN, so two secrets are compared by ARN alone, never
    # by a prefix (`orders` is not `orders-db`).
    bound = (
        None
        if facts.managed_secret_arn
        else services.secrets.describe(expected, database_tag_key=settings.DATABASE_TAG_KEY)
    )
    expected = bound.arn if bound else expected
    if secret_arn is not None and secret_arn != expected:
        return _outcome(
            "skip",
            trigger,
            f"secret {secret_arn} is not the credentials secret of {facts.identifier} ({expected})",
            facts.arn,
        )
    # A self-managed secret counts only if it names this database back: a tag on the database
    # alone must not be able to hand any secret to the migration.
    if bound and bound.tags.get(settings.DATABASE_TAG_KEY) != facts.arn:
        return _outcome(
            "reject",
            trigger,
            f"secret {expected} is not tagged {settings.DATABASE_TAG_KEY}={facts.arn}",
            facts.arn,
        )
    services.log.info(
        "routed",
        database=facts.arn,
        status=facts.status,
        profile=decision.profile.name,
        cluster=decision.profile.cluster.describe(),
        credentials=str(decision.profile.credentials),
    )
    return {
        **_outcome("route", trigger, "", facts.arn),
        "facts": facts.to_dict(),
        "profile": decision.profile.to_dict(),
        "secret_arn": expected,
        "job": jobspec.job_name(facts.arn, trigger.dedup_key),
    }


def _outcome(
    kind: str, trigger: Trigger, reason: str, database: str | None = None
) -> dict[str, Any]:
    return {
        "outcome": kind,
        "reason": reason,
        "trigger": trigger.to_dict(),
        "database": database or trigger.database,
    }


def _wait_until_available(
    facts: DatabaseFacts, profile: Profile, steps: Steps, services: Services
) -> DatabaseFacts | Result:
    waited, check, arn = 0, 0, facts.arn
    while facts.status != AVAILABLE:
        if waited >= profile.wait_for_available_seconds:
            return Result(
                Status.TIMED_OUT,
                f"{facts.identifier} was still '{facts.status}' after {waited}s "
                f"(waitForAvailableSeconds {profile.wait_for_available_seconds})",
            )
        pause = min(AVAILABLE_POLL_SECONDS, max(1, profile.wait_for_available_seconds - waited))
        steps.wait(f"database-available-{check}", pause)
        waited += pause
        check += 1
        facts = DatabaseFacts.from_dict(
            steps.step(f"database-status-{check}", lambda: services.rds.describe(arn).to_dict())
        )
    return facts


def create_job(plan: jobspec.JobPlan, services: Services) -> dict[str, Any]:
    """Create the Job suspended; a 409 is adopted only if this execution created it."""
    jobs = services.jobs_for(plan.profile)
    manifest = jobspec.render_job(services.job_template(), plan)
    try:
        created = jobs.create_job(manifest)
    except KubernetesError as error:
        if error.retryable:
            raise
        if error.status != 409:
            return {"outcome": "failed", "reason": _cluster_refusal(error, plan)}
        existing = jobs.get_job(plan.name)
        owner = ((existing or {}).get("metadata", {}).get("annotations") or {}).get(
            f"{jobspec.LABEL_PREFIX}/execution"
        )
        if existing is not None and owner == plan.execution:
            services.log.info("adopted the Job this execution created earlier", job=plan.name)
            return {"outcome": "created", "uid": existing["metadata"]["uid"]}
        return {
            "outcome": "duplicate",
            "reason": f"Job {plan.name} already exists for this event: a redelivery; the execution "
            "that created it reports the outcome",
        }
    services.log.info(
        "created migration Job (suspended)", job=plan.name, namespace=plan.profile.namespace
    )
    return {"outcome": "created", "uid": created["metadata"]["uid"]}


def _cluster_refusal(error: KubernetesError, plan: jobspec.JobPlan) -> str:
    if error.status == 403:
        return (
            f"the cluster refused to create the Job in namespace {plan.profile.namespace}: "
            f"{error}. "
            "Check the function's EKS access entry and that k8s/rbac.yaml is applied"
        )
    if error.status == 401:
        return (
            f"the cluster did not accept the function's identity: {error}. Check the EKS access "
            "entry for the function's role"
        )
    return f"the cluster refused the Job: {error}"


def _wait_for_turn(plan: jobspec.JobPlan, steps: Steps, services: Services) -> Result | None:
    """Serialize per database: run only when no earlier unfinished Job of it remains."""
    steps.wait("queue-settle", QUEUE_SETTLE_SECONDS)
    waited, check = 0, 0
    while True:
        ahead = steps.step(f"queue-{check}", lambda: jobs_ahead(plan, services))
        if ahead.get("missing"):
            return Result(Status.FAILED, f"Job {plan.name} was deleted while it waited its turn")
        if not ahead["names"]:
            return None
        if waited >= plan.profile.queue_timeout_seconds:
            steps.step("stop-job", lambda: stop_job(plan, services))
            return Result(
                Status.TIMED_OUT,
                f"waited {waited}s behind {', '.join(ahead['names'])} migrating the same database "
                f"(queueTimeoutSeconds {plan.profile.queue_timeout_seconds}); the Job was deleted",
            )
        pause = _poll_pause(plan.profile, check)
        steps.wait(f"queued-{check}", pause)
        waited += pause
        check += 1


def jobs_ahead(plan: jobspec.JobPlan, services: Services) -> dict[str, Any]:
    """Unfinished Jobs of the same database ordered before this one (creation time, then name)."""
    jobs = services.jobs_for(plan.profile).database_jobs(jobspec.database_key(plan.database_arn))
    ours = next((j for j in jobs if j["metadata"]["name"] == plan.name), None)
    if ours is None:
        return {"missing": True, "names": []}

    def order(job: dict[str, Any]) -> tuple[str, str]:
        return (job["metadata"].get("creationTimestamp", ""), job["metadata"]["name"])

    ahead = [
        j["metadata"]["name"]
        for j in jobs
        if order(j) < order(ours)
        and not is_finished(j)
        and not j["metadata"].get("deletionTimestamp")
    ]
    return {"names": ahead}


def start_job(plan: jobspec.JobPlan, job_uid: str, services: Services) -> dict[str, Any]:
    """Create the ephemeral credentials Secret when the profile wants one, then un-suspend."""
    jobs = services.jobs_for(plan.profile)
    try:
        if plan.profile.credentials is CredentialMode.EPHEMERAL_SECRET:
            secret = services.secrets.read(plan.secret_arn)
            values = jobspec.credential_values(
                plan.endpoint, secret.username, secret.password, plan.profile.url_query
            )
            jobs.create_secret(jobspec.render_secret(plan, job_uid, values))
        jobs.resume(plan.name)
    except (KubernetesError, AwsError) as error:
        if error.retryable:
            raise
        return {"error": f"could not start Job {plan.name}: {error}"}
    services.log.info("started migration Job", job=plan.name)
    return {"at": services.clock()}


def _poll_pause(profile: Profile, check: int) -> int:
    """Seconds before check `check + 1`: pollSeconds, doubling thrice, at most MAX_POLL_SECONDS."""
    return int(min(MAX_POLL_SECONDS, profile.poll_seconds * 2 ** min(check, 3)))


def _follow(plan: jobspec.JobPlan, started_at: float, steps: Steps, services: Services) -> JobState:
    """Check the Job with growing pauses until it finishes, is stuck, or overruns its deadline."""
    check = 0
    while True:
        pause = _poll_pause(plan.profile, check)
        steps.wait(f"running-{check}", pause)
        observed = steps.step(f"check-{check}", lambda: check_job(plan, services))
        state = JobState(observed["phase"], observed["reason"], observed.get("pod"))
        if state.finished:
            return state
        # Backstop for a Job Kubernetes does not stop (its deadline only counts once it runs).
        limit = plan.profile.active_deadline_seconds + 10 * MAX_POLL_SECONDS
        if observed["at"] - started_at > limit:
            return JobState("timed_out", f"the Job did not finish within {limit}s", state.pod)
        check += 1


def check_job(plan: jobspec.JobPlan, services: Services) -> dict[str, Any]:
    """One observation of the Job and its pods."""
    jobs = services.jobs_for(plan.profile)
    job = jobs.get_job(plan.name)
    if job is None:
        state = JobState("failed", f"Job {plan.name} was deleted before it finished")
    else:
        state = job_state(job, jobs.pods(plan.name))
    return {**state.to_dict(), "at": services.clock()}


def collect_logs(plan: jobspec.JobPlan, state: JobState, services: Services) -> dict[str, Any]:
    """Read the last pod's log before anything deletes it; the full log goes to the function log."""
    jobs = services.jobs_for(plan.profile)
    tail: str | None = None
    try:
        pod = latest_pod(jobs.pods(plan.name))
        if pod is not None:
            text = jobs.log(
                pod["metadata"]["name"], tail_lines=FUNCTION_LOG_LINES, container=jobspec.CONTAINER
            )
            text = scrub(text, plan, services)
            services.log.info("migration log", job=plan.name, pod=pod["metadata"]["name"], log=text)
            lines = text.splitlines()
            keep = services.settings.LOG_TAIL_LINES
            tail = "\n".join(lines[-keep:]) if keep else ""
    except KubernetesError as error:
        if error.retryable:
            raise
        services.log.warning("could not read the migration log", job=plan.name, error=str(error))
    return {"tail": tail, "at": services.clock(), "overran": state.phase == "timed_out"}


def scrub(text: str, plan: jobspec.JobPlan, services: Services) -> str:
    """Remove credentials a migration tool may print: URL passwords, and the password itself."""
    text = _URL_PASSWORD.sub(r"\1****@", text)
    if plan.profile.credentials is CredentialMode.EPHEMERAL_SECRET:
        try:
            password = services.secrets.read(plan.secret_arn).password
        except AwsError:
            return text
        import urllib.parse  # noqa: PLC0415

        for form in {password, urllib.parse.quote(password, safe="")}:
            if form:
                text = text.replace(form, "****")
    return text


def stop_job(plan: jobspec.JobPlan, services: Services) -> dict[str, Any]:
    """Delete a Job that must not run on (stuck, overran, or gave up waiting its turn)."""
    services.jobs_for(plan.profile).delete_job(plan.name)
    services.log.warning("deleted migration Job", job=plan.name)
    return {"deleted": plan.name}


def report(steps: Steps, services: Services, result: Result) -> Result:
    """Log the result, emit its metrics, and notify if its status is one that notifies."""
    return Result.from_dict(steps.step("report", lambda: publish(result, services)))


def publish(result: Result, services: Services) -> dict[str, Any]:
    """The report step's side effects."""
    settings = services.settings
    document = result.to_dict()
    services.log.info("migration result", result=document)
    services.metrics.record(result)
    if services.notifier is not None and result.status in settings.NOTIFY_STATUSES:
        services.notifier.publish(
            subject(result, settings.ENVIRONMENT),
            json.dumps(document, indent=2),
            {
                "status": str(result.status),
                "environment": settings.ENVIRONMENT,
                "database": (result.database or "").rsplit(":", 1)[-1],
            },
        )
    return document
