"""Watch: follow the running Job with growing durable pauses until it ends, is stuck or overruns
its deadline; read the evidence while it runs and its log once it ended."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from migration_trigger.domain import jobspec, masking
from migration_trigger.domain.jobspec import JobPlan
from migration_trigger.domain.jobstate import (
    JobPhase,
    JobState,
    is_finished,
    job_state,
    latest_pod,
)
from migration_trigger.domain.profiles import CredentialMode
from migration_trigger.domain.result import (
    MAX_TAIL_BYTES,
    keep_end,
    printable,
)
from migration_trigger.domain.schedule import RUNNING, watch_pause
from migration_trigger.domain.watching import Watch
from migration_trigger.errors import AwsError, KubernetesError, MigrationTriggerError
from migration_trigger.ports import Services
from migration_trigger.records import (
    Logs,
    Observation,
)
from migration_trigger.steps import Poll, Steps

#: Lines of the migration log written to the function's log.
FUNCTION_LOG_LINES = 2000


#: Bytes of log tail a check keeps while the Job runs (each is checkpointed: kept small).
EVIDENCE_BYTES = 16 * 1024


def check_job(plan: jobspec.JobPlan, services: Services, *, with_tail: bool = False) -> Observation:
    """One observation of the Job and the pods it controls; with the running pod's log tail if
    asked. The check that sees the Job finished deletes its credentials Secret."""
    jobs = services.jobs_for(plan.profile)
    try:
        job = jobs.get_job(plan.name)
        pods = jobs.pods(job["metadata"]["uid"]) if job is not None else []
    except KubernetesError as error:
        if error.retryable:
            raise
        # Refused (RBAC changed, the access entry removed): waiting will not help. The Job is
        # left as it is: it may be migrating the database right now.
        reason = f"the function cannot check Job {plan.name}: {error}; the Job was left as it is"
        return Observation(JobState(JobPhase.FAILED, reason), at=services.clock())
    if job is None:
        state = JobState(JobPhase.FAILED, f"Job {plan.name} was deleted before it finished")
    else:
        state = job_state(job, pods)
        if is_finished(job):
            _remove_credentials(plan, services)
    tail = None
    if with_tail and not state.finished and state.pod:
        tail = _evidence(plan, state.pod, services)
    return Observation(state, at=services.clock(), tail=tail)


def _remove_credentials(plan: jobspec.JobPlan, services: Services) -> None:
    """Delete the Job's credentials Secret once no pod of it can start again (Complete or
    Failed): nothing outlives the migration. The Job stays for its log. A delete that fails, for
    any reason, is a warning: the Secret is garbage-collected with the Job (its TTL)."""
    if plan.profile.credentials is not CredentialMode.EPHEMERAL_SECRET:
        return
    try:
        services.jobs_for(plan.profile).delete_secret(plan.secret_name)
    except KubernetesError as error:
        # Never a reason to lose the check: the migration's outcome is known.
        services.log.warning(
            "could not delete the credentials Secret of a finished Job; it is deleted with the "
            "Job. Apply this version's k8s/rbac.yaml and k8s/validating-admission-policy.yaml",
            secret=plan.secret_name,
            error=str(error),
        )
        return
    services.log.info("deleted the credentials Secret of a finished Job", secret=plan.secret_name)


def _evidence(plan: jobspec.JobPlan, pod: str, services: Services) -> str | None:
    """The running pod's last lines, masked and within EVIDENCE_BYTES; None if unreadable."""
    keep = services.settings.LOG_TAIL_LINES
    if not keep:
        return None
    try:
        text = services.jobs_for(plan.profile).log(
            pod, tail_lines=keep, container=jobspec.CONTAINER
        )
    except KubernetesError:
        return None  # evidence only: the check itself stands without it
    return _last_lines(scrub(text, plan, services), keep, EVIDENCE_BYTES)


