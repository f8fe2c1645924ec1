"""Snapshot: a way back before a guarded migration runs (domain/snapshots.py).

Once the Job may start (its turn, its window, its approval), a profile with
snapshotBeforeMigration has RDS take a manual snapshot of the database, if the trigger's database
holds data, and waits durably until it is available: a failed or overdue snapshot ends the
migration as failed, its Job never started. After a success, this product's older snapshots of
the database beyond keepSnapshots are deleted.
"""

from __future__ import annotations

from functools import partial

from migration_trigger.domain import snapshots
from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.jobspec import JobPlan
from migration_trigger.domain.result import Status
from migration_trigger.domain.schedule import SNAPSHOT
from migration_trigger.errors import ConfigurationError, MigrationTriggerError
from migration_trigger.ports import Services, Snapshots
from migration_trigger.records import Pruned, Refused, SnapshotCheck
from migration_trigger.steps import Poll, Steps


def rds(services: Services) -> Snapshots:
    """Where the snapshots are taken; a deployment without it cannot snapshot."""
    if services.snapshots is None:
        raise ConfigurationError("no RDS client to take snapshots with")
    return services.snapshots


def take(plan: JobPlan, facts: DatabaseFacts, services: Services) -> SnapshotCheck:
    """Have RDS take the snapshot (step `snapshot`): named from the Job, tagged."""
    target = snapshots.target(facts)
    name = snapshots.snapshot_name(plan.name, plan.execution)
    tags = snapshots.snapshot_tags(plan.database_arn, str(plan.trigger.kind), plan.name)
    taken = rds(services).take(target, name, tags)
    services.log.info(
        "took a snapshot before migrating",
        job=plan.name,
        snapshot=taken.identifier,
        status=taken.status,
    )
    return SnapshotCheck(taken.identifier, taken.status, services.clock())


def check(plan: JobPlan, facts: DatabaseFacts, name: str, services: Services) -> SnapshotCheck:
    """How the snapshot stands now (step `snapshot-status-N`)."""
    found = rds(services).find(snapshots.target(facts), name)
    return SnapshotCheck(found.identifier, found.status, services.clock())


def before_migrating(
    plan: JobPlan, facts: DatabaseFacts, steps: Steps, services: Services
) -> SnapshotCheck | Refused | str | None:
    """The available snapshot; `skipped: …` for a trigger whose database holds no data yet;
    None for a profile that takes none; or why the Job must not start."""
    profile = plan.profile
    if not profile.snapshot_before_migration:
        return None
    if not plan.trigger.rule.holds_data:
        return (
            f"skipped: a database just created or restored ({plan.trigger.kind}) holds no data "
            "a migration could lose"
        )
    state = steps.step(SNAPSHOT.take, lambda: take(plan, facts, services))
    poll = Poll.along(steps, SNAPSHOT.loop, profile)
    while state.status != "available":
        if state.status in snapshots.FAILED_STATUSES:
            return Refused(
                Status.FAILED,
                f"the snapshot {state.identifier} taken before migrating is {state.status}: "
                "the Job was deleted and nothing ran",
            )
        if poll.waited >= profile.snapshot_timeout_seconds:
            return Refused(
                Status.FAILED,
                f"the snapshot {state.identifier} was not available within "
                f"{profile.snapshot_timeout_seconds}s (the profile's snapshotTimeoutSeconds; "
                f"it is {state.status}): the Job was deleted and nothing ran; RDS goes on "
                "taking the snapshot",
            )
        poll.pause()
        state = steps.step(
            f"{SNAPSHOT.loop.check}-{poll.waits - 1}",
            partial(check, plan, facts, state.identifier, services),
        )
    return state


def prune(plan: JobPlan, facts: DatabaseFacts, current: str, services: Services) -> Pruned:
    """Delete this product's older snapshots of the database beyond keepSnapshots (step
    `prune-snapshots`); a snapshot that cannot be deleted is reported, not fatal."""
    target = snapshots.target(facts)
    names = snapshots.to_prune(
        rds(services).taken(target),
        database_arn=plan.database_arn,
        keep=plan.profile.keep_snapshots,
        current=current,
    )
    deleted, errors = [], []
    for name in names:
        try:
            rds(services).delete(target, name)
            deleted.append(name)
        except MigrationTriggerError as error:
            errors.append(str(error))
    if deleted or errors:
        services.log.info("pruned older snapshots", deleted=deleted, errors=errors)
    return Pruned(tuple(deleted), "; ".join(errors) or None)


def after_success(
    plan: JobPlan, facts: DatabaseFacts, taken: str, steps: Steps, services: Services
) -> None:
    """After a success with a snapshot, the older ones beyond keepSnapshots are deleted (step
    `prune-snapshots`); a failure to is a warning, not the migration's."""
    if taken.startswith("skipped"):
        return
    try:
        steps.step(SNAPSHOT.prune, lambda: prune(plan, facts, taken, services))
    except MigrationTriggerError as error:
        services.log.warning("could not prune older snapshots", error=str(error))


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (take, check, prune)
