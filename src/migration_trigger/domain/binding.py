"""Which credentials secret a migration of a database may use: every binding rule, in one place.

Decided once, in the resolve step, before anything is created, from facts a tag cannot forge:

* an RDS-managed secret binds only to the database RDS says owns it: the database's own
  `MasterUserSecret`, whose `aws:rds:primaryDB…Arn` tag RDS sets (tag keys under `aws:` are
  reserved: "AWS Secrets Manager User Guide, Tag secrets": users cannot add, edit or delete them);
* a self-managed secret is named by the database's `migration-trigger:secret` tag and must name
  the database back with `migration-trigger:database`; then, if its JSON names a database
  (`dbInstanceIdentifier` / `dbClusterIdentifier`, as Secrets Manager's "Credentials for Amazon
  RDS database" secrets do), that database only, kind and identifier compared together (a
  cluster's secret also serves its members, as RDS lists them); if it names none, it binds only
  under the deployment's SelfManagedSecretPrefix. Who holds the master user name proves nothing:
  whoever creates a database chooses it, and `postgres` and `admin` are common.
"""

from __future__ import annotations

from typing import NamedTuple

from migration_trigger.domain.database import DatabaseFacts, SecretFacts
from migration_trigger.domain.result import Status

#: What a secret's JSON may say its database is: ("db" | "cluster", identifier).
Named = tuple[tuple[str, str], ...]
_KIND_WORD = {"db": "instance", "cluster": "cluster"}


class Keys(NamedTuple):
    """The tag keys and prefix a deployment binds self-managed secrets with."""

    database_tag: str
    secret_tag: str
    #: The deployment's SelfManagedSecretPrefix; empty: none.
    prefix: str = ""


class Bound(NamedTuple):
    """The credentials secret a migration of the database uses (full ARN)."""

    secret_arn: str


class Unconfirmed(NamedTuple):
    """A self-managed secret whose tags agree; what its JSON names must still be read and
    confirmed (`confirm`) before it binds."""

    secret: SecretFacts


class Unbound(NamedTuple):
    """No secret may be used, and why (`skipped`, `rejected` or `failed`)."""

    status: Status
    reason: str


def choose(
    facts: DatabaseFacts, *, tagged: SecretFacts | None, rotated: str | None, keys: Keys
) -> Bound | Unconfirmed | Unbound:
    """The secret a migration of `facts` may use, before its JSON is read.

    `tagged` is the self-managed secret the database's tag names, as Secrets Manager describes it
    (None when RDS manages the database's secret, or it has none). RDS gives its managed secret's
    full ARN; a tag may give a name or a partial ARN, which Secrets Manager resolved, so secrets
    are compared by full ARN alone, never by a prefix (`orders` is not `orders-db`).
    """
    expected = facts.managed_secret_arn or (tagged.arn if tagged else None)
    if expected is None:
        return Unbound(
            Status.FAILED,
            f"{facts.identifier} has no credentials to migrate with: no RDS-managed master "
            f"secret and no '{keys.secret_tag}' tag",
        )
    if rotated is not None and rotated != expected:
        return Unbound(
            Status.SKIPPED,
            f"secret {rotated} is not the credentials secret of {facts.identifier} ({expected})",
        )
    if facts.managed_secret_arn or tagged is None:
        return Bound(expected)
    owner = tagged.rds_owner()
    if owner is not None or tagged.rds_managed:
        return Unbound(
            Status.REJECTED,
            f"secret {tagged.arn} is managed by RDS for {owner or 'another database'}: it is "
            f"given only to that database's migrations, not {facts.arn}'s, whatever its tags",
        )
    # A self-managed secret counts only if it names this database back: a tag on the database
    # alone must not be able to hand any secret to the migration.
    if tagged.tags.get(keys.database_tag) != facts.arn:
        return Unbound(
            Status.REJECTED, f"secret {tagged.arn} is not tagged {keys.database_tag}={facts.arn}"
        )
    return Unconfirmed(tagged)


def confirm(
    facts: DatabaseFacts, secret: SecretFacts, named: Named, *, keys: Keys
) -> Bound | Unbound:
    """A self-managed secret binds if what its JSON names is this database (or, for a cluster,
    one of its members), or if it names none and lives under the deployment's prefix."""
    for kind, identifier in named:
        if not _is(facts, kind, identifier):
            return Unbound(
                Status.REJECTED,
                f"secret {secret.arn} is for another database ({_KIND_WORD[kind]} {identifier}), "
                f"not {facts.arn}: its password is not given to this migration",
            )
    if named or (keys.prefix and secret.name.startswith(keys.prefix)):
        return Bound(secret.arn)
    return Unbound(
        Status.REJECTED,
        f"secret {secret.arn} names no database, and tags alone do not give a password to a "
        f"migration: add dbInstanceIdentifier (or dbClusterIdentifier) to the secret's JSON, "
        "or deploy with SelfManagedSecretPrefix and keep the database's secret under it",
    )


def _is(facts: DatabaseFacts, kind: str, identifier: str) -> bool:
    """Whether ("db" | "cluster", identifier) names the database `facts` describes."""
    named = identifier.lower()
    if facts.kind == "cluster":
        return (kind == "cluster" and named == facts.identifier.lower()) or (
            kind == "db" and named in {m.lower() for m in facts.members}
        )
    return kind == "db" and named == facts.identifier.lower()