def collect_logs(plan: jobspec.JobPlan, job_uid: str, services: Services) -> Logs:
    """Read the Job's last pod's log before anything deletes it; the full log goes to the
    function log."""
    jobs = services.jobs_for(plan.profile)
    tail: str | None = None
    try:
        pod = latest_pod(jobs.pods(job_uid))
        if pod is not None:
            text = jobs.log(
                pod["metadata"]["name"], tail_lines=FUNCTION_LOG_LINES, container=jobspec.CONTAINER
            )
            text = scrub(text, plan, services)
            services.log.info("migration log", job=plan.name, pod=pod["metadata"]["name"], log=text)
            keep = services.settings.LOG_TAIL_LINES
            tail = _last_lines(text, keep, MAX_TAIL_BYTES) if keep else ""
            pending = plan.profile.check_pending if plan.trigger.rule.checks else None
            # A check's verdict reads the whole log, not the result's tail: a tool's "pending"
            # header may scroll out of it.
            seen = pending.seen(printable(text)) if pending is not None else None
            return Logs(tail=tail, at=services.clock(), pending_seen=seen)
    except KubernetesError as error:
        if error.retryable:
            raise
        services.log.warning("could not read the migration log", job=plan.name, error=str(error))
    return Logs(tail=tail, at=services.clock())


def _last_lines(text: str, keep: int, max_bytes: int) -> str:
    """The last `keep` lines of a masked log, printable, within `max_bytes`."""
    return keep_end(printable("\n".join(text.splitlines()[-keep:])), max_bytes)


def scrub(text: str, plan: jobspec.JobPlan, services: Services) -> str:
    """Mask the credentials a migration tool may print (the rules: domain/masking.py)."""
    if plan.profile.credentials is not CredentialMode.EPHEMERAL_SECRET:
        # secret-arn: the function never reads the password, so only patterns can mask, and the
        # log says so.
        return masking.mask_without_password(text)
    try:
        # The password the Job was given, and the current one: a rotation during the migration
        # must not unmask what the tool printed.
        given = services.secrets.read(plan.secret_arn, plan.secret_version)
        current = services.secrets.read(plan.secret_arn) if plan.secret_version else given
    except AwsError as error:
        if error.retryable:
            raise
        # Without the password it cannot be masked: keep none of the log rather than risk it.
        return f"[the log is withheld: the secret to mask it with could not be read: {error}]"
    masked = masking.mask(text, (given.password, current.password), username=given.username)
    if current.username != given.username:
        masked = masking.mask(masked, (current.password,), username=current.username)
    return masked


def follow(
    plan: JobPlan, started_at: float, steps: Steps, services: Services
) -> tuple[JobState, str | None, float]:
    """Check the Job with growing pauses until it finishes, is stuck, or overruns its deadline
    (the policy: domain/watching.py). Returns the final state, the log tail last read while it
    ran, and when it was last seen. A check whose retries are spent (an API outage) does not end
    the migration: following goes on with the same durable pauses until the deadline has passed.
    """
    evidence, seen_at = None, started_at
    watch = Watch.of(plan.profile)
    poll = Poll(steps, RUNNING.wait, partial(watch_pause, plan.profile, plan.expected_seconds))
    while True:
        pause = poll.pause()
        check, waited = poll.waits - 1, poll.waited  # check n follows wait n
        watch, with_tail = watch.reads_tail(check, waited)
        try:
            observed = steps.step(
                f"{RUNNING.check}-{check}", _checker(plan, services, with_tail=with_tail)
            )
        except MigrationTriggerError as error:
            watch, ended = watch.unseen_for(pause, waited, str(error))
            if ended is not None:
                return ended, evidence, seen_at
            services.log.warning("could not check the Job; still following", error=str(error))
            continue
        seen_at = observed.at
        evidence = observed.tail if observed.tail is not None else evidence
        watch, state = watch.observe(observed.state, waited, observed.at - started_at)
        if state.finished:
            return state, evidence, seen_at


def _checker(plan: JobPlan, services: Services, *, with_tail: bool) -> Callable[[], Observation]:
    """The check step's body, bound to this check's choice of reading the log tail."""
    return lambda: check_job(plan, services, with_tail=with_tail)


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (
    check_job,
    collect_logs,
)
