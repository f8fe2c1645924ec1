"""In-memory fakes of the ports, for the story's scenarios: no network, no threads, virtual time.

The story (flow.py and its stages) runs unchanged over these, through InlineSteps whose waits
advance a virtual clock instead of sleeping, and every step and wait it takes is recorded by
name. The fakes are our reading of the services, kept small; the functional tier checks the same
story over real wires (moto, the real Kubernetes control plane) and is where a fake's word is
proved.

A Job's pods follow a script: a timeline of pod states after the Job is resumed, on the virtual
clock, from which the fake answers the Job's status as the Job controller would (Complete or
Failed when the container exits, DeadlineExceeded past activeDeadlineSeconds, its pod deleted).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from migration_trigger.domain.aftermath import ExecutionInfo
from migration_trigger.domain.approval import ApprovalRequest, approve_payload, reject_data
from migration_trigger.domain.bluegreen import Deployment
from migration_trigger.domain.database import DatabaseFacts, DatabaseSecret, SecretFacts
from migration_trigger.domain.events import MANUAL_DETAIL_TYPE, MANUAL_SOURCE
from migration_trigger.domain.jobspec import LABEL_PREFIX
from migration_trigger.domain.ledger import Entry, Run, Standing
from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.result import Result
from migration_trigger.domain.snapshots import Snapshot, Target
from migration_trigger.domain.sweep import Request, Summary
from migration_trigger.errors import AwsError, KubernetesError
from migration_trigger.flow import run_invocation
from migration_trigger.ports import Services
from migration_trigger.settings import Settings
from migration_trigger.steps import InlineSteps
from tests.durable import ARN, Ended, run_to_end
from tests.helpers import ROOT, sample_facts

Obj = dict[str, Any]
ACCOUNT, REGION = "123456789012", "eu-west-1"
DB_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders-db"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-orders-AbCdEf"
PASSWORD = "canary-story-password"


class Clock:
    """Virtual seconds since the epoch; waits and retries advance it."""

    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- pods ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodState:
    """One state of the Job's pod: not scheduled, a container waiting, running, or exited."""

    kind: str  # unschedulable | waiting | running | exited
    reason: str = ""
    message: str = ""
    code: int = 0


def unschedulable(message: str) -> PodState:
    return PodState("unschedulable", "Unschedulable", message)


def waiting(reason: str, message: str = "") -> PodState:
    return PodState("waiting", reason, message)


RUNNING = PodState("running")


def exited(code: int) -> PodState:
    return PodState("exited", "Completed" if code == 0 else "Error", code=code)


@dataclass
class PodScript:
    """The pod's states, each from so many seconds after the Job is resumed, and its log."""

    timeline: list[tuple[float, PodState]] = field(
        default_factory=lambda: [(0, waiting("ContainerCreating")), (1, RUNNING), (5, exited(0))]
    )
    log: str = "Applied 1 migration\n"

    def at(self, elapsed: float) -> PodState:
        state = self.timeline[0][1]
        for since, then in self.timeline:
            if elapsed >= since:
                state = then
        return state


# -- the cluster ---------------------------------------------------------------------------------


