"""Guard: what must hold before a Job that has its turn may start, in order: the profile's run
window (domain/windows.py: outside it, the execution waits durably, at no cost, until it opens);
then, on the first attempt, a person's approval (stages/approval.py), the window again if it
closed meanwhile, and a snapshot (stages/snapshot.py)."""

from __future__ import annotations

from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.jobspec import JobPlan
from migration_trigger.domain.result import Status
from migration_trigger.domain.schedule import WINDOW, WINDOW_AGAIN, Gate
from migration_trigger.ports import Services
from migration_trigger.records import Refused, SnapshotCheck, WindowCheck
from migration_trigger.stages import approval, snapshot
from migration_trigger.steps import Steps


def window_check(plan: JobPlan, services: Services) -> WindowCheck:
    """Whether the run window is open now, or how long until it opens."""
    window = plan.profile.window
    now = services.clock()
    return WindowCheck(opens_in=window.opens_in(now) if window else 0, at=now)


def wait_for_window(
    plan: JobPlan, steps: Steps, services: Services, gate: Gate = WINDOW
) -> Refused | None:
    """Wait, durably, until the profile's run window is open; None once it is. A window still
    closed after the gate's checks (a clock that disagrees with the waits) refuses the start.
    The gate names the steps: WINDOW once the Job has its turn, WINDOW_AGAIN after an approval."""
    window = plan.profile.window
    if window is None:
        return None
    for n in range(gate.checks):
        check = steps.step(f"{gate.check}-{n}", lambda: window_check(plan, services))
        if not check.opens_in:
            return None
        if n + 1 == gate.checks:
            break
        services.log.info(
            "waiting for the profile's run window to open",
            job=plan.name,
            window=window.describe(),
            seconds=check.opens_in,
        )
        steps.wait(f"{gate.wait}-{n}", check.opens_in)
    return Refused(
        Status.FAILED,
        f"the run window ({window.describe()}) was still closed after waiting for it to open "
        f"(it opens in {check.opens_in}s): the Job was deleted and nothing ran. "
        "Check the function's clock and the window's time zone",
    )


def clear_to_start(
    plan: JobPlan,
    facts: DatabaseFacts,
    steps: Steps,
    services: Services,
    *,
    first: bool,
    approved: str | None = None,
) -> Refused | dict[str, str]:
    """Wait for what must hold before the Job starts: why it must not, or what the result says
    of the guards (who approved and when, the Job's fingerprint and image, the snapshot). A later
    attempt of a retry checks the window, and that its Job is the one `approved` (a fingerprint):
    it runs after the first attempt's approval and snapshot."""
    closed = wait_for_window(plan, steps, services)
    if closed is not None or not first:
        if closed is None and approved:
            return approval.same_as_approved(plan, approved, steps, services) or {}
        return closed or {}
    judged = approval.wait_for_approval(plan, steps, services)
    if isinstance(judged, Refused):
        return judged
    if judged is not None:
        closed = wait_for_window(plan, steps, services, WINDOW_AGAIN)
        if closed is not None:
            return closed
    fields = approval.approved_fields(judged, plan)
    taken = snapshot.before_migrating(plan, facts, steps, services)
    if isinstance(taken, Refused):
        return taken
    if isinstance(taken, SnapshotCheck):
        fields["snapshot"] = taken.identifier
        return window_after_snapshot(plan, taken, steps, services) or fields
    if taken is not None:
        fields["snapshot"] = taken
    return fields


def window_after_snapshot(
    plan: JobPlan, taken: SnapshotCheck, steps: Steps, services: Services
) -> Refused | None:
    """The window once more, after a snapshot: one that closed while RDS took it fails the
    migration, unstarted (waiting for the next opening would start it after a stale snapshot)."""
    window = plan.profile.window
    if window is None:
        return None
    check = steps.step(WINDOW_SNAPSHOTTED, lambda: window_check(plan, services))
    if not check.opens_in:
        return None
    return Refused(
        Status.FAILED,
        f"the run window ({window.describe()}) closed while the snapshot {taken.identifier} was "
        "taken: the Job was deleted and nothing ran; the snapshot stays. Request the migration "
        "again, or raise the window's length over the snapshot's time",
    )


#: The step that checks the window after a snapshot (schedule.STORY).
WINDOW_SNAPSHOTTED = "window-snapshotted"

#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (window_check,)
