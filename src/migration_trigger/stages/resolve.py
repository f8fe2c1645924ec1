"""Resolve: from a trigger to its database, its profile and the secret bound to it, decided once
before anything is created; then wait until the database is available."""

from __future__ import annotations

from migration_trigger.domain import binding, bluegreen, jobspec
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
from migration_trigger.domain.events import MISSED_PREFIX, FindsDatabase, Trigger, parse_rds_arn
from migration_trigger.domain.jobspec import JobPlan
from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.result import Status
from migration_trigger.domain.schedule import DATABASE
from migration_trigger.domain.sweep import claimed_creation
from migration_trigger.errors import AwsError
from migration_trigger.ports import Services
from migration_trigger.records import (
    Declined,
    Resolved,
)
from migration_trigger.steps import Poll, Steps

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
    rotated: str | None = None
    database = trigger.database
    if trigger.rule.finds_database is FindsDatabase.THROUGH_SECRET:
        found = _through_secret(trigger, services)
        if isinstance(found, Declined):
            return found
        trigger, database, rotated = found
    assert database is not None, "parse_event gives every other trigger a database"
    try:
        facts = services.rds.describe(database)
        if (cluster := cluster_of(facts)) is not None:
            facts = services.rds.describe(cluster)
    except AwsError as error:
        if error.code in _NOT_FOUND:
            return _declined(Skip(f"{database} no longer exists"), trigger, database)
        raise
    elsewhere = _namesake(database, facts)
    if elsewhere is not None:
        return Declined(Status.REJECTED, elsewhere, trigger, database)
    trigger = keyed_by_database(trigger, facts)
    routed = _routed(trigger, facts, services)
    if isinstance(routed, Declined):
        return routed
    decision, held = routed
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
        expected_seconds=_expected(decision.profile, facts, services),
        blue_green=held,
    )


def _through_secret(trigger: Trigger, services: Services) -> tuple[Trigger, str, str] | Declined:
    """A rotation's secret, and the database it belongs to: the trigger keyed by the secret's
    version, the database's ARN, the secret's ARN; or why there is none."""
    settings = services.settings
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
    return trigger, database, secret.arn


def _namesake(database: str, facts: DatabaseFacts) -> str | None:
    """Why the database found is not the one named: RDS is asked by identifier, in the account
    whose event or secret named it (domain/accounts.py), so an ARN of another account or region
    (a secret in one spoke tagged with another's database) finds a namesake at most."""
    named, found = parse_rds_arn(database), parse_rds_arn(facts.arn)
    if named is None or found is None or named[:2] == found[:2]:
        return None
    return (
        f"{database} is of account {named[1]}, region {named[0]}, but it was looked up where "
        f"its event or secret is ({found[1]}, {found[0]}), which has {facts.arn}: a database is "
        "never run through another account's namesake"
    )


def _expected(profile: Profile, facts: DatabaseFacts, services: Services) -> float | None:
    """How long the database's last successful migration ran, for a profile whose watch asks the
    ledger (watchFromLedger); None if it does not, or the ledger does not know. A ledger that
    cannot be read only costs the watch its shortcut."""
    if not profile.watch_from_ledger or services.ledger is None:
        return None
    try:
        success = services.ledger.standings([facts.arn])[facts.arn].success
    except AwsError as error:
        services.log.warning("could not read the ledger; watching as usual", error=str(error))
        return None
    return success.duration if success is not None else None


def _blue_green(
    trigger: Trigger, facts: DatabaseFacts, services: Services
) -> Declined | str | None:
    """What a Blue/Green deployment makes of the trigger (domain/bluegreen.py): a creation or
    restore of a green copy is no new database (RDS copies the blue one into it and keeps it in
    step by replication; at switchover it takes the blue one's name): ignored. A migration of a
    database on either side of a deployment not switched over waits for it: the deployment's
    identifier. A check applies nothing and does not wait. None: no deployment stands in the
    way."""
    if trigger.rule.checks:
        return None
    deployments = services.rds.blue_green()
    green = bluegreen.roles(deployments).green.get(facts.arn)
    if green is not None and trigger.rule.keyed_by_database:
        reason = (
            f"{facts.identifier} is the green database of Blue/Green deployment {green}: a copy "
            "of the blue database, kept in step by replication, not a new database to migrate"
        )
        return Declined(Status.IGNORED, reason, trigger, facts.arn)
    held = bluegreen.holding(deployments, facts.arn)
    return held.identifier if held is not None else None


def _routed(
    trigger: Trigger, facts: DatabaseFacts, services: Services
) -> tuple[Route, str | None] | Declined:
    """The profile the database's tag names for this trigger, and the Blue/Green deployment its
    migration waits for; or why nothing runs."""
    decision = _profile(trigger, facts, services)
    if isinstance(decision, Declined):
        return decision
    held = _blue_green(trigger, facts, services)
    return held if isinstance(held, Declined) else (decision, held)


def _profile(trigger: Trigger, facts: DatabaseFacts, services: Services) -> Route | Declined:
    """The profile the database's tag names for this trigger, or why nothing runs."""
    settings = services.settings
    claim = Claim(settings.ENVIRONMENT, unqualified=settings.CLAIM_UNQUALIFIED_TAGS)
    decision = route(
        trigger, facts, dict(settings.profiles), tag_key=settings.PROFILE_TAG_KEY, claim=claim
    )
    if not isinstance(decision, Route):
        return _declined(decision, trigger, facts.arn)
    return _missed_but_migrated(trigger, facts, decision.profile, services) or decision


def _missed_but_migrated(
    trigger: Trigger, facts: DatabaseFacts, profile: Profile, services: Services
) -> Declined | None:
    """A sweep's request for a missed creation that must not run (domain/sweep.
    claimed_creation), with what the ledger says, read here by the execution itself."""
    if not trigger.detail.startswith(MISSED_PREFIX):
        return None
    ledger = services.ledger
    read = (ledger.standings([facts.arn])[facts.arn], ledger.since()) if ledger else None
    refusal = claimed_creation(trigger, facts, profile, read)
    return None if refusal is None else Declined(Status.IGNORED, refusal, trigger, facts.arn)


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


def wait_until_available(
    facts: DatabaseFacts, profile: Profile, steps: Steps, services: Services
) -> DatabaseFacts | str:
    """The database's facts once it is ready (a cluster: with an available writer), or why
    waiting for it ran out."""
    arn, limit = facts.arn, DATABASE.limit(profile)
    poll = Poll.along(steps, DATABASE, profile)
    while not facts.ready:
        if poll.waited >= limit:
            return (
                f"{facts.identifier} {facts.waiting_for()} after {poll.waited}s "
                f"(waitForAvailableSeconds {limit})"
            )
        poll.pause()
        facts = steps.step(f"{DATABASE.check}-{poll.waits}", lambda: database_status(arn, services))
    return facts


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
        expected_seconds=resolved.expected_seconds,
    )


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (
    resolve,
    database_status,
)