class FakeJobs:
    """The Jobs port over a dict, with the Job controller's verdicts computed from pod scripts."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.jobs: dict[str, Obj] = {}
        self.secrets: dict[str, Obj] = {}
        self.scripts: list[PodScript] = []
        self.default = PodScript()
        self._resumed: dict[str, tuple[float, PodScript]] = {}
        self._versions = itertools.count(1)
        #: Errors to raise, by gateway method, one per call until none is left (an outage).
        self.failing: dict[str, list[KubernetesError]] = {}

    def _fail(self, method: str) -> None:
        errors = self.failing.get(method)
        if errors:
            raise errors.pop(0)

    def _stamp(self, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        return obj

    # Jobs ------------------------------------------------------------------------------------

    def create_job(self, manifest: Obj) -> Obj:
        self._fail("create_job")
        name = manifest["metadata"]["name"]
        if name in self.jobs:
            raise KubernetesError(
                f"jobs.batch {name!r} already exists", status=409, reason="AlreadyExists"
            )
        job = json.loads(json.dumps(manifest))
        job["metadata"]["uid"] = f"uid-{name}-{len(self._resumed)}-{self.clock.now}"
        job["metadata"]["creationTimestamp"] = _iso(self.clock.now)
        job["status"] = {}
        self.jobs[name] = self._stamp(job)
        return json.loads(json.dumps(job))

    def get_job(self, name: str) -> Obj | None:
        self._fail("get_job")
        job = self.jobs.get(name)
        return None if job is None else json.loads(json.dumps(self._sync(job)))

    def database_jobs(self, database_key: str) -> list[Obj]:
        self._fail("database_jobs")
        key = f"{LABEL_PREFIX}/database-key"
        return [
            json.loads(json.dumps(self._sync(job)))
            for job in self.jobs.values()
            if job["metadata"].get("labels", {}).get(key) == database_key
        ]

    def resume(self, name: str) -> None:
        self._fail("resume")
        job = self.jobs[name]
        job["spec"]["suspend"] = False
        script = self.scripts.pop(0) if self.scripts else self.default
        self._resumed[name] = (self.clock.now, script)
        job["status"]["startTime"] = _iso(self.clock.now)
        self._stamp(job)

    def delete_job(
        self, name: str, *, uid: str | None = None, resource_version: str | None = None
    ) -> None:
        self._fail("delete_job")
        job = self.jobs.get(name)
        if job is None:
            return
        meta = job["metadata"]
        if (uid and meta["uid"] != uid) or (
            resource_version and meta["resourceVersion"] != resource_version
        ):
            raise KubernetesError("precondition failed", status=409, reason="Conflict")
        del self.jobs[name]
        self._resumed.pop(name, None)
        self.secrets.pop(f"{name}-db", None)  # owned by the Job: garbage-collected with it

    # Secrets ---------------------------------------------------------------------------------

    def create_secret(self, manifest: Obj) -> Obj | None:
        self._fail("create_secret")
        name = manifest["metadata"]["name"]
        if name in self.secrets:
            return json.loads(json.dumps(self.secrets[name]))
        self.secrets[name] = self._stamp(json.loads(json.dumps(manifest)))
        return None

    def delete_secret(self, name: str) -> None:
        self._fail("delete_secret")
        self.secrets.pop(name, None)

    # Pods ------------------------------------------------------------------------------------

    def pods(self, job_uid: str) -> list[Obj]:
        self._fail("pods")
        for name, job in self.jobs.items():
            if job["metadata"]["uid"] == job_uid and name in self._resumed:
                pod = self._pod(name)
                return [pod] if pod is not None else []
        return []

    def log(self, pod: str, *, tail_lines: int, container: str) -> str:
        self._fail("log")
        for name, (_, script) in self._resumed.items():
            if pod.startswith(name) and name in self.jobs and self._pod(name) is not None:
                return "".join(script.log.splitlines(keepends=True)[-tail_lines:])
        raise KubernetesError(f"pods {pod!r} not found", status=404, reason="NotFound")

    # The Job controller ----------------------------------------------------------------------

    def _state(self, name: str) -> PodState | None:
        if name not in self._resumed:
            return None
        since, script = self._resumed[name]
        return script.at(self.clock.now - since)

    def _deadline_passed(self, job: Obj) -> bool:
        deadline = job["spec"].get("activeDeadlineSeconds")
        since = self._resumed.get(job["metadata"]["name"], (None,))[0]
        return deadline is not None and since is not None and self.clock.now - since >= deadline

    def _sync(self, job: Obj) -> Obj:
        name = job["metadata"]["name"]
        state = self._state(name)
        status = job["status"]
        if state is None or status.get("conditions"):
            return job
        at = _iso(self.clock.now)
        if state.kind == "exited":
            done = "Complete" if state.code == 0 else "Failed"
            interim = "SuccessCriteriaMet" if state.code == 0 else "FailureTarget"
            reason = "CompletionsReached" if state.code == 0 else "BackoffLimitExceeded"
            status["succeeded" if state.code == 0 else "failed"] = 1
            status["conditions"] = [_condition(interim, reason, at), _condition(done, reason, at)]
            if state.code == 0:
                status["completionTime"] = at
        elif self._deadline_passed(job):
            status["failed"] = 1
            status["conditions"] = [
                _condition("FailureTarget", "DeadlineExceeded", at),
                _condition("Failed", "DeadlineExceeded", at),
            ]
        else:
            status["active"] = 1
        self._stamp(job)
        return job

    def _pod(self, name: str) -> Obj | None:
        job = self._sync(self.jobs[name])
        state = self._state(name)
        reasons = [c.get("reason") for c in job["status"].get("conditions") or []]
        if state is None or "DeadlineExceeded" in reasons:
            return None  # at its deadline the Job controller deletes the running pod
        uid = job["metadata"]["uid"]
        container: Obj = {"name": "migrate", "image": _image(job), "restartCount": 0}
        conditions: list[Obj] = []
        phase = "Pending"
        if state.kind == "unschedulable":
            conditions.append(
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": state.reason,
                    "message": state.message,
                }
            )
            container["state"] = {"waiting": {"reason": "ContainerCreating"}}
        elif state.kind == "waiting":
            container["state"] = {"waiting": {"reason": state.reason, "message": state.message}}
        elif state.kind == "running":
            phase = "Running"
            container["state"] = {"running": {"startedAt": _iso(self.clock.now)}}
        else:
            phase = "Succeeded" if state.code == 0 else "Failed"
            container["state"] = {"terminated": {"exitCode": state.code, "reason": state.reason}}
        return {
            "metadata": {
                "name": f"{name}-pod00",
                "creationTimestamp": job["status"]["startTime"],
                "labels": {"batch.kubernetes.io/controller-uid": uid, "job-name": name},
                "ownerReferences": [{"kind": "Job", "uid": uid, "controller": True}],
            },
            "spec": {"containers": [{"name": "migrate", "image": _image(job)}]},
            "status": {"phase": phase, "conditions": conditions, "containerStatuses": [container]},
        }


def _iso(seconds: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, reason: str, at: str) -> Obj:
    return {"type": kind, "status": "True", "reason": reason, "lastTransitionTime": at}


def _image(job: Obj) -> str:
    return str(job["spec"]["template"]["spec"]["containers"][0]["image"])


# -- AWS -----------------------------------------------------------------------------------------


class FakeRds:
    """Database facts by reference; `statuses` are answered in turn by later describes."""

    def __init__(self, facts: DatabaseFacts) -> None:
        self.facts = facts
        self.statuses: list[str] = []
        self.others = []
        self.deployments = []

    def describe(self, reference: str) -> DatabaseFacts:
        if reference not in (self.facts.arn, f"db:{self.facts.identifier}"):
            raise AwsError("DBInstanceNotFound", code="DBInstanceNotFound")
        if self.statuses:
            self.facts = self.facts._replace(status=self.statuses.pop(0))
        return self.facts

    def blue_green(self) -> list[Deployment]:
        """The account's Blue/Green deployments; `moving` moves them on (a switchover, a
        deletion) before the answer, told how many times they were asked for so far."""
        self.blue_green_asks += 1
        if self.moving is not None:
            self.moving(self.blue_green_asks)
        return list(self.deployments)

    #: Called before each answer with the number of the ask (1 for the first).
    moving: Callable[[int], None] | None = None

    #: The account's Blue/Green deployments, as a test sets them (and moves them on).
    deployments: list[Deployment]
    #: Times they were listed.
    blue_green_asks: int = 0

    def listed(self) -> list[DatabaseFacts]:
        """The world's database, and the `others` a test adds."""
        self.lists += 1
        return [self.facts, *self.others]

    #: More databases the account holds (only ever listed).
    others: list[DatabaseFacts]
    #: Times the databases were listed.
    lists: int = 0


