"""Reading a Job and its pods (domain/jobstate.py): terminal and interim conditions, pods that
have not started."""

from __future__ import annotations

from typing import Any

import pytest

from migration_trigger.domain.jobstate import (
    Hold,
    JobPhase,
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
