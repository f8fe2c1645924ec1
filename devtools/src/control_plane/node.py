"""A node for the real control plane: a small stand-in for the kubelet.

It registers a Node the scheduler can bind pods to, runs each pod bound to it with a pod runner
(kube_emulator/pods.py: scripted, processes, or containers), reports what happens through
`pods/status` as the kubelet does (pkg/kubelet/status/status_manager.go: container states
waiting, running and terminated, the pod's phase and conditions), removes a pod the apiserver
marked for deletion once its containers stopped (a delete with grace period 0, as the status
manager does), and serves `/containerLogs/<namespace>/<pod>/<container>` over TLS, so
`pods/log` goes through the real apiserver (pkg/kubelet/server/server.go).

Pods are found by polling the apiserver (list with `spec.nodeName`), every POLL_SECONDS.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from control_plane.admin import AdminClient, AdminError
from control_plane.pki import Authority
from control_plane.serving import LoopbackTlsServer
from kube_emulator.pods import PodRunner

Obj = dict[str, Any]
NAME = "migration-node"
POLL_SECONDS = 0.2


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions(*, ready: bool, at: str) -> list[Obj]:
    flag = "True" if ready else "False"
    return [
        {"type": kind, "status": status, "lastTransitionTime": at, "lastProbeTime": None}
        for kind, status in (
            ("PodScheduled", "True"),
            ("Initialized", "True"),
            ("ContainersReady", flag),
            ("Ready", flag),
        )
    ]


class _Logs:
    """What each container wrote, kept after it ended (the kubelet keeps the last run's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: dict[tuple[str, str, str], list[str]] = {}

    def append(self, key: tuple[str, str, str], text: str) -> None:
        with self._lock:
            self._text.setdefault(key, []).append(text)

    def read(self, key: tuple[str, str, str]) -> str | None:
        with self._lock:
            parts = self._text.get(key)
            return None if parts is None else "".join(parts)


@dataclass
class _PodIO:
    """The PodIO a runner receives: each report is a `pods/status` write."""

    node: Node
    pod: Obj
    container: str
    cancelled: threading.Event = field(default_factory=threading.Event)
    started_at: str | None = None

    @property
    def path(self) -> str:
        meta = self.pod["metadata"]
        return f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"

    def _containers(self, state: Obj, *, ready: bool = False) -> list[Obj]:
        return [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": ready,
                "started": "running" in state,
                "restartCount": 0,
                "state": state,
            }
            for c in self.pod["spec"]["containers"]
        ]

    def report(self, status: Obj) -> None:
        # The pod may be gone already, or the apiserver briefly unreachable: the next report
        # (or the next sync) says where the pod is.
        with contextlib.suppress(Exception):
            self.node.admin.patch_status(self.path, status)

    def waiting(self, reason: str, message: str = "") -> None:
        waiting: Obj = {"reason": reason}
        if message:
            waiting["message"] = message
        self.report({"containerStatuses": self._containers({"waiting": waiting})})

    def unschedulable(self, message: str) -> None:
        # The real scheduler decides that here: a pod bound to this node was schedulable.
        self.waiting("ContainerCreating", message)

    def now(self) -> float:
        return time.time() + self.node.clock_offset

    def running(self) -> None:
        self.started_at = _now()
        self.node.logs.append(self._key(self.container), "")
        self.report(
            {
                "phase": "Running",
                "conditions": _conditions(ready=True, at=self.started_at),
                "containerStatuses": self._containers(
                    {"running": {"startedAt": self.started_at}}, ready=True
                ),
            }
        )

    def log(self, text: str, container: str | None = None) -> None:
        self.node.logs.append(self._key(container or self.container), text)

    def sleep(self, seconds: float) -> bool:
        return self.cancelled.wait(seconds)

    def lookup(self, kind: str, name: str) -> Obj | None:
        plural = {"Secret": "secrets", "ConfigMap": "configmaps"}.get(kind)
        if plural is None:
            return None
        namespace = self.pod["metadata"]["namespace"]
        try:
            return self.node.admin.get(f"/api/v1/namespaces/{namespace}/{plural}/{name}")
        except AdminError:
            return None

    def finish(self, code: int) -> None:
        at = _now()
        terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": self.started_at or at,
            "finishedAt": at,
        }
        self.report(
            {
                "phase": "Succeeded" if code == 0 else "Failed",
                "conditions": _conditions(ready=False, at=at),
                "containerStatuses": self._containers({"terminated": terminated}),
            }
        )

    def _key(self, container: str) -> tuple[str, str, str]:
        meta = self.pod["metadata"]
        return (meta["namespace"], meta["name"], container)


