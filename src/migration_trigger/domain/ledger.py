"""The migration ledger: what each result leaves behind about its database, and what the ledger
says of a database. Pure: the DynamoDB adapter (adapters/ledger.py) stores these records as
they are.

One item per database holds its standing: the latest result of each trigger kind and the last
successful migration (the image it ran). Each result also leaves one history item, which expires
after the deployment's history days (DynamoDB's TTL). Nothing here holds a credential: a result
document never does (its log tail is masked before it is made), and the standing leaves even the
log tail out.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, NamedTuple

from migration_trigger.domain.events import parse_rds_arn
from migration_trigger.domain.result import Result, Status

#: The statuses of results about a Job of their own (Entry.decided).
DECIDED = frozenset(
    {
        Status.SUCCEEDED,
        Status.FAILED,
        Status.TIMED_OUT,
        Status.DECLINED,
        Status.UP_TO_DATE,
        Status.PENDING,
    }
)
#: The trigger of a check's results (domain/events.py TriggerKind.CHECK).
CHECK = "check"
#: Days a result's history item is kept (its `expires_at`, DynamoDB's TTL attribute).
DEFAULT_HISTORY_DAYS = 90
#: The fields of a result the standing keeps for each trigger kind (the history keeps them all).
STANDING_FIELDS = (
    "status",
    "reason",
    "trigger",
    "event_id",
    "profile",
    "job",
    "duration_seconds",
    "image",
    "image_ref",
    "approved_by",
    "snapshot",
)


class Entry(NamedTuple):
    """A result as the ledger holds it: about which database, of which trigger, when, by which
    execution, and the result document itself."""

    database: str
    trigger: str
    at: float
    execution: str
    status: str
    job: str | None
    image: str | None
    document: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        """A migration that ran and succeeded: the database stands at its image."""
        return self.status == Status.SUCCEEDED and self.job is not None

    @property
    def decided(self) -> bool:
        """A result about a Job of its own: it ran (or was refused a start, `declined`). Only
        these stand as the latest of their kind; the rest (skipped, ignored, duplicate, a
        report of an ended execution) are history only, and never hide what ran."""
        return self.job is not None and self.status in DECIDED

    def summary(self) -> dict[str, Any]:
        """What the database's standing keeps of it (no log tail), with when and by whom."""
        kept = {k: self.document[k] for k in STANDING_FIELDS if self.document.get(k) is not None}
        own = {"status": self.status, "trigger": self.trigger, "job": self.job, "image": self.image}
        own = {k: v for k, v in own.items() if v is not None}
        return {**kept, **own, "at": self.at, "execution": self.execution}


def entry(result: Result, *, at: float, execution: str) -> Entry | None:
    """The ledger's entry for a result about a database; None for a result about none (an event
    ignored or rejected before a database was known, or named by a reference, not an ARN)."""
    if result.database is None or parse_rds_arn(result.database) is None:
        return None
    return Entry(
        database=result.database,
        trigger=result.trigger or "unknown",
        at=at,
        execution=execution,
        status=str(result.status),
        job=result.job,
        image=result.image,
        document=result.to_dict(),
    )


def digest_of(image: str | None) -> str | None:
    """The digest an image reference names (`…@sha256:…`), if it names one."""
    return image.rsplit("@", 1)[1] if image and "@" in image else None


def epoch(moment: str) -> float | None:
    """Epoch seconds of an ISO 8601 time as RDS and boto3 give it; None if it is not one."""
    try:
        parsed = datetime.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


class Run(NamedTuple):
    """One result as a database's standing recalls it."""

    status: str
    at: float
    trigger: str
    job: str | None = None
    image: str | None = None
    reason: str = ""
    execution: str = ""
    #: How long its Job ran (seconds), when it ran one.
    duration: float | None = None
    #: The image as the profile named it, when `image` is that image pinned by digest.
    image_ref: str | None = None

    @property
    def named_image(self) -> str | None:
        """The image as its profile named it (by tag, even if it ran by digest)."""
        return self.image_ref or self.image

    @classmethod
    def of(cls, summary: dict[str, Any]) -> Run:
        """From a standing's stored summary (Entry.summary)."""
        duration = summary.get("duration_seconds")
        return cls(
            status=str(summary.get("status", "")),
            at=float(summary.get("at", 0)),
            trigger=str(summary.get("trigger", "")),
            job=summary.get("job"),
            image=summary.get("image"),
            reason=str(summary.get("reason", "")),
            execution=str(summary.get("execution", "")),
            duration=float(duration) if isinstance(duration, int | float) else None,
            image_ref=summary.get("image_ref"),
        )


class Standing(NamedTuple):
    """What the ledger says of one database."""

    database: str
    #: The latest result of each trigger kind.
    latest: dict[str, Run]
    #: The last migration that succeeded (what the database's schema is at).
    success: Run | None = None
    #: The creation time (as RDS gives it) of the database that took the name by a Blue/Green
    #: switchover (domain/bluegreen.py): it continues the history recorded under the name.
    switched: str | None = None

    @property
    def last(self) -> Run | None:
        """The latest result of any kind."""
        return max(self.latest.values(), key=lambda run: run.at, default=None)

    def migrated_since(self, moment: float) -> bool:
        """Whether a migration Job ran for the database at or after `moment` (epoch seconds),
        whatever its outcome (a check applies nothing: it is no migration)."""
        runs = [*self._migrations(), *([self.success] if self.success else [])]
        return any(run.at >= moment for run in runs)

    def migrated_since_creation(self, created: str) -> bool:
        """Whether a migration Job ran since the database under the name was created (`created`,
        as RDS gives it). A database that took the name by a switchover is the blue one to the
        ledger: any migration recorded under the name counts."""
        if self.switched is not None and self.switched == created:
            return self.last_migration() is not None or self.success is not None
        moment = epoch(created)
        return moment is not None and self.migrated_since(moment)

    def last_migration(self) -> Run | None:
        """The latest result that ran a migration Job."""
        return max(self._migrations(), key=lambda run: run.at, default=None)

    @property
    def checked(self) -> Run | None:
        """The latest check's result (up_to_date, pending, failed), if one ran."""
        return self.latest.get(CHECK)

    def _migrations(self) -> list[Run]:
        return [r for kind, r in self.latest.items() if r.job is not None and kind != CHECK]


def standing(database: str, stored: dict[str, str]) -> Standing:
    """A database's standing from its stored summaries: `latest:<trigger>` and `success`, each a
    JSON summary (Entry.summary)."""
    latest = {
        key.split(":", 1)[1]: Run.of(json.loads(value))
        for key, value in stored.items()
        if key.startswith("latest:")
    }
    success = Run.of(json.loads(stored["success"])) if "success" in stored else None
    return Standing(database, latest, success, stored.get("switched"))
