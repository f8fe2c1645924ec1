"""EventBridge events parsed, once, into typed triggers; everything else is ignored or rejected."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, NamedTuple

from migration_trigger.domain.bluegreen import SWITCHOVER_COMPLETED_EVENT, deployment_of

MANUAL_SOURCE = "migration-trigger"
MANUAL_DETAIL_TYPE = "Migration Requested"
SECRET_LABEL_DETAIL_TYPE = "Secret Label Updated"
CLOUDTRAIL_DETAIL_TYPE = "AWS Service Event via CloudTrail"
RDS_DETAIL_TYPES = ("RDS DB Instance Event", "RDS DB Cluster Event")
_RDS_ARN = re.compile(
    r"^arn:(aws[a-z-]*):rds:([a-z0-9-]+):(\d{12}):(db|cluster):([A-Za-z][A-Za-z0-9-]*)$"
)
_SECRET_ARN = re.compile(r"^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:.+$")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")


class TriggerKind(StrEnum):
    """Why a migration should run."""

    DB_CREATED = "db-created"
    DB_RESTORED = "db-restored"
    SECRET_ROTATED = "secret-rotated"
    MANUAL = "manual"
    #: A manual request with `"mode": "check"`: the profile's checkCommand runs, nothing is
    #: applied (domain/checking.py).
    CHECK = "check"


class FindsDatabase(StrEnum):
    """How a trigger kind leads to its database."""

    #: The event names the database (an RDS event's SourceArn, a manual request's `database`).
    NAMED = "named"
    #: The event names a secret; the secret's RDS owner or database tag names the database.
    THROUGH_SECRET = "through-secret"


class KindRule(NamedTuple):
    """What the story does differently for a trigger kind: every such difference is here."""

    finds_database: FindsDatabase
    #: One migration per creation or restore of the database, whichever events announce it
    #: (a cluster's creation and each of its instances', a restore's two events).
    keyed_by_database: bool
    #: Waits the profile's rotationSettleSeconds before starting (clients pick up a new password).
    settles: bool
    #: Sent again after a failure, it is the same request and runs the migration again (a manual
    #: request's id is chosen by whoever sends it; other kinds re-run only for their own event).
    resent_runs_again: bool
    #: The database may hold data a migration could lose (not one just created or restored):
    #: a profile's snapshotBeforeMigration snapshots it.
    holds_data: bool
    #: Runs the profile's checkCommand instead of its migration: applies nothing, so no
    #: approval, run window, snapshot or retry; any profile with a checkCommand takes it.
    checks: bool = False


#: Every trigger kind's rule. A new kind adds its row here, its parsing below, and opts profiles
#: in explicitly (profiles' `triggers` default names the kinds that existed).
KIND_RULES: dict[TriggerKind, KindRule] = {
    TriggerKind.DB_CREATED: KindRule(FindsDatabase.NAMED, True, False, False, False),
    TriggerKind.DB_RESTORED: KindRule(FindsDatabase.NAMED, True, False, False, False),
    TriggerKind.SECRET_ROTATED: KindRule(FindsDatabase.THROUGH_SECRET, False, True, False, True),
    TriggerKind.MANUAL: KindRule(FindsDatabase.NAMED, False, False, True, True),
    TriggerKind.CHECK: KindRule(FindsDatabase.NAMED, False, False, True, False, checks=True),
}


# EventID -> trigger. Matched on EventID whatever the detail-type: RDS-EVENT-0043 arrives under
# more than one detail-type/SourceType.
RDS_EVENT_IDS: dict[str, TriggerKind] = {
    "RDS-EVENT-0005": TriggerKind.DB_CREATED,  # DB instance created
    "RDS-EVENT-0170": TriggerKind.DB_CREATED,  # DB cluster created
    "RDS-EVENT-0019": TriggerKind.DB_RESTORED,  # restored from a point in time
    "RDS-EVENT-0043": TriggerKind.DB_RESTORED,  # restored from a snapshot
}


class Trigger(NamedTuple):
    """A relevant event: what happened, to which database or secret, and its identity."""

    kind: TriggerKind
    event_id: str
    source: str
    detail: str  # e.g. RDS-EVENT-0005, AWSCURRENT, RotationSucceeded, the manual reason
    region: str
    account: str
    #: An RDS instance/cluster ARN, or `db:<identifier>` / `cluster:<identifier>` meaning that
    #: database in the function's own account and region.
    database: str | None = None
    secret_id: str | None = None
    rotation_version: str | None = None
    #: What makes two deliveries "the same event": the envelope id differs across some duplicates.
    dedup_key: str = ""

    @property
    def rule(self) -> KindRule:
        """What the story does differently for this trigger's kind."""
        return KIND_RULES[self.kind]


