"""Routing, decided from the database itself: its opt-in tag selects a profile. (Which secret a
migration of it may use: binding.py.)"""

from __future__ import annotations

import re
from typing import NamedTuple

from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.events import Home, Ignored, Trigger, outside
from migration_trigger.domain.jobspec import engine_family
from migration_trigger.domain.profiles import CredentialMode, Profile


class Route(NamedTuple):
    """Run this profile."""

    profile: Profile


class Skip(NamedTuple):
    """Relevant event, but this database does not want a migration for it."""

    reason: str


class Reject(NamedTuple):
    """The database asks for something the deployment does not allow."""

    reason: str


class Fail(NamedTuple):
    """The database wants a migration that cannot run as configured."""

    reason: str


def cluster_of(facts: DatabaseFacts) -> str | None:
    """The ARN of the cluster an instance belongs to; None for a cluster or a lone instance.

    RDS-EVENT-0005 fires for every Aurora member instance, readers included, while the data, the
    endpoint and the managed master secret belong to the cluster: a migration targets the cluster.
    """
    if facts.kind != "instance" or not facts.cluster or ":db:" not in facts.arn:
        return None
    return f"{facts.arn.rsplit(':db:', 1)[0]}:cluster:{facts.cluster}"


def keyed_by_database(trigger: Trigger, facts: DatabaseFacts) -> Trigger:
    """A creation or restore keyed by the database and its creation time, not by the event.

    One cluster's creation arrives as RDS-EVENT-0170 and as an RDS-EVENT-0005 per instance, and
    one restore may arrive as both RDS-EVENT-0019 and -0043: each is the same migration.
    """
    if not trigger.rule.keyed_by_database or not facts.created:
        return trigger
    # One key for both kinds: a restored database's members may announce themselves as created.
    return trigger._replace(dedup_key=f"creation|{facts.arn}|{facts.created}")


class Claim(NamedTuple):
    """Which databases this deployment migrates: those whose opt-in tag names its environment
    (`prod/orders`), and, if `unqualified`, those whose tag names a profile alone (`orders`)."""

    environment: str
    unqualified: bool = True


def route(
    trigger: Trigger,
    facts: DatabaseFacts,
    profiles: dict[str, Profile],
    *,
    tag_key: str,
    claim: Claim | None = None,
) -> Route | Skip | Reject | Fail:
    """Pick the profile the database's tag names, if the profile runs on this trigger.

    First, the event must be about this database, not a namesake elsewhere: the database was
    found here, so its ARN names the function's own partition, region and account. Then the tag
    must be this deployment's to act on: several deployments (dev and prod) in one account and
    region all receive every database's events, and exactly one may migrate each database.
    """
    home = Home.of(facts.arn)
    elsewhere = outside(trigger, home) if home else None
    if isinstance(elsewhere, Ignored):
        return Skip(elsewhere.reason)  # another account's event: as quiet as `ignored`
    if elsewhere is not None:
        return Reject(elsewhere.reason)
    profile = profile_for(facts, profiles, tag_key=tag_key, claim=claim)
    if not isinstance(profile, Profile):
        return profile
    if trigger.rule.checks:
        if not profile.check_command:
            return Skip(f"profile '{profile.name}' has no checkCommand: there is nothing to check")
        profile = as_check(profile)
    elif trigger.kind not in profile.triggers:
        runs_on = ", ".join(sorted(str(t) for t in profile.triggers))
        return Skip(f"profile '{profile.name}' does not run on {trigger.kind} (runs on: {runs_on})")
    refusal = session_refusal(profile, facts)
    if refusal is not None:
        return Fail(f"{refusal}: nothing was run")
    return Route(profile)


def as_check(profile: Profile) -> Profile:
    """The profile a check runs: its checkCommand in place of its migration's command, and none
    of what guards a change (approval, run window, snapshot, retries): a check applies nothing.
    Image, credentials, placement and limits stay the migration's."""
    return profile._replace(
        command=profile.check_command,
        args=(),
        approval=None,
        window=None,
        snapshot_before_migration=False,
        retry=None,
        # "pending" is an answer, not a failure to try again; and a check is no migration.
        backoff_limit=0,
        watch_from_ledger=False,
    )


def profile_for(
    facts: DatabaseFacts,
    profiles: dict[str, Profile],
    *,
    tag_key: str,
    claim: Claim | None = None,
) -> Profile | Skip | Reject:
    """The profile the database's opt-in tag names for this deployment; Skip if it is not opted
    in here, Reject if its tag names no profile."""
    chosen = facts.tags.get(tag_key)
    if chosen is None:
        return Skip(f"{facts.identifier} has no '{tag_key}' tag: not opted in to migrations")
    name = _claimed(facts, chosen.strip(), tag_key, claim)
    if isinstance(name, Skip):
        return name
    profile = profiles.get(name)
    if profile is None:
        known = ", ".join(sorted(profiles)) or "none"
        return Reject(
            f"{facts.identifier} is tagged {tag_key}={chosen}, which names no profile "
            f"(defined: {known})"
        )
    return profile


def session_refusal(profile: Profile, facts: DatabaseFacts) -> str | None:
    """Why the profile's sessionSettings cannot reach this database's migration; None if they
    can (or it has none). PostgreSQL takes them in both credential modes (PGOPTIONS); MySQL only
    through the URL the ephemeral Secret holds, and only system variables: names with an
    underscore (`lock_wait_timeout`), as the Go driver's own parameters (`allowAllFiles`, `tls`,
    `loc`) never have one, so a setting cannot change how the driver connects."""
    settings = profile.session_settings
    family = engine_family(facts.engine)
    if not settings or family == "postgres":
        return None
    where = (
        f"profile '{profile.name}' sets sessionSettings, and {facts.identifier} is {facts.engine}"
    )
    if family != "mysql":
        return f"{where}: they apply to PostgreSQL and MySQL only"
    if profile.credentials is not CredentialMode.EPHEMERAL_SECRET:
        return (
            f"{where}: for MySQL they travel in DATABASE_URL, which credentials "
            f"'{profile.credentials}' does not give the Job; use ephemeral-secret"
        )
    odd = sorted(name for name, _ in settings if "_" not in name or "." in name)
    if odd:
        return f"{where}: {odd} are not MySQL system variables (those have an underscore)"
    return None


#: An environment as the template's Environment parameter allows it.
_ENVIRONMENT = re.compile(r"[a-z][a-z0-9-]{0,15}")


def _claimed(facts: DatabaseFacts, value: str, tag_key: str, claim: Claim | None) -> str | Skip:
    """The profile name of a tag value this deployment claims; Skip if another one does.

    `<environment>/<profile>` names a deployment only if the part before the `/` is an
    environment name; any other value is a profile name alone (and an unknown one is refused).
    """
    environment, slash, name = value.partition("/")
    if not slash or not _ENVIRONMENT.fullmatch(environment):
        environment, name = "", value
    if claim is None:
        return name
    if environment and environment != claim.environment:
        return Skip(
            f"{facts.identifier} is tagged {tag_key}={value}: deployment '{environment}' "
            f"migrates it, not this one ('{claim.environment}')"
        )
    if not environment and not claim.unqualified:
        return Skip(
            f"{facts.identifier} is tagged {tag_key}={value}, naming no deployment: this one "
            f"('{claim.environment}') migrates only databases tagged "
            f"{tag_key}={claim.environment}/<profile> (ClaimUnqualifiedTags is false)"
        )
    return name
