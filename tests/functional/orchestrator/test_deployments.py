"""Two deployments in one account and region (dev and prod, as samconfig.toml ships them) both
receive every database's events: each database is migrated by exactly one of them.

The opt-in tag names the deployment (`dev/orders`) or a profile alone (`orders`), which only the
deployment with ClaimUnqualifiedTags true (prod, in samconfig.toml) claims.
"""

from __future__ import annotations

from typing import Any

import pytest

from kube_emulator import PodScript
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, PROFILE_TAG, World

#: The two deployments as samconfig.toml configures them.
DEPLOYMENTS = {
    "dev": {"ENVIRONMENT": "dev", "CLAIM_UNQUALIFIED_TAGS": "false"},
    "prod": {"ENVIRONMENT": "prod", "CLAIM_UNQUALIFIED_TAGS": "true"},
}

pytestmark = ON_CHOSEN_CLUSTERS


def run_as(world: World, deployment: str, event: dict[str, Any]) -> Any:
    for name, value in DEPLOYMENTS[deployment].items():
        world.monkeypatch.setenv(name, value)
    return world.run(event, name=f"{deployment}-execution")


def tag(world: World, value: str) -> None:
    admin_client("rds").add_tags_to_resource(
        ResourceName=world.db_arn, Tags=[{"Key": PROFILE_TAG, "Value": value}]
    )


@pytest.mark.parametrize(
    ("value", "claimed_by"), [("orders", "prod"), ("prod/orders", "prod"), ("dev/orders", "dev")]
)
def test_each_database_is_migrated_by_exactly_one_deployment(
    world: World, value: str, claimed_by: str
):
    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    tag(world, value)
    event = world.event("rds-instance-created.json")

    runs = {deployment: run_as(world, deployment, event) for deployment in DEPLOYMENTS}

    statuses = {deployment: run.result["status"] for deployment, run in runs.items()}
    assert statuses == {d: "succeeded" if d == claimed_by else "skipped" for d in DEPLOYMENTS}
    (job,) = world.jobs()
    other = next(d for d in DEPLOYMENTS if d != claimed_by)
    assert f"={value}" in runs[other].result["reason"]
    assert job["metadata"]["name"] == runs[claimed_by].result["job"]
