"""Blue/Green deployments over moto, under the template's policy. moto's
CreateBlueGreenDeployment creates the green copy at once, named `<blue>-green-<6 letters>`, with
the blue database's tags, as RDS does (RDS User Guide, "Creating a blue/green deployment"); it
refuses a blue database whose master password RDS manages, so the blue one here has a
self-managed secret. The story's side: tests/story/test_blue_green.py."""

from __future__ import annotations

from aws_durable_execution_sdk_python.execution import InvocationStatus

from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import (
    ON_CHOSEN_CLUSTERS,
    World,
    self_managed_instance,
)
from tests.functional.orchestrator.test_sweep import SWEEP, requests_bus_to_queue
from tests.helpers import load_event


def blue_green(blue: str) -> tuple[str, str]:
    """A Blue/Green deployment of `blue`: its identifier and its green database's ARN."""
    deployment = admin_client("rds").create_blue_green_deployment(
        BlueGreenDeploymentName="upgrade", Source=blue, TargetEngineVersion="16.4"
    )["BlueGreenDeployment"]
    return deployment["BlueGreenDeploymentIdentifier"], deployment["Target"]


@ON_CHOSEN_CLUSTERS
def test_the_green_databases_creation_is_ignored_and_the_sweep_passes_it_by(world: World):
    blue = self_managed_instance("billing-db")
    deployment, green = blue_green(blue)
    tags = admin_client("rds").list_tags_for_resource(ResourceName=green)["TagList"]
    assert {"Key": "migration-trigger:profile", "Value": "orders"} in tags, "tags copied"
    created = load_event("rds-instance-created.json")
    created["detail"]["SourceArn"] = green

    run = world.run(created, name="green-created")

    assert run.status is InvocationStatus.SUCCEEDED
    assert run.result["status"] == "ignored", run.result
    assert f"Blue/Green deployment {deployment}" in run.result["reason"]
    assert world.jobs() == []
    requests_bus_to_queue()
    swept = world.run(SWEEP, name="sweep")
    names = " ".join(swept.result["started_names"] + swept.result["behind_names"])
    assert "-green-" not in names, names
    asked = [c for c in world.iam.calls if c.action == "rds:DescribeBlueGreenDeployments"]
    assert asked and all(c.allowed for c in asked)
