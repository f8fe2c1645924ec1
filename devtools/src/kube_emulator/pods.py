"""What a pod does: the runner interface the Job controller calls, and a scripted runner."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Obj = dict[str, Any]


class PodIO(Protocol):
    """What a runner may do to the pod it runs: report state, write the log, read its config."""

    cancelled: threading.Event

    def waiting(self, reason: str, message: str = "") -> None:
        """Hold the container waiting (ImagePullBackOff, CreateContainerConfigError, ...)."""

    def unschedulable(self, message: str) -> None:
        """Hold the pod Pending on no node: PodScheduled=False, reason Unschedulable."""

    def now(self) -> float:
        """The emulator's clock (which tests can advance)."""

    def running(self) -> None:
        """Mark the container started and the pod Running."""

    def log(self, text: str, container: str | None = None) -> None:
        """Append text to the container's log (the first container by default)."""

    def sleep(self, seconds: float) -> bool:
        """Sleep, returning True early if the pod was killed meanwhile."""

    def lookup(self, kind: str, name: str) -> Obj | None:
        """A ConfigMap or Secret in the pod's namespace, for resolving env and volumes."""


class PodRunner(Protocol):
    """Runs one pod to completion; returns the exit code, or None if killed before it ended."""

    def run(self, pod: Obj, io: PodIO) -> int | None:
        """Run `pod`, reporting through `io`."""


#: The kubelet's image pull back-off: 10 s after the first failure, doubling, at most 5 minutes
#: (pkg/kubelet/kubelet.go: imageBackOffPeriod, MaxImageBackOff).
PULL_BACKOFF_SECONDS = 10.0
PULL_BACKOFF_MAX_SECONDS = 300.0


@dataclass(frozen=True)
class PodScript:
    """A scripted pod outcome: waiting forever, or running for `duration` then exiting.

    Before it runs, a pod can be unschedulable (forever: `unschedulable` is the scheduler's
    message), or fail to pull its image: `pull_error` is the registry's answer, repeated for
    `pull_failures` attempts (None: every attempt), each followed by the kubelet's back-off on the
    emulator's clock, shown as ImagePullBackOff. `waiting_reason` shows the container waiting
    for `waiting_seconds` of the emulator's clock (None: forever), then it runs: the kubelet's
    CreateContainerConfigError for a Secret its cache has not synced yet clears that way.
    """

    exit_code: int = 0
    logs: str | Sequence[str] = ""
    duration: float = 0.0
    start_delay: float = 0.0
    waiting_reason: str | None = None
    waiting_message: str = ""
    waiting_seconds: float | None = None
    unschedulable: str | None = None
    pull_error: str | None = None
    pull_failures: int | None = None

    def play(self, io: PodIO, image: str = "") -> int | None:
        """Act this script out through `io`."""
        if self.start_delay and io.sleep(self.start_delay):
            return None
        if self.unschedulable is not None:
            io.unschedulable(self.unschedulable)
            io.cancelled.wait()
            return None
        if self.pull_error is not None and not self._pull(io, image):
            return None
        if self.waiting_reason and not self._wait(io):
            return None
        io.running()
        lines = (
            self.logs.splitlines(keepends=True) if isinstance(self.logs, str) else list(self.logs)
        )
        pause = self.duration / len(lines) if lines else self.duration
        for line in lines:
            io.log(line if line.endswith("\n") else f"{line}\n")
            if pause and io.sleep(pause):
                return None
        if not lines and pause and io.sleep(pause):
            return None
        return self.exit_code

    def _wait(self, io: PodIO) -> bool:
        """Show the waiting reason for `waiting_seconds` (forever if None); False if killed."""
        io.waiting(self.waiting_reason or "", self.waiting_message)
        if self.waiting_seconds is None:
            io.cancelled.wait()
            return False
        until = io.now() + self.waiting_seconds
        while io.now() < until:
            if io.sleep(0.02):
                return False
        return True

    def _pull(self, io: PodIO, image: str) -> bool:
        """Fail the pulls this script fails, as the kubelet reports them; False if killed."""
        attempt = 0
        while self.pull_failures is None or attempt < self.pull_failures:
            io.waiting(
                "ErrImagePull",
                f'failed to pull and unpack image "{image}": {self.pull_error}',
            )
            if io.sleep(0.05):
                return False
            backoff = min(PULL_BACKOFF_SECONDS * 2**attempt, PULL_BACKOFF_MAX_SECONDS)
            until = io.now() + backoff
            io.waiting("ImagePullBackOff", f'Back-off pulling image "{image}"')
            while io.now() < until:
                if io.sleep(0.02):
                    return False
            attempt += 1
        return True


Matcher = Callable[[Obj], bool]


@dataclass
class _Rule:
    matches: Matcher
    script: PodScript
    remaining: int | None


@dataclass
class ScriptedRunner:
    """Plays the first matching script for each pod; the default succeeds at once with no log."""

    default: PodScript = field(default_factory=PodScript)
    _rules: list[_Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def when(
        self,
        script: PodScript,
        *,
        job_name: str | None = None,
        image: str | None = None,
        match: Matcher | None = None,
        times: int | None = None,
    ) -> None:
        """Use `script` for pods of this Job / image / predicate, for the next `times` pods."""

        def matches(pod: Obj) -> bool:
            labels = pod["metadata"].get("labels") or {}
            images = [c.get("image") for c in pod["spec"].get("containers", [])]
            return (
                (job_name is None or labels.get("job-name") == job_name)
                and (image is None or image in images)
                and (match is None or match(pod))
            )

        with self._lock:
            self._rules.append(_Rule(matches, script, times))

    def reset(self) -> None:
        """Forget every rule."""
        with self._lock:
            self._rules.clear()

    def run(self, pod: Obj, io: PodIO) -> int | None:
        """Play the script chosen for `pod`."""
        images = [c.get("image", "") for c in pod["spec"].get("containers", [])]
        return self._choose(pod).play(io, images[0] if images else "")

    def _choose(self, pod: Obj) -> PodScript:
        with self._lock:
            for rule in self._rules:
                if rule.remaining != 0 and rule.matches(pod):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.script
        return self.default
