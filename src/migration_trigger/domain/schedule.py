"""When the flow checks, and what a profile's waits cost: seconds and durable operations.

A durable execution may run at most its `DurableConfig.ExecutionTimeout` and perform at most
3,000 operations, each step and each wait one ("Monitoring durable functions":
DurableExecutionOperations, max 3,000). The flow's waits follow the schedule below, so what a
profile can cost is known when the profiles are loaded, and a profile that cannot fit is refused
then, not hours into a migration.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.queueing import QUEUE_SETTLE_SECONDS

#: Seconds between database status checks while it is being created or restored.
AVAILABLE_POLL_SECONDS = 30
#: How long a wait (for the Job, or for the Jobs ahead of it) is checked every pollSeconds.
EARLY_SECONDS = 600
#: The pause between checks after that: short migrations are noticed fast, long ones cheaply.
LATE_POLL_SECONDS = 60
#: Kubernetes counts a Job's deadline only once it runs: the flow stops following this much later.
BACKSTOP_SECONDS = 600
#: Seconds of waiting between two reads of a running Job's log tail, kept as evidence.
EVIDENCE_SECONDS = 300
#: Operations a profile may need at most: the quota is 3,000, the rest is headroom.
MAX_OPERATIONS = 2500


def poll_pause(profile: Profile, waited: int) -> int:
    """Seconds before the next check, `waited` seconds into a wait: pollSeconds, then 60."""
    return pause_after(profile.poll_seconds, waited)


def pause_after(poll_seconds: int, waited: int) -> int:
    """The poll schedule for a profile's pollSeconds (poll_pause)."""
    if waited < EARLY_SECONDS:
        return poll_seconds
    return max(poll_seconds, LATE_POLL_SECONDS)


def follow_limit(profile: Profile) -> int:
    """Seconds after its start past which a Job is no longer followed: its deadline (which
    Kubernetes counts only once it runs) and the backstop."""
    return profile.active_deadline_seconds + BACKSTOP_SECONDS


def checks_within(profile: Profile, seconds: int) -> tuple[int, int]:
    """(checks, seconds waited) of a wait that lasts at least `seconds` on the poll schedule."""
    checks, waited = 0, 0
    while waited < seconds:
        waited += poll_pause(profile, waited)
        checks += 1
    return checks, waited


def available_checks(profile: Profile) -> int:
    """Status checks while waiting for the database, at most."""
    return math.ceil(profile.wait_for_available_seconds / AVAILABLE_POLL_SECONDS)


class Cost(NamedTuple):
    """The most one migration of a profile can take."""

    seconds: int
    operations: int


def worst_case(profile: Profile, *, notifiers: int = 1) -> Cost:
    """Every wait at its limit, step by step as flow.py and its stages take them: resolve, the
    database's checks, the settle pause, create-job, queue-settle, the queue's checks, start-job,
    the Job's checks to its backstop, collect-logs, stop-job, report, and per notifier a notify
    step and, if it fails, its notify-failed step."""
    available = available_checks(profile)
    queued, queue_seconds = checks_within(profile, profile.queue_timeout_seconds)
    running, run_seconds = checks_within(profile, follow_limit(profile))
    seconds = (
        available * AVAILABLE_POLL_SECONDS
        + profile.rotation_settle_seconds
        + QUEUE_SETTLE_SECONDS
        + queue_seconds
        + run_seconds
    )
    operations = (
        1  # resolve
        + 2 * available  # database-available-n, database-status-n
        + 1  # rotation-settle
        + 1  # create-job
        + 1  # queue-settle
        + 2 * queued
        + 1  # queue-n, queued-n: one more check than waits
        + 1  # start-job
        + 2 * running  # running-n, check-n
        + 2  # collect-logs, stop-job
        + report_operations(notifiers)
    )
    return Cost(seconds, operations)


def report_operations(notifiers: int) -> int:
    """The report step, and per notifier a notify step and, if it fails, its notify-failed."""
    return 1 + 2 * notifiers


def refusal(profile: Profile, *, execution_timeout: int, notifiers: int = 1) -> str | None:
    """Why a profile cannot fit in one durable execution, with the arithmetic; None if it can."""
    cost = worst_case(profile, notifiers=notifiers)
    if cost.seconds > execution_timeout:
        return (
            f"profile '{profile.name}': its waits can last {cost.seconds}s "
            f"(waitForAvailableSeconds {profile.wait_for_available_seconds} + "
            f"rotationSettleSeconds {profile.rotation_settle_seconds} + queueTimeoutSeconds "
            f"{profile.queue_timeout_seconds} + activeDeadlineSeconds "
            f"{profile.active_deadline_seconds} + {BACKSTOP_SECONDS} of backstop, each rounded "
            f"up to its poll schedule), more than the execution timeout of {execution_timeout}s"
        )
    if cost.operations > MAX_OPERATIONS:
        return (
            f"profile '{profile.name}': its checks can take {cost.operations} durable operations "
            f"(at most {MAX_OPERATIONS} of the 3,000 an execution may perform): raise "
            f"pollSeconds ({profile.poll_seconds}) or shorten waitForAvailableSeconds, "
            "queueTimeoutSeconds or activeDeadlineSeconds"
        )
    return None
