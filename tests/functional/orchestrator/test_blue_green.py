"""Blue/Green deployments over moto, under the template's policy. The story's side, with the
waits through the durable execution SDK: tests/story/test_blue_green.py.

What moto does, against the RDS API Reference and User Guide:
- CreateBlueGreenDeployment creates the green copy at once, named `<blue>-green-<6 letters>`, with
  the blue database's tags, as RDS does ("Creating a blue/green deployment"); RDS takes minutes
  to hours (PROVISIONING first), moto is AVAILABLE at once.
- It refuses a blue database whose master password RDS manages (RDS once did too), so the blue
  one here has a self-managed secret.
- SwitchoverBlueGreenDeployment renames the blue database `<blue>-old1` and gives the green one
  the blue one's name, and the deployment then names them its Source and Target, as RDS does;
  RDS takes a while (SWITCHOVER_IN_PROGRESS), moto completes at once, renames a cluster but not
  its member instances, and announces nothing: the switchover's event is delivered here as RDS
  sends it (events/rds-blue-green-switchover-completed.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from migration_trigger.cli import main
from tests.fixtures import ACCOUNT, REGION, admin_client
from tests.functional.orchestrator.conftest import (
    LEDGER,
    ON_CHOSEN_CLUSTERS,
    World,
    profiles,
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


def billing_db() -> str:
    """billing-db, opted in, with its self-managed credentials secret (named by the instance's
    tag, naming it back), as RDS's limits on Blue/Green deployments allow; its ARN."""
    blue = self_managed_instance("billing-db")
    value = {"username": "app", "password": "x", "dbInstanceIdentifier": "billing-db"}
    secret = admin_client("secretsmanager").create_secret(
        Name="billing-db-creds",
        SecretString=json.dumps(value),
        Tags=[{"Key": "migration-trigger:database", "Value": blue}],
    )["ARN"]
    admin_client("rds").add_tags_to_resource(
        ResourceName=blue, Tags=[{"Key": "migration-trigger:secret", "Value": secret}]
    )
    return blue


def switched_over(deployment: str) -> dict[str, object]:
    """RDS's event for the deployment's switchover."""
    event = load_event("rds-blue-green-switchover-completed.json")
    arn = f"arn:aws:rds:{REGION}:{ACCOUNT}:deployment:{deployment}"
    event["resources"] = [arn]
    event["detail"] |= {"SourceArn": arn, "SourceIdentifier": deployment}
    return event


@ON_CHOSEN_CLUSTERS
def test_a_blue_databases_migration_waits_and_times_out_unrun_while_its_deployment_stands(
    world: World,
):
    world.set_profiles(profiles(waitForBlueGreenSeconds=600))
    blue = billing_db()
    deployment, _ = blue_green(blue)

    run = world.run(world.event("manual-retrigger.json", database=blue), name="blue")

    assert run.status is InvocationStatus.FAILED
    assert (run.error or "").startswith(
        f"timed_out: billing-db is held by Blue/Green deployment {deployment} (not switched "
        "over, AVAILABLE)"
    )
    (message,) = world.notifications()
    assert json.loads(message["Message"])["status"] == "timed_out"
    assert world.jobs() == []
    asked = [c for c in world.iam.calls if c.action == "rds:DescribeBlueGreenDeployments"]
    assert len(asked) == 3 and all(c.allowed for c in asked)  # the resolve's, then two looks


@ON_CHOSEN_CLUSTERS
def test_after_the_switchover_the_migration_runs_under_the_name_and_the_sweep_starts_nothing(
    world: World,
):
    blue = billing_db()
    deployment, _ = blue_green(blue)
    admin_client("rds").switchover_blue_green_deployment(BlueGreenDeploymentIdentifier=deployment)
    described = admin_client("rds").describe_db_instances(DBInstanceIdentifier="billing-db")
    created = described["DBInstances"][0]["InstanceCreateTime"]

    noted = world.run(switched_over(deployment), name="switched")
    migrated = world.run(world.event("manual-retrigger.json", database=blue), name="after")
    requests_bus_to_queue()
    swept = world.run(SWEEP, name="sweep")

    assert noted.result["status"] == "ignored", noted.result
    assert f"{deployment} switched over: billing-db" in noted.result["reason"]
    standing = admin_client("dynamodb").get_item(
        TableName=LEDGER, Key={"database": {"S": blue}, "entry": {"S": "standing"}}
    )["Item"]
    assert standing["switched_by"]["S"] == deployment
    assert standing["switched"]["S"] == str(created)  # as the RDS adapter gives creation times
    assert migrated.result["status"] == "succeeded", migrated.result
    assert migrated.result["database"] == blue
    names = " ".join(swept.result["started_names"] + swept.result["behind_names"])
    assert "billing-db" not in names, names  # neither the one under the name nor -old1
    assert swept.result["started"] == 0
    writes = [c for c in world.iam.calls if c.action == "dynamodb:UpdateItem"]
    assert writes and all(c.allowed for c in writes)


def test_plan_says_a_blue_databases_migration_would_wait_and_a_switchover_would_be_noted(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    blue = billing_db()
    deployment, _ = blue_green(blue)
    request = tmp_path / "request.json"
    request.write_text(json.dumps(world.event("manual-retrigger.json", database=blue)))
    switch = tmp_path / "switch.json"
    switch.write_text(json.dumps(switched_over(deployment)))

    main(["plan", str(request)])
    waits = json.loads(capsys.readouterr().out)
    main(["plan", str(switch)])
    noted = json.loads(capsys.readouterr().out)

    assert waits["decision"] == "run"
    assert waits["blue_green"]["deployment"] == deployment
    assert "at most 21600s (waitForBlueGreenSeconds)" in waits["blue_green"]["waits"]
    assert noted["decision"] == "note"
    assert deployment in noted["reason"]
