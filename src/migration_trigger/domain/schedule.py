"""When the story checks, and what a profile's waits cost: seconds and durable operations.

A durable execution may run at most its `DurableConfig.ExecutionTimeout` and perform at most
3,000 operations, each step and each wait one ("Monitoring durable functions":
DurableExecutionOperations, max 3,000). STORY below lists every operation the story takes for an
event, with the schedule of its loops; the stages take their loops' names, pauses and limits
from it, and the cost model is computed from it. So what a profile can cost is known when the
profiles are loaded, and a profile that cannot fit is refused then, not hours into a migration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.queueing import QUEUE_SETTLE_SECONDS
from migration_trigger.domain.windows import longest_wait

#: Seconds between database status checks while it is being created or restored.
AVAILABLE_POLL_SECONDS = 30
#: How long a wait (for the Job, or for the Jobs ahead of it) is checked every pollSeconds.
EARLY_SECONDS = 600
#: The pause between checks after that: short migrations are noticed fast, long ones cheaply.
LATE_POLL_SECONDS = 60
#: Kubernetes counts a Job's deadline only once it runs: the flow stops following this much later.
BACKSTOP_SECONDS = 600
#: Operations a profile may need at most: the quota is 3,000, the rest is headroom.
MAX_OPERATIONS = 2500


def poll_pause(profile: Profile, waited: int) -> int:
    """Seconds before the next check, `waited` seconds into a wait: pollSeconds, then 60."""
    if waited < EARLY_SECONDS:
        return profile.poll_seconds
    return max(profile.poll_seconds, LATE_POLL_SECONDS)


#: A watch that knows how long the database's migrations take (a profile's watchFromLedger)
#: checks as usual until EARLY_SECONDS (a pod that cannot start, or fails at once, is noticed as
#: fast as ever), then pauses at most this long until EXPECTED_SHARE of that duration.
LONG_PAUSE_SECONDS = 900
EXPECTED_SHARE = 0.8


def watch_pause(profile: Profile, expected: float | None, waited: int) -> int:
    """Seconds before the next check of a running Job, `waited` seconds into its watch, when
    its migration is expected to run `expected` seconds (None: not known)."""
    usual = poll_pause(profile, waited)
    if expected is None or waited < EARLY_SECONDS:
        return usual
    quiet_until = int(expected * EXPECTED_SHARE)
    if waited + usual >= quiet_until:
        return usual
    return min(LONG_PAUSE_SECONDS, quiet_until - waited)


def follow_limit(profile: Profile) -> int:
    """Seconds after its start past which a Job is no longer followed: its deadline (which
    Kubernetes counts only once it runs) and the backstop."""
    return profile.active_deadline_seconds + BACKSTOP_SECONDS


#: Seconds between looks at a Blue/Green deployment a migration waits for: green copies take
#: minutes to hours to create, and a switchover is a person's decision.
BLUE_GREEN_POLL_SECONDS = 300


def blue_green_pause(profile: Profile, waited: int) -> int:
    """Seconds before the next look at the Blue/Green deployment a migration waits for: 300, the
    last pause ending at waitForBlueGreenSeconds."""
    return min(BLUE_GREEN_POLL_SECONDS, max(1, profile.wait_for_blue_green_seconds - waited))


def database_pause(profile: Profile, waited: int) -> int:
    """Seconds before the next status check of a database not yet available: 30, the last pause
    ending at waitForAvailableSeconds."""
    return min(AVAILABLE_POLL_SECONDS, max(1, profile.wait_for_available_seconds - waited))


# -- the story's schedule: what flow.py and its stages take, step by step ---------------------


class Cost(NamedTuple):
    """What one migration of a profile takes: seconds of waiting, durable operations."""

    seconds: int
    operations: int


class Step(NamedTuple):
    """A step the story takes at most once per event."""

    name: str
    #: Taken by every migration that runs (not only on some paths).
    always: bool = True
    #: The profiles that may take it (None: every profile).
    applies: Callable[[Profile], bool] | None = None

    def cost(self, profile: Profile, *, runs_for: int | None, notifiers: int) -> Cost:
        """Its cost at worst (`runs_for` None), or in a migration running `runs_for` seconds
        with nothing in its way."""
        if self.applies is not None and not self.applies(profile):
            return Cost(0, 0)
        return Cost(0, 1 if runs_for is None or self.always else 0)

    def names(self) -> set[str]:
        """The names of its operations."""
        return {self.name}


class Pause(NamedTuple):
    """A durable wait the story takes at most once per event."""

    name: str
    seconds: Callable[[Profile], int]
    always: bool = True

    def cost(self, profile: Profile, *, runs_for: int | None, notifiers: int) -> Cost:
        """As Step.cost."""
        taken = runs_for is None or self.always
        return Cost(self.seconds(profile), 1) if taken else Cost(0, 0)

    def names(self) -> set[str]:
        """The names of its operations."""
        return {self.name}


class Loop(NamedTuple):
    """A loop of the story: a check step and a durable wait, repeated on a schedule until the
    thing checked is ready or the limit has passed. Its steps are named `<check>-<n>`, its
    waits `<wait>-<n>` (steps.Poll)."""

    check: str
    wait: str
    #: Seconds before the next check, so many seconds into the loop.
    pause: Callable[[Profile, int], int]
    #: Seconds of waiting after which the loop gives up.
    limit: Callable[[Profile], int]
    #: Whether it checks once before its first wait (and so once more than it waits).
    checks_first: bool
    #: Whether it waits when nothing holds it up (the running Job's checks: always).
    always: bool
    #: Whether it gives up only once its limit has passed (waited > limit), not at it.
    overruns: bool = False

    def waits(self, profile: Profile, seconds: int, *, past: bool = False) -> tuple[int, int]:
        """(waits, seconds waited) of the loop until it has waited `seconds` (or more than
        that, if `past`)."""
        count, waited = 0, 0
        while waited < seconds or (past and waited == seconds):
            waited += self.pause(profile, waited)
            count += 1
        return count, waited

    def cost(self, profile: Profile, *, runs_for: int | None, notifiers: int) -> Cost:
        """At worst, to its limit; otherwise until what it waits for ended `runs_for` seconds
        in (if it waits when nothing holds it up), or one look."""
        first = 1 if self.checks_first else 0
        if runs_for is not None and not self.always:
            return Cost(0, first)
        if runs_for is None:
            waits, waited = self.waits(profile, self.limit(profile), past=self.overruns)
        else:
            waits, waited = self.waits(profile, runs_for)
        return Cost(waited, 2 * waits + first)

    def names(self) -> set[str]:
        """The names of its operations, without their `-<n>`."""
        return {self.check, self.wait}


class Gate(NamedTuple):
    """A check, and a wait for as long as it says, repeated until it says go, at most `checks`
    times; taken only by profiles it applies to (the run window). Its steps are named
    `<check>-<n>`, its waits `<wait>-<n>`."""

    check: str
    wait: str
    checks: int
    #: The longest it may make a profile's migration wait in all (0: the profile has none).
    longest: Callable[[Profile], int]

    def cost(self, profile: Profile, *, runs_for: int | None, notifiers: int) -> Cost:
        """At worst, every check and a wait between each two, the first as long as it can be;
        otherwise (it says go at once) one look, for a profile it applies to."""
        longest = self.longest(profile)
        if not longest:
            return Cost(0, 0)
        if runs_for is not None:
            return Cost(0, 1)
        return Cost(longest, 2 * self.checks - 1)

    def names(self) -> set[str]:
        """The names of its operations, without their `-<n>`."""
        return {self.check, self.wait}


class Ask(NamedTuple):
    """A person's approval, for profiles that ask for it: before the Job is created the step
    `<pin>` (an image in Amazon ECR pinned to its digest); once the Job may start, a durable
    callback `<callback>-<n>` with its request step `<callback>-<n>-request` and the step
    `<answer>-<n>` reading its answer, at most `checks` times (an answer approving another
    Job asks again), within the profile's approval.timeoutSeconds in all."""

    pin: str
    callback: str
    answer: str
    checks: int

    def cost(self, profile: Profile, *, runs_for: int | None, notifiers: int) -> Cost:
        """At worst every request, the last answered as the timeout ends; otherwise one,
        answered at once."""
        if profile.approval is None:
            return Cost(0, 0)
        if runs_for is not None:
            return Cost(0, 4)
        return Cost(profile.approval.timeout_seconds, 1 + 3 * self.checks)

    def names(self) -> set[str]:
        """The names of its operations, without their `-<n>`."""
        return {self.pin, self.callback, f"{self.callback}-request", self.answer}


