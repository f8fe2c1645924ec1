"""One migration at a time per database, over the story's fakes: a Job that cannot start is
deleted, one its execution abandoned does not block the database, and Lambda's word on an
execution decides before any start-by time does. (The queue's rules: domain/queueing.py; the
IAM grant that lets the function ask Lambda: tests/functional/orchestrator/test_outages.py.)"""

from __future__ import annotations

from migration_trigger.domain.queueing import start_window
from migration_trigger.errors import KubernetesError
from tests.story.world import StoryWorld


def outage(times: int) -> list[KubernetesError]:
    return [KubernetesError("service unavailable", status=503) for _ in range(times)]


def left_behind(world: StoryWorld) -> str:
    """A creation whose start and clean-up were both refused (retries spent): its execution
    ended FAILED and left its Job suspended. The Job's name."""
    world.jobs.failing["resume"] = outage(5)
    world.jobs.failing["delete_job"] = outage(5)
    _, error = world.run(world.event())
    assert error is not None and "could not be deleted" in error
    (name,) = world.jobs.jobs
    assert world.jobs.jobs[name]["spec"]["suspend"] is True
    world.steps_taken.clear()
    return name


def test_a_start_refused_until_retries_are_spent_leaves_no_job_and_no_secret():
    world = StoryWorld()
    world.jobs.failing["resume"] = outage(5)

    _, error = world.run(world.event())

    assert error is not None and "were deleted" in error
    assert "clean-up" in world.steps_taken
    assert world.jobs.jobs == {} and world.jobs.secrets == {}
    assert [r.status for r in world.recorded.notified] == ["failed"]

    # The database's next migration does not wait behind anything.
    world.steps_taken.clear()
    document, _ = world.run(world.event("manual-retrigger.json"))

    assert document is not None and document["status"] == "succeeded"
    assert "wait:queued-0" not in world.steps_taken


def test_a_suspended_job_whose_execution_has_ended_is_deleted_without_waiting():
    world = StoryWorld(queueTimeoutSeconds=3600)
    left = left_behind(world)

    document, _ = world.run(world.event("manual-retrigger.json"))

    assert document is not None and document["status"] == "succeeded"
    assert "wait:queued-0" not in world.steps_taken
    assert left not in world.jobs.jobs
    (warning,) = [
        m for level, m, _ in world.recorded.log if m.startswith("deleted a migration Job")
    ]
    assert "its durable execution has ended (FAILED)" in warning


def test_a_job_its_execution_abandoned_is_deleted_once_past_its_start_by_time():
    """The last line of defence, when Lambda cannot say whether the execution ended: the Job
    says when it must have started; past that, the next migration deletes it."""
    world = StoryWorld(queueTimeoutSeconds=3600)
    left = left_behind(world)
    world.executions.unreachable = True
    world.clock.advance(start_window(world.settings.profiles["orders"]) + 1)

    document, _ = world.run(world.event("manual-retrigger.json"))

    assert document is not None and document["status"] == "succeeded"
    assert "wait:queued-0" not in world.steps_taken
    assert left not in world.jobs.jobs


def test_a_suspended_job_is_waited_for_while_lambda_cannot_say_its_execution_ended():
    world = StoryWorld(queueTimeoutSeconds=30)
    left = left_behind(world)
    world.executions.unreachable = True

    _, error = world.run(world.event("manual-retrigger.json"))

    assert error is not None and "timed_out: waited 30s behind" in error
    assert "wait:queued-0" in world.steps_taken
    assert left in world.jobs.jobs
    assert any(
        m == "could not learn from Lambda whether the execution of a migration Job has ended"
        for _, m, _ in world.recorded.log
    )


def test_a_suspended_job_whose_execution_still_runs_is_waited_for_whatever_its_start_by():
    """Lambda is asked first: an execution it reports running may still start its Job, even
    past the Job's start-by time (a clock, or a suspension longer than planned)."""
    world = StoryWorld(queueTimeoutSeconds=30)
    for start_by in (world.clock.now + 3600, world.clock.now - 60):
        left = world.job_left("still-running", start_by=start_by)
        world.executions.statuses["still-running"] = "RUNNING"

        _, error = world.run(world.event("manual-retrigger.json"))

        assert error is not None and "timed_out: waited 30s behind" in error
        assert left in world.jobs.jobs
        world.jobs.jobs.clear()


def test_an_execution_whose_own_job_overran_its_start_by_time_gives_up_and_says_so():
    """Past its start-by time another migration of the database that cannot ask Lambda may take
    the Job for abandoned: its own execution does not start it, deletes it, and says so."""
    world = StoryWorld()
    looked = world.jobs.database_jobs

    def overrun(key: str) -> list[dict[str, object]]:
        world.clock.advance(start_window(world.settings.profiles["orders"]) + 1)
        return looked(key)

    world.jobs.database_jobs = overrun  # type: ignore[method-assign]

    _, error = world.run(world.event())

    assert error is not None and "timed_out: Job migrate-orders-db-" in error
    assert "was not started by its start-by time" in error
    assert "start-job" not in world.steps_taken
    assert world.jobs.jobs == {}