class FakeSecrets:
    def __init__(self, facts: SecretFacts, username: str, password: str) -> None:
        self.facts, self.username, self.password = facts, username, password

    def describe(self, secret_id: str) -> SecretFacts:
        if secret_id not in (self.facts.arn, self.facts.name):
            raise AwsError("not found", code="ResourceNotFoundException")
        return self.facts

    def read(self, secret_arn: str, version: str | None = None) -> DatabaseSecret:
        return DatabaseSecret(self.username, self.password, self.facts.current_version)

    def names(self, secret_arn: str) -> tuple[tuple[str, str], ...]:
        return ()


class FakeExecutions:
    """Lambda's GetDurableExecution: the status of each execution it knows, and what it says
    of those that ended (name, error, input event)."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.infos: dict[str, ExecutionInfo] = {}
        #: Lambda cannot be reached: every question fails.
        self.unreachable = False

    def details(self, execution: str) -> ExecutionInfo:
        if execution not in self.infos:
            raise AwsError("unknown execution", code="ResourceNotFoundException")
        return self.infos[execution]

    def status(self, execution: str) -> str:
        if self.unreachable:
            raise AwsError("could not connect to the endpoint URL", code="EndpointConnectionError")
        if execution not in self.statuses:
            raise AwsError("unknown execution", code="ResourceNotFoundException")
        return self.statuses[execution]


class FakeLedger:
    """The migration ledger: every entry recorded, each once; a database's standing is the newest
    entry of each trigger kind and the newest success, as the DynamoDB table keeps them."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        #: Every write asked for, the repeated ones too (the table keeps each entry once).
        self.writes: list[Entry] = []
        self.switches = {}
        self.claims = {}
        #: DynamoDB cannot be reached: every write fails.
        self.unavailable = False

    def record(self, entry: Entry) -> None:
        self.writes.append(entry)
        if self.unavailable:
            raise AwsError("could not connect to the endpoint URL", code="EndpointConnectionError")
        if all(e.execution != entry.execution for e in self.entries):
            self.entries.append(entry)

    def standings(self, databases: Iterable[str]) -> dict[str, Standing]:
        return {database: self._standing(database) for database in databases}

    def since(self) -> float:
        return self.began

    #: When the ledger table was created (epoch seconds).
    began: float = 0.0

    def switched(self, database: str, created: str, deployment: str) -> None:
        if self.unavailable:
            raise AwsError("could not connect to the endpoint URL", code="EndpointConnectionError")
        self.switches[database] = created

    #: Database -> the creation time of the database that took its name by a switchover.
    switches: dict[str, str]

    def claim(self, key: str, claimant: str, *, at: float) -> str:
        if self.unavailable:
            raise AwsError("could not connect to the endpoint URL", code="EndpointConnectionError")
        return self.claims.setdefault(key, claimant)

    #: Claimed key -> its claimant.
    claims: dict[str, str]

    def _standing(self, database: str) -> Standing:
        mine = sorted((e for e in self.entries if e.database == database), key=lambda e: e.at)
        latest = {e.trigger: Run.of(e.summary()) for e in mine if e.decided}
        successes = [Run.of(e.summary()) for e in mine if e.succeeded]
        success = successes[-1] if successes else None
        return Standing(database, latest, success, self.switches.get(database))