class Snap(NamedTuple):
    """A snapshot before migrating, for profiles that take one: the step `<take>`, then the
    loop's checks until it is available (at most snapshotTimeoutSeconds), and after a success
    the step `<prune>`."""

    take: str
    prune: str
    loop: Loop

    def cost(self, profile: Profile, *, runs_for: int | None, notifiers: int) -> Cost:
        """At worst every check to the timeout; otherwise taken, one wait and look (RDS answers
        CreateDBSnapshot with `creating`), and pruned."""
        if not profile.snapshot_before_migration:
            return Cost(0, 0)
        if runs_for is not None:
            return Cost(self.loop.pause(profile, 0), 4)
        waits, waited = self.loop.waits(profile, self.loop.limit(profile))
        return Cost(waited, 2 + 2 * waits)

    def names(self) -> set[str]:
        """The names of its operations, without their `-<n>`."""
        return {self.take, self.prune} | self.loop.names()


def snapshot_pause(profile: Profile, waited: int) -> int:
    """Seconds before the next look at a snapshot being created: 30, then 60 after ten minutes,
    the last pause ending at snapshotTimeoutSeconds."""
    pause = AVAILABLE_POLL_SECONDS if waited < EARLY_SECONDS else LATE_POLL_SECONDS
    return min(pause, max(1, profile.snapshot_timeout_seconds - waited))


