"""A profile's retry, over the story's fakes: a failure its log names is tried again with a new
Job after a durable pause; anything else, and the last attempt, stands."""

from __future__ import annotations

from migration_trigger.domain.result import Status
from tests.story.world import RUNNING, PodScript, StoryWorld, exited

RETRY = {"attempts": 3, "delaySeconds": 600, "whenLogMatches": "lock timeout|55P03"}
LOCKED = "ERROR: canceling statement due to lock timeout (SQLSTATE 55P03)\n"


def fails(log: str) -> PodScript:
    return PodScript(timeline=[(0, RUNNING), (3, exited(1))], log=log)


def test_a_lock_timeout_is_tried_again_after_a_pause_and_the_second_attempt_succeeds():
    world = StoryWorld(retry=RETRY)
    world.jobs.scripts += [fails(LOCKED), PodScript()]

    document, error = world.run(world.event())

    assert error is None and document is not None
    assert document["status"] == "succeeded"
    assert document["reason"] == "the migration Job completed (attempt 2 of 3)"
    taken = world.steps_taken
    assert taken[taken.index("collect-logs") + 1 :][:3] == [
        "wait:retry-1",
        "attempt-2/create-job",
        "wait:attempt-2/queue-settle",
    ]
    (failed,) = [n for n, job in world.jobs.jobs.items() if job["status"].get("failed")]
    assert set(world.jobs.jobs) == {failed, document["job"]}, "each attempt has a Job of its own"
    assert [r.status for r in world.recorded.notified] == [Status.SUCCEEDED], "only the last"


def test_the_attempts_spent_the_last_failure_stands():
    world = StoryWorld(retry=RETRY)
    world.jobs.scripts += [fails(LOCKED), fails(LOCKED), fails(LOCKED)]

    _, error = world.run(world.event())

    assert error is not None
    assert "failed: the migration exited with code 1 (attempt 3 of 3)" in error
    assert "wait:retry-2" in world.steps_taken and "wait:retry-3" not in world.steps_taken
    assert len(world.jobs.jobs) == 3


def test_a_failure_its_log_does_not_name_is_not_tried_again():
    world = StoryWorld(retry=RETRY)
    world.jobs.scripts.append(fails('ERROR: relation "orders" already exists\n'))

    _, error = world.run(world.event())

    assert error is not None and error.endswith("the migration exited with code 1")
    assert not any(name.startswith("wait:retry") for name in world.steps_taken)


def test_a_deadline_is_not_retried_whatever_its_log_says():
    world = StoryWorld(retry=RETRY, activeDeadlineSeconds=60)
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING)], log=LOCKED))

    _, error = world.run(world.event())

    assert error is not None and error.startswith("timed_out: ")
    assert not any(name.startswith("wait:retry") for name in world.steps_taken)


def test_the_same_event_after_a_success_on_a_retry_is_a_duplicate():
    world = StoryWorld(retry=RETRY)
    world.jobs.scripts += [fails(LOCKED), PodScript()]
    first, _ = world.run(world.event())
    assert first is not None and first["status"] == "succeeded"

    again, _ = world.run(world.event())

    assert again is not None and again["status"] == "duplicate"
    assert "an attempt of the profile's retry" in again["reason"]
    assert len(world.jobs.jobs) == 2


def test_a_job_deleted_while_it_ran_is_not_retried_whatever_its_log_said():
    """Only a migration that failed on its own (its pod exited non-zero) is tried again: an
    operator who deleted a Job meant it to stop."""
    world = StoryWorld(retry=RETRY)
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (600, exited(0))], log=LOCKED))
    looked = world.jobs.get_job

    def deleted_once_its_log_was_read(name: str) -> dict[str, object] | None:
        job = looked(name)
        if any(step.startswith("check-2") for step in world.steps_taken):
            world.jobs.delete_job(name)
        return job

    world.jobs.get_job = deleted_once_its_log_was_read  # type: ignore[method-assign]

    _, error = world.run(world.event())

    assert error is not None and "was deleted before it finished" in error
    assert not any(name.startswith("wait:retry") for name in world.steps_taken)
