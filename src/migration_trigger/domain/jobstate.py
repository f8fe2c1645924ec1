"""What a Job and its pods say about a migration: running, finished, or stuck. Pure.

The Job's outcome is read from its terminal conditions. Since Kubernetes 1.31 the Job controller
first sets an interim condition, `FailureTarget` or `SuccessCriteriaMet`, deletes the pods still
running, and adds `Failed` or `Complete` only once no pod is terminating
(pkg/controller/job/job_controller.go: newFailureCondition, newSuccessCondition,
enactJobFinished). A Job with an interim condition is still running here: its pod may still hold
the database, and the next migration of that database must not start yet.

A pod that has not started is `held`: the scheduler found no node for it (`PodScheduled=False`,
reason `Unschedulable`), the kubelet cannot pull its image or create its container, or it is
still being created. The kubelet reports `ErrImagePull` for any failed pull, transient ones
included, then `ImagePullBackOff` while it waits 10 s, 20 s, 40 s... up to 5 minutes before the
next attempt (pkg/kubelet/images/image_manager.go: EnsureImageExists, `Back-off pulling image
%q`; pkg/kubelet/kubelet.go: imageBackOffPeriod 10 s, MaxImageBackOff 300 s, doubled by
flowcontrol.Backoff.Next). It reports `CreateContainerConfigError` and `CreateContainerError`
for conditions that clear by themselves too: a new Secret its cache has not synced yet ("failed
to sync secret cache", kubernetes#117972), services not yet read on a fresh node
(kubernetes#129294), containerd's name reservation (containerd#4604). So each of these is a hold,
not a failure: how long one may last is the watch's policy (domain/watching.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

#: Waiting reasons that will not resolve by waiting: fail fast instead of sitting out the deadline.
STUCK_REASONS = frozenset({"InvalidImageName", "ErrImageNeverPull"})
#: Waiting reasons of a failed image pull, which the kubelet retries.
PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})
#: Waiting reasons of a container the kubelet could not create (yet): it retries on every sync.
CREATE_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})


class Hold(StrEnum):
    """Why a Job's pod has not started."""

    UNSCHEDULABLE = "unschedulable"  # no node fits it (PodScheduled=False, Unschedulable)
    IMAGE_PULL = "image_pull"  # the kubelet cannot pull its image (yet)
    CREATE_ERROR = "create_error"  # the kubelet cannot create its container (yet)
    STARTING = "starting"  # being created, or no pod exists yet


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
    #: While its latest pod has not started: what holds it (the reason says it in words).
    hold: Hold | None = None
    #: An earlier pod of the Job ran: the start timeout no longer applies.
    ran_before: bool = False
    #: The exit code its pod failed with, when the Job failed because the migration did.
    exit_code: int | None = None

    @property
    def finished(self) -> bool:
        """True once waiting longer cannot change the outcome."""
        return self.phase in _FINISHED


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def completed(job: dict[str, Any]) -> bool:
    """Whether the Job has its terminal Complete condition: the migration ran to its end."""
    return _condition(job, "Complete") is not None


def is_finished(job: dict[str, Any]) -> bool:
    """Whether the Job has its terminal Complete or Failed condition (its pods are gone)."""
    return _condition(job, "Complete") is not None or _condition(job, "Failed") is not None


#: The label the Job controller puts on its pods (Kubernetes 1.27+; `controller-uid` before).
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"


def controlled_by(pod: dict[str, Any], job_uid: str) -> bool:
    """Whether the Job with `job_uid` controls the pod: its controller ownerReference, which the
    Job controller sets on every pod it creates (pkg/controller/job: metav1.NewControllerRef).
    A pod that only carries the Job's `job-name` label is someone else's: never judged or read."""
    return any(
        ref.get("controller") and ref.get("uid") == job_uid and ref.get("kind") == "Job"
        for ref in (pod.get("metadata") or {}).get("ownerReferences") or []
    )


