"""The ports: what the flow needs from the world, as Protocols, and the one container of them.

Adapters implement these (adapters/); wiring.py builds the real ones; tests and the CLI may pass
others. Nothing here does I/O.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from migration_trigger.domain.aftermath import ExecutionInfo
from migration_trigger.domain.approval import ApprovalRequest
from migration_trigger.domain.bluegreen import Deployment
from migration_trigger.domain.database import DatabaseFacts, DatabaseSecret, SecretFacts
from migration_trigger.domain.events import Home
from migration_trigger.domain.ledger import Entry, Standing
from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.result import Result
from migration_trigger.domain.snapshots import Snapshot, Target
from migration_trigger.domain.sweep import Request, Summary
from migration_trigger.settings import Settings

Obj = dict[str, Any]


class Rds(Protocol):
    """What RDS says about a database."""

    def describe(self, reference: str) -> DatabaseFacts:
        """Facts of an instance or cluster (ARN, `db:<id>` or `cluster:<id>`)."""

    def listed(self) -> list[DatabaseFacts]:
        """Every instance and cluster with its tags, listed page by page (no writer status)."""

    def blue_green(self) -> list[Deployment]:
        """The account's Blue/Green deployments."""


class Secrets(Protocol):
    """Secrets Manager: facts about a secret, and its current credentials."""

    def describe(self, secret_id: str) -> SecretFacts:
        """Full ARN, current version and tags of a secret (name, partial or full ARN)."""

    def read(self, secret_arn: str, version: str | None = None) -> DatabaseSecret:
        """The username and password of a version of the secret (AWSCURRENT if none is named)."""

    def names(self, secret_arn: str) -> tuple[tuple[str, str], ...]:
        """What the secret's JSON says its database is: ("db" | "cluster", identifier) pairs."""


class Jobs(Protocol):
    """Migration Jobs in one namespace of one cluster."""

    def create_job(self, manifest: Obj) -> Obj:
        """Create a Job; KubernetesError 409 when the name exists."""

    def get_job(self, name: str) -> Obj | None:
        """The Job, or None when it does not exist."""

    def database_jobs(self, database_key: str) -> list[Obj]:
        """Every migration Job of one database."""

    def create_secret(self, manifest: Obj) -> Obj | None:
        """Create a Secret; None if created, else the Secret that already has its name."""

    def resume(self, name: str) -> None:
        """Un-suspend a Job."""

    def delete_secret(self, name: str) -> None:
        """Delete a Secret; gone already is fine."""

    def pods(self, job_uid: str) -> list[Obj]:
        """Pods the Job with this uid controls (no pod that merely carries its labels)."""

    def log(self, pod: str, *, tail_lines: int, container: str) -> str:
        """The last lines of a container's log."""

    def delete_job(
        self, name: str, *, uid: str | None = None, resource_version: str | None = None
    ) -> None:
        """Delete a Job with its pods and Secret; gone already is fine. With `uid` and
        `resource_version`, only that Job as it was seen: KubernetesError 409 otherwise."""


