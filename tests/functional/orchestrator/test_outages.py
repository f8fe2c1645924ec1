"""Outages and what they leave: a Job that cannot start is deleted with its Secret, one its
execution abandoned does not block the database, a follow-up outage does not end a running
migration, an unreadable log is a warning, and a notification that cannot be sent leaves the
result standing.

Faults answer 503 with `Retry-After: 0`, so the client's and the steps' retries are spent at once.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import Fault, PodScript
from migration_trigger.domain.jobspec import START_BY
from tests.fixtures import admin_client
from tests.functional.deployment.test_failure_plumbing import alarms_on
from tests.functional.orchestrator.conftest import (
    ON_CHOSEN_CLUSTERS,
    World,
    left_by,
    profiles,
    running_execution,
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
def test_a_start_refused_until_retries_are_spent_leaves_no_job_and_no_secret(world: World):
    outage(world, "PATCH", "/jobs/migrate-")

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert "were deleted" in (run.error or "")
    assert world.jobs() == []
    assert secrets(world) == []
    assert "clean-up" in names(run)
    (message,) = world.notifications()
    assert json.loads(message["Message"])["status"] == "failed"

    # The database's next migration does not wait behind anything.
    again = world.run(world.event("manual-retrigger.json"), name="next")

    assert again.result["status"] == "succeeded", again.error
    assert "queued-0" not in names(again)


@ON_CHOSEN_CLUSTERS
def test_a_job_its_execution_abandoned_is_deleted_once_past_its_start_by_time(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    """The last line of defence, for what no code ran to clean (the execution's clean-up failed
    too) when Lambda cannot say whether its execution ended: the Job says when it must have
    started; past that, the next migration of the database deletes it instead of waiting."""
    outage(world, "PATCH", "/jobs/migrate-")
    outage(world, "DELETE", "/jobs/migrate-")
    first = world.run(world.event("rds-instance-created.json"))
    assert "could not be deleted" in (first.error or "")
    (left,) = world.jobs()
    assert left["spec"]["suspend"] is True
    start_by = left["metadata"]["annotations"][START_BY]
    assert start_by > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    # As if the start window had passed.
    world.patch("jobs", left["metadata"]["name"], PAST)
    world.faults.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")  # nothing listens
    world.set_profiles(profiles(queueTimeoutSeconds=3600))
    again = world.run(world.event("manual-retrigger.json"), name="next")

    assert again.result["status"] == "succeeded", again.error
    assert "queued-0" not in names(again)
    assert left["metadata"]["name"] not in [j["metadata"]["name"] for j in world.jobs()]


@ON_CHOSEN_CLUSTERS
def test_a_job_past_its_start_by_time_whose_execution_lambda_reports_running_is_waited_for(
    world: World,
):
    """Lambda is asked first: an execution it reports running may still start its Job, whatever
    the Job's start-by time says (a clock, or a suspension longer than planned)."""
    with running_execution(world) as running:
        left, job = left_by(world, running, "rds-instance-created.json", start_by=time.time() - 60)
        world.apply(job)
        world.set_profiles(profiles(queueTimeoutSeconds=30))

        again = world.run(world.event("manual-retrigger.json"), name="next")

    assert "timed_out: waited 30s behind" in (again.error or "")
    assert left.name in [j["metadata"]["name"] for j in world.jobs()]


@ON_CHOSEN_CLUSTERS
def test_an_execution_whose_own_job_overran_its_start_by_time_gives_up_and_says_so(
    world: World,
):
    """Past its start-by time another migration of the database that cannot ask Lambda may
    delete the Job as abandoned: its own execution does not start it, deletes it, and says so."""

    def overrun(request: Any) -> None:
        if request.method == "GET" and request.path.endswith("/jobs") and world.jobs():
            (job,) = world.jobs()
            world.patch("jobs", job["metadata"]["name"], PAST)

    world.requests.on_request(overrun)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert "timed_out: Job migrate-orders-db-" in (run.error or "")
    assert "was not started by its start-by time" in (run.error or "")
    assert world.jobs() == []
    pods = world.select("pods")
    assert pods == [], "nothing ran"


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
def test_a_suspended_job_whose_execution_still_runs_is_waited_for(world: World):
    """An execution Lambda reports RUNNING may yet start its Job: the queue waits behind it
    (here until queueTimeoutSeconds) and does not delete it."""
    with running_execution(world) as running:
        left, job = left_by(
            world, running, "rds-instance-created.json", start_by=time.time() + 3600
        )
        world.apply(job)
        world.set_profiles(profiles(queueTimeoutSeconds=30))

        again = world.run(world.event("manual-retrigger.json"), name="next")

    assert "timed_out: waited 30s behind" in (again.error or "")
    assert left.name in [j["metadata"]["name"] for j in world.jobs()]
    asked = [call for call in world.iam.calls if call.action == "lambda:GetDurableExecution"]
    assert asked and all(call.allowed for call in asked)


@ON_CHOSEN_CLUSTERS
def test_a_suspended_job_is_waited_for_while_lambda_cannot_say_its_execution_ended(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    """Not knowing is no reason to delete: when Lambda cannot be asked, the queue waits behind
    the Job (its start-by time stays the backstop) and says why in the log."""
    outage(world, "PATCH", "/jobs/migrate-")
    outage(world, "DELETE", "/jobs/migrate-")
    world.run(world.event("rds-instance-created.json"))
    (left,) = world.jobs()
    world.faults.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")  # nothing listens
    world.set_profiles(profiles(queueTimeoutSeconds=30))

    again = world.run(world.event("manual-retrigger.json"), name="next")

    assert "timed_out: waited 30s behind" in (again.error or "")
    assert "queued-0" in names(again)
    assert left["metadata"]["name"] in [j["metadata"]["name"] for j in world.jobs()]


@ON_CHOSEN_CLUSTERS
def test_an_outage_while_following_does_not_end_the_migration(world: World):
    """A check whose retries are spent is one missed look: following goes on."""
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.5))
    outage(world, "GET", "/namespaces/migrations/pods$", times=SPENT + 3)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded", run.error
    assert "Applied 1 migration" in run.result["log_tail"]
    assert len(world.jobs()) == 1


@ON_CHOSEN_CLUSTERS
def test_a_log_that_cannot_be_read_is_a_warning_not_a_failure(world: World):
    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    outage(world, "GET", "/log$", times=200)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded", run.error
    assert run.result["log_tail"].startswith("[the log could not be read: ")


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
