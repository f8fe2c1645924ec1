"""Routing and secret binding: the rules that decide whether, and with which secret, a migration runs."""

from __future__ import annotations

from typing import Any

import pytest

from migration_trigger.domain.database import DatabaseFacts, SecretFacts
from migration_trigger.domain.decision import Bound, Fail, Reject, Route, Skip, bind_secret, route
from migration_trigger.domain.events import Trigger, TriggerKind
from migration_trigger.domain.profiles import parse_profiles
from tests.helpers import ROOT

DB = "arn:aws:rds:eu-west-1:123456789012:db:legacy-db"
OWN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:legacy-db-AbCdEf"
ADMIN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:legacy-db-admin-GhIjKl"
MANAGED = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-MnOpQr"
KEYS: dict[str, Any] = {
    "database_tag_key": "migration-trigger:database",
    "secret_tag_key": "migration-trigger:secret",
}
PROFILES = parse_profiles((ROOT / "k8s" / "profiles" / "examples.json").read_text())


def facts(*, managed: str | None = None, **tags: str) -> DatabaseFacts:
    return DatabaseFacts(
        arn=DB,
        identifier="legacy-db",
        kind="instance",
        status="available",
        engine="postgres",
        host="legacy-db.example",
        port=5432,
        name="app",
        master_username="app",
        tags=tags,
        managed_secret_arn=managed,
    )


def secret(arn: str, *, database: str | None) -> SecretFacts:
    tags = {"migration-trigger:database": database} if database else {}
    return SecretFacts(arn=arn, current_version="v1", tags=tags)


def trigger(kind: TriggerKind) -> Trigger:
    return Trigger(kind, "event-1", "aws.rds", "RDS-EVENT-0005", "eu-west-1", "123456789012", DB)


def test_rds_managed_secret_is_bound_without_any_tag():
    assert bind_secret(facts(managed=MANAGED), tagged=None, rotated=None, **KEYS) == Bound(MANAGED)


def test_self_managed_secret_is_bound_when_it_names_the_database_back():
    bound = bind_secret(facts(), tagged=secret(OWN, database=DB), rotated=None, **KEYS)

    assert bound == Bound(OWN)


@pytest.mark.parametrize("named", [None, "arn:aws:rds:eu-west-1:123456789012:db:other-db"])
def test_self_managed_secret_that_does_not_name_the_database_is_rejected(named: str | None):
    decision = bind_secret(facts(), tagged=secret(OWN, database=named), rotated=None, **KEYS)

    assert decision == Reject(f"secret {OWN} is not tagged migration-trigger:database={DB}")


def test_database_without_any_secret_fails_naming_the_tag_to_add():
    decision = bind_secret(facts(), tagged=None, rotated=None, **KEYS)

    assert isinstance(decision, Fail)
    assert "no RDS-managed master secret and no 'migration-trigger:secret' tag" in decision.reason


def test_rotation_of_the_bound_secret_runs():
    decision = bind_secret(facts(), tagged=secret(OWN, database=DB), rotated=OWN, **KEYS)

    assert decision == Bound(OWN)


def test_rotation_of_another_secret_is_skipped_even_if_its_name_extends_ours():
    # `legacy-db-admin` starts with `legacy-db`: a prefix match would take one for the other.
    decision = bind_secret(facts(), tagged=secret(OWN, database=DB), rotated=ADMIN, **KEYS)

    assert decision == Skip(f"secret {ADMIN} is not the credentials secret of legacy-db ({OWN})")


def test_rotation_of_a_foreign_secret_is_skipped_for_a_managed_database():
    decision = bind_secret(facts(managed=MANAGED), tagged=None, rotated=OWN, **KEYS)

    assert isinstance(decision, Skip)


def test_database_without_the_opt_in_tag_is_skipped():
    decision = route(
        trigger(TriggerKind.DB_CREATED), facts(), PROFILES, tag_key="migration-trigger:profile"
    )

    assert decision == Skip(
        "legacy-db has no 'migration-trigger:profile' tag: not opted in to migrations"
    )


def test_tag_naming_no_profile_is_rejected_listing_the_defined_ones():
    decision = route(
        trigger(TriggerKind.DB_CREATED),
        facts(**{"migration-trigger:profile": "nope"}),
        PROFILES,
        tag_key="migration-trigger:profile",
    )

    assert isinstance(decision, Reject)
    assert "(defined: alembic, atlas, dbmate, flyway, prisma)" in decision.reason


def test_profile_that_does_not_run_on_the_trigger_skips_it():
    # The alembic example does not run on rotations.
    decision = route(
        trigger(TriggerKind.SECRET_ROTATED),
        facts(**{"migration-trigger:profile": "alembic"}),
        PROFILES,
        tag_key="migration-trigger:profile",
    )

    assert isinstance(decision, Skip)
    assert "does not run on secret-rotated" in decision.reason


def test_tagged_profile_that_runs_on_the_trigger_is_routed():
    decision = route(
        trigger(TriggerKind.DB_CREATED),
        facts(**{"migration-trigger:profile": " prisma "}),
        PROFILES,
        tag_key="migration-trigger:profile",
    )

    assert decision == Route(PROFILES["prisma"])


def test_secret_belongs_to_the_database_rds_tags_before_ours():
    tags = {"aws:rds:primaryDBClusterArn": "cluster-arn", "migration-trigger:database": "other"}

    owner = SecretFacts(MANAGED, "v1", tags).database(database_tag_key="migration-trigger:database")

    assert owner == "cluster-arn"