class Executions(Protocol):
    """Lambda's durable executions of this function, as GetDurableExecution tells them."""

    def status(self, execution: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, STOPPED, ... (domain.jobstate); AwsError
        when Lambda could not be asked or does not know the execution."""

    def details(self, execution: str) -> ExecutionInfo:
        """Its name, status, error and input event; AwsError as for status."""


class Images(Protocol):
    """A container registry that names an image tag's digest (Amazon ECR)."""

    def digest(self, image: str) -> str:
        """The digest (sha256:…) the image's tag names now; AwsError if it cannot be read."""


class Snapshots(Protocol):
    """RDS's manual snapshots of a database (an instance's, or its cluster's)."""

    def take(self, target: Target, name: str, tags: dict[str, str]) -> Snapshot:
        """Create the snapshot (or find it, if this name was taken already for the target)."""

    def find(self, target: Target, name: str) -> Snapshot:
        """The snapshot as RDS describes it now; AwsError if it is gone."""

    def taken(self, target: Target) -> list[Snapshot]:
        """The target's manual snapshots, with their tags."""

    def delete(self, target: Target, name: str) -> None:
        """Delete one snapshot."""


class Ledger(Protocol):
    """Where each result about a database is recorded, and what it says of each database."""

    def record(self, entry: Entry) -> None:
        """Record one result (idempotent: recording it again changes nothing)."""

    def standings(self, databases: Iterable[str]) -> dict[str, Standing]:
        """What the ledger says of each database (nothing recorded: an empty standing)."""

    def switched(self, database: str, created: str, deployment: str) -> None:
        """Note that the database under this name took it by a Blue/Green switchover."""

    def claim(self, key: str, claimant: str, *, at: float) -> str:
        """Claim `key` for `claimant` unless another claimed it first; who holds it now."""

    def since(self) -> float:
        """When the ledger began (epoch seconds): what happened before, it cannot have seen."""


class Accounts(Protocol):
    """The spoke accounts' RDS and Secrets Manager, through the role the hub assumes in each
    (domain/accounts.py)."""

    def within(self, account: str, session: str) -> tuple[Rds, Secrets, Snapshots]:
        """RDS, Secrets Manager and RDS snapshots of `account`, as a role session named
        `session` there."""


class Requests(Protocol):
    """Where migration requests are sent (the requests bus), to run as executions of their own."""

    def send(self, requests: list[Request]) -> list[str]:
        """Send each request; the request ids of those the bus accepted."""


class FleetReports(Protocol):
    """Where a sweep's findings are announced (the results topic)."""

    def swept(self, summary: Summary) -> None:
        """Announce one sweep's summary."""


class Approvers(Protocol):
    """Where a request for approval reaches the people who may answer it."""

    def ask(self, request: ApprovalRequest) -> None:
        """Send one request."""


class Notifier(Protocol):
    """Tells people about a result, in the form its channel wants (subject, body, attributes)."""

    def notify(self, result: Result) -> None:
        """Send one result."""


class Metrics(Protocol):
    """Records one result as metrics."""

    def record(self, result: Result) -> None:
        """Emit the metrics of a result."""

    def notification_failed(self) -> None:
        """Count a result whose notification could not be delivered."""

    def ledger_failed(self) -> None:
        """Count a result the ledger could not record."""

    def swept(self, summary: Summary) -> None:
        """Emit one sweep's counts."""


class Log(Protocol):
    """Structured logging."""

    def info(self, message: str, **fields: Any) -> None:
        """Log at info."""

    def warning(self, message: str, **fields: Any) -> None:
        """Log at warning."""


class Services:
    """Everything with side effects the flow uses."""

    __slots__ = (
        "accounts",
        "approvers",
        "clock",
        "executions",
        "fleet_reports",
        "home",
        "images",
        "job_template",
        "jobs_for",
        "ledger",
        "log",
        "metrics",
        "notifiers",
        "rds",
        "requests",
        "secrets",
        "settings",
        "snapshots",
    )

    def __init__(
        self,
        *,
        settings: Settings,
        rds: Rds,
        secrets: Secrets,
        notifiers: tuple[Notifier, ...],
        metrics: Metrics,
        log: Log,
        jobs_for: Callable[[Profile], Jobs],
        job_template: Callable[[], Obj],
        clock: Callable[[], float] = time.time,
        home: Home | None = None,
        executions: Executions | None = None,
        images: Images | None = None,
        approvers: Approvers | None = None,
        snapshots: Snapshots | None = None,
        ledger: Ledger | None = None,
        requests: Requests | None = None,
        fleet_reports: FleetReports | None = None,
        accounts: Accounts | None = None,
    ) -> None:
        self.settings = settings
        self.rds = rds
        self.secrets = secrets
        self.notifiers = notifiers
        self.metrics = metrics
        self.log = log
        self.jobs_for = jobs_for
        self.job_template = job_template
        self.clock = clock
        #: The function's partition, region and account, from the ARN it was invoked by; None
        #: where there is no Lambda context (the CLI). Events about elsewhere are not ours.
        self.home = home
        #: Where the status of the execution that made a Job can be asked; None where there are
        #: no durable executions to ask about (the CLI).
        self.executions = executions
        #: Where an ECR image tag's digest is read (profiles with approval pin their image).
        self.images = images
        #: Where requests for approval go: the results topic; None where there is none.
        self.approvers = approvers
        #: Where snapshots are taken before migrating (profiles with snapshotBeforeMigration).
        self.snapshots = snapshots
        #: Where results are recorded per database (the template's Ledger table); None where
        #: there is none (a deployment without one, the CLI's local runs).
        self.ledger = ledger
        #: Where the sweep sends the migration requests it decides on (the requests bus).
        self.requests = requests
        #: Where a sweep's summary is announced (the results topic); None where there is none.
        self.fleet_reports = fleet_reports
        #: The spoke accounts' services (SPOKE_ACCOUNTS); None where there are none.
        self.accounts = accounts

    def within(self, account: str, session: str) -> Services:
        """These services, with RDS, Secrets Manager and snapshots those of `account`: the
        function's own, or a spoke's through its role (a session named `session`)."""
        if self.accounts is None or self.home is None or account == self.home.account:
            return self
        rds, secrets, snapshots = self.accounts.within(account, session)
        services = copy.copy(self)
        services.rds, services.secrets, services.snapshots = rds, secrets, snapshots
        return services

    def surveyed(self, session: str) -> list[tuple[str, Services]]:
        """These services in each account the function serves, by account: its own (`` where
        it is not known: the CLI), then each spoke's."""
        if self.home is None:
            return [("", self)]
        spokes = sorted(self.home.spokes)
        return [(self.home.account, self)] + [(a, self.within(a, session)) for a in spokes]
