"""The bodies of the flow's steps: each does its I/O through the ports and returns a record.

A step body runs once per execution (its record is replayed afterwards), so every side effect
lives here and nowhere in flow.py. Retryable errors propagate for the step to retry; errors that
will not pass become a record that says so.
"""

from __future__ import annotations

from typing import Any

from migration_trigger.domain import binding, jobspec, masking
from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.decision import (
    Claim,
    Fail,
    Reject,
    Route,
    Skip,
    cluster_of,
    keyed_by_database,
    route,
)
from migration_trigger.domain.events import Trigger, TriggerKind
from migration_trigger.domain.jobstate import (
    JobPhase,
    JobState,
    execution_ended,
    is_abandoned,
    is_finished,
    job_state,
    latest_pod,
    left_behind,
    replaceable,
    waits_to_start,
)
from migration_trigger.domain.profiles import CredentialMode
from migration_trigger.domain.result import MAX_TAIL_BYTES, Result, Status, keep_end, printable
from migration_trigger.domain.schedule import start_window
from migration_trigger.errors import AwsError, KubernetesError
from migration_trigger.ports import Jobs, Services
from migration_trigger.records import (
    Declined,
    Launched,
    Logs,
    Notified,
    Observation,
    Queue,
    Recorded,
    Refused,
    Resolved,
    Started,
    Stopped,
)

#: Lines of the migration log written to the function's log.
FUNCTION_LOG_LINES = 2000
#: Bytes of log tail a check keeps while the Job runs (each is checkpointed: kept small).
EVIDENCE_BYTES = 16 * 1024
_NOT_FOUND = ("DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault")
#: What Secrets Manager answers for a secret the function's policy does not cover, or none at all.
_NOT_OURS = ("AccessDeniedException", "ResourceNotFoundException")
_DECLINED = {Skip: Status.SKIPPED, Reject: Status.REJECTED, Fail: Status.FAILED}


def resolve(trigger: Trigger, services: Services) -> Resolved | Declined:
    """Find the database, read its facts and tags, choose the profile, bind its secret.

    Profiles that could not be loaded fail a new event here, in its first step; an execution
    already past this step replays the profile it resolved and goes on.
    """
    if services.settings.PROFILES_ERROR:
        reason = f"the function's configuration is invalid: {services.settings.PROFILES_ERROR}"
        return Declined(Status.FAILED, reason, trigger, trigger.database)
    return _resolve(trigger, services)


def _resolve(trigger: Trigger, services: Services) -> Resolved | Declined:
    settings = services.settings
    rotated: str | None = None
    database = trigger.database
    if trigger.kind is TriggerKind.SECRET_ROTATED:
        try:
            secret = services.secrets.describe(trigger.secret_id or "")
        except AwsError as error:
            if error.code not in _NOT_OURS:
                raise
            # Secret Label Updated fires for every secret in the account; the policy lets the
            # function describe only RDS-managed secrets and those tagged with a database.
            return Declined(
                Status.IGNORED,
                f"secret {trigger.secret_id} is not a database's credentials secret this "
                f"function may read ({error.code})",
                trigger,
                None,
            )
        version = trigger.rotation_version or secret.current_version
        trigger = trigger._replace(
            secret_id=secret.arn,
            rotation_version=version,
            dedup_key=f"rotation|{secret.arn}|{version}",
        )
        database = secret.database(database_tag_key=settings.DATABASE_TAG_KEY)
        if database is None:
            return _declined(
                Skip(
                    f"secret {secret.arn} belongs to no database: it has no "
                    "aws:rds:primaryDBInstanceArn/ClusterArn or "
                    f"{settings.DATABASE_TAG_KEY} tag"
                ),
                trigger,
            )
        rotated = secret.arn
    assert database is not None, "parse_event gives every other trigger a database"
    try:
        facts = services.rds.describe(database)
        if (cluster := cluster_of(facts)) is not None:
            facts = services.rds.describe(cluster)
    except AwsError as error:
        if error.code in _NOT_FOUND:
            return _declined(Skip(f"{database} no longer exists"), trigger, database)
        raise
    trigger = keyed_by_database(trigger, facts)
    claim = Claim(settings.ENVIRONMENT, unqualified=settings.CLAIM_UNQUALIFIED_TAGS)
    decision = route(
        trigger, facts, dict(settings.profiles), tag_key=settings.PROFILE_TAG_KEY, claim=claim
    )
    if not isinstance(decision, Route):
        return _declined(decision, trigger, facts.arn)
    bound = _bind(facts, rotated, services)
    if isinstance(bound, binding.Unbound):
        return Declined(bound.status, bound.reason, trigger, facts.arn)
    services.log.info(
        "routed",
        database=facts.arn,
        status=facts.status,
        profile=decision.profile.name,
        cluster=decision.profile.cluster.describe(),
        credentials=str(decision.profile.credentials),
    )
    return Resolved(
        trigger=trigger,
        facts=facts,
        profile=decision.profile,
        secret_arn=bound.secret_arn,
        job=jobspec.job_name(facts.arn, trigger.dedup_key),
    )


