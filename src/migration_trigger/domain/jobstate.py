"""What a Job and its pods say about a migration: running, finished, or stuck. Pure."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

#: Waiting reasons that will not resolve by waiting: fail fast instead of sitting out the deadline.
STUCK_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


class JobPhase(StrEnum):
    """Where a migration Job is, as far as the function is concerned."""

    QUEUED = "queued"  # suspended, waiting its turn
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"  # its deadline passed
    STUCK = "stuck"  # a pod cannot start and waiting will not change that


_FINISHED = frozenset({JobPhase.SUCCEEDED, JobPhase.FAILED, JobPhase.TIMED_OUT, JobPhase.STUCK})


class JobState(NamedTuple):
    """One observation of a Job."""

    phase: JobPhase
    reason: str
    pod: str | None = None

    @property
    def finished(self) -> bool:
        """True once waiting longer cannot change the outcome."""
        return self.phase in _FINISHED


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def is_finished(job: dict[str, Any]) -> bool:
    """Whether the Job has its Complete or Failed condition."""
    return _condition(job, "Complete") is not None or _condition(job, "Failed") is not None


def latest_pod(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most recently created pod (the last attempt)."""
    ordered = sorted(
        pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"])
    )
    return ordered[-1] if ordered else None


def _exit_code(pod: dict[str, Any] | None) -> int | None:
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated is not None:
            return int(terminated.get("exitCode", 0))
    return None


def job_state(job: dict[str, Any], pods: list[dict[str, Any]]) -> JobState:
    """Interpret a Job and its pods; conditions first, then stuck containers."""
    last = latest_pod(pods)
    pod_name = last["metadata"]["name"] if last else None
    if _condition(job, "Complete"):
        return JobState(JobPhase.SUCCEEDED, "the migration Job completed", pod_name)
    failed = _condition(job, "Failed")
    if failed:
        reason = failed.get("reason", "")
        if reason == "DeadlineExceeded":
            deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
            return JobState(
                JobPhase.TIMED_OUT,
                f"the migration ran longer than its {deadline}s deadline and was stopped",
                pod_name,
            )
        code = _exit_code(last)
        if reason == "BackoffLimitExceeded" and code is not None:
            return JobState(JobPhase.FAILED, f"the migration exited with code {code}", pod_name)
        return JobState(
            JobPhase.FAILED,
            f"the Job failed: {reason}: {failed.get('message', '')}".strip(),
            pod_name,
        )
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_REASONS:
                detail = f": {waiting['message']}" if waiting.get("message") else ""
                return JobState(
                    JobPhase.STUCK,
                    f"pod {pod['metadata']['name']} cannot start: {waiting['reason']}{detail}",
                    pod["metadata"]["name"],
                )
    if (job.get("spec") or {}).get("suspend"):
        return JobState(JobPhase.QUEUED, "the Job is suspended, waiting its turn", pod_name)
    return JobState(JobPhase.RUNNING, "the migration is running", pod_name)
