"""Following a started Job, over the story's fakes: pods that cannot start (at once, or after
the kubelet's grace), holds the kubelet clears by itself, deadlines, a database not yet
available, a Job deleted from under the function, a log that cannot be read. (The policy:
domain/watching.py; the scheduler's and the Job controller's own words on the real control
plane: tests/functional/orchestrator/test_failures.py.)"""

from __future__ import annotations

import pytest

from migration_trigger.domain.result import Status
from migration_trigger.domain.watching import PERSIST_GRACE_SECONDS
from migration_trigger.errors import KubernetesError
from tests.story.world import (
    RUNNING,
    PodScript,
    StoryWorld,
    exited,
    unschedulable,
    waiting,
)

IMAGE = "ghcr.io/example/orders-migrations:1.0.0"


def pulls_failing(until: float) -> list[tuple[float, object]]:
    """The kubelet's pulls failing until `until` seconds: ErrImagePull at each attempt, then
    ImagePullBackOff for its back-off (10 s, doubled, at most 300 s)."""
    timeline: list[tuple[float, object]] = []
    at, backoff = 0.0, 10.0
    while at < until:
        timeline.append((at, waiting("ErrImagePull", f'failed to pull image "{IMAGE}": 429')))
        timeline.append((at + 1, waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"')))
        at, backoff = at + 1 + backoff, min(2 * backoff, 300)
    return timeline


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("InvalidImageName", 'couldn\'t parse image name "Orders:1": invalid reference format'),
        (
            "ErrImageNeverPull",
            'Container image "orders:1" is not present with pull policy of Never',
        ),
    ],
)
def test_a_pod_that_can_never_start_fails_at_the_first_check_and_its_job_is_deleted(
    reason: str, message: str
):
    world = StoryWorld()
    world.jobs.scripts.append(PodScript(timeline=[(0, waiting(reason, message))]))

    _, error = world.run(world.event())

    assert error is not None and f"cannot start: {reason}: {message}" in error
    assert "stop-job" in world.steps_taken and "check-1" not in world.steps_taken
    assert world.jobs.jobs == {}
    assert [r.status for r in world.recorded.notified] == [Status.FAILED]


@pytest.mark.parametrize("reason", ["CreateContainerConfigError", "CreateContainerError"])
def test_a_create_error_the_kubelet_clears_by_itself_is_waited_out(reason: str):
    """ "failed to sync secret cache" for the Secret created just before the start clears on the
    kubelet's next sync (kubernetes#117972): the migration runs."""
    world = StoryWorld()
    held = waiting(reason, "failed to sync secret cache: timed out waiting for the condition")
    world.jobs.scripts.append(PodScript(timeline=[(0, held), (12, RUNNING), (20, exited(0))]))

    document, error = world.run(world.event())

    assert error is None and document is not None and document["status"] == "succeeded"


def test_a_create_error_that_persists_fails_after_the_grace_naming_the_kubelets_message():
    world = StoryWorld()
    held = waiting("CreateContainerConfigError", 'secret "x" not found')
    world.jobs.scripts.append(PodScript(timeline=[(0, held)]))

    _, error = world.run(world.event())

    assert error is not None
    assert (
        'cannot start: CreateContainerConfigError: secret "x" not found '
        f"(for {PERSIST_GRACE_SECONDS}s of checks)"
    ) in error
    assert world.jobs.jobs == {}


def test_an_image_that_keeps_failing_to_pull_fails_after_the_grace_naming_the_image():
    world = StoryWorld()
    world.jobs.scripts.append(PodScript(timeline=pulls_failing(until=10_000)))

    _, error = world.run(world.event())

    assert error is not None and f"cannot pull image {IMAGE}: " in error
    assert f"(for {PERSIST_GRACE_SECONDS}s of checks)" in error
    assert world.steps_taken.count("stop-job") == 1
    assert world.jobs.jobs == {}