class Ignored(NamedTuple):
    """A well-formed event this product does not act on."""

    reason: str
    event_id: str | None = None


class Rejected(NamedTuple):
    """A malformed event: it will never be processed."""

    reason: str
    event_id: str | None = None


class Ended(NamedTuple):
    """A durable execution of this function ended FAILED, TIMED_OUT or STOPPED: Lambda's
    `Durable Execution Status Change` event ("Monitoring durable functions": source aws.lambda,
    detail `durableExecutionArn`, `durableExecutionName`, `functionArn`, `status`). It may have
    ended without reporting its migration (its ExecutionTimeout passed, someone stopped it, the
    code crashed)."""

    event_id: str
    execution: str
    status: str
    function: str


class Sweep(NamedTuple):
    """The reconciliation sweep's schedule fired: EventBridge's `Scheduled Event` (source
    aws.events; "Creating a rule that runs on a schedule in Amazon EventBridge"), from the
    template's Sweep schedule."""

    event_id: str
    time: str


class SwitchedOver(NamedTuple):
    """A Blue/Green deployment switched over: RDS-EVENT-0248 under detail-type `RDS Blue Green
    Deployment Event`, its SourceArn the deployment's ARN (domain/bluegreen.py). The database
    now under the blue one's name is noted in the ledger as the same database."""

    event_id: str
    deployment: str
    region: str
    account: str
    #: The account its deployment's ARN names.
    arn_account: str = ""


Parsed = Trigger | Ended | Sweep | SwitchedOver | Ignored | Rejected

#: EventBridge's events of rules that run on a schedule.
SCHEDULE_SOURCE = "aws.events"
SCHEDULE_DETAIL_TYPE = "Scheduled Event"
#: A manual request the sweep sent for a missed creation says so in its detail (domain/sweep.py).
MISSED_CREATION = "missedCreation"

#: Lambda's events about durable executions (Lambda developer guide, "Monitoring durable
#: functions", EventBridge events).
EXECUTION_SOURCE = "aws.lambda"
EXECUTION_DETAIL_TYPE = "Durable Execution Status Change"
#: The statuses an execution may end in without having reported its migration (Lambda API
#: reference, Execution: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, STOPPED).
ENDED_UNREPORTED = frozenset({"FAILED", "TIMED_OUT", "STOPPED"})


class Home(NamedTuple):
    """Where the function runs, as an ARN names it: partition, region and account; and the spoke
    accounts whose databases it migrates too (domain/accounts.py)."""

    partition: str
    region: str
    account: str
    spokes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, arn: str) -> Home | None:
        """The partition, region and account an ARN names; None if it lacks any of them.

        ARN format (AWS General Reference, "Amazon Resource Names"):
        `arn:partition:service:region:account-id:resource`; each account is scoped to one
        partition.
        """
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn" or not (parts[1] and parts[3] and parts[4]):
            return None
        return cls(partition=parts[1], region=parts[3], account=parts[4])

    def serves(self, account: str) -> bool:
        """Whether a database of `account` is this function's: its own or a spoke's."""
        return account == self.account or account in self.spokes

    def __str__(self) -> str:
        spokes = f" (and spoke accounts {', '.join(sorted(self.spokes))})" if self.spokes else ""
        return f"account {self.account}{spokes}, region {self.region}, partition {self.partition}"


