"""Guard: what must hold before a Job that has its turn may start. Today the profile's run
window (domain/windows.py): outside it, the execution waits durably, at no cost, until it opens."""

from __future__ import annotations

from migration_trigger.domain.jobspec import JobPlan
from migration_trigger.domain.result import Status
from migration_trigger.domain.schedule import WINDOW, Gate
from migration_trigger.ports import Services
from migration_trigger.records import Refused, WindowCheck
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


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (window_check,)
