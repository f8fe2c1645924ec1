"""The snapshot before migrating, its pure parts: what RDS snapshots, the name, what is pruned."""

from __future__ import annotations

import re

import pytest

from migration_trigger.domain.schedule import usual_case, worst_case
from migration_trigger.domain.snapshots import (
    DATABASE_TAG,
    Snapshot,
    snapshot_name,
    target,
    to_prune,
)
from tests.helpers import sample_facts, sample_profile

#: RDS API reference, CreateDBClusterSnapshot: 1-63 letters, digits or hyphens, a letter first,
#: no hyphen last, no two in a row (CreateDBSnapshot allows 255: the shorter rule holds both).
EXECUTION = "arn:aws:lambda:eu-west-1:123456789012:function:m:7/durable-execution/m/1"
IDENTIFIER = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|-(?!-))*(?<!-)")


@pytest.mark.parametrize(
    "job",
    [
        "migrate-orders-db-86dab7419a",
        "migrate-" + "a" * 50 + "-86dab7419a",
        "migrate--odd---name-",
    ],
)
def test_snapshot_names_are_valid_rds_identifiers_with_the_products_prefix(job: str):
    name = snapshot_name(job, EXECUTION)
    assert IDENTIFIER.fullmatch(name) and len(name) <= 63, name
    assert name.startswith("migration-trigger-")
    assert snapshot_name(job, EXECUTION) == name, "the same execution, the same snapshot"


def test_the_same_request_sent_again_takes_a_snapshot_of_its_own():
    """A manual request sent again after a failure has the same Job name: its snapshot must not
    be the earlier execution's, which misses every write since."""
    job = "migrate-orders-db-86dab7419a"
    assert snapshot_name(job, EXECUTION) != snapshot_name(job, EXECUTION + "-again")


def test_long_job_names_keep_distinct_snapshot_names():
    assert snapshot_name("migrate-" + "a" * 60 + "-1", EXECUTION) != snapshot_name(
        "migrate-" + "a" * 60 + "-2", EXECUTION
    )


def test_an_instance_is_snapshotted_itself_and_a_cluster_member_through_its_cluster():
    instance = sample_facts()
    assert target(instance)[:2] == ("instance", instance.identifier)
    member = sample_facts()._replace(cluster="billing-cluster")
    assert target(member)[:2] == ("cluster", "billing-cluster")
    cluster = sample_facts()._replace(kind="cluster", identifier="billing-cluster")
    assert target(cluster)[:2] == ("cluster", "billing-cluster")


def test_pruning_keeps_the_newest_and_the_current_and_touches_nothing_else():
    db = "arn:aws:rds:eu-west-1:123456789012:db:orders-db"
    ours = ((DATABASE_TAG, db),)
    snapshots = [
        Snapshot("migration-trigger-a", "available", 1.0, ours),
        Snapshot("migration-trigger-b", "available", 2.0, ours),
        Snapshot("migration-trigger-c", "creating", 3.0, ours),  # still being made: kept
        Snapshot("migration-trigger-f", "failed", 4.0, ours),  # restores nothing: deleted
        Snapshot("migration-trigger-now", "available", 0.0, ours),  # current, time unknown
        Snapshot("manual-before-upgrade", "available", 0.5, ours),
        Snapshot("migration-trigger-x", "available", 0.1, ((DATABASE_TAG, "arn:other"),)),
    ]
    assert to_prune(snapshots, database_arn=db, keep=2, current="migration-trigger-now") == [
        "migration-trigger-a",
        "migration-trigger-f",
    ]
    assert to_prune(snapshots, database_arn=db, keep=1, current="migration-trigger-now") == [
        "migration-trigger-b",
        "migration-trigger-a",
        "migration-trigger-f",
    ]


def test_a_snapshot_is_in_the_cost_only_for_profiles_that_take_one():
    plain, snapshotting = sample_profile(), sample_profile(snapshotBeforeMigration=True)
    assert worst_case(snapshotting).seconds - worst_case(plain).seconds == 3600
    # CreateDBSnapshot answers `creating`: a usual snapshot takes a wait and a look at least.
    assert usual_case(snapshotting, runs_for=60).operations == (
        usual_case(plain, runs_for=60).operations + 4
    )