class Attempts(NamedTuple):
    """What a migration takes once per attempt, and between two attempts a durable pause
    (`retry-<n>`), as often as the profile's `retry` allows; the steps of attempt n > 1 are named
    `attempt-<n>/…`."""

    each: tuple[Step | Pause | Loop | Gate, ...]
    wait: str = "retry"

    def cost(self, profile: Profile, *, runs_for: int | None, notifiers: int) -> Cost:
        """At worst, every attempt taken in full; otherwise one."""
        costs = [e.cost(profile, runs_for=runs_for, notifiers=notifiers) for e in self.each]
        once = Cost(sum(c.seconds for c in costs), sum(c.operations for c in costs))
        if runs_for is not None or profile.retry is None:
            return once
        count, delay = profile.retry.attempts, profile.retry.delay_seconds
        return Cost(count * once.seconds + (count - 1) * delay, count * once.operations + count - 1)

    def names(self) -> set[str]:
        """The names of its operations, without their `-<n>` or their attempt's prefix."""
        return {self.wait}.union(*(entry.names() for entry in self.each))


class Notify(NamedTuple):
    """Per notifier, a notify step and, if it fails (at worst), its notify-failed step."""

    name: str = "notify"

    def cost(self, profile: Profile, *, runs_for: int | None, notifiers: int) -> Cost:
        """As Step.cost."""
        return Cost(0, (2 if runs_for is None else 1) * notifiers)

    def names(self) -> set[str]:
        """The names of its operations, without the notifier's index."""
        return {self.name, f"{self.name}-failed"}


