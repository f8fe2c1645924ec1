"""The Job controller: pods for each Job, their lifecycle, backoff, deadlines, TTL, and pod logs."""

from __future__ import annotations

import contextlib
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from kube_emulator.errors import ApiError
from kube_emulator.pods import PodRunner
from kube_emulator.resources import ResourceType, require
from kube_emulator.store import Obj, Store, timestamp

JOBS = require("batch", "v1", "jobs")
PODS = require("", "v1", "pods")
SECRETS = require("", "v1", "secrets")
CONFIGMAPS = require("", "v1", "configmaps")

_LIVE = ("Pending", "Running")
_SUFFIX = string.ascii_lowercase + string.digits


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


class LogBook:
    """Container logs by (namespace, pod, container); a pod's logs go with the pod."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self._logs: dict[tuple[str, str, str], list[str]] = {}
        self._open: set[tuple[str, str, str]] = set()

    def append(self, key: tuple[str, str, str], text: str) -> None:
        """Add text to a container's log."""
        with self.cond:
            self._logs.setdefault(key, []).append(text)
            self._open.add(key)
            self.cond.notify_all()

    def close(self, key: tuple[str, str, str]) -> None:
        """Mark a container's log finished (followers stop)."""
        with self.cond:
            self._logs.setdefault(key, [])
            self._open.discard(key)
            self.cond.notify_all()

    def drop_pod(self, namespace: str, pod: str) -> None:
        """Forget every log of a deleted pod."""
        with self.cond:
            for key in [k for k in self._logs if k[:2] == (namespace, pod)]:
                self._logs.pop(key, None)
                self._open.discard(key)
            self.cond.notify_all()

    def read(self, key: tuple[str, str, str], start: int = 0) -> tuple[list[str], bool]:
        """Chunks from index `start`, and whether the log is still being written."""
        with self.cond:
            return list(self._logs.get(key, [])[start:]), key in self._open

    def started(self, key: tuple[str, str, str]) -> bool:
        """Whether the container ever wrote or finished a log."""
        with self.cond:
            return key in self._logs


@dataclass
class _PodIO:
    """The PodIO a runner receives: writes go through the store and the log book."""

    store: Store
    logs: LogBook
    namespace: str
    name: str
    container: str
    cancelled: threading.Event = field(default_factory=threading.Event)
    started_at: str | None = None

    def waiting(self, reason: str, message: str = "") -> None:
        def change(pod: Obj) -> None:
            for status in pod["status"].get("containerStatuses", []):
                status["state"] = {"waiting": {"reason": reason, "message": message}}

        self.store.mutate(PODS, self.namespace, self.name, change)

    def unschedulable(self, message: str) -> None:
        stamp = timestamp(self.store.clock)

        def change(pod: Obj) -> None:
            # As the scheduler leaves a pod no node fits: no node, no container statuses, and
            # PodScheduled=False (pkg/scheduler/schedule_one.go: handleSchedulingFailure).
            pod["spec"].pop("nodeName", None)
            pod["status"] = {
                "phase": "Pending",
                "qosClass": pod["status"].get("qosClass", "BestEffort"),
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": message,
                        "lastProbeTime": None,
                        "lastTransitionTime": stamp,
                    }
                ],
            }

        self.store.mutate(PODS, self.namespace, self.name, change)

    def now(self) -> float:
        return self.store.clock()

    def running(self) -> None:
        started_at = self.started_at = timestamp(self.store.clock)
        self.logs.append((self.namespace, self.name, self.container), "")

        def change(pod: Obj) -> None:
            pod["status"]["phase"] = "Running"
            pod["status"]["startTime"] = pod["status"].get("startTime") or started_at
            pod["status"]["conditions"] = _pod_conditions(ready=True, at=started_at)
            for status in pod["status"].get("containerStatuses", []):
                status.update(
                    ready=True, started=True, state={"running": {"startedAt": started_at}}
                )

        self.store.mutate(PODS, self.namespace, self.name, change)

    def log(self, text: str, container: str | None = None) -> None:
        self.logs.append((self.namespace, self.name, container or self.container), text)

    def sleep(self, seconds: float) -> bool:
        return self.cancelled.wait(seconds)

    def lookup(self, kind: str, name: str) -> Obj | None:
        rtype = {"Secret": SECRETS, "ConfigMap": CONFIGMAPS}.get(kind)
        return self.store.find(rtype, self.namespace, name) if rtype else None


