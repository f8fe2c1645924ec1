"""Reading a Job and its pods (domain/jobstate.py): terminal and interim conditions, pods that
have not started, and what a sequence of checks makes of them (Watch)."""

from __future__ import annotations

from typing import Any

import pytest

from migration_trigger.domain.jobstate import (
    PERSIST_GRACE_SECONDS,
    Hold,
    JobPhase,
    JobState,
    Watch,
    is_finished,
    job_state,
)

IMAGE = "ghcr.io/example/orders-migrations:1.0.0"


def job(*conditions: tuple[str, str], **status: Any) -> dict[str, Any]:
    return {
        "spec": {"activeDeadlineSeconds": 60},
        "status": {
            **status,
            "conditions": [
                {"type": kind, "status": "True", "reason": reason, "message": f"{reason}!"}
                for kind, reason in conditions
            ],
        },
    }


def pod(name: str = "p-1", *, state: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    statuses = (
        [{"name": "migrate", "image": IMAGE, "restartCount": 0, "state": state}] if state else []
    )
    return {
        "metadata": {"name": name, "creationTimestamp": "2026-11-27T10:00:00Z"},
        "spec": {"containers": [{"name": "migrate", "image": IMAGE}]},
        "status": {"phase": "Pending", **status, "containerStatuses": statuses},
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}


RUNNING = {"running": {"startedAt": "2026-11-27T10:00:05Z"}}


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ((("FailureTarget", "BackoffLimitExceeded"),), JobPhase.RUNNING),
        ((("FailureTarget", "DeadlineExceeded"),), JobPhase.RUNNING),
        ((("SuccessCriteriaMet", "CompletionsReached"),), JobPhase.RUNNING),
        (
            (("FailureTarget", "DeadlineExceeded"), ("Failed", "DeadlineExceeded")),
            JobPhase.TIMED_OUT,
        ),
        (
            (("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")),
            JobPhase.SUCCEEDED,
        ),
    ],
)
def test_only_terminal_conditions_end_a_job(
    conditions: tuple[tuple[str, str], ...], phase: JobPhase
):
    """1.31+: FailureTarget / SuccessCriteriaMet come while pods still terminate; the outcome is
    Failed / Complete. An interim Job still holds its database (is_finished is False)."""
    document = job(*conditions)
    state = job_state(document, [pod(state=RUNNING, phase="Running")])

    assert state.phase is phase
    assert is_finished(document) is (phase is not JobPhase.RUNNING)
    if phase is JobPhase.RUNNING:
        assert "its pods are terminating" in state.reason


def test_unschedulable_pod_is_held_with_the_schedulers_message():
    unscheduled = pod(
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory.",
            }
        ]
    )
    state = job_state(job(), [unscheduled])

    assert (state.phase, state.hold) == (JobPhase.RUNNING, Hold.UNSCHEDULABLE)
    assert state.reason == (
        "pod p-1 cannot be scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient memory."
    )


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff"])
def test_pull_errors_are_held_naming_the_image(reason: str):
    state = job_state(job(), [pod(state=waiting(reason, "manifest unknown"))])

    assert (state.phase, state.hold) == (JobPhase.RUNNING, Hold.IMAGE_PULL)
    assert state.reason == f"pod p-1 cannot pull image {IMAGE}: {reason}: manifest unknown"


@pytest.mark.parametrize("reason", ["CreateContainerConfigError", "CreateContainerError"])
def test_create_errors_are_held_as_the_kubelet_retries_them(reason: str):
    """ "failed to sync secret cache" for a new Secret clears by itself (kubernetes#117972)."""
    state = job_state(job(), [pod(state=waiting(reason, "failed to sync secret cache"))])

    assert (state.phase, state.hold) == (JobPhase.RUNNING, Hold.CREATE_ERROR)
    assert state.reason == f"pod p-1 cannot start: {reason}: failed to sync secret cache"


def test_the_grace_is_the_kubelets_first_five_back_offs():
    """10 s doubled, capped at 300 s (pkg/kubelet/kubelet.go): 10 + 20 + 40 + 80 + 160."""
    assert PERSIST_GRACE_SECONDS == 310