def _bind(
    facts: DatabaseFacts, rotated: str | None, services: Services
) -> binding.Bound | binding.Unbound:
    """Every binding rule (domain/binding.py), with what Secrets Manager says the rules ask."""
    settings = services.settings
    keys = binding.Keys(
        database_tag=settings.DATABASE_TAG_KEY,
        secret_tag=settings.SECRET_TAG_KEY,
        prefix=settings.SELF_MANAGED_SECRET_PREFIX,
    )
    # A tag may name a self-managed secret by name or partial ARN: Secrets Manager resolves it.
    reference = facts.tags.get(settings.SECRET_TAG_KEY)
    tagged = None
    if reference and not facts.managed_secret_arn:
        try:
            tagged = services.secrets.describe(reference)
        except AwsError as error:
            if error.code not in _NOT_OURS:
                raise
            return _unreadable(reference, error, facts, keys)
    chosen = binding.choose(facts, tagged=tagged, rotated=rotated, keys=keys)
    if not isinstance(chosen, binding.Unconfirmed):
        return chosen
    try:
        # Only the database identifiers are kept from the value (secret-arn mode included).
        named = services.secrets.names(chosen.secret.arn)
    except AwsError as error:
        if error.retryable:
            raise
        if error.code not in _NOT_OURS:
            return binding.Unbound(Status.REJECTED, str(error))
        return _unreadable(reference or chosen.secret.arn, error, facts, keys)
    return binding.confirm(facts, chosen.secret, named, keys=keys)


def _unreadable(
    reference: str, error: AwsError, facts: DatabaseFacts, keys: binding.Keys
) -> binding.Unbound:
    return binding.Unbound(
        Status.REJECTED,
        f"secret {reference}, named by the {keys.secret_tag} tag, cannot be read "
        f"({error.code}): it must exist and be tagged {keys.database_tag}={facts.arn}",
    )


def _declined(
    decision: Skip | Reject | Fail, trigger: Trigger, database: str | None = None
) -> Declined:
    return Declined(
        _DECLINED[type(decision)], decision.reason, trigger, database or trigger.database
    )


def database_status(arn: str, services: Services) -> DatabaseFacts:
    """The database's facts again, while waiting for it to become available."""
    return services.rds.describe(arn)


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
    if not jobspec.same_function(owner, plan.execution):
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
    status = _execution_status(existing, plan, services) if replaceable(existing) else None
    if status is None or not execution_ended(status):
        return Refused(
            Status.DUPLICATE,
            f"Job {plan.name} already exists for this event and its execution is still running "
            "(or Lambda could not say it ended): a redelivery; that execution reports the outcome",
        )
    return _replace(existing, manifest, status, plan, services)


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
    """Whether this is the event the Job was made for, sent again (a manual request: the same
    request id), rather than another event of the same change."""
    return (
        plan.trigger.kind is TriggerKind.MANUAL
        or jobspec.event_of(existing) == plan.trigger.event_id
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


def _execution_status(job: dict[str, Any], plan: jobspec.JobPlan, services: Services) -> str | None:
    """What Lambda says of the execution that created `job`; None if it cannot be asked or
    does not answer (not knowing is never taken for ended)."""
    execution = jobspec.execution_to_ask(jobspec.execution_of(job) or "", plan.execution)
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

    def order(job: dict[str, Any]) -> tuple[str, str]:
        return (job["metadata"].get("creationTimestamp", ""), job["metadata"]["name"])

    earlier = [
        j
        for j in jobs
        if order(j) < order(ours)
        and not is_finished(j)
        and not j["metadata"].get("deletionTimestamp")
    ]
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
    return left_behind(job, services.clock(), _execution_status(job, plan, services))


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


def start_job(plan: jobspec.JobPlan, job_uid: str, services: Services) -> Started | Refused:
    """Create the ephemeral credentials Secret when the profile wants one, then un-suspend."""
    jobs = services.jobs_for(plan.profile)
    version = None
    try:
        if plan.profile.credentials is CredentialMode.EPHEMERAL_SECRET:
            # Which secret was decided once, at resolve (domain/binding.py).
            secret = services.secrets.read(plan.secret_arn)
            version = secret.version
            values = jobspec.credential_values(
                plan.endpoint, secret.username, secret.password, plan.profile.url_query
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


def stop_job(plan: jobspec.JobPlan, services: Services) -> Stopped:
    """Delete a Job that must not run on (stuck, overran, or gave up waiting its turn)."""
    services.jobs_for(plan.profile).delete_job(plan.name)
    services.log.warning("deleted migration Job", job=plan.name)
    return Stopped(plan.name)


def record(result: Result, services: Services) -> Recorded:
    """The report step: log the result and emit its metrics. Both go to the function's output
    (EMF), so nothing here can fail on the network and the step runs once."""
    services.log.info("migration result", result=result.to_dict())
    services.metrics.record(result)
    return Recorded(result)


def notify(result: Result, notifier: int, services: Services) -> Notified:
    """Publish the result through one notifier (its own step: a retry never repeats another)."""
    services.notifiers[notifier].notify(result)
    return Notified(delivered=True)


def notification_failed(result: Result, error: str, services: Services) -> Notified:
    """A notification could not be delivered after its retries: log it and count it
    (`NotificationFailed`); the migration's result stands."""
    services.log.warning(
        "the result could not be notified", status=str(result.status), job=result.job, error=error
    )
    services.metrics.notification_failed()
    return Notified(delivered=False, error=error)
