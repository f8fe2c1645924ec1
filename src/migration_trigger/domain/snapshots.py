"""A way back: a manual snapshot of the database before a guarded migration runs. Pure.

A profile with `snapshotBeforeMigration` has RDS take a manual snapshot (CreateDBSnapshot, or
CreateDBClusterSnapshot for a cluster and its member instances) once the Job may start, for the
trigger kinds whose database holds data (domain/events.py KIND_RULES `holds_data`): a database
just created or restored has nothing a migration could lose. The snapshot is named from the Job,
so a retried step finds the one it took; tagged with the database, the trigger and the Job; and
waited for, bounded. After a success, older snapshots this product took of that database (its
name prefix and its database tag, both) are deleted beyond the profile's `keepSnapshots`.

Identifier rules (RDS API reference, CreateDBSnapshot and CreateDBClusterSnapshot): letters,
digits and hyphens, a letter first, no two hyphens in a row, no hyphen last; up to 255 characters
for an instance's snapshot, 63 for a cluster's. Statuses: DBSnapshot.Status and
DBClusterSnapshot.Status (creating, available, failed, ...).
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

from migration_trigger.domain.database import DatabaseFacts

#: Every snapshot this product takes is named so: the IAM policy's resources, and the pruning.
PREFIX = "migration-trigger-"
#: Tags on each snapshot: which database, trigger and Job it was taken for.
DATABASE_TAG = "migration-trigger:database"
TRIGGER_TAG = "migration-trigger:trigger"
JOB_TAG = "migration-trigger:job"
#: A cluster snapshot's identifier may be 63 characters long: kept for both kinds.
MAX_NAME = 63
#: Statuses after which a snapshot will never become available.
FAILED_STATUSES = frozenset({"failed", "deleted", "unavailable", "incompatible-restore"})


class Target(NamedTuple):
    """What RDS snapshots for a database: the instance, or the cluster (of a member too)."""

    kind: str  # instance | cluster
    identifier: str
    database_arn: str


def target(facts: DatabaseFacts) -> Target:
    """An Aurora or Multi-AZ cluster's member is snapshotted through its cluster (RDS refuses an
    instance snapshot of a cluster member: "use CreateDBClusterSnapshot")."""
    if facts.kind == "cluster":
        return Target("cluster", facts.identifier, facts.arn)
    if facts.cluster:
        return Target("cluster", facts.cluster, facts.arn)
    return Target("instance", facts.identifier, facts.arn)


def snapshot_name(job: str, execution: str) -> str:
    """The snapshot's identifier, from the Job's name and the execution: the same for every
    replay and retried step, another for the same request sent again (its Job has the same
    name, and must not take the earlier, older snapshot for its own)."""
    clean = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", job.lower())).strip("-")
    digest = hashlib.sha256(f"{job}|{execution}".encode()).hexdigest()[:8]
    return f"{PREFIX}{clean[: MAX_NAME - len(PREFIX) - 9].rstrip('-')}-{digest}"


def snapshot_tags(database_arn: str, trigger: str, job: str) -> dict[str, str]:
    """The tags a snapshot is taken with."""
    return {DATABASE_TAG: database_arn, TRIGGER_TAG: trigger, JOB_TAG: job}


class Snapshot(NamedTuple):
    """A manual snapshot as RDS describes it."""

    identifier: str
    status: str
    #: SnapshotCreateTime, epoch seconds (0 while RDS has not said).
    created: float
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def available(self) -> bool:
        """Whether it can be restored from."""
        return self.status == "available"

    @property
    def failed(self) -> bool:
        """Whether it will never become available."""
        return self.status in FAILED_STATUSES


def ours(snapshot: Snapshot, database_arn: str) -> bool:
    """Whether this product took the snapshot of this database: its name's prefix and its
    database tag, both (a snapshot someone else named so, or another database's, is not)."""
    return (
        snapshot.identifier.startswith(PREFIX)
        and dict(snapshot.tags).get(DATABASE_TAG) == database_arn
    )


def to_prune(snapshots: list[Snapshot], *, database_arn: str, keep: int, current: str) -> list[str]:
    """The identifiers to delete after a success: this product's available snapshots of the
    database beyond the `keep` newest, the one just taken always kept, and its failed ones (they
    restore nothing, and count against the account's quota); never one still being made."""
    mine = [s for s in snapshots if ours(s, database_arn) and s.identifier != current]
    available = sorted((s for s in mine if s.available), key=lambda s: s.created, reverse=True)
    failed = [s for s in mine if s.failed]
    return [s.identifier for s in available[keep - 1 :] + failed]
