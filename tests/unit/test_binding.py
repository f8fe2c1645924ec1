"""Secret binding: which credentials secret a migration of a database may use (domain/binding.py)."""

from __future__ import annotations

import pytest

from migration_trigger.domain.binding import (
    Bound,
    Keys,
    Unbound,
    Unconfirmed,
    choose,
    confirm,
)
from migration_trigger.domain.database import DatabaseFacts, SecretFacts
from migration_trigger.domain.result import Status
from tests.unit.test_decision import DB, facts

ACCOUNT = "arn:aws:rds:eu-west-1:123456789012"
CLUSTER = f"{ACCOUNT}:cluster:billing"
SECRETS = "arn:aws:secretsmanager:eu-west-1:123456789012:secret"
OWN = f"{SECRETS}:legacy-db-AbCdEf"
ADMIN = f"{SECRETS}:legacy-db-admin-GhIjKl"
MANAGED = f"{SECRETS}:rds!db-1234-MnOpQr"
KEYS = Keys(database_tag="migration-trigger:database", secret_tag="migration-trigger:secret")


def instance(*, managed: str | None = None) -> DatabaseFacts:
    """legacy-db, a lone instance (routing's sample database)."""
    return facts(managed=managed)


def cluster() -> DatabaseFacts:
    return instance()._replace(
        arn=CLUSTER, identifier="billing", kind="cluster", members=("billing-1", "billing-2")
    )


def secret(arn: str = OWN, *, database: str | None = DB, name: str = "legacy-db") -> SecretFacts:
    tags = {"migration-trigger:database": database} if database else {}
    return SecretFacts(arn=arn, current_version="v1", tags=tags, name=name)


def test_rds_managed_secret_is_bound_without_any_tag():
    assert choose(instance(managed=MANAGED), tagged=None, rotated=None, keys=KEYS) == Bound(MANAGED)


def test_a_self_managed_secret_whose_tags_agree_still_needs_its_json_confirmed():
    tagged = secret()

    assert choose(instance(), tagged=tagged, rotated=None, keys=KEYS) == Unconfirmed(tagged)


@pytest.mark.parametrize("named", [None, f"{ACCOUNT}:db:other-db"])
def test_self_managed_secret_that_does_not_name_the_database_is_rejected(named: str | None):
    decision = choose(instance(), tagged=secret(database=named), rotated=None, keys=KEYS)

    assert decision == Unbound(
        Status.REJECTED, f"secret {OWN} is not tagged migration-trigger:database={DB}"
    )


@pytest.mark.parametrize(
    "rds_managed",
    [
        SecretFacts(MANAGED, "v1", {"aws:rds:primaryDBInstanceArn": f"{ACCOUNT}:db:payments"}),
        SecretFacts(MANAGED, "v1", {}, name="rds!db-1234"),
        SecretFacts(OWN, "v1", {}, name="legacy-db", owning_service="rds"),
    ],
    ids=["rds-tag", "rds-name", "owning-service"],
)
def test_an_rds_managed_secret_is_never_bound_through_tags(rds_managed: SecretFacts):
    # Even tagged for this database: only RDS says which database a managed secret is for.
    tagged = rds_managed._replace(tags={**rds_managed.tags, "migration-trigger:database": DB})

    decision = choose(instance(), tagged=tagged, rotated=None, keys=KEYS)

    assert isinstance(decision, Unbound)
    assert decision.status is Status.REJECTED
    assert f"secret {tagged.arn} is managed by RDS for " in decision.reason


def test_database_without_any_secret_fails_naming_the_tag_to_add():
    decision = choose(instance(), tagged=None, rotated=None, keys=KEYS)

    assert isinstance(decision, Unbound)
    assert decision.status is Status.FAILED
    assert "no RDS-managed master secret and no 'migration-trigger:secret' tag" in decision.reason


def test_rotation_of_another_secret_is_skipped_even_if_its_name_extends_ours():
    # `legacy-db-admin` starts with `legacy-db`: a prefix match would take one for the other.
    decision = choose(instance(), tagged=secret(), rotated=ADMIN, keys=KEYS)

    assert decision == Unbound(
        Status.SKIPPED, f"secret {ADMIN} is not the credentials secret of legacy-db ({OWN})"
    )


def test_rotation_of_a_foreign_secret_is_skipped_for_a_managed_database():
    decision = choose(instance(managed=MANAGED), tagged=None, rotated=OWN, keys=KEYS)

    assert isinstance(decision, Unbound)
    assert decision.status is Status.SKIPPED


def test_a_secret_naming_its_instance_binds():
    assert confirm(instance(), secret(), (("db", "Legacy-DB"),), keys=KEYS) == Bound(OWN)


@pytest.mark.parametrize(
    ("facts", "named", "said"),
    [
        (instance, (("db", "payments"),), "instance payments"),
        (instance, (("cluster", "legacy-db"),), "cluster legacy-db"),
        (instance, (("db", "legacy-db"), ("cluster", "billing")), "cluster billing"),
        (cluster, (("cluster", "billing-1"),), "cluster billing-1"),
        (cluster, (("db", "billing"),), "instance billing"),
        (cluster, (("db", "payments-1"),), "instance payments-1"),
    ],
    ids=[
        "other-instance",
        "same-name-other-kind",
        "also-names-another",
        "member-name-as-cluster",
        "cluster-name-as-instance",
        "not-a-member",
    ],
)
def test_a_secret_naming_another_database_is_rejected(
    facts: object, named: tuple[tuple[str, str], ...], said: str
):
    database = facts()  # type: ignore[operator]

    decision = confirm(database, secret(), named, keys=KEYS)

    assert decision == Unbound(
        Status.REJECTED,
        f"secret {OWN} is for another database ({said}), not {database.arn}: its password is "
        "not given to this migration",
    )


@pytest.mark.parametrize(
    "named",
    [
        (("cluster", "billing"),),
        (("db", "billing-2"),),
        (("cluster", "billing"), ("db", "billing-1")),
    ],
)
def test_a_clusters_secret_binds_to_the_cluster_and_its_members_as_rds_lists_them(
    named: tuple[tuple[str, str], ...],
):
    assert confirm(cluster(), secret(), named, keys=KEYS) == Bound(OWN)


def test_a_secret_naming_no_database_is_rejected_saying_how_to_bind_it():
    decision = confirm(instance(), secret(), (), keys=KEYS)

    assert isinstance(decision, Unbound)
    assert decision.status is Status.REJECTED
    assert "add dbInstanceIdentifier (or dbClusterIdentifier) to the secret's JSON" in (
        decision.reason
    )
    assert "deploy with SelfManagedSecretPrefix" in decision.reason


def test_under_the_deployed_prefix_a_secret_naming_no_database_binds():
    keys = KEYS._replace(prefix="db-credentials/")
    under = secret(name="db-credentials/legacy-db")

    assert confirm(instance(), under, (), keys=keys) == Bound(OWN)
    assert isinstance(confirm(instance(), secret(name="legacy-db"), (), keys=keys), Unbound)


def test_a_secret_belongs_to_the_database_rds_tags_whatever_our_tag_says():
    tags = {"aws:rds:primaryDBClusterArn": CLUSTER, "migration-trigger:database": DB}

    assert SecretFacts(MANAGED, "v1", tags).database(database_tag_key=KEYS.database_tag) == CLUSTER
    named_rds = SecretFacts(MANAGED, "v1", {"migration-trigger:database": DB}, name="rds!db-1")
    assert named_rds.database(database_tag_key=KEYS.database_tag) is None
