"""The reconciliation sweep: on its schedule, list the opted-in databases, judge each against the
ledger (domain/sweep.py), send a migration request for each that is behind and may be brought up,
and report what it found.

The looking and the sending are one step, so its checkpoint holds only the summary (a fleet's
list would outgrow a checkpoint's 256 KiB). Were the step run again (a crash before its
checkpoint), its requests are sent again with the same request ids, and their executions converge
on the Jobs the first ones made: a `duplicate` each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from migration_trigger.domain import bluegreen
from migration_trigger.domain.accounts import session_name
from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.decision import (
    Claim,
    Reject,
    Skip,
    cluster_of,
    profile_for,
    session_refusal,
)
from migration_trigger.domain.events import Sweep
from migration_trigger.domain.jobspec import utc_iso
from migration_trigger.domain.ledger import Standing
from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.sweep import Assessed, Finding, Summary, assess, summarize
from migration_trigger.errors import ConfigurationError, MigrationTriggerError
from migration_trigger.ports import Ledger, Services
from migration_trigger.records import Notified
from migration_trigger.settings import Settings
from migration_trigger.stages import report
from migration_trigger.steps import Steps


def sweep(event: Sweep, steps: Steps, services: Services) -> Summary:
    """Look, start what is behind, report: the summary is the execution's output. A sweep that
    cannot look or send (after its step's retries) says why, as a summary that notifies; the
    next sweep tries again."""
    try:
        session = session_name(steps.execution_id)
        summary = steps.step("sweep", lambda: look_and_start(event, services, session))
    except MigrationTriggerError as error:
        why = str(error)
        summary = steps.step("sweep-failed", lambda: Summary(0, 0, 0, 0, 0, error=why))
    steps.step("sweep-report", lambda: record(summary, services))
    if summary.notifies and services.fleet_reports is not None:
        try:
            steps.step("sweep-notify", lambda: notify(summary, services))
        except MigrationTriggerError as error:
            why = str(error)
            steps.step("sweep-notify-failed", lambda: notification_failed(why, services))
    return summary


def notification_failed(error: str, services: Services) -> Notified:
    """The sweep's announcement could not be delivered after its retries: log it and count it
    (`NotificationFailed`); the sweep stands."""
    return report.undelivered("the sweep could not be notified", error, services)


class Surveyed(NamedTuple):
    """One opted-in database: what RDS and the ledger say of it, and the sweep's judgement."""

    facts: DatabaseFacts
    standing: Standing
    assessed: Assessed
    #: The image its profile names now (None: its tag names no profile this deployment has).
    image: str | None = None


def survey(
    services: Services,
    *,
    progress: Callable[[str], None] | None = None,
    session: str = "migration-trigger-status",
    unswept: list[Assessed] | None = None,
    note: bool = False,
) -> list[Surveyed]:
    """Every database opted in to this deployment, in its account and each spoke (a role session
    named `session` there), judged (domain/sweep.assess); `progress` hears what is being read.
    A spoke that cannot be looked at (its role not yet rolled out, its trust changed) is added to
    `unswept` as a finding of its own, if given, and the others are surveyed; otherwise, and
    always for the function's own account, the error is raised. Switchovers the ledger does not
    know of count as it will; with `note` (the sweep, not `status`), they are noted in it."""
    settings = services.settings
    if services.ledger is None:
        raise ConfigurationError("the sweep needs the ledger (LEDGER_TABLE)")
    say = progress or (lambda _: None)
    opted: list[tuple[DatabaseFacts, Profile | str]] = []
    switched: dict[str, str] = {}
    for account, there in services.surveyed(session):
        say(f"listing the databases{f' of account {account}' if account else ''} (RDS)")
        try:
            roles = bluegreen.roles(there.rds.blue_green())
            listed = there.rds.listed()
        except MigrationTriggerError as error:
            if unswept is None or there is services:
                raise
            why = f"could not be swept: {error}"
            unswept.append(Assessed(account, f"account {account}", Finding.CANNOT_MIGRATE, why))
            continue
        switched |= roles.switched
        opted += _opted(listed, roles, settings)
    say(f"reading the ledger for {len(opted)} opted-in databases (DynamoDB)")
    standings = services.ledger.standings([facts.arn for facts, _ in opted])
    noted = services.ledger if note else None
    _note_switchovers([facts for facts, _ in opted], switched, standings, noted)
    since = services.ledger.since()
    today = utc_iso(services.clock())[:10]
    surveyed = []
    for facts, found in opted:
        standing = standings[facts.arn]
        if isinstance(found, str):
            cannot = Assessed(facts.arn, facts.identifier, Finding.CANNOT_MIGRATE, found)
            surveyed.append(Surveyed(facts, standing, cannot))
            continue
        judged = assess(facts, found, standing, ledger_since=since, today=today)
        surveyed.append(Surveyed(facts, standing, judged, found.image))
    return surveyed


def _opted(
    listed: list[DatabaseFacts], roles: bluegreen.Roles, settings: Settings
) -> list[tuple[DatabaseFacts, Profile | str]]:
    """The listed databases opted in to this deployment, each with its profile (or why it has
    none it can run)."""
    claim = Claim(settings.ENVIRONMENT, unqualified=settings.CLAIM_UNQUALIFIED_TAGS)
    opted: list[tuple[DatabaseFacts, Profile | str]] = []
    for facts in listed:
        if settings.PROFILE_TAG_KEY not in facts.tags or cluster_of(facts) is not None:
            continue  # not opted in; or a cluster's member, migrated through its cluster
        if facts.arn in roles.green or facts.arn in roles.retired:
            continue  # a green copy, or a blue database a switchover renamed (…-old1)
        chosen = profile_for(
            facts, dict(settings.profiles), tag_key=settings.PROFILE_TAG_KEY, claim=claim
        )
        if isinstance(chosen, Skip):
            continue  # another deployment's
        if isinstance(chosen, Reject):
            opted.append((facts, chosen.reason))
            continue
        opted.append((facts, session_refusal(chosen, facts) or chosen))
    return opted


def _note_switchovers(
    databases: list[DatabaseFacts],
    switched: dict[str, str],
    standings: dict[str, Standing],
    ledger: Ledger | None,
) -> None:
    """Note in `standings`, and in the `ledger` if given, each database that took its name by a
    switchover the ledger does not know of yet, as its switchover's event does
    (stages/bluegreen.py): an event may be lost, and a deployment deleted, after which nothing
    tells it was one."""
    for facts in databases:
        deployment = switched.get(facts.arn)
        if deployment is not None and standings[facts.arn].switched != facts.created:
            if ledger is not None:
                ledger.switched(facts.arn, facts.created, deployment)
            standings[facts.arn] = standings[facts.arn]._replace(switched=facts.created)


def look_and_start(event: Sweep, services: Services, session: str = "sweep") -> Summary:
    """Judge every opted-in database, send the requests (at most SWEEP_MAX_STARTS), and sum it
    up."""
    if services.requests is None:
        raise ConfigurationError("the sweep needs the requests bus (REQUESTS_BUS)")
    unswept: list[Assessed] = []
    surveyed = survey(services, session=session, unswept=unswept, note=True)
    assessed = [s.assessed for s in surveyed] + unswept
    # Migrations before checks; missed creations first: nothing at all has run for them.
    order = {Finding.MISSED: 0, Finding.FAILED: 1, Finding.IMAGE_CHANGED: 1, Finding.PENDING: 1}
    ranked = sorted(
        (a for a in assessed if a.request is not None),
        key=lambda a: order.get(a.finding, 2) if a.request and a.request.mode == "migrate" else 3,
    )
    wanted = ranked[: services.settings.SWEEP_MAX_STARTS]
    accepted = set(services.requests.send([a.request for a in wanted if a.request]))
    started = [a for a in wanted if a.request is not None and a.request.request_id in accepted]
    return summarize(assessed, started)


def record(summary: Summary, services: Services) -> Summary:
    """The sweep's one log line and its metrics (EMF: nothing here fails on the network)."""
    log = services.log.warning if summary.error else services.log.info
    log("reconciliation sweep", sweep=summary.to_dict())
    services.metrics.swept(summary)
    return summary


def notify(summary: Summary, services: Services) -> Notified:
    """Announce the sweep on the results topic (only one that started something, or found a
    database it cannot migrate)."""
    assert services.fleet_reports is not None
    services.fleet_reports.swept(summary)
    return Notified(delivered=True)


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (look_and_start, record, notify, notification_failed)
