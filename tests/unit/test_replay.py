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
    """A recorded history: its operations and how the execution ended (the first versions'
    files record only the result of a migration that succeeded)."""
    document = json.loads(path.read_text())
    document.setdefault("status", "SUCCEEDED")
    return dict(document)


def suspension_points(path: Path) -> list[tuple[str, int]]:
    """(history, index) of every point a suspended execution of that history can be at: each
    wait, and each retry of a step (between two attempts)."""
    return [
        (path.name, index)
        for index, op in enumerate(history(path)["operations"])
        if op["Type"] == "WAIT" or op.get("StepDetails", {}).get("Attempt", 1) > 1
    ]


def suspended_at(operations: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    """The operations as the service holds them while the execution is suspended at `index`:
    in that wait, or before the last attempt of that step."""
    operations = in_flight(operations[: index + 1])
    last = operations[-1]
    last.pop("EndTimestamp", None)
    if last["Type"] == "WAIT":
        last["Status"] = "STARTED"
        last["WaitDetails"]["ScheduledEndTimestamp"] = NOT_YET
    else:
        last["Status"] = "PENDING"
        details = last["StepDetails"]
        details["Attempt"] -= 1
        details.pop("Result", None)
        details["NextAttemptTimestamp"] = NOT_YET
        details["Error"] = details.get("Error") or {"ErrorMessage": "throttled", "ErrorType": "X"}
    return operations


#: A moment that has not come yet (2100).
NOT_YET = 4102444800000


def test_there_is_a_recorded_history_to_replay():
    assert HISTORIES, "tests/replay/ holds no history: see tests/story/test_histories.py"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_a_recorded_execution_replays_to_its_recorded_result_repeating_nothing(path: Path):
    recorded = history(path)

    output, service = resume(in_flight(recorded["operations"]))

    assert output["Status"] == recorded["status"], output.get("Error")
    if recorded["status"] == "SUCCEEDED":
        assert json.loads(output["Result"]) == recorded["result"]
    else:
        assert output["Error"]["ErrorMessage"] == recorded["error"]
    repeated = [u for u in service.updates if u.operation_type.value in ("STEP", "WAIT")]
    assert repeated == []


@pytest.mark.parametrize(
    ("name", "index"),
    [point for path in HISTORIES for point in suspension_points(path)],
)
def test_an_execution_suspended_anywhere_resumes_into_the_same_suspension(name: str, index: int):
    # Given an execution of the recorded version suspended at this point
    operations = suspended_at(history(ROOT / "tests" / "replay" / name)["operations"], index)

    # When the new code is invoked on it
    output, service = resume(operations)

    # Then it replays every earlier step and suspends at the same point, repeating nothing
    assert output["Status"] == "PENDING", output.get("Error")
    assert service.updates == []


def test_the_histories_hold_every_path_of_the_story_and_a_retried_step():
    from tests.story.test_histories import PATHS

    assert set(PATHS) <= {path.stem.rsplit("-v", 1)[0] for path in HISTORIES}
    retried = [
        (path.name, index)
        for path in HISTORIES
        for index in range(len(history(path)["operations"]))
        if (path.name, index) in suspension_points(path)
        and history(path)["operations"][index]["Type"] == "STEP"
    ]
    assert retried, "no history holds a retried step: that suspension is never replayed"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_each_recorded_history_costs_at_most_what_the_cost_model_says(path: Path):
    """domain/schedule.py's worst case bounds what the story really checkpoints: the operations
    of each event of each recorded history (a batch's are named `event-<n>/...`, a retry's
    `attempt-<n>/...`), with the
    profile its resolve step recorded; an event declined at resolve, its resolve and report; an
    execution's end, its look at Lambda and report (a switchover, its note and report); a sweep,
    its three steps."""
    from migration_trigger.domain.schedule import SWEEP, report_operations, worst_case
    from migration_trigger.records import Resolved
    from migration_trigger.steps import decode

    events: dict[str, list[dict[str, Any]]] = {}
    for op in history(path)["operations"][1:]:
        batch, _, name = (
            op["Name"].partition("/") if op["Name"].startswith("event-") else ("", "", op["Name"])
        )
        events.setdefault(batch, []).append({**op, "Name": name.rpartition("/")[2]})
    for operations in events.values():
        notifiers = len(
            {op["Name"].split("-")[1] for op in operations if op["Name"].startswith("notify-")}
        )
        if any(op["Name"] in ("ended-execution", "switchover") for op in operations):
            assert len(operations) <= 1 + report_operations(notifiers)
            continue
        if any(op["Name"] == "sweep" for op in operations):
            assert len(operations) <= len(SWEEP)
            continue
        (resolve,) = [op for op in operations if op["Name"] == "resolve"]
        resolved = decode(resolve["StepDetails"]["Result"])
        if isinstance(resolved, Resolved):
            bound = worst_case(resolved.profile, notifiers=notifiers).operations
        else:
            bound = 1 + report_operations(notifiers)
        assert len(operations) <= bound


def newer_record_field(operations: list[dict[str, Any]], index: int) -> None:
    """The step at `index` as a newer version checkpoints it: its record has a field more."""
    document = json.loads(operations[index]["StepDetails"]["Result"])
    document["value"]["added_by_a_newer_version"] = 1
    operations[index]["StepDetails"]["Result"] = json.dumps(document)


def newer_record_type(operations: list[dict[str, Any]], index: int) -> None:
    """The step at `index` as a newer version checkpoints it: a record this code never had."""
    document = json.loads(operations[index]["StepDetails"]["Result"])
    document["type"] = f"{document['type']}V2"
    operations[index]["StepDetails"]["Result"] = json.dumps(document)


def newer_step_name(operations: list[dict[str, Any]], index: int) -> None:
    """The step at `index` as a newer version names it: a step this code does not take there."""
    operations[index]["Name"] = f"{operations[index]['Name']}-v2"


@pytest.mark.parametrize("newer", [newer_record_field, newer_record_type, newer_step_name])
def test_rolling_back_fails_a_newer_versions_execution_at_once_repeating_nothing(
    newer: Any,
):
    """The rollback rule (CONTRIBUTING.md, "The replay contract"): an older version resumed on a
    history it cannot read fails that execution on the spot. It repeats no step and reports no
    result; Lambda counts the execution in DurableExecutionFailed (the `…-failed-executions`
    alarm). Here the newer version is played by this code's own history of a queued migration,
    changed where a newer version would change it: a record grown a field, a record of a new
    type, a step renamed."""
    # Given an execution a newer version started, suspended behind another Job of its database
    operations = suspended_at(
        history(ROOT / "tests" / "replay" / "queued-v3.json")["operations"], 5
    )
    (queue,) = [i for i, op in enumerate(operations) if op.get("Name") == "queue-0"]
    newer(operations, queue)

    # When the older version (this code) resumes it
    output, service = resume(operations)

    # Then the execution fails at that step, saying why, and nothing is done again or reported
    assert output["Status"] == "FAILED"
    error = output["Error"]["ErrorMessage"]
    assert (
        "does not fit this code" in error
        or "no record this code knows" in error
        or ("Non-deterministic" in error and "queue-0" in error)
    )
    assert service.updates == []


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_every_operation_of_a_recorded_history_is_one_the_cost_model_counts(path: Path):
    """The cost model is computed from schedule.STORY: a step the story takes that STORY does
    not list would be taken without being counted."""
    import re

    from migration_trigger.domain.schedule import operation_names

    taken = {
        re.sub(r"-\d+(?=$|-failed$|-request$)", "", op["Name"].rpartition("/")[2])
        for op in history(path)["operations"][1:]
    }

    assert taken <= operation_names(), taken - operation_names()
