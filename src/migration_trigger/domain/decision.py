"""Routing and binding, decided from the database itself: its opt-in tag selects a profile, and
its credentials secret is the only one a migration of it may use."""

from __future__ import annotations

from typing import NamedTuple

from migration_trigger.domain.database import DatabaseFacts, SecretFacts
from migration_trigger.domain.events import Home, Ignored, Trigger, TriggerKind, outside
from migration_trigger.domain.profiles import Profile


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


class Bound(NamedTuple):
    """The credentials secret a migration of the database uses (full ARN)."""

    secret_arn: str


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
    if trigger.kind not in (TriggerKind.DB_CREATED, TriggerKind.DB_RESTORED) or not facts.created:
        return trigger
    # One key for both kinds: a restored database's members may announce themselves as created.
    return trigger._replace(dedup_key=f"creation|{facts.arn}|{facts.created}")


def route(
    trigger: Trigger, facts: DatabaseFacts, profiles: dict[str, Profile], *, tag_key: str
) -> Route | Skip | Reject:
    """Pick the profile the database's tag names, if the profile runs on this trigger.

    First, the event must be about this database, not a namesake elsewhere: the database was
    found here, so its ARN names the function's own partition, region and account.
    """
    home = Home.of(facts.arn)
    elsewhere = outside(trigger, home) if home else None
    if isinstance(elsewhere, Ignored):
        return Skip(elsewhere.reason)  # another account's event: as quiet as `ignored`
    if elsewhere is not None:
        return Reject(elsewhere.reason)
    chosen = facts.tags.get(tag_key)
    if chosen is None:
        return Skip(f"{facts.identifier} has no '{tag_key}' tag: not opted in to migrations")
    profile = profiles.get(chosen.strip())
    if profile is None:
        known = ", ".join(sorted(profiles)) or "none"
        return Reject(
            f"{facts.identifier} is tagged {tag_key}={chosen}, which names no profile "
            f"(defined: {known})"
        )
    if trigger.kind not in profile.triggers:
        runs_on = ", ".join(sorted(str(t) for t in profile.triggers))
        return Skip(f"profile '{profile.name}' does not run on {trigger.kind} (runs on: {runs_on})")
    return Route(profile)


def credentials_secret(facts: DatabaseFacts, *, secret_tag_key: str) -> str | None:
    """The secret holding the database's credentials: RDS-managed, else the one its tag names."""
    return facts.managed_secret_arn or facts.tags.get(secret_tag_key)


def bind_secret(
    facts: DatabaseFacts,
    *,
    tagged: SecretFacts | None,
    rotated: str | None,
    database_tag_key: str,
    secret_tag_key: str,
) -> Bound | Skip | Reject | Fail:
    """The secret a migration of `facts` may use, checked against the secret that rotated.

    `tagged` is the self-managed secret the database's tag names, as Secrets Manager describes
    it (None when RDS manages the secret). RDS gives its managed secret's full ARN; a tag may give
    a name or a partial ARN, which Secrets Manager resolved, so secrets are compared by full ARN
    alone, never by a prefix (`orders` is not `orders-db`).
    """
    expected = tagged.arn if tagged else facts.managed_secret_arn
    if expected is None:
        return Fail(
            f"{facts.identifier} has no credentials to migrate with: no RDS-managed master secret "
            f"and no '{secret_tag_key}' tag"
        )
    if rotated is not None and rotated != expected:
        return Skip(
            f"secret {rotated} is not the credentials secret of {facts.identifier} ({expected})"
        )
    # A self-managed secret counts only if it names this database back: a tag on the database
    # alone must not be able to hand any secret to the migration.
    if tagged and tagged.tags.get(database_tag_key) != facts.arn:
        return Reject(f"secret {expected} is not tagged {database_tag_key}={facts.arn}")
    return Bound(expected)
