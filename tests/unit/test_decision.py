"""Routing and secret binding: the rules that decide whether, and with which secret, a migration runs."""

from __future__ import annotations

from typing import Any

import pytest

from migration_trigger.domain.database import DatabaseFacts, SecretFacts
from migration_trigger.domain.decision import (
    Bound,
    Fail,
    Reject,
    Route,
    Skip,
    bind_secret,
    cluster_of,
    keyed_by_database,
    route,
)
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


def test_a_member_instance_is_migrated_as_its_cluster():
    member = facts()._replace(cluster="billing-cluster")

    assert cluster_of(member) == "arn:aws:rds:eu-west-1:123456789012:cluster:billing-cluster"
    assert cluster_of(facts()) is None


def test_a_creation_is_keyed_by_database_and_creation_time_whatever_event_announced_it():
    created = facts()._replace(created="2026-11-20 10:02:31+00:00")
    by_instance = trigger(TriggerKind.DB_CREATED)._replace(dedup_key="RDS-EVENT-0005|x|t1")
    by_cluster = trigger(TriggerKind.DB_CREATED)._replace(dedup_key="RDS-EVENT-0170|y|t2")

    a, b = keyed_by_database(by_instance, created), keyed_by_database(by_cluster, created)

    assert a.dedup_key == b.dedup_key == f"creation|{DB}|2026-11-20 10:02:31+00:00"
    restored = keyed_by_database(trigger(TriggerKind.DB_RESTORED), created)
    assert restored.dedup_key == a.dedup_key


def test_rotations_and_manual_requests_keep_their_own_keys():
    created = facts()._replace(created="2026-11-20 10:02:31+00:00")
    manual = trigger(TriggerKind.MANUAL)._replace(dedup_key="manual|req-1")

    assert keyed_by_database(manual, created).dedup_key == "manual|req-1"


@pytest.mark.parametrize(
    ("kind", "status", "writer", "ready", "why"),
    [
        ("instance", "available", None, True, ""),
        ("instance", "backing-up", None, False, "was still 'backing-up'"),
        ("cluster", "available", None, False, "had no writer instance"),
        ("cluster", "available", "creating", False, "had its writer instance still 'creating'"),
        ("cluster", "available", "available", True, ""),
    ],
)
def test_a_database_is_ready_when_a_migration_can_connect(
    kind: str, status: str, writer: str | None, ready: bool, why: str
):
    database = facts()._replace(kind=kind, status=status, writer_status=writer)

    assert database.ready is ready
    if not ready:
        assert database.waiting_for() == why
