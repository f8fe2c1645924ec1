"""Outages and what they leave, where the wire matters: a Job whose execution ended (Lambda asked
under the template's IAM policy) does not block the database, and a notification SNS refuses
leaves the result standing, counted in the metric the template's alarm watches. The queue's
other cases (start-by times, Lambda unreachable, a Job that cannot start, an outage while
following, an unreadable log) run in the story tier: tests/story/test_queue.py and
test_following.py.

Faults answer 503 with `Retry-After: 0`, so the client's and the steps' retries are spent at once.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import Fault
from migration_trigger.domain.jobspec import START_BY
from tests.fixtures import admin_client
from tests.functional.deployment.test_failure_plumbing import alarms_on
from tests.functional.orchestrator.conftest import (
    ON_CHOSEN_CLUSTERS,
    World,
    profiles,
)

#: Every request a step makes through all its attempts: 5 client attempts, 5 step attempts.
SPENT = 25

#: A Job's start-by time long gone (a merge patch of its annotation, as an administrator).
PAST = {"metadata": {"annotations": {START_BY: "2026-01-01T00:00:00Z"}}}


def outage(world: World, method: str, path: str, times: int = SPENT) -> None:
    world.fault(Fault(path=path, method=method, status=503, retry_after=0, times=times))


def secrets(world: World) -> list[dict[str, Any]]:
    return world.select("secrets")


def names(run: Any) -> list[str]:
    return [op.name for op in run.operations]


@ON_CHOSEN_CLUSTERS
def test_a_suspended_job_whose_execution_has_ended_is_deleted_without_waiting(world: World):
    """The second line of defence, before any start-by time: the execution that made the Job
    has ended (here FAILED: its start and its clean-up were both refused), so nothing will ever
    start the Job. The next migration of the database asks Lambda (GetDurableExecution, served
    for these executions by the durable SDK's testing API, as template.yaml's SeeOwnExecutions
    allows), deletes the Job and runs at once."""
    outage(world, "PATCH", "/jobs/migrate-")
    outage(world, "DELETE", "/jobs/migrate-")
    first = world.run(world.event("rds-instance-created.json"))
    assert first.status.name == "FAILED" and "could not be deleted" in (first.error or "")
    (left,) = world.jobs()
    assert left["spec"]["suspend"] is True
    assert left["metadata"]["annotations"][START_BY] > time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime()
    )
    world.faults.clear()
    world.set_profiles(profiles(queueTimeoutSeconds=3600))

    again = world.run(world.event("manual-retrigger.json"), name="next")

    assert again.result["status"] == "succeeded", again.error
    assert "queued-0" not in names(again)
    assert left["metadata"]["name"] not in [j["metadata"]["name"] for j in world.jobs()]
    asked = [call for call in world.iam.calls if call.action == "lambda:GetDurableExecution"]
    assert asked and all(call.allowed for call in asked)


@ON_CHOSEN_CLUSTERS
def test_a_notification_that_cannot_be_sent_is_counted_and_the_result_stands(
    world: World, capfd: pytest.CaptureFixture[str]
):
    admin_client("sns").delete_topic(TopicArn=os.environ["TOPIC_ARN"])

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert run.result["status"] == "succeeded"
    assert "notify-0-failed" in names(run)
    out = capfd.readouterr().out
    results = [line for line in out.splitlines() if '"migration result"' in line]
    assert len(results) == 1, "the result is logged and counted once"
    metrics = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    assert [m["Migrations"] for m in metrics if "Migrations" in m] == [[1.0]]
    (failed,) = [m for m in metrics if "NotificationFailed" in m]
    assert failed["NotificationFailed"] == [1.0]
    # The template's alarm watches exactly this metric's dimensions.
    (alarm,) = alarms_on("NotificationFailed")
    (dimensions,) = failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert sorted(d["Name"] for d in alarm["Dimensions"]) == sorted(dimensions)
    assert failed["service"] == "migration-trigger" and failed["Environment"] == "test"
