"""At-least-once delivery and re-runs, over the story's fakes: an event delivered again finds its
Job, and what happens then depends on that Job and on its execution as Lambda reports it.

- the Job completed: a redelivery, `duplicate`; the migration is not run twice;
- the Job failed (or never started) and its execution has ended: it is replaced, and the
  migration runs again;
- its execution is still running: `duplicate`; that execution reports the outcome;
- another event of the same change (one creation's several events): the change's Job, whatever
  became of it.

(The delete preconditions on the real control plane, and IAM's grant to ask Lambda:
tests/functional/orchestrator/test_rerun.py.)"""

from __future__ import annotations

from migration_trigger.domain.result import Status
from tests.story.world import PodScript, StoryWorld, exited


def failed_once(world: StoryWorld) -> dict[str, object]:
    """A creation whose migration failed; its Job."""
    world.jobs.scripts.append(PodScript(timeline=[(0, exited(1))], log="relation exists\n"))
    _, error = world.run(world.event())
    assert error is not None and "exited with code 1" in error
    (job,) = world.jobs.jobs.values()
    world.steps_taken.clear()
    return job


def test_an_event_delivered_three_times_runs_one_job_and_notifies_once():
    world = StoryWorld()

    documents = [world.run(world.event())[0] for _ in range(3)]

    assert [d["status"] for d in documents if d] == ["succeeded", "duplicate", "duplicate"]
    assert "already ran for this event and completed" in str(documents[1])
    assert len(world.jobs.jobs) == 1
    assert [r.status for r in world.recorded.notified] == [Status.SUCCEEDED]


def test_a_redelivery_under_a_new_envelope_id_is_still_a_duplicate():
    world = StoryWorld()
    first = world.event()
    world.run(first)

    document, _ = world.run({**first, "id": "a-different-envelope"})

    assert document is not None and document["status"] == "duplicate"
    assert len(world.jobs.jobs) == 1


def test_the_same_event_after_a_failure_runs_the_migration_again():
    world = StoryWorld()
    failed = failed_once(world)

    document, _ = world.run(world.event())

    assert document is not None and document["status"] == "succeeded"
    (job,) = world.jobs.jobs.values()
    assert job["metadata"]["name"] == failed["metadata"]["name"]  # type: ignore[index]
    assert job["metadata"]["uid"] != failed["metadata"]["uid"]  # type: ignore[index]
    assert [r.status for r in world.recorded.notified] == [Status.FAILED, Status.SUCCEEDED]
    (replaced,) = [m for _, m, _ in world.recorded.log if m.startswith("replaced a migration Job")]
    assert "whose execution has ended (FAILED)" in replaced


def test_another_event_of_the_same_change_after_a_failure_is_a_duplicate():
    """A cluster's creation arrives as its own event and one per instance, one rotation as two:
    each is the same migration's Job, and only the event it was made for re-runs it."""
    world = StoryWorld()
    failed = failed_once(world)
    other = {**world.event(), "id": "7c1e9d2b-4a5f-4e8b-9c3d-2f1a0b9e8d7c"}

    document, _ = world.run(other)

    assert document is not None and document["status"] == "duplicate"
    assert "made for event 6a7e8feb-b491-4cf7-a9f1-bf3703467718" in document["reason"]
    (job,) = world.jobs.jobs.values()
    assert job["metadata"]["uid"] == failed["metadata"]["uid"]  # type: ignore[index]


def test_a_failed_job_whose_execution_still_runs_is_left_to_it():
    """Its execution may still be reading the log or reporting: the Job is not deleted."""
    world = StoryWorld()
    name = world.job_left(
        "still-reporting",
        script=PodScript(timeline=[(0, exited(1))]),
        event="manual-retrigger.json",
    )
    world.executions.statuses["still-reporting"] = "RUNNING"
    world.clock.advance(5)

    document, _ = world.run(world.event("manual-retrigger.json"))

    assert document is not None and document["status"] == "duplicate"
    assert "still running" in document["reason"]
    assert list(world.jobs.jobs) == [name]


def test_a_batch_is_handled_event_by_event():
    world = StoryWorld()
    batch = [world.event(), {"source": "aws.ec2", "detail-type": "x", "detail": {}, "id": "e"}]

    ended = world.run_durably(batch)

    assert ended.status == "SUCCEEDED", ended.error
    assert [r["status"] for r in ended.result] == ["succeeded", "ignored"]
    assert len(world.jobs.jobs) == 1
    assert "event-1/report" in world.steps_taken
