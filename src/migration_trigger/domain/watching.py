"""How a started Job is followed: when to check it next, when to read its log tail, when a pod
that has not started is stuck, and when to stop following. Pure; the watch stage does the I/O.

The kubelet reports `ErrImagePull` for any failed pull, transient ones included, then
`ImagePullBackOff` while it waits 10 s, 20 s, 40 s... up to 5 minutes before the next attempt
(pkg/kubelet/images/image_manager.go: EnsureImageExists; pkg/kubelet/kubelet.go:
imageBackOffPeriod 10 s, MaxImageBackOff 300 s, doubled by flowcontrol.Backoff.Next), and
`CreateContainerConfigError` or `CreateContainerError` for conditions that clear by themselves
(domain/jobstate.py). So such a hold is only taken as final once it has lasted
PERSIST_GRACE_SECONDS of checks, naming the kubelet's message; a first pod that has not started
within startTimeoutSeconds is stuck too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from migration_trigger.domain.jobstate import Hold, JobPhase, JobState
from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.schedule import RUNNING

#: The kubelet's image pull back-off: 10 s (imageBackOffPeriod) doubled after each failed pull,
#: at most 300 s (MaxImageBackOff), pkg/kubelet/kubelet.go.
IMAGE_BACKOFF_SECONDS, MAX_IMAGE_BACKOFF_SECONDS = 10, 300
#: Retries the kubelet gets before a hold is final.
PERSIST_RETRIES = 5
#: Seconds of checks a pull or create error must last to be final: the kubelet's first
#: PERSIST_RETRIES retries after it (10 + 20 + 40 + 80 + 160 = 310 s of back-off) fall within them.
PERSIST_GRACE_SECONDS = sum(
    min(IMAGE_BACKOFF_SECONDS * 2**attempt, MAX_IMAGE_BACKOFF_SECONDS)
    for attempt in range(PERSIST_RETRIES)
)


#: Seconds of waiting between two reads of a running Job's log tail, kept as evidence.
EVIDENCE_SECONDS = 300
#: What a started Job is taken for before its first check.
STARTED = JobState(JobPhase.RUNNING, "the migration is running")


@dataclass(frozen=True)
class Watch:
    """The watch policy, and what earlier checks of a started Job tell the next one: since when
    its pod has failed to pull its image or create its container, what held the pod that never
    started, when its log tail was last read, how long it has gone unseen. Pure; rebuilt on
    every replay from the checkpointed observations."""

    start_timeout: int
    #: Seconds after the start past which the Job is no longer followed (schedule.RUNNING's).
    limit: int = 0
    failing_since: int | None = None
    held: str | None = None
    #: Seconds waited when the log tail was last read.
    read_at: int = 0
    #: Seconds of waiting since the Job was last seen (checks whose retries were spent).
    unseen: int = 0
    #: The last state seen.
    last: JobState = STARTED

    @classmethod
    def of(cls, profile: Profile) -> Watch:
        """The watch of a Job of this profile, before its first check."""
        return cls(profile.start_timeout_seconds, RUNNING.limit(profile))

    def reads_tail(self, check: int, waited: int) -> tuple[Watch, bool]:
        """Whether check number `check` reads the running pod's log tail: the second check, then
        one every EVIDENCE_SECONDS of waiting."""
        read = check == 1 or (check > 1 and waited - self.read_at >= EVIDENCE_SECONDS)
        return (replace(self, read_at=waited) if read else self), read

    def unseen_for(self, pause: int, waited: int, error: str) -> tuple[Watch, JobState | None]:
        """A check that could not see the Job (its retries spent) after a pause of `pause`:
        following goes on (None) until the limit has passed, then the Job is taken as timed out."""
        watch = replace(self, unseen=self.unseen + pause)
        if waited <= self.limit:
            return watch, None
        reason = (
            f"the Job could not be checked for {watch.unseen}s of waiting, until its deadline "
            f"had passed: {error}"
        )
        return watch, JobState(JobPhase.TIMED_OUT, reason, self.last.pod)

    def observe(self, state: JobState, waited: int, elapsed: float) -> tuple[Watch, JobState]:
        """Judge a check's observation, `elapsed` seconds after the start by the clock: see()
        it, then stop following a Job still running past the limit."""
        watch, state = replace(self, unseen=0).see(state, waited)
        watch = replace(watch, last=state)
        if state.finished or elapsed <= self.limit:
            return watch, state
        reason = f"the Job did not finish within {self.limit}s"
        return watch.see(JobState(JobPhase.TIMED_OUT, reason, state.pod), waited)

    def see(self, state: JobState, waited: int) -> tuple[Watch, JobState]:
        """Judge an observation made `waited` seconds of checks after the start."""
        if state.finished:
            if state.phase is JobPhase.TIMED_OUT and self.held:
                state = state._replace(reason=f"{state.reason}; its pod never started: {self.held}")
            return self, state
        failing = state.hold in (Hold.IMAGE_PULL, Hold.CREATE_ERROR)
        since = (
            (self.failing_since if self.failing_since is not None else waited) if failing else None
        )
        held = None
        if state.hold and not state.ran_before:
            # A pod's own hold says more than "no pod" (seen as a killed pod goes).
            held = self.held if state.pod is None and self.held else state.reason
        watch = replace(self, failing_since=since, held=held)
        if since is not None and waited - since >= PERSIST_GRACE_SECONDS:
            reason = f"{state.reason} (for {waited - since}s of checks)"
            return watch, state._replace(phase=JobPhase.STUCK, reason=reason)
        if state.hold and not state.ran_before and waited >= self.start_timeout:
            reason = (
                f"{state.reason}; the pod did not start within startTimeoutSeconds "
                f"({self.start_timeout}s)"
            )
            return watch, state._replace(phase=JobPhase.STUCK, reason=reason)
        return watch, state
