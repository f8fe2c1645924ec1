"""A re-run re-runs: the same event sent again after a failure runs the migration again.

The Job's name is derived from the database and the event, so the event sent again (the original
event from the dead-letter queue, invoked again) meets the Job of its first run. What happens then
depends on that Job and on its execution, as Lambda reports it (GetDurableExecution, served here
for these executions by the durable SDK's testing API, as template.yaml's SeeOwnExecutions allows):

- the Job completed: a redelivery, `duplicate`; the migration is not run twice;
- the Job failed (or never started) and its execution has ended: it is deleted, only as it was
  seen (uid and resourceVersion preconditions), and the migration runs again;
- its execution is still running: `duplicate`; that execution reports the outcome.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.functional.orchestrator.conftest import (
    ON_CHOSEN_CLUSTERS,
    World,
    left_by,
    running_execution,
)
from tests.helpers import eventually


def fail_then_fix(world: World) -> tuple[dict[str, Any], Any]:
    """A creation whose migration failed (its execution ended FAILED), then the same event sent
    again once the migration is fixed; the failed Job and the second run."""
    world.pods.when(PodScript(exit_code=1, logs="relation orders already exists\n"))
    first = world.run(world.event("rds-instance-created.json"))
    assert first.status is InvocationStatus.FAILED
    (failed,) = world.jobs()
    world.pods.reset()
    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    return failed, world.run(world.event("rds-instance-created.json"), name="re-sent")


@ON_CHOSEN_CLUSTERS
def test_the_same_event_after_a_failure_runs_the_migration_again(world: World):
    failed, again = fail_then_fix(world)

    # The failed Job is replaced by a new run of the same migration
    assert again.result["status"] == "succeeded", again.error
    (job,) = world.jobs()
    assert job["metadata"]["name"] == failed["metadata"]["name"]
    assert job["metadata"]["uid"] != failed["metadata"]["uid"]
    statuses = [json.loads(m["Message"])["status"] for m in world.notifications()]
    assert statuses == ["failed", "succeeded"]


@ON_CHOSEN_CLUSTERS
def test_another_event_of_the_same_change_after_a_failure_is_a_duplicate(world: World):
    """A cluster's creation arrives as its own event and one per instance, one rotation as two:
    each is the same migration's Job, and only the event it was made for re-runs it."""
    world.pods.when(PodScript(exit_code=1))
    first = world.run(world.event("rds-instance-created.json"))
    assert first.status is InvocationStatus.FAILED
    (failed,) = world.jobs()
    other = world.event("rds-instance-created.json")
    other["id"] = "7c1e9d2b-4a5f-4e8b-9c3d-2f1a0b9e8d7c"  # another delivery, the same creation

    again = world.run(other, name="another-event")

    assert again.result["status"] == "duplicate", again.error
    assert f"made for event {first_event_id(failed)}" in again.result["reason"]
    (job,) = world.jobs()
    assert job["metadata"]["uid"] == failed["metadata"]["uid"]


def first_event_id(job: dict[str, Any]) -> str:
    return str(job["metadata"]["annotations"]["migration-trigger.io/event-id"])


@ON_CHOSEN_CLUSTERS
def test_the_failed_job_is_deleted_only_as_it_was_seen(world: World):
    """uid and resourceVersion preconditions: a Job changed or re-created meanwhile is kept."""
    failed, _ = fail_then_fix(world)

    deletes = world.requests.find("DELETE", r"/jobs/migrate-")
    assert [d.body["preconditions"] for d in deletes] == [
        {
            "uid": failed["metadata"]["uid"],
            "resourceVersion": failed["metadata"]["resourceVersion"],
        }
    ]


@ON_CHOSEN_CLUSTERS
def test_the_same_event_after_a_success_is_a_duplicate(world: World):
    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    world.run(world.event("rds-instance-created.json"))
    (done,) = world.jobs()

    again = world.run(world.event("rds-instance-created.json"), name="re-sent")

    assert again.result["status"] == "duplicate"
    assert "completed" in again.result["reason"]
    (job,) = world.jobs()
    assert job["metadata"]["uid"] == done["metadata"]["uid"]


@ON_CHOSEN_CLUSTERS
def test_a_failed_job_whose_execution_still_runs_is_left_to_it(world: World):
    """Its execution may still be reading the log or reporting: the Job is not deleted."""
    with running_execution(world) as running:
        event = world.event("manual-retrigger.json")
        left, job = left_by(world, running, "manual-retrigger.json", start_by=time.time() + 3600)
        # Its migration ran and failed; the Job controller says so.
        world.pods.when(PodScript(exit_code=1), job_name=left.name)
        job["spec"]["suspend"] = False
        world.apply(job)
        eventually(
            lambda: "BackoffLimitExceeded" in json.dumps(world.get("jobs", left.name)), timeout=30
        )

        again = world.run(event, name="re-sent")

    assert again.result["status"] == "duplicate", again.error
    assert "still running" in again.result["reason"]
    assert [j["metadata"]["name"] for j in world.jobs()] == [left.name]
