"""Routing: the rules that decide whether, and with which profile, a migration runs."""

from __future__ import annotations

import pytest

from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.decision import (
    Claim,
    Reject,
    Route,
    Skip,
    cluster_of,
    keyed_by_database,
    route,
)
from migration_trigger.domain.events import Trigger, TriggerKind
from migration_trigger.domain.profiles import parse_profiles
from tests.helpers import ROOT, sample_facts

DB = "arn:aws:rds:eu-west-1:123456789012:db:legacy-db"
PROFILES = parse_profiles((ROOT / "k8s" / "profiles" / "examples.json").read_text())


def facts(*, managed: str | None = None, **tags: str) -> DatabaseFacts:
    built: DatabaseFacts = sample_facts(
        arn=DB,
        identifier="legacy-db",
        host="legacy-db.example",
        name="app",
        tags=tags,
        managed_secret_arn=managed,
    )
    return built


def trigger(kind: TriggerKind) -> Trigger:
    return Trigger(kind, "event-1", "aws.rds", "RDS-EVENT-0005", "eu-west-1", "123456789012", DB)


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


@pytest.mark.parametrize(
    ("tag", "claim", "routed"),
    [
        ("prod/prisma", Claim("prod", unqualified=False), True),
        ("prod/prisma", Claim("dev"), False),
        ("prisma", Claim("prod"), True),
        ("prisma", Claim("dev", unqualified=False), False),
        ("dev/prisma", Claim("dev", unqualified=False), True),
    ],
)
def test_a_database_is_claimed_by_the_deployment_its_tag_names(
    tag: str, claim: Claim, routed: bool
):
    decision = route(
        trigger(TriggerKind.DB_CREATED),
        facts(**{"migration-trigger:profile": tag}),
        PROFILES,
        tag_key="migration-trigger:profile",
        claim=claim,
    )

    assert (decision == Route(PROFILES["prisma"])) is routed
    if not routed:
        assert isinstance(decision, Skip)
        assert f"migration-trigger:profile={tag}" in decision.reason


@pytest.mark.parametrize("tag", ["../../etc/passwd", "Prod/prisma", "/prisma", "prod/"])
def test_a_tag_that_names_no_deployment_is_read_as_a_profile_name_and_refused(tag: str):
    decision = route(
        trigger(TriggerKind.DB_CREATED),
        facts(**{"migration-trigger:profile": tag}),
        PROFILES,
        tag_key="migration-trigger:profile",
        claim=Claim("prod"),
    )

    assert isinstance(decision, Reject)
    assert f"migration-trigger:profile={tag}, which names no profile" in decision.reason
