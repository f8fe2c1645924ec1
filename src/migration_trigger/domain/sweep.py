"""The reconciliation sweep's judgement of each opted-in database: up to date, or behind and why,
and the migration request that would bring it up. Pure: the stage (stages/sweep.py) lists the
databases, reads the ledger and sends the requests.

RDS delivers events best effort, and a function that was broken for an hour missed that hour's.
The sweep looks at what is there instead of what was announced:
- a database created or restored (a restore is a new database: RDS restores into a new instance
  or cluster) while the ledger was there to see it, with no migration since: a creation missed.
  Its request is keyed by the database and its creation time, as the creation's own events are
  (domain/decision.keyed_by_database), so the sweep, a late event and a redelivery converge on one
  Job: whichever comes second is a `duplicate`;
- a database whose latest migration failed or timed out, if its profile's `sweep.retryFailed`;
- a database whose last successful migration ran another image than its profile names now
  (`sweep.onImageChange`: `migrate`, or `report` only);
- a database never migrated since before the ledger existed: reported, never started (the
  deployment cannot know what ran before it, and a first sweep must not start a whole fleet).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, NamedTuple

from migration_trigger.domain.database import AVAILABLE, DatabaseFacts
from migration_trigger.domain.events import MISSED_CREATION, MISSED_PREFIX, Trigger, TriggerKind
from migration_trigger.domain.jobspec import job_name, utc_iso
from migration_trigger.domain.ledger import Standing, epoch
from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.result import Status

#: The reason a sweep's requests give (detail.reason), before what it found.
REASON_PREFIX = "reconciliation sweep"
#: The trigger kinds of a database's creation or restore: RDS's list cannot tell them apart.
CREATIONS = frozenset({TriggerKind.DB_CREATED, TriggerKind.DB_RESTORED})
#: Findings a sweep result lists by name (the counts cover them all).
LISTED = 100


class Finding(StrEnum):
    """What the sweep found of one database."""

    UP_TO_DATE = "up_to_date"
    MISSED = "missed_creation"
    PENDING = "pending"
    FAILED = "failed"
    IMAGE_CHANGED = "image_changed"
    NEVER_MIGRATED = "never_migrated"
    UNAVAILABLE = "unavailable"
    CANNOT_MIGRATE = "cannot_migrate"


class Request(NamedTuple):
    """A migration request the sweep sends (a `Migration Requested` event on the requests bus)."""

    database: str
    request_id: str
    reason: str
    #: For a missed creation: the trigger it stands for and the creation time it claims.
    missed: tuple[str, str] | None = None
    #: `migrate`, or `check` (the profile's checkCommand: nothing applied).
    mode: str = "migrate"

    def detail(self) -> dict[str, Any]:
        """The event's detail, as a manual request's (domain/events.py)."""
        detail: dict[str, Any] = {
            "database": self.database,
            "reason": self.reason[:256],
            "requestId": self.request_id,
        }
        if self.missed is not None:
            detail[MISSED_CREATION] = {"trigger": self.missed[0], "created": self.missed[1]}
        if self.mode != "migrate":
            detail["mode"] = self.mode
        return detail


class Assessed(NamedTuple):
    """One database as the sweep judged it."""

    database: str
    identifier: str
    finding: Finding
    why: str
    profile: str | None = None
    #: The request that brings it up to date, where the sweep may send one.
    request: Request | None = None

    def line(self) -> str:
        """`<identifier>: <why>`, for the sweep's result and notification."""
        return f"{self.identifier}: {self.why}"


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Judge(NamedTuple):
    """One database under judgement, and how findings about it are made."""

    facts: DatabaseFacts
    profile: Profile
    standing: Standing

    def found(self, finding: Finding, why: str, request: Request | None = None) -> Assessed:
        facts = self.facts
        return Assessed(facts.arn, facts.identifier, finding, why, self.profile.name, request)

    def by_request(self, finding: Finding, why: str, request_id: str) -> Assessed:
        """A finding a manual request brings up to date, if the profile takes manual ones, and
        unless that very request ran and failed, timed out or was declined: the sweep sends
        each of its requests until it ran, never again after (a person decides then)."""
        if TriggerKind.MANUAL not in self.profile.triggers:
            why = f"{why}; profile '{self.profile.name}' does not run on manual requests"
            return self.found(Finding.CANNOT_MIGRATE, why)
        job = job_name(self.facts.arn, f"manual|{request_id}")
        ended = [r for r in self.standing.latest.values() if r.job == job]
        if ended and ended[0].status in (Status.FAILED, Status.TIMED_OUT, Status.DECLINED):
            said = f"the sweep's own request ran as {job} and ended {ended[0].status}"
            return self.found(finding, f"{why} ({said}: not sent again)")
        request = Request(self.facts.arn, request_id, f"{REASON_PREFIX}: {why}")
        return self.found(finding, why, request)

    def key(self, *parts: str | None) -> str:
        return _short("|".join([self.facts.arn, *(p or "" for p in parts)]))


