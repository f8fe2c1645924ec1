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


@dataclass(frozen=True)
class PodScript:
    """A scripted pod outcome: waiting forever, or running for `duration` then exiting."""

    exit_code: int = 0
    logs: str | Sequence[str] = ""
    duration: float = 0.0
    start_delay: float = 0.0
    waiting_reason: str | None = None
    waiting_message: str = ""

    def play(self, io: PodIO) -> int | None:
        """Act this script out through `io`."""
        if self.start_delay and io.sleep(self.start_delay):
            return None
        if self.waiting_reason:
            io.waiting(self.waiting_reason, self.waiting_message)
            io.cancelled.wait()
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
        return self._choose(pod).play(io)

    def _choose(self, pod: Obj) -> PodScript:
        with self._lock:
            for rule in self._rules:
                if rule.remaining != 0 and rule.matches(pod):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.script
        return self.default