class Node:
    """Start with `start()`; `stop()` kills the pods it runs and stops serving."""

    def __init__(
        self, admin: AdminClient, authority: Authority, runner: PodRunner, name: str = NAME
    ) -> None:
        self.admin = admin
        self.runner = runner
        self.name = name
        self.logs = _Logs()
        self._running: dict[str, _PodIO] = {}
        self._pods: list[threading.Thread] = []
        self.last_sync_error: str | None = None
        #: Seconds the kubelet's own timers (image pull back-off, a waiting reason's duration)
        #: are moved ahead; the control plane's clocks are real and cannot be moved.
        self.clock_offset = 0.0
        self._done: set[str] = set()
        self._stop = threading.Event()
        self._server = LoopbackTlsServer(authority, f"kubelet-{name}", _log_handler(self.logs))
        self.port = self._server.port
        self._syncing = threading.Thread(target=self._loop, name="kubelet-sync", daemon=True)

    def advance_clock(self, seconds: float) -> None:
        """Move the kubelet's timers forward (the pods' scripts see it at their next tick)."""
        self.clock_offset += seconds

    def start(self) -> Node:
        """Register the Node, then serve logs and sync pods."""
        self.admin.create("/api/v1/nodes", self._manifest())
        self.admin.patch_status(f"/api/v1/nodes/{self.name}", self._manifest()["status"])
        # The TaintNodesByCondition admission plugin taints every new node not-ready; the node
        # lifecycle controller lifts it once the node reports Ready. That controller also
        # expects heartbeats (Leases) this stand-in does not send, so the taint is lifted here.
        self.admin.patch(f"/api/v1/nodes/{self.name}", {"spec": {"taints": None}})
        self._server.start()
        self._syncing.start()
        return self

    def stop(self) -> None:
        """Kill every pod it runs; stop syncing and serving."""
        self._stop.set()
        self._syncing.join(timeout=5)
        for io in list(self._running.values()):
            io.cancelled.set()
        # A runner stops its process or container once cancelled: none outlives the node.
        for thread in self._pods:
            thread.join(timeout=15)
        self._server.stop()

    def _manifest(self) -> Obj:
        at = _now()
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
            "status": {
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": at,
                        "lastTransitionTime": at,
                    }
                ],
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": self.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "v1.36.3",
                    "kubeProxyVersion": "",
                    "containerRuntimeVersion": "migration-trigger://stand-in",
                    "osImage": "",
                    "kernelVersion": "",
                    "bootID": "",
                    "machineID": "",
                    "systemUUID": "",
                },
            },
        }

    # -- syncing pods --------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                pods = self.admin.get(
                    "/api/v1/pods", fieldSelector=f"spec.nodeName={self.name}"
                ).get("items", [])
                for pod in pods:
                    self._sync(pod)
            except Exception as error:
                # Kept for a person debugging a test; a lost request is not the node's end.
                self.last_sync_error = f"{type(error).__name__}: {error}"

    def _sync(self, pod: Obj) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        io = self._running.get(uid)
        if meta.get("deletionTimestamp"):
            if io is not None:
                io.cancelled.set()  # the runner's thread removes the pod once it stopped
            else:
                self._remove(pod)
            return
        if io is not None or uid in self._done:
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self._done.add(uid)
            return
        io = _PodIO(self, pod, pod["spec"]["containers"][0]["name"])
        self._running[uid] = io
        self._pods = [t for t in self._pods if t.is_alive()]
        io.report(
            {
                "phase": "Pending",
                "hostIP": "127.0.0.1",
                "podIP": "127.0.0.1",
                "startTime": _now(),
                "conditions": _conditions(ready=False, at=_now()),
                "containerStatuses": io._containers({"waiting": {"reason": "ContainerCreating"}}),
            }
        )
        threading.Thread(
            target=self._run, args=(io,), name=f"pod-{meta['name']}", daemon=True
        ).start()

    def _run(self, io: _PodIO) -> None:
        uid = io.pod["metadata"]["uid"]
        try:
            code = self.runner.run(io.pod, io)
        except Exception as error:
            io.log(f"node: pod runner failed: {type(error).__name__}: {error}\n")
            code = 128
        self._running.pop(uid, None)
        self._done.add(uid)
        if code is None or io.cancelled.is_set():
            self._remove(io.pod)
            return
        io.finish(code)

    def _remove(self, pod: Obj) -> None:
        """A pod marked for deletion whose containers have stopped: gone now (grace 0, only
        the pod that was seen: its uid as a precondition)."""
        meta = pod["metadata"]
        with contextlib.suppress(Exception):  # gone already, or the next sync tries again
            self.admin.delete(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}},
            )


def _log_handler(logs: _Logs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            parts = parsed.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "containerLogs":
                self._send(404, b"not found", "text/plain")
                return
            text = logs.read((parts[1], parts[2], parts[3]))
            if text is None:
                message = f'container "{parts[3]}" in pod "{parts[2]}" is waiting to start'
                self._send(400, json.dumps({"message": message}).encode(), "application/json")
                return
            query = urllib.parse.parse_qs(parsed.query)
            if "tailLines" in query:
                lines = text.splitlines(keepends=True)
                keep = int(query["tailLines"][0])
                text = "".join(lines[-keep:]) if keep else ""
            self._send(200, text.encode(), "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