def assess(
    facts: DatabaseFacts,
    profile: Profile,
    standing: Standing,
    *,
    ledger_since: float,
    today: str = "",
) -> Assessed:
    """Judge one opted-in database whose tag names `profile` (for this deployment); `today`
    (YYYY-MM-DD) names the day's check, for profiles whose sweep checks."""
    judge = _Judge(facts, profile, standing)
    created = epoch(facts.created)
    if created is None:
        return judge.found(Finding.CANNOT_MIGRATE, "RDS gives no creation time")
    if facts.status != AVAILABLE:
        # A stopped (or failing) database: a request would wait for it, then time out.
        return judge.found(Finding.UNAVAILABLE, f"it is '{facts.status}': looked at again later")
    if not standing.migrated_since_creation(facts.created):
        return _missed(judge, created, ledger_since=ledger_since)
    for finding in (_failed, _image_changed, _pending):
        verdict = finding(judge)
        if verdict is not None:
            return verdict
    checked = standing.checked
    checked_today = checked is not None and utc_iso(checked.at)[:10] == today
    if profile.sweep.check and profile.check_command and today and not checked_today:
        request_id = f"sweep-check-{judge.key(profile.image, today)}"
        check = Request(facts.arn, request_id, f"{REASON_PREFIX}: daily check", mode="check")
        return judge.found(Finding.UP_TO_DATE, "up to date; checked once today", check)
    return judge.found(Finding.UP_TO_DATE, "up to date")


def _failed(judge: _Judge) -> Assessed | None:
    """Its latest migration failed or timed out."""
    last = judge.standing.last_migration()
    if last is None or last.status not in (Status.FAILED, Status.TIMED_OUT):
        return None
    why = f"its latest migration ({last.job}) {last.status}"
    if not judge.profile.sweep.retry_failed:
        return judge.found(Finding.FAILED, f"{why} (not retried: sweep.retryFailed is off)")
    # Once per image: the retry's own failure is not retried (by_request), a new image is.
    request_id = f"sweep-retry-{judge.key(judge.profile.image)}"
    return judge.by_request(Finding.FAILED, why, request_id)


def _image_changed(judge: _Judge) -> Assessed | None:
    """Its last success ran another image than its profile names now."""
    success, profile = judge.standing.success, judge.profile
    ran = success.named_image if success is not None else None
    if ran is None or ran == profile.image:
        return None
    why = f"last migrated with {ran}; its profile names {profile.image}"
    if profile.sweep.on_image_change != "migrate":
        return judge.found(Finding.IMAGE_CHANGED, f"{why} (reported only)")
    request_id = f"sweep-image-{judge.key(profile.image)}"
    return judge.by_request(Finding.IMAGE_CHANGED, why, request_id)


def _pending(judge: _Judge) -> Assessed | None:
    """Its latest check, after its last success, found migrations pending."""
    checked, success = judge.standing.checked, judge.standing.success
    if checked is None or checked.status != Status.PENDING:
        return None
    if success is not None and success.at >= checked.at:
        return None
    why = f"its latest check ({checked.job}) found migrations pending"
    if judge.profile.sweep.on_image_change != "migrate":
        return judge.found(Finding.PENDING, f"{why} (reported only)")
    return judge.by_request(Finding.PENDING, why, f"sweep-pending-{judge.key(checked.job)}")


def _missed(judge: _Judge, created: float, *, ledger_since: float) -> Assessed:
    """A database with no migration since its creation or restore."""
    facts, profile = judge.facts, judge.profile
    if created < ledger_since:
        why = "no migration recorded: created before the ledger, so never started by a sweep"
        return judge.found(Finding.NEVER_MIGRATED, why)
    if not CREATIONS & profile.triggers:
        why = f"profile '{profile.name}' does not migrate on creation or restore"
        return judge.found(Finding.UP_TO_DATE, why)
    why = f"created or restored {facts.created} with no migration since"
    if not profile.triggers >= CREATIONS:
        # RDS lists a restored database as created then: which it was, the list cannot say.
        why = (
            f"{why}; profile '{profile.name}' runs on only one of db-created and db-restored, "
            "and which this was cannot be told: send a manual request if it needs one"
        )
        return judge.found(Finding.MISSED, why)
    request_id = f"sweep-creation-{judge.key(facts.created)}"
    missed = (str(TriggerKind.DB_CREATED), facts.created)
    request = Request(facts.arn, request_id, f"{REASON_PREFIX}: {why}", missed=missed)
    return judge.found(Finding.MISSED, why, request)