class FakeRequests:
    """The requests bus: every request put on it, each accepted unless told to refuse."""

    def __init__(self) -> None:
        self.sent: list[Request] = []
        self.refuse = False

    def send(self, requests: list[Request]) -> list[str]:
        self.sent.extend(requests)
        return [] if self.refuse else [r.request_id for r in requests]

    def event(self, request: Request) -> Obj:
        """The request as the MigrationRequested rule delivers it (EventBridge's envelope)."""
        return {
            "version": "0",
            "id": f"bus-{request.request_id}",
            "detail-type": MANUAL_DETAIL_TYPE,
            "source": MANUAL_SOURCE,
            "account": "123456789012",
            "time": "2026-12-06T10:00:00Z",
            "region": "eu-west-1",
            "resources": [request.database],
            "detail": request.detail(),
        }


class Announced:
    """The results topic's announcements of sweeps."""

    def __init__(self) -> None:
        self.sweeps: list[Summary] = []

    def swept(self, summary: Summary) -> None:
        self.sweeps.append(summary)


@dataclass
class Recorded:
    """What the story told the world: notifications, metrics, log lines."""

    notified: list[Result] = field(default_factory=list)
    metrics: list[Result] = field(default_factory=list)
    failed_notifications: int = 0
    failed_ledger_writes: int = 0
    sweep_metrics: list[Summary] = field(default_factory=list)
    log: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    #: Notifications to refuse, one per entry, before they are delivered.
    refuse: list[Exception] = field(default_factory=list)

    def notify(self, result: Result) -> None:
        if self.refuse:
            raise self.refuse.pop(0)
        self.notified.append(result)

    def record(self, result: Result) -> None:
        self.metrics.append(result)

    def notification_failed(self) -> None:
        self.failed_notifications += 1

    def ledger_failed(self) -> None:
        self.failed_ledger_writes += 1

    def swept(self, summary: Summary) -> None:
        self.sweep_metrics.append(summary)

    def info(self, message: str, **fields: Any) -> None:
        self.log.append(("info", message, fields))

    def warning(self, message: str, **fields: Any) -> None:
        self.log.append(("warning", message, fields))


