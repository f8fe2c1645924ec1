"""Replay compatibility is a contract: what executions in flight replay after a deploy.

Lambda resumes a durable execution by invoking the function again with every operation
checkpointed so far (`InitialExecutionState.Operations`, in the wire form kept under
tests/replay/). The SDK matches each step and wait by position, type and name
(`OperationIdentifier.validate_checkpoint`), and the codec turns each step's checkpoint back into
its record (steps.py). A change that renames, reorders or retypes a step, or changes a record's
shape, fails here: on purpose, because a suspended execution of the old version would fail the
same way after the deploy. Sockets are off in this tier, so a replay that ran a step again
instead of replaying it (a side effect repeated) fails too.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.durable import resume
from tests.helpers import ROOT

HISTORIES = sorted((ROOT / "tests" / "replay").glob("*.json"))
PROFILES = {
    "profiles": {
        "orders": {
            "cluster": {"eksClusterName": "platform-dev"},
            "namespace": "migrations",
            "image": "ghcr.io/example/orders-migrations:1.0.0",
        }
    }
}


@pytest.fixture(autouse=True)
def deployment(offline_aws: pytest.MonkeyPatch) -> None:
    """The function's environment after a deploy (values that replayed steps never reach)."""
    for name, value in {
        "ENVIRONMENT": "test",
        "MIGRATION_PROFILES": json.dumps(PROFILES),
        "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:migration-results",
        "POWERTOOLS_SERVICE_NAME": "migration-trigger",
    }.items():
        offline_aws.setenv(name, value)


def in_flight(operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operations as the service holds them while the execution still runs."""
    operations = copy.deepcopy(operations)
    execution = operations[0]
    assert execution["Type"] == "EXECUTION"
    execution["Status"] = "STARTED"
    execution.pop("EndTimestamp", None)
    return operations


def history(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def suspension_points(path: Path) -> list[tuple[str, int]]:
    """(history, index) of every wait a suspended execution of that history can be sitting in."""
    return [
        (path.name, index)
        for index, op in enumerate(history(path)["operations"])
        if op["Type"] == "WAIT"
    ]


def test_there_is_a_recorded_history_to_replay():
    assert HISTORIES, "tests/replay/ holds no history: see test_replay_history.py"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_a_recorded_execution_replays_to_its_recorded_result_repeating_nothing(path: Path):
    recorded = history(path)

    output, service = resume(in_flight(recorded["operations"]))

    assert output["Status"] == "SUCCEEDED", output.get("Error")
    assert json.loads(output["Result"]) == recorded["result"]
    repeated = [u for u in service.updates if u.operation_type.value in ("STEP", "WAIT")]
    assert repeated == []


@pytest.mark.parametrize(
    ("name", "index"),
    [point for path in HISTORIES for point in suspension_points(path)],
)
def test_an_execution_suspended_in_any_wait_resumes_into_that_wait(name: str, index: int):
    # Given an execution of the recorded version suspended in this wait
    operations = in_flight(history(ROOT / "tests" / "replay" / name)["operations"][: index + 1])
    wait = operations[-1]
    wait["Status"] = "STARTED"
    wait.pop("EndTimestamp", None)
    wait["WaitDetails"]["ScheduledEndTimestamp"] = 4102444800000  # 2100: not yet over

    # When the new code is invoked on it
    output, service = resume(operations)

    # Then it replays every earlier step and suspends in the same wait, repeating nothing
    assert output["Status"] == "PENDING", output.get("Error")
    assert service.updates == []


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_each_recorded_history_costs_at_most_what_the_cost_model_says(path: Path):
    """domain/schedule.py's worst case bounds what the story really checkpoints: the operations
    of each recorded history, with the profile its resolve step recorded."""
    from migration_trigger.domain.schedule import worst_case
    from migration_trigger.steps import decode

    operations = [op for op in history(path)["operations"] if op["Type"] != "EXECUTION"]
    (resolve,) = [op for op in operations if op.get("Name") == "resolve"]
    profile = decode(resolve["StepDetails"]["Result"]).profile
    notifiers = len(
        {op["Name"].split("-")[1] for op in operations if op["Name"].startswith("notify-")}
    )

    assert len(operations) <= worst_case(profile, notifiers=notifiers).operations
