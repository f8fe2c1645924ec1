"""Blue/Green deployments (domain/bluegreen.py): a migration of a database on either side of a
deployment waits, durably, until the deployment switched over or was deleted, then is resolved
again; a switchover is noted in the ledger, so the database now under the name is never taken
for a new one."""

from __future__ import annotations

from functools import partial

from migration_trigger.domain import bluegreen
from migration_trigger.domain.events import SwitchedOver, Trigger
from migration_trigger.domain.result import Result, Status
from migration_trigger.domain.schedule import BLUE_GREEN, SWITCHED
from migration_trigger.ports import Services
from migration_trigger.records import BlueGreenHold, Declined, Resolved, Switched
from migration_trigger.stages import resolve
from migration_trigger.steps import Poll, Steps


def holding(database: str, awaited: str | None, services: Services) -> BlueGreenHold:
    """The deployment, not switched over, that holds the database's migration (None: none):
    domain/bluegreen.holding."""
    held = bluegreen.holding(services.rds.blue_green(), database, awaited)
    return BlueGreenHold(held.identifier, held.status) if held else BlueGreenHold(None)


def wait_out(
    trigger: Trigger, resolved: Resolved, steps: Steps, services: Services
) -> Resolved | Declined | Result:
    """Wait (checked every 5 minutes, at most waitForBlueGreenSeconds) until no deployment holds
    the database, then resolve `trigger` again: after a switchover the name is the green
    database's, with its own endpoint and perhaps its own secret. A timed-out result if the
    deployment outlasts the wait: nothing ran. (The resolve may choose another profile, if the
    tags changed meanwhile: its waits then follow that profile's keys.)"""
    profile, facts = resolved.profile, resolved.facts
    arn = facts.arn
    held = BlueGreenHold(resolved.blue_green)
    poll = Poll.along(steps, BLUE_GREEN, profile)
    limit = BLUE_GREEN.limit(profile)
    services.log.info(
        "waiting for the database's Blue/Green deployment",
        database=facts.arn,
        deployment=held.deployment,
        seconds=limit,
    )
    while held.deployment is not None:
        if poll.waited >= limit:
            status = f", {held.status}" if held.status else ""
            # 0: set so, or all the execution timeout leaves it (settings.py: fitted).
            return resolved.result(
                Status.TIMED_OUT,
                f"{facts.identifier} is held by Blue/Green deployment {held.deployment} (not "
                f"switched over{status}) after {poll.waited}s (waitForBlueGreenSeconds "
                f"{limit}): nothing was run, as schema changes on either side can break its "
                "replication; once it is switched over or deleted, send a manual request",
            )
        poll.pause()
        look = partial(holding, arn, held.deployment, services)
        held = steps.step(f"{BLUE_GREEN.check}-{poll.waits}", look)
    again = steps.step("resolve-after-blue-green", lambda: resolve.resolve(trigger, services))
    if isinstance(again, Resolved) and again.blue_green is not None:
        return again.result(
            Status.TIMED_OUT,
            f"{again.facts.identifier} is held by Blue/Green deployment {again.blue_green}, "
            f"begun as deployment {resolved.blue_green} ended: nothing was run; once it is "
            "switched over or deleted, send a manual request",
        )
    return again


def switched(deployment: str, services: Services) -> Switched:
    """Note in the ledger that the database now answering under the blue database's name took it
    by `deployment`'s switchover (domain/ledger.Standing.switched)."""
    found = [d for d in services.rds.blue_green() if d.identifier == deployment]
    if not found:
        return Switched(f"Blue/Green deployment {deployment} is no longer listed: nothing noted")
    if not found[0].switched:
        return Switched(
            f"Blue/Green deployment {deployment} is {found[0].status}, not switched over: "
            "nothing noted"
        )
    target = found[0].target
    facts = services.rds.describe(target)
    if services.settings.PROFILE_TAG_KEY not in facts.tags:
        return Switched(f"{facts.identifier} is not opted in: nothing noted", target)
    if services.ledger is None:
        return Switched(f"{facts.identifier} switched over; this deployment has no ledger", target)
    services.ledger.switched(target, facts.created, deployment)
    return Switched(
        f"Blue/Green deployment {deployment} switched over: {facts.identifier} (created "
        f"{facts.created}) continues the migrations recorded under its name; nothing to run",
        target,
    )


def switched_over(event: SwitchedOver, steps: Steps, services: Services) -> Result:
    """A switchover's event: noted (a `switchover` step), reported as ignored: nothing runs."""
    noted = steps.step(SWITCHED.name, lambda: switched(event.deployment, services))
    return Result(Status.IGNORED, noted.reason, event_id=event.event_id, database=noted.database)


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (holding, switched)