def outside(trigger: Trigger, home: Home) -> Ignored | Rejected | None:
    """Why a trigger is about another account, region or partition than `home`; None if it is not.

    An AWS service's event says where it occurred in its envelope's `account` and `region`
    (EventBridge User Guide, "AWS service event metadata"), which a rule forwarding it to another
    account's bus keeps. One from an account that is neither the function's nor one of its spokes
    is rejected, loudly: only a rule someone set up brings it here, and nothing of it may run.
    One from another region is ignored (the function serves its own). A database or secret ARN
    elsewhere is rejected: a database is looked up by its identifier alone, so it would otherwise
    run the database of the same name here. A manual request's envelope names the account that
    sent it, which may be another one the bus admits; the database it names must still be ours.
    """
    if trigger.source.startswith("aws."):
        elsewhere = _envelope_elsewhere(trigger.account, trigger.region, home, trigger.event_id)
        if elsewhere is not None:
            return elsewhere
    for what, arn in (("database", trigger.database), ("secret", trigger.secret_id)):
        found = Home.of(arn) if arn and arn.startswith("arn:") else None
        if (
            arn
            and arn.startswith("arn:")
            and (
                found is None
                or (found.partition, found.region) != (home.partition, home.region)
                or not home.serves(found.account)
            )
        ):
            return Rejected(
                f"{arn} is not in this function's {home}: it never stands for the {what} of "
                "the same name here",
                trigger.event_id,
            )
        if found is not None and _aws_elsewhere(trigger, found.account):
            # An AWS service's event is about its own account's resources: one naming another
            # account's is forwarded by someone's rule, and would act there (domain/accounts.py).
            return Rejected(
                f"the event comes from account {trigger.account} but names {arn}, of account "
                f"{found.account}: an AWS service's event is about its own account",
                trigger.event_id,
            )
    return None


def _aws_elsewhere(trigger: Trigger, account: str) -> bool:
    """Whether an AWS service's event names a resource of another account than its own."""
    return (
        trigger.source.startswith("aws.") and bool(trigger.account) and trigger.account != account
    )


def parse_rds_arn(arn: str) -> tuple[str, str, str, str] | None:
    """(region, account, 'db'|'cluster', identifier) of an RDS instance/cluster ARN, else None."""
    m = _RDS_ARN.match(arn)
    return (m[2], m[3], m[4], m[5]) if m else None


def parse_database_reference(reference: str) -> tuple[str, str] | None:
    """('db'|'cluster', identifier) of an ARN or of a `db:<id>` / `cluster:<id>` reference."""
    parsed = parse_rds_arn(reference)
    if parsed is not None:
        return parsed[2], parsed[3]
    kind, _, identifier = reference.partition(":")
    if kind in ("db", "cluster") and _IDENTIFIER.match(identifier):
        return kind, identifier
    return None


