"""From an event to one finished, reported migration Job."""

from __future__ import annotations

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World

pytestmark = ON_CHOSEN_CLUSTERS


def test_instance_created_event_runs_one_job_and_reports_success(world: World):
    world.pods.when(
        PodScript(logs="Applying: 20261101_init.sql\nApplied 1 migration\n", duration=0.2)
    )

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert run.result["status"] == "succeeded"
    assert run.result["job"].startswith("migrate-orders-db-")
    assert "Applied 1 migration" in run.result["log_tail"]
    (job,) = world.jobs()
    assert job["metadata"]["name"] == run.result["job"]
    (message,) = world.notifications()
    assert message["Subject"] == "[test] Migration succeeded: orders-db (db-created)"


def test_a_migration_needs_no_permission_the_template_does_not_grant(world: World):
    """Every AWS call the function makes passes template.yaml's own policy (local_stack/iam.py)."""
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.1))

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    denied = [call for call in world.iam.calls if not call.allowed]
    assert denied == []
    assert {call.action for call in world.iam.calls} == {
        "rds:DescribeDBInstances",
        "secretsmanager:GetSecretValue",
        "eks:DescribeCluster",
        "sns:Publish",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "rds:DescribeBlueGreenDeployments",
    }
