"""Launch: create the Job suspended (adopting, replacing or refusing what holds its name), give
it its credentials and start it in its turn, stop it when the story ends it early."""

from __future__ import annotations

from typing import Any

from migration_trigger.domain import bluegreen, jobspec
from migration_trigger.domain.jobstate import completed, is_finished
from migration_trigger.domain.profiles import CredentialMode
from migration_trigger.domain.queueing import (
    execution_ended,
    execution_to_ask,
    replaceable,
    same_function,
    start_window,
)
from migration_trigger.domain.result import Status
from migration_trigger.errors import AwsError, KubernetesError
from migration_trigger.ports import Jobs, Services
from migration_trigger.records import (
    Launched,
    Refused,
    Started,
    Stopped,
)
from migration_trigger.steps import Steps


def create_job(plan: jobspec.JobPlan, services: Services) -> Launched | Refused:
    """Create the Job suspended. A 409 is adopted if this execution created it; fails naming the
    Job if this function did not (planted at the predictable name: it must not silence the
    event); replaces it if it failed or never started and its execution has ended (the same event
    sent again re-runs); and is a duplicate otherwise."""
    jobs = services.jobs_for(plan.profile)
    start_by = services.clock() + start_window(plan.profile)
    manifest = jobspec.render_job(services.job_template(), plan, start_by=start_by)
    try:
        created = jobs.create_job(manifest)
    except KubernetesError as error:
        if error.retryable:
            raise
        if error.status != 409:
            return Refused(Status.FAILED, _cluster_refusal(error, plan))
        return _name_taken(plan, manifest, services)
    services.log.info(
        "created migration Job (suspended)", job=plan.name, namespace=plan.profile.namespace
    )
    return Launched(created["metadata"]["uid"])


def _name_taken(
    plan: jobspec.JobPlan, manifest: dict[str, Any], services: Services
) -> Launched | Refused:
    """What a Job already at the migration's name means for this execution."""
    jobs = services.jobs_for(plan.profile)
    existing = jobs.get_job(plan.name)
    if existing is None:
        # Deleted since the 409: the step's retry creates it.
        raise KubernetesError(f"Job {plan.name} was deleted while it was created")  # retryable
    owner = jobspec.execution_of(existing)
    if owner == plan.execution:
        services.log.info("adopted the Job this execution created earlier", job=plan.name)
        return Launched(existing["metadata"]["uid"])
    if not same_function(owner, plan.execution):
        return Refused(
            Status.FAILED,
            f"Job {plan.name} already exists in namespace {plan.profile.namespace} but was "
            "not created by this function (no execution annotation of it): nothing was run "
            "for this event. Check who created it (`kubectl describe job`) and who may "
            "create Jobs in this namespace; delete it and trigger the migration again",
        )
    if is_finished(existing) and not replaceable(existing):
        return Refused(
            Status.DUPLICATE,
            f"Job {plan.name} already ran for this event and completed: a redelivery; the "
            "migration is not run twice",
        )
    if not _sent_again(existing, plan):
        # Another event of the same change (a cluster's and each instance's creation, both
        # events of one rotation): it is that change's Job, whatever became of it.
        return Refused(
            Status.DUPLICATE,
            f"Job {plan.name} already exists for this change of the database, made for event "
            f"{jobspec.event_of(existing)}: a duplicate; to run it again, send that event again "
            "or a manual request",
        )
    done = _completed_attempt(plan, services)
    if done is not None:
        return Refused(
            Status.DUPLICATE,
            f"Job {done} already ran for this event and completed (an attempt of the profile's "
            "retry): a redelivery; the migration is not run twice",
        )
    status = execution_status(existing, plan, services) if replaceable(existing) else None
    if status is None or not execution_ended(status):
        return Refused(
            Status.DUPLICATE,
            f"Job {plan.name} already exists for this event and its execution is still running "
            "(or Lambda could not say it ended): a redelivery; that execution reports the outcome",
        )
    return _replace(existing, manifest, status, plan, services)


def _completed_attempt(plan: jobspec.JobPlan, services: Services) -> str | None:
    """A Job of the database made for this event that completed: a later attempt of a migration
    whose first attempt failed (the profile's retry). None if there is none."""
    jobs = services.jobs_for(plan.profile).database_jobs(jobspec.database_key(plan.database_arn))
    done = [
        job["metadata"]["name"]
        for job in jobs
        if jobspec.event_of(job) == plan.trigger.event_id and completed(job)
    ]
    return str(done[0]) if done else None


def _delete_old_secret(plan: jobspec.JobPlan, services: Services) -> None:
    """The replaced Job's credentials Secret: usually deleted when that Job finished, otherwise
    garbage-collected only later, and the new run must not find it in its way. One the cluster
    will not let the function delete is not the old Job's: start-job refuses it by name."""
    try:
        services.jobs_for(plan.profile).delete_secret(plan.secret_name)
    except KubernetesError as error:
        if error.retryable:
            raise


def _sent_again(existing: dict[str, Any], plan: jobspec.JobPlan) -> bool:
    """Whether this is the event the Job was made for, sent again (for a kind that runs again when
    resent, a manual request: the same request id), rather than another event of the same
    change."""
    return (
        plan.trigger.rule.resent_runs_again or jobspec.event_of(existing) == plan.trigger.event_id
    )