def _not_unicode(value: Any, path: str) -> str | None:
    """The path of the first key or string in `value` that UTF-8 cannot encode, if any."""
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return where or "text"
        elif isinstance(item, dict):
            for key, inner in item.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and not _encodable(key):
                    return f"{where or 'top level'} key"
                pending.append((inner, name))
        elif isinstance(item, list):
            pending.extend((inner, f"{where}[{i}]") for i, inner in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_event(event: Any, *, home: Home | None = None) -> Parsed:
    """Classify one EventBridge event; with `home`, one about elsewhere is not a trigger."""
    broken = _not_unicode(event, "")
    if broken is not None:
        # JSON may escape a lone surrogate ("\ud800"); no Job name, label, log line or SNS
        # message can carry it. Say where it is, never what (nor the event's id, if it is there).
        return Rejected(f"the event's {broken} is not valid Unicode (it holds a lone surrogate)")
    parsed = _classify(event)
    if home is None:
        return parsed
    if isinstance(parsed, SwitchedOver):
        return _switched_elsewhere(parsed, home) or parsed
    if not isinstance(parsed, Trigger):
        return parsed
    return outside(parsed, home) or parsed


def _switched_elsewhere(switched: SwitchedOver, home: Home) -> Ignored | Rejected | None:
    """Why a switchover is not this function's to note: another account's or region's (its
    deployment's ARN must be of the account the event comes from)."""
    if switched.arn_account != switched.account:
        return Rejected(
            f"the event comes from account {switched.account} but names a Blue/Green deployment "
            f"of account {switched.arn_account}: an AWS service's event is about its own account",
            switched.event_id,
        )
    return _envelope_elsewhere(switched.account, switched.region, home, switched.event_id)


def _envelope_elsewhere(
    account: str, region: str, home: Home, event_id: str | None
) -> Ignored | Rejected | None:
    """Why an AWS service's event, by its envelope's account and region, is not this function's:
    an account neither its own nor a spoke's is rejected, another region ignored (outside)."""
    if account and not home.serves(account):
        return Rejected(
            f"the event comes from account {account}, which is neither this function's nor one "
            f"of its spoke accounts (SpokeAccounts); this function serves {home}",
            event_id,
        )
    if region and region != home.region:
        return Ignored(
            f"the event comes from region {region}; this function serves {home}", event_id
        )
    return None


def _classify(event: Any) -> Parsed:
    """Classify one EventBridge event, wherever it is from."""
    if not isinstance(event, dict):
        return Rejected(f"the event is a JSON {type(event).__name__}, not an object")
    envelope_id = event.get("id") if isinstance(event.get("id"), str) else None
    for key in ("source", "detail-type"):
        if not isinstance(event.get(key), str) or not event[key]:
            return Rejected(
                f"the event has no '{key}' string: not an EventBridge event", envelope_id
            )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return Rejected("the event has no 'detail' object", envelope_id)
    if not envelope_id:
        return Rejected("the event has no 'id': EventBridge always sets one", None)
    return _of_source(event, detail, envelope_id)


def _of_source(event: dict[str, Any], detail: dict[str, Any], envelope_id: str) -> Parsed:
    """A well-formed event, classified by its source and detail-type."""
    source, detail_type = event["source"], event["detail-type"]
    region = event.get("region") if isinstance(event.get("region"), str) else ""
    account = event.get("account") if isinstance(event.get("account"), str) else ""
    base = {"event_id": envelope_id, "source": source, "region": region, "account": account}
    if source == "aws.rds":
        return _rds(detail, base)
    if source == "aws.secretsmanager" and detail_type == SECRET_LABEL_DETAIL_TYPE:
        return _label_updated(event, detail, base)
    if (
        detail_type == CLOUDTRAIL_DETAIL_TYPE
        and detail.get("eventSource") == "secretsmanager.amazonaws.com"
    ):
        return _cloudtrail_rotation(event, detail, base)
    if source == MANUAL_SOURCE and detail_type == MANUAL_DETAIL_TYPE:
        return _manual(detail, base)
    if source == EXECUTION_SOURCE and detail_type == EXECUTION_DETAIL_TYPE:
        return _execution_ended(detail, envelope_id)
    if source == SCHEDULE_SOURCE and detail_type == SCHEDULE_DETAIL_TYPE:
        return Sweep(envelope_id, str(event.get("time") or ""))
    return Ignored(
        f"events of source '{source}' and detail-type '{detail_type}' are not handled", envelope_id
    )


def _execution_ended(detail: dict[str, Any], event_id: str) -> Parsed:
    status, execution = _text(detail, "status"), _text(detail, "durableExecutionArn")
    function = _text(detail, "functionArn")
    if status is None or execution is None or function is None:
        return Rejected(
            "the durable execution event has no detail.status, detail.durableExecutionArn or "
            "detail.functionArn",
            event_id,
        )
    if status not in ENDED_UNREPORTED:
        return Ignored(f"a durable execution that is {status} needs no report", event_id)
    return Ended(event_id, execution, status, function)


def _text(detail: dict[str, Any], key: str) -> str | None:
    value = detail.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _rds(detail: dict[str, Any], base: dict[str, str]) -> Parsed:
    event_id = base["event_id"]
    rds_event = _text(detail, "EventID")
    if rds_event is None:
        return Rejected("the RDS event has no detail.EventID", event_id)
    if rds_event == SWITCHOVER_COMPLETED_EVENT:
        return _switched_over(detail, base)
    kind = RDS_EVENT_IDS.get(rds_event)
    if kind is None:
        message = _text(detail, "Message") or "no message"
        return Ignored(f"{rds_event} ({message}) is not a creation or restore", event_id)
    source_arn = _text(detail, "SourceArn")
    if source_arn is None:
        return Rejected(f"the {rds_event} event has no detail.SourceArn", event_id)
    parsed = parse_rds_arn(source_arn)
    if parsed is None:
        # A creation or restore whose database cannot be named may be a migration missed: loud.
        return Rejected(
            f"{rds_event} names {source_arn}, which is not a DB instance or cluster ARN: "
            "the database to migrate cannot be determined",
            event_id,
        )
    region, account, _, _ = parsed
    return Trigger(
        kind=kind,
        detail=rds_event,
        database=source_arn,
        dedup_key=f"{rds_event}|{source_arn}|{_text(detail, 'Date') or event_id}",
        **{**base, "region": base["region"] or region, "account": base["account"] or account},
    )


def _switched_over(detail: dict[str, Any], base: dict[str, str]) -> Parsed:
    arn = _text(detail, "SourceArn") or ""
    deployment = deployment_of(arn)
    home = Home.of(arn)
    if deployment is None or home is None:
        return Rejected(
            f"{SWITCHOVER_COMPLETED_EVENT} names {arn or 'no SourceArn'}, which is not a "
            "Blue/Green deployment ARN",
            base["event_id"],
        )
    return SwitchedOver(
        base["event_id"],
        deployment,
        base["region"] or home.region,
        base["account"] or home.account,
        home.account,
    )


def _label_updated(event: dict[str, Any], detail: dict[str, Any], base: dict[str, str]) -> Parsed:
    event_id = base["event_id"]
    label = _text(detail, "labelUpdated")
    if label is None:
        return Rejected("the Secret Label Updated event has no detail.labelUpdated", event_id)
    if label != "AWSCURRENT":
        return Ignored(f"label {label} moved: only AWSCURRENT means new credentials", event_id)
    resources = event.get("resources")
    secret = (
        resources[0]
        if isinstance(resources, list) and resources and isinstance(resources[0], str)
        else None
    )
    secret = secret or _text(detail, "name")
    version = _text(detail, "versionId")
    if secret is None or version is None:
        return Rejected("the Secret Label Updated event names no secret or no versionId", event_id)
    return Trigger(
        kind=TriggerKind.SECRET_ROTATED,
        detail=label,
        secret_id=secret,
        rotation_version=version,
        dedup_key=f"rotation|{version}",
        **base,
    )


def _cloudtrail_rotation(
    event: dict[str, Any], detail: dict[str, Any], base: dict[str, str]
) -> Parsed:
    event_id = base["event_id"]
    name = _text(detail, "eventName")
    if name != "RotationSucceeded":
        return Ignored(f"Secrets Manager {name or 'event'} is not a completed rotation", event_id)
    secret = _rotated_secret(event, detail)
    if secret is None:
        return Rejected("the RotationSucceeded event names no secret", event_id)
    # The rotated version is resolved from Secrets Manager later, so this path and the native
    # Secret Label Updated event for the same rotation share one dedup key.
    return Trigger(kind=TriggerKind.SECRET_ROTATED, detail=name, secret_id=secret, **base)


def _rotated_secret(event: dict[str, Any], detail: dict[str, Any]) -> str | None:
    """The secret a RotationSucceeded event names, wherever this event's shape puts it.

    Seen in published events: `additionalEventData.SecretId` (AWS's own samples),
    `serviceEventDetails.secretId` (RDS-managed rotations), `responseElements.arn`, and the
    secret among `detail.resources` or the envelope's `resources`, its key spelled ARN, arn or
    aRN (Secrets Manager's CloudTrail page: "aRN" before February 2024).
    """
    for container, key in (
        ("additionalEventData", "SecretId"),
        ("serviceEventDetails", "secretId"),
        ("responseElements", "arn"),
    ):
        inner = detail.get(container)
        if isinstance(inner, dict) and (found := _text(inner, key)):
            return found
    listed = detail.get("resources")
    for resource in listed if isinstance(listed, list) else []:
        if isinstance(resource, dict):
            found = next(
                (v for k, v in resource.items() if k.lower() == "arn" and isinstance(v, str)),
                None,
            )
            if found:
                return found
    resources = event.get("resources")
    if isinstance(resources, list):
        return next((r for r in resources if isinstance(r, str) and _SECRET_ARN.match(r)), None)
    return None


def _manual(detail: dict[str, Any], base: dict[str, str]) -> Parsed:
    event_id = base["event_id"]
    database = _text(detail, "database")
    reason = _text(detail, "reason")
    if database is None:
        return Rejected(
            "a manual migration request needs detail.database (an ARN or identifier)", event_id
        )
    if reason is None:
        return Rejected("a manual migration request needs detail.reason", event_id)
    if len(reason) > 256:
        return Rejected("detail.reason is longer than 256 characters", event_id)
    reference = database
    if parse_rds_arn(database) is None:
        kind = detail.get("kind", "instance")
        if kind not in ("instance", "cluster") or not _IDENTIFIER.match(database):
            return Rejected(
                "detail.database must be an RDS instance/cluster ARN, or an identifier with "
                "detail.kind 'instance' or 'cluster'",
                event_id,
            )
        reference = f"{'db' if kind == 'instance' else 'cluster'}:{database}"
    request = _text(detail, "requestId") or event_id
    if MISSED_CREATION in detail:
        return _missed_creation(detail[MISSED_CREATION], reference, base)
    mode = detail.get("mode", "migrate")
    if mode not in ("migrate", "check"):
        return Rejected("detail.mode must be 'migrate' (the default) or 'check'", event_id)
    kind = TriggerKind.CHECK if mode == "check" else TriggerKind.MANUAL
    return Trigger(
        kind=kind,
        detail=reason,
        database=reference,
        dedup_key=f"{'check' if mode == 'check' else 'manual'}|{request}",
        **base,
    )


def _missed_creation(missed: Any, reference: str, base: dict[str, str]) -> Parsed:
    """A request the sweep sent for a creation or restore no migration followed: the trigger it
    stands for, keyed by the database and its creation time as the creation's own events are
    (resolve checks the claimed time against RDS, and that nothing ran since)."""
    kinds = (TriggerKind.DB_CREATED, TriggerKind.DB_RESTORED)
    created = _text(missed, "created") if isinstance(missed, dict) else None
    kind = missed.get("trigger") if isinstance(missed, dict) else None
    if created is None or kind not in {str(k) for k in kinds}:
        return Rejected(
            f"detail.{MISSED_CREATION} must name `trigger` (db-created or db-restored) and "
            "`created` (the database's creation time)",
            base["event_id"],
        )
    return Trigger(
        kind=TriggerKind(kind),
        detail=f"{MISSED_PREFIX}{created}",
        database=reference,
        dedup_key=f"creation|{reference}|{created}",
        **base,
    )


#: A missed creation's trigger detail: this, then the creation time the request claims.
MISSED_PREFIX = "missed-creation@"