#: The database's Blue/Green deployment, looked at until it switched over or was deleted
#: (stages/bluegreen.py); then the trigger is resolved again.
BLUE_GREEN = Loop(
    "blue-green",
    "blue-green-in-progress",
    blue_green_pause,
    lambda p: p.wait_for_blue_green_seconds,
    checks_first=False,
    always=False,
)
#: The database's status checks while it is created or restored (stages/resolve.py).
DATABASE = Loop(
    "database-status",
    "database-available",
    database_pause,
    lambda p: p.wait_for_available_seconds,
    checks_first=False,
    always=False,
)
#: The Job's turn: the database's earlier Jobs, checked until none is left (stages/queue.py).
QUEUE = Loop(
    "queue",
    "queued",
    poll_pause,
    lambda p: p.queue_timeout_seconds,
    checks_first=True,
    always=False,
)
#: The running Job, checked until it ends, is stuck or overruns (stages/watch.py).
RUNNING = Loop(
    "check", "running", poll_pause, follow_limit, checks_first=False, always=True, overruns=True
)

#: The profile's run window, once the Job has its turn (stages/guard.py).
WINDOW = Gate("window", "window-closed", 3, lambda p: longest_wait(p.window))

#: A person's approval of the Job, once it may start (stages/approval.py).
APPROVAL = Ask("pin-image", "approval", "approval-answer", 3)
#: The run window again, after an approval that came once it had closed (stages/guard.py).
WINDOW_AGAIN = Gate(
    "window-approved",
    "window-approved-closed",
    3,
    lambda p: longest_wait(p.window) if p.approval is not None else 0,
)

#: A snapshot before the Job starts, and the older ones pruned after a success (stages/snapshot.py).
SNAPSHOT = Snap(
    "snapshot",
    "prune-snapshots",
    Loop(
        "snapshot-status",
        "snapshot-creating",
        snapshot_pause,
        lambda p: p.snapshot_timeout_seconds,
        checks_first=False,
        always=False,
    ),
)

#: Every operation the story can take for one event, in order (flow.py), each at most as often as
#: its entry says. The cost model is computed from it; tests/unit/test_replay.py checks that
#: every operation of every recorded history is one of these, within its cost.
STORY: tuple[Step | Pause | Loop | Gate | Ask | Snap | Attempts | Notify, ...] = (
    Step("resolve"),
    BLUE_GREEN,
    Step("resolve-after-blue-green", always=False),
    DATABASE,
    Pause("rotation-settle", lambda p: p.rotation_settle_seconds, always=False),
    # Taken once, by the first attempt: later attempts run the Job already approved, after the
    # same snapshot.
    APPROVAL,
    WINDOW_AGAIN,
    SNAPSHOT,
    # The run window, once more, after a snapshot (closed: the migration fails, unstarted).
    Step(
        "window-snapshotted",
        always=False,
        applies=lambda p: p.window is not None and p.snapshot_before_migration,
    ),
    Attempts(
        (
            Step("create-job"),
            Pause("queue-settle", lambda p: QUEUE_SETTLE_SECONDS),
            QUEUE,
            WINDOW,
            # A later attempt's Job checked against the one approved.
            Step(
                "approved-job",
                always=False,
                applies=lambda p: p.approval is not None and p.retry is not None,
            ),
            Step("start-job"),
            RUNNING,
            Step("collect-logs"),
            Step("stop-job", always=False),
            Step("clean-up", always=False),
        )
    ),
    Step("report"),
    Notify(),
)


def _total(profile: Profile, *, runs_for: int | None, notifiers: int) -> Cost:
    costs = [e.cost(profile, runs_for=runs_for, notifiers=notifiers) for e in STORY]
    return Cost(sum(c.seconds for c in costs), sum(c.operations for c in costs))


def worst_case(profile: Profile, *, notifiers: int = 1) -> Cost:
    """Every entry of STORY taken, every loop to its limit, every notification failed."""
    return _total(profile, runs_for=None, notifiers=notifiers)


def usual_case(profile: Profile, *, runs_for: int, notifiers: int = 1) -> Cost:
    """A migration whose Job runs `runs_for` seconds with nothing else in its way: its database
    available, no Job ahead, every notification delivered."""
    return _total(profile, runs_for=runs_for, notifiers=notifiers)


#: What an event that is no migration takes: an execution's end, looked up in Lambda
#: (stages/aftermath.py), or a Blue/Green switchover, noted in the ledger (stages/bluegreen.py);
#: then reported (the report and notify steps of STORY).
ENDED = Step("ended-execution")
SWITCHED = Step("switchover")