class Approvers:
    """The results topic's requests for approval, as sent; and how each will be answered."""

    def __init__(self) -> None:
        self.requests: list[ApprovalRequest] = []
        #: The answers to give, one per request in turn (see approve, reject, silence below).
        self.answers: list[Callable[[ApprovalRequest], tuple[float, str, Any] | None]] = []

    def ask(self, request: ApprovalRequest) -> None:
        self.requests.append(request)

    def answer(self, callback_id: str) -> tuple[float, str, Any] | None:
        """tests.durable.Answerer: the next answer, to the request sent with this callback."""
        (request,) = (r for r in self.requests if r.callback_id == callback_id)
        return self.answers.pop(0)(request) if self.answers else None


APPROVER = "arn:aws:sts::123456789012:assumed-role/platform-oncall/alex"


def approve(after: float = 600, *, fingerprint: str | None = None, approver: str = APPROVER) -> Any:
    """An approval sent `after` seconds, of the request's fingerprint unless another is given."""
    return lambda request: (
        after,
        "SUCCEEDED",
        approve_payload(fingerprint or request.fingerprint, approver),
    )


def reject(
    after: float = 600, *, reason: str = "not during the sale", approver: str = APPROVER
) -> Any:
    """A rejection sent `after` seconds, with its reason."""
    return lambda request: (after, "FAILED", (reason, reject_data(approver)))


def silence() -> Any:
    """No answer: the callback times out."""
    return lambda request: None


class FakeImages:
    """Amazon ECR's tags: the digest each image reference names now."""

    def __init__(self) -> None:
        self.digests: dict[str, str] = {}
        self.asked: list[str] = []

    def digest(self, image: str) -> str:
        self.asked.append(image)
        if image not in self.digests:
            raise AwsError(f"ImageNotFoundException: {image}")
        return self.digests[image]