def _pod_conditions(*, ready: bool, at: str) -> list[dict[str, Any]]:
    flag = "True" if ready else "False"
    return [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": at},
        {"type": "Initialized", "status": "True", "lastTransitionTime": at},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": at},
        {"type": "Ready", "status": flag, "lastTransitionTime": at},
    ]


class JobController:
    """Reconciles Jobs: one pod at a time (parallelism 1), as migrations need."""

    def __init__(
        self,
        store: Store,
        logs: LogBook,
        runner: Callable[[], PodRunner],
        *,
        backoff_seconds: float = 0.0,
        node_name: str = "emulator-node",
    ) -> None:
        self._store = store
        self._logs = logs
        self._runner = runner
        self._backoff = backoff_seconds
        self._node = node_name
        self._ios: dict[tuple[str, str], _PodIO] = {}
        self._last_failure: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-controller", daemon=True)
        store.on_delete(self._on_delete)

    def start(self) -> None:
        """Start reconciling in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reconciling and kill every running pod."""
        self._stop.set()
        with self._store.cond:
            self._store.cond.notify_all()
            ios = list(self._ios.values())
        for io in ios:
            io.cancelled.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            # A namespace or object may vanish mid-pass; the next pass sees the new state.
            with contextlib.suppress(ApiError):
                self.reconcile_all()
            with self._store.cond:
                self._store.cond.wait(timeout=0.05)

    def reconcile_all(self) -> None:
        """One pass over every Job, and over pods created on their own (the kubelet runs them)."""
        jobs, _ = self._store.select(JOBS, None)
        pods, _ = self._store.select(PODS, None)
        for pod in pods:
            if _bare(pod) and (pod["metadata"]["namespace"], pod["metadata"]["name"]) not in (
                self._ios
            ):
                self._run_bare(pod)
        for job in jobs:
            uid = job["metadata"]["uid"]
            owned = [
                p
                for p in pods
                if (p["metadata"].get("labels") or {}).get("batch.kubernetes.io/controller-uid")
                == uid
            ]
            self._reconcile(job, owned)

    def _reconcile(self, job: Obj, pods: list[Obj]) -> None:
        """One sync of a Job, as pkg/controller/job/job_controller.go syncJob does it (1.31+).

        An outcome is first recorded as the interim FailureTarget or SuccessCriteriaMet condition
        while the pods still running are killed; Failed or Complete follows once none is
        terminating. A suspended Job has Suspended=True and no running pods; on resume the
        condition turns False and startTime restarts (activeDeadlineSeconds counts from it).
        """
        meta, spec, status = job["metadata"], job["spec"], job.get("status") or {}
        if _finished(status):
            self._collect_if_expired(job, status, self._store.clock())
            return
        if meta.get("deletionTimestamp"):
            return
        stamp = timestamp(self._store.clock)
        tally = _tally(spec, pods)
        live = tally.live
        if spec.get("suspend"):
            for pod in live:
                self._terminate(pod)
            tally = _tally(spec, self._owned(job))
            change = _status_change(stamp, tally, suspended=True)
        else:
            outcome = _interim(status) or _outcome(spec, status, tally, self._store.clock())
            if outcome is not None:
                # The controller kills the pods still running; with OnFailure that is every pod
                # left, and their logs go with them.
                for pod in pods if tally.on_failure and outcome.kind == "Failed" else live:
                    if pod["status"].get("phase") in _LIVE:
                        self._terminate(pod)
                tally = _tally(spec, self._owned(job))
            elif not live:
                self._next_attempt(job, tally.failed, self._store.clock())
                tally = _tally(spec, self._owned(job))
            change = _status_change(stamp, tally, outcome=outcome)
        self._store.mutate(JOBS, meta["namespace"], meta["name"], change)

    def _owned(self, job: Obj) -> list[Obj]:
        pods, _ = self._store.select(PODS, job["metadata"]["namespace"])
        uid = job["metadata"]["uid"]
        return [
            p
            for p in pods
            if (p["metadata"].get("labels") or {}).get("batch.kubernetes.io/controller-uid") == uid
        ]

    def _terminate(self, pod: Obj) -> None:
        """Kill a pod gracefully: it is terminating (deletionTimestamp set) until its container
        has stopped, then it goes."""
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        stamp = timestamp(self._store.clock)

        def mark(obj: Obj) -> None:
            obj["metadata"].setdefault("deletionTimestamp", stamp)
            obj["metadata"].setdefault(
                "deletionGracePeriodSeconds", obj["spec"].get("terminationGracePeriodSeconds", 30)
            )

        with self._store.cond:
            io = self._ios.get((namespace, name))
        if io is None:
            self._store.delete(PODS, namespace, name, "Background")
            return
        self._store.mutate(PODS, namespace, name, mark)
        io.cancelled.set()

    def _collect_if_expired(self, job: Obj, status: dict[str, Any], now: float) -> None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        done_at = _parse_time(status.get("completionTime")) or _parse_time(_condition_time(status))
        if ttl is not None and done_at is not None and now >= done_at + ttl:
            # As the ttlafterfinished controller does: DeletePropagationForeground (its pods go
            # first, the Job stays visible with the foregroundDeletion finalizer meanwhile).
            self._store.delete(
                JOBS, job["metadata"]["namespace"], job["metadata"]["name"], "Foreground"
            )

    def _next_attempt(self, job: Obj, failed: int, now: float) -> None:
        last = self._last_failure.get(job["metadata"]["uid"], 0.0)
        if failed and now < last + self._backoff * 2 ** (failed - 1):
            return  # Back off before the next attempt, as the controller does (10s doubling).
        self._start_pod(job)

    def _start_pod(self, job: Obj) -> Obj:
        meta, template = job["metadata"], job["spec"]["template"]
        suffix = "".join(secrets.choice(_SUFFIX) for _ in range(5))
        base = meta["name"][: 63 - 6]
        spec = dict(template["spec"])
        spec.setdefault("nodeName", self._node)
        containers = spec["containers"]
        stamp = timestamp(self._store.clock)
        annotations = dict(template.get("metadata", {}).get("annotations", {}))
        pod = {
            "metadata": {
                "name": f"{base}-{suffix}",
                "labels": dict(template.get("metadata", {}).get("labels", {})),
                # An empty map is omitted from the answer, as kube-apiserver's JSON does.
                **({"annotations": annotations} if annotations else {}),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {
                "phase": "Pending",
                "conditions": _pod_conditions(ready=False, at=stamp),
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "imageID": "",
                        "ready": False,
                        "started": False,
                        "restartCount": 0,
                        "state": {"waiting": {"reason": "ContainerCreating"}},
                    }
                    for c in containers
                ],
            },
        }
        created = self._store.create(PODS, meta["namespace"], pod)
        io = _PodIO(
            self._store,
            self._logs,
            meta["namespace"],
            created["metadata"]["name"],
            containers[0]["name"],
        )
        with self._store.cond:
            self._ios[(meta["namespace"], io.name)] = io
        threading.Thread(
            target=self._execute,
            args=(created, io, meta["uid"]),
            name=f"pod-{io.name}",
            daemon=True,
        ).start()
        return created

    def _run_bare(self, pod: Obj) -> None:
        """Schedule and run a pod no controller owns, as the scheduler and kubelet would."""
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        stamp = timestamp(self._store.clock)

        def schedule(obj: Obj) -> None:
            obj["spec"].setdefault("nodeName", self._node)
            status = obj.setdefault("status", {})
            status.setdefault("conditions", _pod_conditions(ready=False, at=stamp))
            status.setdefault(
                "containerStatuses",
                [
                    {
                        "name": c["name"],
                        "image": c.get("image", ""),
                        "imageID": "",
                        "ready": False,
                        "started": False,
                        "restartCount": 0,
                        "state": {"waiting": {"reason": "ContainerCreating"}},
                    }
                    for c in obj["spec"].get("containers", [])
                ],
            )

        scheduled = self._store.mutate(PODS, namespace, name, schedule)
        if scheduled is None:
            return
        io = _PodIO(
            self._store, self._logs, namespace, name, scheduled["spec"]["containers"][0]["name"]
        )
        with self._store.cond:
            self._ios[(namespace, name)] = io
        threading.Thread(
            target=self._execute, args=(scheduled, io, ""), name=f"pod-{name}", daemon=True
        ).start()

    def _execute(self, pod: Obj, io: _PodIO, job_uid: str) -> None:
        policy = pod["spec"].get("restartPolicy", "Always")
        while True:
            try:
                code = self._runner().run(pod, io)
            except Exception as error:
                io.log(f"emulator: pod runner failed: {type(error).__name__}: {error}\n")
                code = 128
            if code is None or io.cancelled.is_set():
                self._gone(io)
                return
            if policy == "Always" or (code != 0 and policy == "OnFailure"):
                # The kubelet restarts the container in place (after a back-off: 1 s here).
                restarted = self._store.mutate(PODS, io.namespace, io.name, _count_restart)
                if restarted is None or io.sleep(1.0 if policy == "Always" else 0.0):
                    self._gone(io)
                    return
                continue
            break
        finished = timestamp(self._store.clock)
        phase = "Succeeded" if code == 0 else "Failed"

        def change(obj: Obj) -> None:
            obj["status"]["phase"] = phase
            obj["status"]["conditions"] = _pod_conditions(ready=False, at=finished)
            for status in obj["status"].get("containerStatuses", []):
                status.update(
                    ready=False,
                    started=False,
                    state={
                        "terminated": {
                            "exitCode": code,
                            "reason": "Completed" if code == 0 else "Error",
                            "startedAt": io.started_at or finished,
                            "finishedAt": finished,
                        }
                    },
                )

        for container in pod["spec"]["containers"]:
            self._logs.close((io.namespace, io.name, container["name"]))
        if code != 0 and job_uid:
            self._last_failure[job_uid] = self._store.clock()
        self._store.mutate(PODS, io.namespace, io.name, change)
        with self._store.cond:
            self._ios.pop((io.namespace, io.name), None)

    def _gone(self, io: _PodIO) -> None:
        """A killed pod's container has stopped: a terminating pod is removed now."""
        with self._store.cond:
            self._ios.pop((io.namespace, io.name), None)
        pod = self._store.find(PODS, io.namespace, io.name)
        if pod is not None and pod["metadata"].get("deletionTimestamp"):
            with contextlib.suppress(ApiError):
                self._store.delete(PODS, io.namespace, io.name, "Background")

    def _on_delete(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype is not PODS:
            return
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        io = self._ios.pop(key, None)
        if io is not None:
            io.cancelled.set()
        self._logs.drop_pod(*key)


@dataclass(frozen=True)
class _Tally:
    """What a Job's pods add up to."""

    live: list[Obj]
    #: Pods killed whose containers have not stopped yet (deletionTimestamp set).
    terminating: int
    succeeded: int
    failed: int
    #: Failed pods, plus container restarts when pods restart in place (OnFailure).
    failures: int
    on_failure: bool


def _tally(spec: dict[str, Any], pods: list[Obj]) -> _Tally:
    running = [p for p in pods if p["status"].get("phase") in _LIVE]
    live = [p for p in running if not p["metadata"].get("deletionTimestamp")]
    succeeded = sum(1 for p in pods if p["status"].get("phase") == "Succeeded")
    failed = sum(1 for p in pods if p["status"].get("phase") == "Failed")
    restarts = sum(
        cs.get("restartCount", 0) for p in pods for cs in p["status"].get("containerStatuses", [])
    )
    on_failure = spec["template"]["spec"].get("restartPolicy") == "OnFailure"
    failures = failed + (restarts if on_failure else 0)
    return _Tally(live, len(running) - len(live), succeeded, failed, failures, on_failure)


class _Outcome(NamedTuple):
    """A Job's outcome: Failed (with reason and message) or Complete."""

    kind: str
    reason: str
    message: str

    @property
    def interim(self) -> str:
        return "FailureTarget" if self.kind == "Failed" else "SuccessCriteriaMet"


def _outcome(
    spec: dict[str, Any], status: dict[str, Any], tally: _Tally, now: float
) -> _Outcome | None:
    started = _parse_time(status.get("startTime")) or now
    deadline = spec.get("activeDeadlineSeconds")
    if tally.failures > spec.get("backoffLimit", 6):
        return _Outcome(
            "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        )
    if deadline is not None and now >= started + deadline:
        return _Outcome(
            "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
        )
    if tally.succeeded >= spec.get("completions", 1) and not tally.live:
        return _Outcome(
            "Complete", "CompletionsReached", "Reached expected number of succeeded pods"
        )
    return None


def _interim(status: dict[str, Any]) -> _Outcome | None:
    """The outcome an interim condition already holds (the terminal one copies it)."""
    for condition in status.get("conditions", []):
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "FailureTarget":
            return _Outcome("Failed", condition.get("reason", ""), condition.get("message", ""))
        if condition.get("type") == "SuccessCriteriaMet":
            return _Outcome("Complete", condition.get("reason", ""), condition.get("message", ""))
    return None


def _status_change(
    stamp: str, tally: _Tally, *, outcome: _Outcome | None = None, suspended: bool = False
) -> Callable[[Obj], None]:
    ready = sum(1 for p in tally.live if p["status"].get("phase") == "Running")

    def change(obj: Obj) -> None:
        st = obj.setdefault("status", {})
        if suspended:
            _set_condition(st, "Suspended", "True", ("JobSuspended", "Job suspended"), stamp)
        elif _set_condition(st, "Suspended", "False", ("JobResumed", "Job resumed"), stamp):
            st["startTime"] = stamp  # resumed: the deadline counts from now
        else:
            st.setdefault("startTime", stamp)
        st["active"], st["ready"], st["terminating"] = len(tally.live), ready, tally.terminating
        st["succeeded"], st["failed"] = tally.succeeded, tally.failures
        for key in ("active", "succeeded", "failed"):
            if not st[key]:
                st.pop(key)
        if outcome is not None:
            if _interim(st) is None:
                _set_condition(st, outcome.interim, "True", outcome[1:], stamp)
            elif not tally.terminating:
                _set_condition(st, outcome.kind, "True", outcome[1:], stamp)
                if outcome.kind == "Complete":
                    st["completionTime"] = stamp

    return change


def _set_condition(
    status: dict[str, Any], kind: str, flag: str, said: tuple[str, str], stamp: str
) -> bool:
    """ensureJobConditionStatus: add or update a condition with its (reason, message); a False
    one is never added. Whether it changed."""
    reason, message = said
    conditions = status.setdefault("conditions", [])
    for condition in conditions:
        if condition.get("type") == kind:
            if condition.get("status") == flag:
                return False
            condition.update(
                status=flag,
                reason=reason,
                message=message,
                lastProbeTime=stamp,
                lastTransitionTime=stamp,
            )
            return True
    if flag == "False":
        if not conditions:
            status.pop("conditions")
        return False
    conditions.append(
        {
            "type": kind,
            "status": flag,
            "reason": reason,
            "message": message,
            "lastProbeTime": stamp,
            "lastTransitionTime": stamp,
        }
    )
    return True


def _bare(pod: Obj) -> bool:
    """A pod created on its own, not yet run: no controller owns it."""
    meta = pod["metadata"]
    owned = any(ref.get("controller") for ref in meta.get("ownerReferences") or [])
    return (
        not owned
        and not meta.get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase", "Pending") == "Pending"
        and not (pod.get("status") or {}).get("containerStatuses")
    )


def _count_restart(pod: Obj) -> None:
    for status in pod["status"].get("containerStatuses", []):
        status["restartCount"] = status.get("restartCount", 0) + 1


def _finished(status: dict[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions", [])
    )


def _condition_time(status: dict[str, Any]) -> str | None:
    for c in status.get("conditions", []):
        if c.get("type") in ("Complete", "Failed"):
            return str(c.get("lastTransitionTime"))
    return None