def latest_pod(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most recently created pod (the last attempt)."""
    ordered = sorted(
        pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"])
    )
    return ordered[-1] if ordered else None


def _statuses(pod: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list(((pod or {}).get("status") or {}).get("containerStatuses") or [])


def _exit_code(pod: dict[str, Any] | None) -> int | None:
    for status in _statuses(pod):
        terminated = (status.get("state") or {}).get("terminated")
        if terminated is not None:
            return int(terminated.get("exitCode", 0))
    return None


def _ran(pod: dict[str, Any]) -> bool:
    """Whether any container of the pod has started (running now, or finished, or restarted)."""
    return any(
        status.get("restartCount") or {"running", "terminated"} & set(status.get("state") or {})
        for status in _statuses(pod)
    )


def job_state(job: dict[str, Any], pods: list[dict[str, Any]]) -> JobState:
    """Interpret a Job and its pods: terminal conditions first, then pods that cannot start."""
    last = latest_pod(pods)
    pod_name = last["metadata"]["name"] if last else None
    if _condition(job, "Complete"):
        return JobState(JobPhase.SUCCEEDED, "the migration Job completed", pod_name)
    failed = _condition(job, "Failed")
    if failed:
        return _failed(job, failed, last)
    if (job.get("spec") or {}).get("suspend"):
        return JobState(JobPhase.QUEUED, "the Job is suspended, waiting its turn", pod_name)
    for pod in pods:
        for status in _statuses(pod):
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_REASONS:
                return JobState(
                    JobPhase.STUCK,
                    f"pod {pod['metadata']['name']} cannot start: {_waiting(status)}",
                    pod["metadata"]["name"],
                )
    interim = _condition(job, "FailureTarget") or _condition(job, "SuccessCriteriaMet")
    if interim is not None:
        return JobState(
            JobPhase.RUNNING,
            f"the Job has its outcome ({interim['type']}); its pods are terminating",
            pod_name,
        )
    status = job.get("status") or {}
    ran_before = bool(status.get("failed") or status.get("succeeded")) or any(
        _ran(p) for p in pods if p is not last
    )
    if last is None:
        reason = "no pod of the Job exists yet (`kubectl describe job` shows why)"
        return JobState(JobPhase.RUNNING, reason, None, Hold.STARTING, ran_before)
    if _ran(last):
        return JobState(JobPhase.RUNNING, "the migration is running", pod_name)
    hold, reason = _held(last)
    return JobState(JobPhase.RUNNING, reason, pod_name, hold, ran_before)


def _failed(job: dict[str, Any], failed: dict[str, Any], last: dict[str, Any] | None) -> JobState:
    pod_name = last["metadata"]["name"] if last else None
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
        reason = f"the migration exited with code {code}"
        return JobState(JobPhase.FAILED, reason, pod_name, exit_code=code)
    return JobState(
        JobPhase.FAILED,
        f"the Job failed: {reason}: {failed.get('message', '')}".strip(),
        pod_name,
    )


def _waiting(status: dict[str, Any]) -> str:
    waiting = (status.get("state") or {}).get("waiting") or {}
    detail = f": {waiting['message']}" if waiting.get("message") else ""
    return f"{waiting.get('reason', 'ContainerCreating')}{detail}"


def _held(pod: dict[str, Any]) -> tuple[Hold, str]:
    """What keeps a pod that has not started, in the scheduler's or the kubelet's words."""
    name = pod["metadata"]["name"]
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            said = f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": ")
            return Hold.UNSCHEDULABLE, f"pod {name} cannot be scheduled: {said}"
    for status in _statuses(pod):
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in PULL_REASONS:
            image = status.get("image") or _image(pod, status.get("name"))
            return Hold.IMAGE_PULL, f"pod {name} cannot pull image {image}: {_waiting(status)}"
        if waiting.get("reason") in CREATE_REASONS:
            return Hold.CREATE_ERROR, f"pod {name} cannot start: {_waiting(status)}"
    waiting_on = ", ".join(_waiting(s) for s in _statuses(pod)) or "not yet scheduled"
    return Hold.STARTING, f"pod {name} has not started: {waiting_on}"


def _image(pod: dict[str, Any], container: str | None) -> str:
    for spec in (pod.get("spec") or {}).get("containers") or []:
        if spec.get("name") == container:
            return str(spec.get("image", "?"))
    return "?"
