"""A re-run re-runs: the same event sent again after a failure runs the migration again.

The Job's name is derived from the database and the event, so the event sent again (the original
event from the dead-letter queue, invoked again) meets the Job of its first run. What happens then
depends on that Job and on its execution, as Lambda reports it (GetDurableExecution, served here
for these executions by the durable SDK's testing API, as template.yaml's SeeOwnExecutions allows):

- the Job completed: a redelivery, `duplicate`; the migration is not run twice;
- the Job failed (or never started) and its execution has ended: it is deleted, only as it was
  seen (uid and resourceVersion preconditions), and the migration runs again;
- its execution is still running: `duplicate`; that execution reports the outcome.

Each case runs in the story tier (tests/story/test_redelivery.py); here, what crosses the wire:
the delete's preconditions as the real apiserver takes them, and Lambda asked under the template's
IAM policy.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.functional.orchestrator.conftest import (
    ON_CHOSEN_CLUSTERS,
    World,
)


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
def test_the_same_event_after_a_failure_replaces_the_job_only_as_it_was_seen(world: World):
    """The re-run on the real control plane: the failed Job is deleted with uid and
    resourceVersion preconditions (a Job changed or re-created meanwhile is kept), after Lambda
    said its execution ended, and the migration runs again."""
    failed, again = fail_then_fix(world)

    assert again.result["status"] == "succeeded", again.error
    (job,) = world.jobs()
    assert job["metadata"]["uid"] != failed["metadata"]["uid"]
    asked = [call for call in world.iam.calls if call.action == "lambda:GetDurableExecution"]
    assert asked and all(call.allowed for call in asked)

    deletes = world.requests.find("DELETE", r"/jobs/migrate-")
    assert [d.body["preconditions"] for d in deletes] == [
        {
            "uid": failed["metadata"]["uid"],
            "resourceVersion": failed["metadata"]["resourceVersion"],
        }
    ]