def _replace(
    existing: dict[str, Any],
    manifest: dict[str, Any],
    status: str,
    plan: jobspec.JobPlan,
    services: Services,
) -> Launched:
    """Delete a Job whose run is over and did not succeed, only as it was seen, with its
    credentials Secret; create it again. A conflict on either side is retried by the step."""
    jobs = services.jobs_for(plan.profile)
    meta = existing["metadata"]
    try:
        jobs.delete_job(
            plan.name, uid=meta.get("uid"), resource_version=meta.get("resourceVersion")
        )
        if plan.profile.credentials is CredentialMode.EPHEMERAL_SECRET:
            _delete_old_secret(plan, services)
        created = jobs.create_job(manifest)
    except KubernetesError as error:
        if error.status != 409:
            raise
        # Changed since it was seen (the preconditions), or re-created meanwhile by another
        # execution the same event was sent to: the step's retry looks again.
        raise KubernetesError(f"Job {plan.name} changed while it was replaced: {error}") from None
    services.log.warning(
        f"replaced a migration Job whose execution has ended ({status}): the event was sent again",
        job=plan.name,
        execution=jobspec.execution_of(existing),
    )
    return Launched(created["metadata"]["uid"])


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


def start_job(plan: jobspec.JobPlan, job_uid: str, services: Services) -> Started | Refused:
    """Create the ephemeral credentials Secret when the profile wants one, then un-suspend;
    unless a Blue/Green deployment began to hold the database since it was resolved (hours may
    have passed in the queue, the run window or the approval): then nothing starts."""
    jobs = services.jobs_for(plan.profile)
    held = _held(plan, jobs, services)
    if held is not None:
        return held
    version = None
    try:
        if plan.profile.credentials is CredentialMode.EPHEMERAL_SECRET:
            # Which secret was decided once, at resolve (domain/binding.py).
            secret = services.secrets.read(plan.secret_arn)
            version = secret.version
            values = jobspec.credential_values(
                plan.endpoint,
                secret.username,
                secret.password,
                plan.profile.url_query,
                plan.profile.session_settings,
            )
            existing = jobs.create_secret(jobspec.render_secret(plan, job_uid, values))
            if existing is not None and not jobspec.owned_by(existing, job_uid):
                return Refused(
                    Status.FAILED,
                    f"Secret {plan.secret_name} already exists in namespace "
                    f"{plan.profile.namespace} and was not made for Job {plan.name} (no owner "
                    "reference to it): it is not used, and the Job is not started. Delete it if "
                    "nobody needs it, and check who may create Secrets in this namespace",
                )
        jobs.resume(plan.name)
    except (KubernetesError, AwsError) as error:
        if error.retryable:
            raise
        return Refused(Status.FAILED, f"could not start Job {plan.name}: {error}")
    services.log.info("started migration Job", job=plan.name)
    return Started(at=services.clock(), secret_version=version)


def _held(plan: jobspec.JobPlan, jobs: Jobs, services: Services) -> Refused | None:
    """Why the Job must not start: a Blue/Green deployment not switched over holds its database
    (domain/bluegreen.holding). A check applies nothing: it starts regardless. Nor is a Job this
    step already started (the step ran once before its checkpoint) stopped for it."""
    if plan.trigger.rule.checks:
        return None
    deployment = bluegreen.holding(services.rds.blue_green(), plan.database_arn)
    if deployment is None:
        return None
    job = jobs.get_job(plan.name)
    if job is not None and not job.get("spec", {}).get("suspend", True):
        return None
    return Refused(
        Status.FAILED,
        f"Blue/Green deployment {deployment.identifier} ({deployment.status}) began to hold the "
        "database while the migration waited: the Job is not started, as schema changes on "
        "either side can break the replication; once it is switched over or deleted, send a "
        "manual request",
    )


def stop(plan: jobspec.JobPlan, steps: Steps, services: Services) -> None:
    """The stop-job step: the Job must not run on (it is stuck, overran, or gave up its turn)."""
    steps.step("stop-job", lambda: stop_job(plan, services))


def stop_job(plan: jobspec.JobPlan, services: Services) -> Stopped:
    """Delete a Job that must not run on (stuck, overran, or gave up waiting its turn)."""
    services.jobs_for(plan.profile).delete_job(plan.name)
    services.log.warning("deleted migration Job", job=plan.name)
    return Stopped(plan.name)


def execution_status(job: dict[str, Any], plan: jobspec.JobPlan, services: Services) -> str | None:
    """What Lambda says of the execution that created `job`; None if it cannot be asked or
    does not answer (not knowing is never taken for ended)."""
    execution = execution_to_ask(jobspec.execution_of(job) or "", plan.execution)
    if services.executions is None or execution is None:
        return None
    try:
        return services.executions.status(execution)
    except AwsError as error:
        services.log.warning(
            "could not learn from Lambda whether the execution of a migration Job has ended",
            job=job["metadata"]["name"],
            error=str(error),
        )
        return None


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (
    create_job,
    start_job,
    stop_job,
)
