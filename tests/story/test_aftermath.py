"""An execution that ended without reporting, reported from Lambda's word that it ended
(events/durable-execution-timed-out.json), through the durable SDK as in Lambda."""

from __future__ import annotations

import json

from migration_trigger.domain.aftermath import ExecutionInfo
from tests.helpers import load_event
from tests.story.world import DB_ARN, StoryWorld

ENDED = "arn:aws:lambda:eu-west-1:123456789012:function:migration-trigger:7/durable-execution/a/b"


def ended(status: str = "TIMED_OUT") -> dict:
    event = load_event("durable-execution-timed-out.json")
    event["detail"].update(
        durableExecutionArn=ENDED,
        status=status,
        functionArn="arn:aws:lambda:eu-west-1:123456789012:function:migration-trigger:7",
    )
    return event


def test_an_execution_lambda_timed_out_is_reported_naming_its_database_and_trigger():
    world = StoryWorld()
    world.executions.infos[ENDED] = ExecutionInfo(
        "a", "TIMED_OUT", None, None, json.dumps(world.event())
    )

    run = world.run_durably(ended())

    assert run.status == "SUCCEEDED", "a report of an end is not itself a failure"
    assert run.result["status"] == "timed_out"
    assert run.result["trigger"] == "db-created" and run.result["database"] == DB_ARN
    assert "ran past the function's ExecutionTimeout" in run.result["reason"]
    (notified,) = world.recorded.notified
    assert str(notified.status) == "timed_out"


def test_a_stopped_execution_and_a_crashed_one_are_reported_as_failures():
    for status, error_type, said in (
        ("STOPPED", None, "was stopped"),
        ("FAILED", "RuntimeError", "failed before it could report (RuntimeError)"),
    ):
        world = StoryWorld()
        world.executions.infos[ENDED] = ExecutionInfo(
            "a", status, error_type, "boom", json.dumps(world.event("manual-retrigger.json"))
        )

        run = world.run_durably(ended(status))

        assert run.result["status"] == "failed" and said in run.result["reason"], status
        assert "boom" not in run.result["reason"], "an error's text may hold what it read"


def test_an_execution_that_reported_its_failure_itself_is_not_reported_twice():
    world = StoryWorld()
    world.executions.infos[ENDED] = ExecutionInfo(
        "a",
        "FAILED",
        "migration_trigger.flow.MigrationFailedError",
        "failed: the migration exited with code 1",
        json.dumps(world.event()),
    )

    run = world.run_durably(ended("FAILED"))

    assert run.result["status"] == "ignored"
    assert world.recorded.notified == []


def test_the_end_of_an_execution_that_reported_an_end_is_never_reported():
    """No loop: a report on a report is ignored, whatever it ended as."""
    world = StoryWorld()
    world.executions.infos[ENDED] = ExecutionInfo(
        "a", "FAILED", "RuntimeError", "boom", json.dumps(ended())
    )

    assert world.run_durably(ended("FAILED")).result["status"] == "ignored"


def test_another_functions_execution_is_ignored_without_asking_lambda():
    world = StoryWorld()
    event = ended()
    event["detail"]["functionArn"] = "arn:aws:lambda:eu-west-1:123456789012:function:other:3"

    run = world.run_durably(event)

    assert run.result["status"] == "ignored"
    assert "ended-execution" not in world.steps_taken


def test_when_lambda_cannot_be_asked_the_end_is_reported_and_this_execution_does_not_fail():
    """Failing here would announce one more end, and the next execution ask the same Lambda."""
    world = StoryWorld()
    world.executions.unreachable = True

    run = world.run_durably(ended("FAILED"))

    assert run.status == "SUCCEEDED"
    assert run.result["status"] == "failed"
    assert "Lambda could not be asked" in run.result["reason"] and ENDED in run.result["reason"]


def test_an_execution_whose_input_cannot_be_read_is_reported_by_its_arn():
    world = StoryWorld()
    world.executions.infos[ENDED] = ExecutionInfo("a", "TIMED_OUT", None, None, None)

    run = world.run_durably(ended())

    assert run.result["status"] == "timed_out"
    assert "its input could not be read" in run.result["reason"] and ENDED in run.result["reason"]


def test_a_batchs_end_names_every_event_of_it():
    world = StoryWorld()
    batch = [world.event(), world.event("manual-retrigger.json")]
    world.executions.infos[ENDED] = ExecutionInfo("a", "STOPPED", None, None, json.dumps(batch))

    run = world.run_durably(ended("STOPPED"))

    reason = run.result["reason"]
    assert run.result["status"] == "failed" and run.result["database"] is None
    assert "db-created of" in reason and "manual of" in reason


def test_a_misconfigured_function_leaves_an_end_alone_and_does_not_fail():
    world = StoryWorld()
    from migration_trigger.errors import ConfigurationError
    from migration_trigger.flow import report_misconfiguration
    from migration_trigger.steps import InlineSteps

    document = report_misconfiguration(
        ended(), ConfigurationError("broken"), InlineSteps(), world.services
    )

    assert isinstance(document, dict) and document["status"] == "ignored"
    assert world.recorded.notified == []


def test_an_end_delivered_twice_is_reported_once():
    """EventBridge delivers at least once: each delivery is an execution of its own, and the
    first to claim the end in the ledger reports it."""
    world = StoryWorld()
    world.executions.infos[ENDED] = ExecutionInfo(
        "a", "TIMED_OUT", None, None, json.dumps(world.event())
    )

    first = world.run_durably(ended())
    again = world.run_durably(ended())

    assert first.result["status"] == "timed_out"
    assert again.result["status"] == "ignored"
    assert f"the end of {ENDED} is reported by " in again.result["reason"]
    assert len(world.recorded.notified) == 1


def test_an_end_is_reported_when_the_ledger_cannot_be_claimed_in():
    """Twice rather than never: a ledger that cannot be written to leaves the report to each."""
    world = StoryWorld()
    world.executions.infos[ENDED] = ExecutionInfo(
        "a", "TIMED_OUT", None, None, json.dumps(world.event())
    )
    world.ledger.unavailable = True

    run = world.run_durably(ended())

    assert run.result["status"] == "timed_out"
    (notified,) = world.recorded.notified
    assert str(notified.status) == "timed_out"