def test_a_pull_error_the_kubelet_recovers_from_is_waited_out():
    """A registry blip: ErrImagePull, ImagePullBackOff, then the retry pulls and the pod runs."""
    world = StoryWorld()
    recovered = [*pulls_failing(until=20), (40, RUNNING), (50, exited(0))]
    world.jobs.scripts.append(PodScript(timeline=recovered))

    document, error = world.run(world.event())

    assert error is None and document is not None and document["status"] == "succeeded"


def test_a_pod_no_node_takes_fails_after_the_start_timeout_quoting_the_scheduler():
    world = StoryWorld(startTimeoutSeconds=60)
    world.jobs.scripts.append(
        PodScript(timeline=[(0, unschedulable("0/3 nodes are available: 3 Insufficient memory."))])
    )

    _, error = world.run(world.event())

    assert error is not None
    assert "cannot be scheduled: Unschedulable: 0/3 nodes are available" in error
    assert "the pod did not start within startTimeoutSeconds (60s)" in error
    assert world.jobs.jobs == {}


def test_a_deadline_before_the_pod_started_says_what_held_it():
    world = StoryWorld(activeDeadlineSeconds=60, startTimeoutSeconds=3600)
    world.jobs.scripts.append(
        PodScript(timeline=[(0, unschedulable("0/3 nodes are available: 3 Insufficient memory."))])
    )

    _, error = world.run(world.event())

    assert error is not None
    assert "timed_out: the migration ran longer than its 60s deadline and was stopped" in error
    assert "its pod never started: pod migrate-orders-db-" in error
    assert "cannot be scheduled: Unschedulable: 0/3 nodes are available" in error


def test_a_migration_over_its_deadline_is_timed_out_with_the_tail_read_while_it_ran():
    world = StoryWorld(activeDeadlineSeconds=60)
    world.jobs.scripts.append(
        PodScript(timeline=[(0, RUNNING)], log="applying 001_customers.sql\n")
    )

    _, error = world.run(world.event())

    assert error is not None and "ran longer than its 60s deadline" in error
    (result,) = world.recorded.notified
    assert result.status is Status.TIMED_OUT
    assert (result.log_tail or "").startswith("[read while the Job ran; its pod is gone]")
    assert "applying 001_customers.sql" in (result.log_tail or "")


def test_a_database_that_never_becomes_available_is_timed_out_without_a_job():
    world = StoryWorld(waitForAvailableSeconds=90)
    world.rds.facts = world.rds.facts._replace(status="backing-up")

    _, error = world.run(world.event())

    assert error is not None and "orders-db was still 'backing-up' after 90s" in error
    assert world.jobs.jobs == {}
    assert "create-job" not in world.steps_taken


def test_a_database_still_being_created_is_waited_for():
    world = StoryWorld(waitForAvailableSeconds=120)
    world.rds.facts = world.rds.facts._replace(status="configuring-enhanced-monitoring")
    world.rds.statuses = ["configuring-enhanced-monitoring", "available"]

    document, _ = world.run(world.event())

    assert document is not None and document["status"] == "succeeded"
    assert world.steps_taken[1:4] == [
        "wait:database-available-0",
        "database-status-1",
        "create-job",
    ]


def test_a_job_deleted_by_someone_while_it_runs_is_failed():
    world = StoryWorld()
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (300, exited(0))]))
    looked = world.jobs.get_job

    def deleted_after_the_first_look(name: str) -> dict[str, object] | None:
        job = looked(name)
        world.jobs.delete_job(name)
        return job

    world.jobs.get_job = deleted_after_the_first_look  # type: ignore[method-assign]

    _, error = world.run(world.event())

    assert error is not None and "was deleted before it finished" in error


def test_a_log_that_cannot_be_read_is_a_warning_not_a_failure():
    world = StoryWorld()
    world.jobs.failing["log"] = [KubernetesError("unavailable", status=503) for _ in range(200)]

    document, _ = world.run(world.event())

    assert document is not None and document["status"] == "succeeded"
    assert (document["log_tail"] or "").startswith("[the log could not be read: ")