def test_a_create_error_that_persists_is_final_after_the_grace():
    create = JobState(JobPhase.RUNNING, "cannot create", "p-1", Hold.CREATE_ERROR)
    watch, state = Watch(start_timeout=3600).see(create, 10)
    assert state.phase is JobPhase.RUNNING

    _, state = watch.see(create, 10 + PERSIST_GRACE_SECONDS)

    assert state.phase is JobPhase.STUCK
    assert state.reason == f"cannot create (for {PERSIST_GRACE_SECONDS}s of checks)"


@pytest.mark.parametrize("reason", ["InvalidImageName", "ErrImageNeverPull"])
def test_waiting_reasons_that_never_resolve_are_stuck_at_once(reason: str):
    state = job_state(job(), [pod(state=waiting(reason, "why"))])

    assert state.phase is JobPhase.STUCK
    assert state.reason == f"pod p-1 cannot start: {reason}: why"


def test_a_job_without_a_pod_yet_is_held_starting():
    state = job_state(job(), [])

    assert (state.hold, state.pod) == (Hold.STARTING, None)


def test_a_retry_after_a_failed_attempt_is_not_a_first_start():
    state = job_state(job(failed=1), [pod("p-2", state=waiting("ContainerCreating"))])

    assert state.hold is Hold.STARTING and state.ran_before


def pull(pod_name: str = "p-1") -> JobState:
    return JobState(JobPhase.RUNNING, "cannot pull", pod_name, Hold.IMAGE_PULL)


def test_a_pull_error_is_final_only_after_the_grace_of_checks():
    watch = Watch(start_timeout=600)
    for waited in range(10, 10 + PERSIST_GRACE_SECONDS, 10):
        watch, state = watch.see(pull(), waited)
        assert state.phase is JobPhase.RUNNING, waited

    _, state = watch.see(pull(), 10 + PERSIST_GRACE_SECONDS)

    assert state.phase is JobPhase.STUCK
    assert state.reason == f"cannot pull (for {PERSIST_GRACE_SECONDS}s of checks)"


def test_a_pull_error_that_clears_starts_the_grace_again():
    watch = Watch(start_timeout=600)
    watch, _ = watch.see(pull(), 10)
    watch, _ = watch.see(JobState(JobPhase.RUNNING, "the migration is running", "p-1"), 20)
    watch, state = watch.see(pull(), 30 + PERSIST_GRACE_SECONDS - 1)

    assert state.phase is JobPhase.RUNNING


def test_a_first_pod_not_started_by_the_start_timeout_is_stuck():
    held = JobState(JobPhase.RUNNING, "pod p-1 cannot be scheduled: …", "p-1", Hold.UNSCHEDULABLE)
    watch = Watch(start_timeout=60)
    watch, state = watch.see(held, 50)
    assert state.phase is JobPhase.RUNNING

    _, state = watch.see(held, 60)

    assert state.phase is JobPhase.STUCK
    assert state.reason.endswith("; the pod did not start within startTimeoutSeconds (60s)")


def test_the_start_timeout_does_not_apply_to_a_retry():
    retry = JobState(JobPhase.RUNNING, "starting", "p-2", Hold.STARTING, ran_before=True)

    _, state = Watch(start_timeout=60).see(retry, 6000)

    assert state.phase is JobPhase.RUNNING


def test_a_deadline_before_the_start_says_what_held_the_pod():
    held = JobState(JobPhase.RUNNING, "pod p-1 cannot be scheduled: X", "p-1", Hold.UNSCHEDULABLE)
    gone = JobState(JobPhase.RUNNING, "no pod", None, Hold.STARTING)
    timed_out = JobState(JobPhase.TIMED_OUT, "the migration ran longer than its 60s deadline", None)
    watch = Watch(start_timeout=600)
    watch, _ = watch.see(held, 10)
    watch, _ = watch.see(gone, 20)

    _, state = watch.see(timed_out, 30)

    assert state.reason == (
        "the migration ran longer than its 60s deadline; its pod never started: "
        "pod p-1 cannot be scheduled: X"
    )


# -- whose execution to ask Lambda about ----------------------------------------------------------
