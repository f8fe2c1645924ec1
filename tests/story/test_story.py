"""The story's scenarios over in-memory fakes (tests/story/world.py): each step and wait it takes,
in order, and what it reports, in virtual time. The same story crosses real wires in
tests/functional/ (moto, the real Kubernetes control plane); here it runs in milliseconds."""

from __future__ import annotations

from migration_trigger.domain.result import Status
from migration_trigger.errors import AwsError, KubernetesError
from tests.story.world import (
    PASSWORD,
    RUNNING,
    PodScript,
    StoryWorld,
    exited,
)


def outage(times: int) -> list[KubernetesError]:
    return [KubernetesError("service unavailable", status=503) for _ in range(times)]


def test_a_creation_runs_one_job_through_every_step_in_order():
    world = StoryWorld()

    document, error = world.run(world.event())

    assert error is None and document is not None
    assert document["status"] == "succeeded"
    assert world.steps_taken[:5] == [
        "resolve",
        "create-job",
        "wait:queue-settle",
        "queue-0",
        "start-job",
    ]
    assert world.steps_taken[5:7] == ["wait:running-0", "check-0"]
    assert world.steps_taken[-3:] == ["collect-logs", "report", "notify-0"]
    assert [r.status for r in world.recorded.notified] == [Status.SUCCEEDED]
    assert "Applied 1 migration" in (document["log_tail"] or "")
    assert world.jobs.secrets == {}, "the credentials Secret went with the finished Job"


def test_the_password_reaches_only_the_jobs_secret():
    world = StoryWorld()
    seen: list[str] = []
    create = world.jobs.create_secret
    world.jobs.create_secret = lambda manifest: seen.append(str(manifest)) or create(manifest)

    document, _ = world.run(world.event())

    assert any(PASSWORD in text for text in seen)
    assert PASSWORD not in str(document)
    assert PASSWORD not in str(world.recorded.log)
    assert PASSWORD not in str(world.recorded.notified)


def test_a_second_trigger_waits_its_turn_behind_the_first_job():
    world = StoryWorld()
    ahead = world.job_ahead(PodScript(timeline=[(0, RUNNING), (120, exited(0))]))

    document, _ = world.run(world.event("manual-retrigger.json"))

    assert document is not None and document["status"] == "succeeded"
    queued = [name for name in world.steps_taken if name.startswith("wait:queued-")]
    assert len(queued) >= 120 // 5 - 1, "it waited behind the running Job, checking every 5 s"
    assert world.steps_taken.index("start-job") > world.steps_taken.index(queued[-1])
    assert ahead in world.jobs.jobs, "the Job ahead was left to its execution"


def test_a_trigger_behind_a_job_gives_up_at_the_queue_timeout_and_deletes_its_own():
    world = StoryWorld(queueTimeoutSeconds=60)
    world.job_ahead(PodScript(timeline=[(0, RUNNING)]))

    _, error = world.run(world.event("manual-retrigger.json"))

    assert error is not None and "timed_out: waited 60s behind" in error
    assert "start-job" not in world.steps_taken
    assert "stop-job" in world.steps_taken
    assert len(world.jobs.jobs) == 1, "only the Job ahead is left"


def test_an_outage_while_following_does_not_end_the_migration():
    world = StoryWorld()
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (120, exited(0))]))
    world.jobs.failing["get_job"] = outage(40)  # more than a check's retries

    document, error = world.run(world.event())

    assert error is None and document is not None
    assert document["status"] == "succeeded"
    assert any(m == "could not check the Job; still following" for _, m, _ in world.recorded.log)


def test_a_notification_that_cannot_be_sent_is_counted_and_the_result_stands():
    world = StoryWorld()
    # SNS throttling, past the notify step's retries.
    world.recorded.refuse = [
        AwsError("Rate exceeded", code="Throttling", retryable=True) for _ in range(10)
    ]

    document, error = world.run(world.event())

    assert error is None and document is not None and document["status"] == "succeeded"
    assert world.steps_taken[-2:] == ["notify-0", "notify-0-failed"]
    assert world.recorded.failed_notifications == 1


def test_the_same_event_again_is_a_duplicate_and_runs_nothing_twice():
    world = StoryWorld()
    world.run(world.event())
    world.steps_taken.clear()

    document, _ = world.run(world.event())

    assert document is not None and document["status"] == "duplicate"
    assert "start-job" not in world.steps_taken
    assert len(world.recorded.notified) == 1