def claimed_creation(
    trigger: Trigger,
    facts: DatabaseFacts,
    profile: Profile,
    ledger: tuple[Standing, float] | None,
) -> str | None:
    """Why a sweep's request for a missed creation must not run (None if it may), `ledger` being
    the database's standing and when the ledger began, as the execution itself reads them: the
    sweep would have sent it. The database's creation time must be the one the request claims,
    after the ledger began, with no migration since; its profile must run on both creations
    and restores (which it was, RDS's list cannot say). So a request sent by anyone else can do
    no more than the creation's own late event would, and nothing once the database was
    migrated."""
    claimed = trigger.detail.removeprefix(MISSED_PREFIX)
    created = epoch(facts.created)
    refused = f"the sweep's request for a missed creation of {facts.identifier} does not hold"
    if claimed != facts.created or created is None:
        return (
            f"{refused}: it names a creation at {claimed}, but {facts.identifier} was created "
            f"{facts.created or 'at an unknown time'}; nothing was run"
        )
    if ledger is None:
        return f"{refused}: this deployment has no ledger to show it was missed; nothing was run"
    standing, since = ledger
    if created < since:
        return f"{refused}: it was created before the ledger began; nothing was run"
    if not profile.triggers >= CREATIONS:
        return (
            f"{refused}: profile '{profile.name}' runs on only one of db-created and "
            "db-restored; nothing was run"
        )
    if standing.migrated_since_creation(facts.created):
        return f"{facts.identifier} was migrated since its creation: nothing was run"
    return None


class Summary(NamedTuple):
    """What one sweep found and did."""

    opted_in: int
    up_to_date: int
    behind: int
    started: int
    cannot_migrate: int
    #: Listed by name, at most LISTED each.
    started_names: tuple[str, ...] = ()
    behind_names: tuple[str, ...] = ()
    cannot_names: tuple[str, ...] = ()
    #: Behind, and left for the next sweep: more requests than one sweep sends.
    deferred: int = 0
    #: Why the sweep could not look or send (after its step's retries); empty if it could.
    error: str = ""
    #: Checks requested (profiles whose sweep checks databases that look up to date).
    checks: int = 0

    @property
    def notifies(self) -> bool:
        """A sweep notifies only when it started something, found a database it cannot
        migrate, or could not sweep."""
        return bool(self.started or self.cannot_migrate or self.error)

    def line(self) -> str:
        """One line for the log and the notification's subject."""
        if self.error:
            return f"could not sweep: {self.error}"
        line = (
            f"{self.opted_in} opted in: {self.up_to_date} up to date, {self.behind} behind, "
            f"{self.started} started, {self.cannot_migrate} cannot migrate"
        )
        line += f", {self.checks} checks requested" if self.checks else ""
        return f"{line} ({self.deferred} left for the next sweep)" if self.deferred else line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the sweep execution's output."""
        status = "failed" if self.error else "swept"
        return {"status": status, "reason": self.line(), **self._asdict()}


def summarize(assessed: list[Assessed], sent: list[Assessed]) -> Summary:
    """The counts and names of one sweep: `sent`, those whose requests the bus took (migrations
    started, and checks)."""
    started = [a for a in sent if a.request is not None and a.request.mode == "migrate"]
    cannot = [a for a in assessed if a.finding is Finding.CANNOT_MIGRATE]
    behind = [
        a
        for a in assessed
        if a.finding not in (Finding.UP_TO_DATE, Finding.CANNOT_MIGRATE) and a not in started
    ]
    return Summary(
        opted_in=len(assessed),
        up_to_date=sum(1 for a in assessed if a.finding is Finding.UP_TO_DATE),
        behind=len(behind),
        started=len(started),
        cannot_migrate=len(cannot),
        started_names=tuple(a.line() for a in started[:LISTED]),
        behind_names=tuple(a.line() for a in behind[:LISTED]),
        cannot_names=tuple(a.line() for a in cannot[:LISTED]),
        deferred=sum(1 for a in behind if a.request is not None),
        checks=len(sent) - len(started),
    )


def status_row(
    facts: DatabaseFacts, standing: Standing, assessed: Assessed, image: str | None
) -> dict[str, Any]:
    """One database's line of `migration-trigger status`: its profile and engine, its latest
    result (trigger, status, when, Job), the image of its last success against its profile's
    image now, and the sweep's judgement."""
    last = standing.last
    success = standing.success
    return {
        "database": facts.identifier,
        "profile": assessed.profile,
        "engine": facts.engine,
        "last_trigger": last.trigger if last else None,
        "last_result": last.status if last else None,
        "last_at": utc_iso(last.at) if last else None,
        "job": last.job if last else None,
        "image": success.named_image if success else None,
        "profile_image": image,
        "state": str(assessed.finding),
        "why": assessed.why,
        "checked": standing.checked.status if standing.checked else None,
    }


def image_groups(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The profiles whose databases stand at different images (their last successes'): for
    each, how many databases stand at each image (`none` for never migrated)."""
    groups: dict[str, dict[str, int]] = {}
    for row in rows:
        if row["profile"] is None:
            continue
        images = groups.setdefault(row["profile"], {})
        image = row["image"] or "none"
        images[image] = images.get(image, 0) + 1
    return {profile: images for profile, images in sorted(groups.items()) if len(images) > 1}