class FakeSnapshots:
    """RDS's manual snapshots: each new one goes through `statuses` (one per look, the last
    staying), starting at the first."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.snapshots: dict[str, Snapshot] = {}
        self.statuses: list[str] = ["available"]
        self.taken_for: list[Target] = []
        self.deleted: list[str] = []
        self.refuse_delete: set[str] = set()
        self._looks: dict[str, int] = {}

    def take(self, target: Target, name: str, tags: dict[str, str]) -> Snapshot:
        self.taken_for.append(target)
        if name not in self.snapshots:
            self.snapshots[name] = Snapshot(
                name, self.statuses[0], self.clock.now, tuple(sorted(tags.items()))
            )
            self._looks[name] = 0
        return self.snapshots[name]

    def find(self, target: Target, name: str) -> Snapshot:
        if name not in self.snapshots:
            raise AwsError(f"DBSnapshotNotFound: {name}")
        if name in self._looks:
            self._looks[name] += 1
            status = self.statuses[min(self._looks[name], len(self.statuses) - 1)]
            self.snapshots[name] = self.snapshots[name]._replace(status=status)
        return self.snapshots[name]

    def taken(self, target: Target) -> list[Snapshot]:
        return list(self.snapshots.values())

    def delete(self, target: Target, name: str) -> None:
        if name in self.refuse_delete:
            raise AwsError(f"InvalidDBSnapshotState: {name} is being copied")
        del self.snapshots[name]
        self.deleted.append(name)


# -- the world -----------------------------------------------------------------------------------

PROFILE = {
    "cluster": {"eksClusterName": "platform-dev"},
    "namespace": "migrations",
    "image": "ghcr.io/example/orders-migrations:1.0.0",
    "command": ["dbmate", "up"],
    "pollSeconds": 5,
    "rotationSettleSeconds": 0,
}


class StoryWorld:
    """One opted-in RDS instance with an RDS-managed secret, one cluster, one notifier."""

    def __init__(self, **profile: Any) -> None:
        import yaml

        self.clock = Clock()
        self.jobs = FakeJobs(self.clock)
        self.recorded = Recorded()
        self.executions = FakeExecutions()
        self.approvers = Approvers()
        self.images = FakeImages()
        self.snapshots = FakeSnapshots(self.clock)
        self.ledger = FakeLedger()
        self.requests = FakeRequests()
        self.announced = Announced()
        self.steps_taken: list[str] = []
        self.rds = FakeRds(
            sample_facts(
                tags={"migration-trigger:profile": "orders"},
                managed_secret_arn=SECRET_ARN,
                created="2026-11-01T09:00:00.000Z",
            )
        )
        self.secrets = FakeSecrets(
            SecretFacts(
                arn=SECRET_ARN,
                current_version="v1",
                tags={"aws:rds:primaryDBInstanceArn": DB_ARN},
                name="rds!db-orders",
                owning_service="rds",
            ),
            "app",
            PASSWORD,
        )
        env = {
            "ENVIRONMENT": "test",
            "CLUSTER_NAME": "platform-dev",
            "TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:migration-results",
            "AWS_REGION": REGION,
            "MIGRATION_PROFILES": json.dumps({"profiles": {"orders": {**PROFILE, **profile}}}),
            # A deployment whose profiles have run windows raises its execution timeout.
            "EXECUTION_TIMEOUT_SECONDS": str(
                31_622_400 if {"window", "approval"} & set(profile) else 86400
            ),
        }
        self.settings = Settings.from_env(env)
        template = yaml.safe_load((ROOT / "k8s" / "templates" / "migration-job.yaml").read_text())

        def jobs_for(_profile: Profile) -> FakeJobs:
            return self.jobs

        self.services = Services(
            settings=self.settings,
            rds=self.rds,
            secrets=self.secrets,
            notifiers=(self.recorded,),
            metrics=self.recorded,
            log=self.recorded,
            jobs_for=jobs_for,
            job_template=lambda: json.loads(json.dumps(template)),
            clock=self.clock,
            executions=self.executions,
            images=self.images,
            approvers=self.approvers,
            snapshots=self.snapshots,
            ledger=self.ledger,
            requests=self.requests,
            fleet_reports=self.announced,
        )

    def event(self, name: str = "rds-instance-created.json", **detail: Any) -> Obj:
        """A sample event from events/, pointed at this world's database or its secret."""
        from tests.helpers import pointed_event

        return dict(pointed_event(name, DB_ARN, SECRET_ARN, **detail))

    def run(self, event: Obj) -> tuple[Obj | None, str | None]:
        """Run the story on one event; (its result document, or the error that failed it)."""
        world = self

        class Recording(InlineSteps):
            def wait(self, name: str, seconds: int) -> None:
                world.steps_taken.append(f"wait:{name}")
                super().wait(name, seconds)

        steps = Recording(sleep=self.clock.advance, on_step=self.steps_taken.append)
        self.executions.statuses[steps.execution_id] = "RUNNING"
        try:
            document = run_invocation(event, steps, self.services)
        except Exception as error:
            self.executions.statuses[steps.execution_id] = "FAILED"
            return None, str(error)
        self.executions.statuses[steps.execution_id] = "SUCCEEDED"
        assert isinstance(document, dict)
        return document, None

    def run_durably(self, event: Obj | list[Obj]) -> Ended:
        """Run the story on an event (or a batch) as a durable execution, through the durable
        execution SDK as in Lambda, every suspension a new invocation that replays the
        operations so far (tests/durable.py), on this world's virtual clock."""
        from aws_durable_execution_sdk_python import DurableContext, durable_execution

        from migration_trigger.steps import DurableSteps

        @durable_execution
        def handler(event: Any, context: DurableContext) -> Any:
            return run_invocation(event, DurableSteps(context), self.services)

        ended = run_to_end(
            handler,
            event,
            clock=self.clock,
            advance=self.clock.advance,
            answer=self.approvers.answer,
        )
        # Lambda would now answer GetDurableExecution with how it ended.
        self.executions.statuses[ARN.format(id=ended.history[0]["Id"])] = ended.status
        self.steps_taken.extend(
            f"{op['Type'].lower()}:{op['Name']}"
            if op["Type"] in ("WAIT", "CALLBACK")
            else op["Name"]
            for op in ended.history[1:]
        )
        return ended

    def job_ahead(self, script: PodScript, execution: str = "other-execution") -> str:
        """A Job of the same database another execution created and started a moment ago
        (Lambda reports that execution RUNNING); returns its name."""
        name = self.job_left(execution, script=script)
        self.executions.statuses[execution] = "RUNNING"
        self.clock.advance(5)
        return name

    def job_left(
        self,
        execution: str,
        *,
        script: PodScript | None = None,
        start_by: float | None = None,
        event: str = "rds-instance-created.json",
    ) -> str:
        """A Job of this database that `execution` created for `event` (with this start-by
        time), started with `script` if one is given, left suspended otherwise; its name."""
        from migration_trigger.domain import jobspec
        from migration_trigger.domain.events import parse_event
        from tests.helpers import sample_plan

        trigger = parse_event(self.event(event))
        plan = sample_plan(self.settings.profiles["orders"], trigger)._replace(execution=execution)
        start_by = self.clock.now + 3600 if start_by is None else start_by
        manifest = jobspec.render_job(self.services.job_template(), plan, start_by=start_by)
        self.jobs.create_job(manifest)
        if script is not None:
            self.jobs.scripts.insert(0, script)
            self.jobs.resume(plan.name)
        return str(plan.name)

    def start_times(self) -> list[float]:
        """When each Job is un-suspended from now on (the virtual clock's time), as a list that
        fills as the story runs."""
        started: list[float] = []
        resume = self.jobs.resume

        def resumed(name: str) -> None:
            started.append(self.clock.now)
            resume(name)

        self.jobs.resume = resumed  # type: ignore[method-assign]
        return started

    def results(self) -> list[Result]:
        return self.recorded.metrics
