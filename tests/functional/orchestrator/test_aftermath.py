"""An execution that ended without reporting, reported from Lambda's word that it ended: the
function asks Lambda's durable-execution API (the testing SDK's implementation over the store
the runs share: GetDurableExecution with IncludeExecutionData) for the execution's error and
input, under template.yaml's policy, and reports through SNS."""

from __future__ import annotations

import json
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.execution import InvocationStatus
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from kube_emulator import PodScript
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, REGION, World
from tests.helpers import load_event

pytestmark = ON_CHOSEN_CLUSTERS


@durable_execution
def crashes(event: Any, context: DurableContext) -> Any:
    raise RuntimeError("the container ran out of memory")


def ended(execution: str, status: str = "FAILED") -> dict[str, Any]:
    event = load_event("durable-execution-timed-out.json")
    event["detail"].update(durableExecutionArn=execution, status=status)
    return event


def crashed(world: World) -> str:
    """The ARN of an execution that crashed (FAILED) while migrating the world's database."""
    with DurableFunctionTestRunner(handler=crashes, region=REGION, store=world.executions) as r:
        arn = r.run_async(
            input=json.dumps(world.event("rds-instance-created.json")),
            execution_timeout=60,
            execution_name="crashed",
        )
        assert r.wait_for_result(arn, timeout=60).status is InvocationStatus.FAILED
    return str(arn)


def test_an_execution_that_crashed_is_reported_naming_its_database(world: World):
    arn = crashed(world)

    run = world.run(ended(arn))

    assert run.status is InvocationStatus.SUCCEEDED, "reporting an end is no failure of its own"
    assert run.result["status"] == "failed"
    assert run.result["database"] == world.db_arn and run.result["trigger"] == "db-created"
    assert "(RuntimeError)" in run.result["reason"]
    assert "ran out of memory" not in run.result["reason"], "never an error's text"
    (message,) = world.notifications()
    assert message["Subject"] == "[test] Migration FAILED: orders-db (db-created)"
    asked = [c for c in world.iam.calls if c.action == "lambda:GetDurableExecution"]
    assert asked and all(c.allowed for c in asked)


def test_an_execution_that_reported_its_failed_migration_is_not_reported_again(world: World):
    world.pods.when(PodScript(logs="ERROR: syntax error\n", exit_code=1, duration=0.1))
    failed = world.run(world.event("rds-instance-created.json"), name="failed")
    assert failed.status is InvocationStatus.FAILED
    world.notifications()  # its own report
    (arn,) = [
        e.durable_execution_arn
        for e in world.executions.list_all()
        if e.start_input.execution_name == "failed"
    ]

    run = world.run(ended(arn))

    assert run.result["status"] == "ignored"
    assert "reported its migration's result itself" in run.result["reason"]
    assert world.notifications() == []


def test_an_end_delivered_twice_is_reported_once_through_the_ledger(world: World):
    """Each delivery of Lambda's event is an execution of its own; the first to claim the end
    (a conditional PutItem on the ledger, under the template's policy) reports it."""
    arn = crashed(world)

    first = world.run(ended(arn), name="first-delivery")
    again = world.run(ended(arn), name="second-delivery")

    assert first.result["status"] == "failed"
    assert again.result["status"] == "ignored", again.result
    assert "reported by another execution" in again.result["reason"]
    assert len(world.notifications()) == 1
    claims = [c for c in world.iam.calls if c.action == "dynamodb:PutItem"]
    assert claims and all(c.allowed for c in claims)