#: What the reconciliation sweep takes (stages/sweep.py): its look (or, if it could not, why),
#: its log line and metrics, and, if it started something, found a database it cannot migrate
#: or could not sweep, its announcement.
SWEEP = (
    Step("sweep"),
    Step("sweep-failed", always=False),
    Step("sweep-report"),
    Step("sweep-notify", always=False),
    Step("sweep-notify-failed", always=False),
)


def operation_names() -> frozenset[str]:
    """The names STORY (and ENDED, SWITCHED, SWEEP) give their operations, without a loop's
    `-<n>` or a notifier's index."""
    return frozenset(name for entry in (*STORY, ENDED, SWITCHED, *SWEEP) for name in entry.names())


def report_operations(notifiers: int) -> int:
    """The report step, and per notifier a notify step and, if it fails, its notify-failed."""
    return 1 + 2 * notifiers


def refusal(profile: Profile, *, execution_timeout: int, notifiers: int = 1) -> str | None:
    """Why a profile cannot fit in one durable execution, with the arithmetic; None if it can."""
    cost = worst_case(profile, notifiers=notifiers)
    longest = longest_wait(profile.window)
    more = f", + {longest} waiting for its run window" if longest else ""
    if profile.snapshot_before_migration:
        more += f", + {profile.snapshot_timeout_seconds} waiting for its snapshot"
    if profile.approval is not None:
        more += f", + {profile.approval.timeout_seconds} waiting for approval"
        more += f" and {longest} for its run window again" if longest else ""
    if profile.retry is not None:
        more += (
            f"; from the Job's creation on, {profile.retry.attempts} times (its retry's "
            f"attempts) with {profile.retry.delay_seconds}s between two"
        )
    if cost.seconds > execution_timeout:
        return (
            f"profile '{profile.name}': its waits can last {cost.seconds}s "
            f"(waitForBlueGreenSeconds {profile.wait_for_blue_green_seconds} + "
            f"waitForAvailableSeconds {profile.wait_for_available_seconds} + "
            f"rotationSettleSeconds {profile.rotation_settle_seconds} + queueTimeoutSeconds "
            f"{profile.queue_timeout_seconds} + activeDeadlineSeconds "
            f"{profile.active_deadline_seconds} + {BACKSTOP_SECONDS} of backstop, each rounded "
            f"up to its poll schedule{more}), more than the execution timeout of "
            f"{execution_timeout}s"
        )
    if cost.operations > MAX_OPERATIONS:
        return (
            f"profile '{profile.name}': its checks can take {cost.operations} durable operations "
            f"(at most {MAX_OPERATIONS} of the 3,000 an execution may perform): raise "
            f"pollSeconds ({profile.poll_seconds}) or shorten waitForBlueGreenSeconds, "
            "waitForAvailableSeconds, "
            "queueTimeoutSeconds or activeDeadlineSeconds"
            + (f", or lower retry.attempts ({profile.retry.attempts})" if profile.retry else "")
        )
    return None


def fitted(profile: Profile, *, execution_timeout: int, notifiers: int = 1) -> Profile:
    """A profile that leaves waitForBlueGreenSeconds to its default, with that wait shortened
    (by whole looks, 300 s each) as far as its other waits need to fit one execution: a
    deployment whose profiles fitted before the key existed still fits. Unchanged if it fits,
    or if no wait short enough makes it fit (refusal says why)."""
    if refusal(profile, execution_timeout=execution_timeout, notifiers=notifiers) is None:
        return profile
    seconds = profile.wait_for_blue_green_seconds - BLUE_GREEN_POLL_SECONDS
    while seconds >= 0:
        shorter = profile._replace(wait_for_blue_green_seconds=seconds)
        if refusal(shorter, execution_timeout=execution_timeout, notifiers=notifiers) is None:
            return shorter
        seconds -= BLUE_GREEN_POLL_SECONDS
    return profile
