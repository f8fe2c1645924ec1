"""The snapshot before migrating over the real wire: moto's RDS, under template.yaml's policy
(local_stack/iam.py authorizes each resource a call names, with the request's tags: RDS
authorizes CreateDBSnapshot on the instance and the new snapshot, and rds:AddTagsToResource for
its tags; Service Authorization Reference, Amazon RDS)."""

from __future__ import annotations

import os

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from local_stack.iam import DEFAULT_CONDITIONS, Authorization, allows, function_policy
from local_stack.template import deployed
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import (
    ACCOUNT,
    ON_CHOSEN_CLUSTERS,
    REGION,
    World,
    deployment_refs,
    profiles,
)

pytestmark = ON_CHOSEN_CLUSTERS

SNAPSHOTS = f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot"


def manual_snapshots() -> dict[str, dict[str, str]]:
    """The manual snapshots of orders-db, by identifier, with their tags."""
    found = admin_client("rds").describe_db_snapshots(
        DBInstanceIdentifier="orders-db", SnapshotType="manual"
    )["DBSnapshots"]
    return {
        s["DBSnapshotIdentifier"]: {t["Key"]: t["Value"] for t in s.get("TagList") or []}
        for s in found
    }


def test_a_manual_request_snapshots_the_database_first_and_prunes_only_its_own(world: World):
    world.deploy_with({"TakesSnapshots": True})
    world.set_profiles(profiles(snapshotBeforeMigration=True, keepSnapshots=1))
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.1))
    admin_client("rds").create_db_snapshot(
        DBSnapshotIdentifier="nightly-backup", DBInstanceIdentifier="orders-db"
    )

    first = world.run(world.event("manual-retrigger.json"), name="first")
    second = world.run(world.event("manual-retrigger.json", requestId="again"), name="second")

    assert first.status is second.status is InvocationStatus.SUCCEEDED, second.error
    taken = second.result["snapshot"]
    assert taken.startswith(f"migration-trigger-{second.result['job']}-")
    assert set(manual_snapshots()) == {"nightly-backup", taken}, "the older one of ours pruned"
    assert manual_snapshots()[taken] == {
        "migration-trigger:database": world.db_arn,
        "migration-trigger:trigger": "manual",
        "migration-trigger:job": second.result["job"],
    }
    assert [c for c in world.iam.calls if not c.allowed] == []
    actions = {c.action for c in world.iam.calls}
    assert {"rds:CreateDBSnapshot", "rds:AddTagsToResource", "rds:DeleteDBSnapshot"} <= actions
    message = world.notifications()[-1]
    assert f'"snapshot": "{taken}"' in message["Message"]


def test_without_the_snapshot_grant_the_migration_fails_and_its_job_is_deleted(world: World):
    """SnapshotsBeforeMigration false (the default): the profile's snapshot is refused by IAM,
    and nothing runs."""
    world.set_profiles(profiles(snapshotBeforeMigration=True))

    run = world.run(world.event("manual-retrigger.json"))

    assert run.status is InvocationStatus.FAILED
    assert "not authorized to perform: rds:CreateDBSnapshot" in (run.error or "")
    assert world.jobs() == [] and manual_snapshots() == {}


def test_the_policy_tags_and_deletes_only_the_products_own_snapshots(world: World):
    context = deployed(
        region=REGION,
        account=ACCOUNT,
        refs=deployment_refs(os.environ["TOPIC_ARN"]),
        conditions={**DEFAULT_CONDITIONS, "TakesSnapshots": True},
    )
    policy = function_policy(context)
    ours = {"migration-trigger:database": world.db_arn, "migration-trigger:job": "j"}

    def tag(resource: str, tags: dict[str, str]) -> bool:
        return allows(policy, Authorization("rds:AddTagsToResource", resource, request_tags=tags))

    def delete(resource: str, tags: dict[str, str]) -> bool:
        return allows(policy, Authorization("rds:DeleteDBSnapshot", resource, tags=tags))

    assert tag(f"{SNAPSHOTS}:migration-trigger-j", ours)
    assert not tag(f"{SNAPSHOTS}:migration-trigger-j", {**ours, "owner": "someone"})
    assert not tag(f"{SNAPSHOTS}:nightly-backup", ours)
    assert not tag(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders-db", ours)
    assert delete(f"{SNAPSHOTS}:migration-trigger-j", ours)
    assert not delete(f"{SNAPSHOTS}:migration-trigger-j", {}), "named like ours, not tagged"
    assert not delete(f"{SNAPSHOTS}:nightly-backup", ours)
