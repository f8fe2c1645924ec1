"""The local stack: AWS (moto server), EKS (the Kubernetes emulator, or the real control plane
that `make setup-kubernetes` builds), PostgreSQL, wired as production is.

The function's IAM role is mapped to the `migration-trigger` Kubernetes group by an access entry,
the project's k8s/ RBAC is loaded, EventBridge rules carry template.yaml's patterns, and the RDS
instance's endpoint and managed secret point at the local PostgreSQL.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import yaml
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore
from moto.server import ThreadedMotoServer

from kube_emulator import Emulator, PodRunner, StaticToken
from local_stack.container_runner import ContainerPodRunner
from local_stack.docker_engine import CACHE, DockerEngine, DockerUnavailableError
from local_stack.durable_service import durable_function
from local_stack.iam import DEFAULT_CONDITIONS, Enforcer, function_enforcer, gate
from local_stack.pod_image import ensure_example_images
from local_stack.pod_runner import ProcessPodRunner
from local_stack.postgres import LocalPostgres
from local_stack.runtime_image import ImageBuildError
from local_stack.template import ROOT, deployed, function_events, resolve
from local_stack.world import (
    FUNCTION_GROUP,
    assume_role,
    create_eks_cluster,
    create_ledger,
    eks_authenticator,
    emulator_config,
    queue_arn,
    start_moto_server,
    topic_with_queue,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CLUSTER = "platform-dev"
FUNCTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/migration-trigger-local"
#: The ledger table, as template.yaml names it for the environment `local`.
LEDGER = "migration-trigger-local-ledger"
PROFILE_TAG = "migration-trigger:profile"
DUMMY_KEY, DUMMY_SECRET = "AKIALOCALSTACK000001", "local-stack-secret"  # not a credential
#: The AWS CLI / boto3 profile of the local account's administrator (moto's static keys).
ADMIN_PROFILE = "local-admin"
#: Seconds a delivered event's execution may run: the template's ExecutionTimeoutSeconds default.
EXECUTION_TIMEOUT = 86400
#: The AWS CLI / boto3 profile of a person who answers requests for approval.
APPROVER_PROFILE = "local-approver"
APPROVER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/platform-approver"
#: The sample events in events/ name this secret; orders-db's managed secret gets its name.
SAMPLE_SECRET = "rds!db-3f1c9a2e-7d4b-4e1a-9c8f-0a1b2c3d4e5f"
SAMPLE_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SAMPLE_SECRET}-AbCdEf"
#: Images the local stack can "run": each maps to a directory standing in for its filesystem.
IMAGES = {
    "ghcr.io/example/orders-db-migrations:demo": ROOT / "examples" / "orders-db",
    "ghcr.io/example/broken-migrations:demo": ROOT / "examples" / "broken-db",
    "ghcr.io/example/ledger-db-migrations:demo": ROOT / "examples" / "ledger-db",
}
#: How pods run: `process` (a local process, the default: fast, no Docker), `container` (a
#: container built from the image's example directory, the security context enforced by the
#: runtime; fails if no Docker engine runs or can be started), `auto` (containers when they can
#: run here, processes otherwise).
POD_RUNNERS = ("auto", "container", "process")
#: The Kubernetes the stack runs: the emulator (ours, starts at once), or the real control plane
#: (kube-apiserver, controllers, scheduler, etcd; built by `make setup-kubernetes`).
CLUSTERS = ("emulator", "real")


def emulator_manifests() -> list[Any]:
    """What of k8s/ the emulator takes: the namespace, the RBAC and the admission policies."""
    manifests: list[Any] = []
    for name in ("namespace.yaml", "rbac.yaml", "validating-admission-policy.yaml"):
        manifests += list(yaml.safe_load_all((ROOT / "k8s" / name).read_text()))
    return manifests


def _the_function(event: Any, context: Any) -> Any:
    """The Lambda handler, imported once the stack's environment is set (wiring reads it)."""
    from migration_trigger.handler import lambda_handler

    return lambda_handler(event, context)


def demo_profiles() -> dict[str, Any]:
    """Profiles of the local stack: dbmate applying the example migrations."""
    base = {
        "cluster": {"eksClusterName": CLUSTER},
        "namespace": "migrations",
        "command": ["dbmate", "--no-dump-schema", "--wait", "--wait-timeout", "20s", "up"],
        # The example dbmate profile's check (k8s/profiles/examples.json): exit 1 and
        # `Pending: N` when migrations are pending.
        "checkCommand": ["dbmate", "--wait", "--wait-timeout", "20s", "status", "--exit-code"],
        "checkPending": {"exitCodes": [1], "logMatches": "^Pending: [1-9]"},
        "credentials": "ephemeral-secret",
        "databaseUrlQuery": "sslmode=disable",
        "activeDeadlineSeconds": 300,
        "pollSeconds": 2,
        "rotationSettleSeconds": 1,
    }
    return {
        "profiles": {
            "demo": {**base, "image": "ghcr.io/example/orders-db-migrations:demo"},
            "demo-broken": {**base, "image": "ghcr.io/example/broken-migrations:demo"},
            # Production: a person approves exactly the Job that will run, and RDS snapshots the
            # database before it starts (the two newest of ours kept).
            "demo-prod": {
                **base,
                "image": "ghcr.io/example/orders-db-migrations:demo",
                "approval": {"required": True, "timeoutSeconds": 600},
                "snapshotBeforeMigration": True,
                "snapshotTimeoutSeconds": 300,
                "keepSnapshots": 2,
                "pollSeconds": 5,
            },
            # Production, guarded: a migration gives up on a held lock after 2 s, and a failure
            # that says so is tried again after a pause.
            "demo-guarded": {
                **base,
                "image": "ghcr.io/example/ledger-db-migrations:demo",
                "sessionSettings": {"lock_timeout": "2s"},
                # Two attempts in full must fit the execution's operations (the profile check).
                "pollSeconds": 5,
                "waitForAvailableSeconds": 300,
                "queueTimeoutSeconds": 300,
                "retry": {"attempts": 2, "delaySeconds": 3, "whenLogMatches": "lock timeout|55P03"},
            },
        }
    }


class Rule(NamedTuple):
    """One of template.yaml's EventBridge rules as deployed: its bus and its pattern."""

    bus: str
    pattern: dict[str, Any]


def requests_bus(environment: str) -> str:
    """The name of the bus manual requests go to (template.yaml's RequestsBus)."""
    return f"migration-trigger-{environment}-requests"


def sweep_schedule() -> tuple[str, float | None]:
    """template.yaml's Sweep schedule as deployed with its defaults, and its period in seconds
    when it is a rate (None for a cron expression, which the local stack does not run)."""
    context = deployed(region=REGION, account=ACCOUNT, conditions={"HasSweepSchedule": True})
    expression = str(resolve(function_events()["Sweep"]["Schedule"], context))
    match = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    if match is None:
        return expression, None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match[2]]
    return expression, float(int(match[1]) * unit)


def template_rules(
    *, self_managed_secret_prefix: str = "", environment: str = "dev"
) -> dict[str, Rule]:
    """template.yaml's enabled EventBridge rules, by name, as deployed here."""
    context = deployed(
        region=REGION,
        account=ACCOUNT,
        refs={
            "SelfManagedSecretPrefix": self_managed_secret_prefix,
            "RequestsBus": requests_bus(environment),
            "SpokesBus": f"migration-trigger-{environment}-spokes",
        },
        conditions={
            "HasSelfManagedSecretPrefix": bool(self_managed_secret_prefix),
            "HasSpokes": False,
        },
    )
    return {
        name: Rule(
            resolve(event.get("EventBusName", "default"), context),
            resolve(event["Pattern"], context),
        )
        for name, event in function_events().items()
        if event["Type"] == "EventBridgeRule"
        and resolve(event.get("State", "ENABLED"), context) == "ENABLED"
    }


@dataclass
class Database:
    """An RDS instance of the local stack, backed by a PostgreSQL database."""

    identifier: str
    arn: str
    secret_arn: str
    username: str
    password: str = field(repr=False)


@dataclass
class LocalStack:
    """Start with `start()`; `stop()` leaves no process or directory behind."""

    on_pod_output: Callable[[dict[str, Any], str], None] | None = None
    #: One of POD_RUNNERS.
    pod_runner: str = "process"
    #: One of CLUSTERS: the emulator (starts at once) or the real control plane.
    cluster: str = "emulator"
    #: Told what takes time while starting (the first build of the pod images takes minutes).
    on_status: Callable[[str], None] | None = None
    #: Which runner runs the pods, and why: set by `start()`.
    pod_runner_choice: str = field(init=False, default="")
    directory: Path = field(init=False)
    moto: ThreadedMotoServer = field(init=False)
    postgres: LocalPostgres = field(init=False)
    #: The durable executions the local stack's function ran (the demo's), and Lambda's
    #: durable-execution API over them (GetDurableExecution, the callback answers), which moto
    #: does not model; the runner that runs the function durably.
    executions: InMemoryExecutionStore = field(init=False)
    lambda_url: str = field(init=False)
    runner: Any = field(init=False)
    #: The Kubernetes API the function and kubectl talk to (`url`, `ca_data`, `kubeconfig()`):
    #: an Emulator, or a control_plane.ControlPlane.
    kubernetes: Any = field(init=False)
    aws_url: str = field(init=False)
    topic_arn: str = field(init=False)
    notifications_queue: str = field(init=False)
    inbox_queue: str = field(init=False)
    function_credentials: dict[str, str] = field(init=False, repr=False)
    #: The function's requests, as template.yaml's policy judged them.
    iam: Enforcer = field(init=False)
    admin_token: str = field(init=False, repr=False)
    databases: dict[str, Database] = field(default_factory=dict)
    _unservable: set[str] = field(default_factory=set)
    _deliveries: int = 0
    _next_sweep: float | None = None
    _started: list[Callable[[], None]] = field(default_factory=list)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start everything; on failure, stop what had started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="migration-trigger-local-"))
        self._started.append(lambda: shutil.rmtree(self.directory, ignore_errors=True))
        # The AWS emulator's request log would bury the story.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.moto, self.aws_url = start_moto_server()
        self._started.append(self.moto.stop)
        # moto's server keeps its state in the process: a second stack in one process (make bench)
        # would find the first one's cluster, databases and topics.
        reset = f"{self.aws_url}/moto-api/reset"  # the local moto server just started: http
        urllib.request.urlopen(urllib.request.Request(reset, method="POST")).close()  # noqa: S310
        self.postgres = LocalPostgres().start()
        self._started.append(self.postgres.stop)
        self.executions = InMemoryExecutionStore()
        api = contextlib.ExitStack()
        self.lambda_url, self.runner = api.enter_context(
            durable_function(_the_function, self.executions, region=REGION, skip_time=False)
        )
        self._started.append(api.close)
        self.admin_token = secrets.token_urlsafe(24)
        if self.cluster not in CLUSTERS:
            raise ValueError(f"cluster must be one of {CLUSTERS}, not {self.cluster!r}")
        runner = self._pod_runner()
        admin = StaticToken(self.admin_token, "local-admin")
        if self.cluster == "real":
            self.kubernetes = self._control_plane(runner, admin)
        else:
            self.kubernetes = self._emulator(runner, admin)
        self._aws_world()
        (self.directory / "profiles.json").write_text(json.dumps(demo_profiles(), indent=2))
        kubeconfig = self.kubernetes.kubeconfig(token=self.admin_token, namespace="migrations")
        (self.directory / "kubeconfig").write_text(json.dumps(kubeconfig, indent=2))
        (self.directory / "kubeconfig").chmod(0o600)
        # The shell acts as the function (its role's credentials, its policy); `--profile
        # local-admin` acts as the account's administrator (create databases, tag, put secrets);
        # `--profile local-approver` as a person who answers requests for approval.
        approver = assume_role(sts=self.client("sts"), role_arn=APPROVER_ROLE, session_name="alex")
        (self.directory / "aws-credentials").write_text(
            f"[{ADMIN_PROFILE}]\naws_access_key_id = {DUMMY_KEY}\n"
            f"aws_secret_access_key = {DUMMY_SECRET}\n"
            f"[{APPROVER_PROFILE}]\naws_access_key_id = {approver['aws_access_key_id']}\n"
            f"aws_secret_access_key = {approver['aws_secret_access_key']}\n"
            f"aws_session_token = {approver['aws_session_token']}\n"
        )
        (self.directory / "aws-credentials").chmod(0o600)

    def _emulator(self, runner: PodRunner, admin: StaticToken) -> Emulator:
        emulator = Emulator(
            emulator_config(
                cluster=CLUSTER,
                sts_endpoint=self.aws_url,
                static_key=DUMMY_KEY,
                static_secret=DUMMY_SECRET,
                function_role=FUNCTION_ROLE,
                static_tokens=(admin,),
                backoff_seconds=1.0,
            ),
            runner=runner,
        ).start()
        self._started.append(emulator.stop)
        emulator.apply_all(emulator_manifests())
        return emulator

    def _control_plane(self, runner: PodRunner, admin: StaticToken) -> Any:
        """The real control plane (devtools/README.md), authenticating EKS tokens against moto
        as the emulator does, with k8s/ installed as `kubectl apply -f k8s/` does."""
        from control_plane import ControlPlane

        if self.on_status is not None:
            self.on_status("starting the real Kubernetes control plane (etcd, kube-apiserver, ...)")
        authenticator = eks_authenticator(
            cluster=CLUSTER,
            sts_endpoint=self.aws_url,
            static_key=DUMMY_KEY,
            static_secret=DUMMY_SECRET,
            function_role=FUNCTION_ROLE,
            static_tokens=(admin,),
        )
        plane = ControlPlane(authenticator=authenticator, runner=runner).start()
        self._started.append(plane.stop)
        plane.install(ROOT / "k8s", group=FUNCTION_GROUP)
        return plane

    def jobs(self, namespace: str = "migrations") -> list[dict[str, Any]]:
        """The Jobs in a namespace, as the cluster holds them."""
        if isinstance(self.kubernetes, Emulator):
            items, _ = self.kubernetes.store.select(self.kubernetes.store_types["jobs"], namespace)
            return items
        listed: list[dict[str, Any]] = self.kubernetes.admin.get(
            f"/apis/batch/v1/namespaces/{namespace}/jobs"
        )["items"]
        return listed

    def _pod_runner(self) -> PodRunner:
        """The runner `pod_runner` asks for, or processes when `auto` finds no way to containers."""
        if self.pod_runner not in POD_RUNNERS:
            raise ValueError(f"pod_runner must be one of {POD_RUNNERS}, not {self.pod_runner!r}")
        why = f"pod runner {self.pod_runner!r} asked for"
        if self.pod_runner != "process":
            try:
                return self._container_runner()
            except (DockerUnavailableError, ImageBuildError) as error:
                if self.pod_runner == "container":
                    raise
                why = f"containers cannot run here: {str(error).splitlines()[0]}"
        self.pod_runner_choice = f"local processes, each image an examples/ directory ({why})"
        return ProcessPodRunner(
            images=IMAGES,
            path=[str(ROOT / "tools" / "node_modules" / ".bin")],
            on_output=self.on_pod_output,
        )

    def _container_runner(self) -> ContainerPodRunner:
        engine = DockerEngine().start()
        try:
            CACHE.mkdir(parents=True, exist_ok=True)
            images = ensure_example_images(
                engine,
                IMAGES,
                log=CACHE / "pod-images.log",
                announce=self.on_status or (lambda _: None),
            )
        except BaseException:
            engine.stop()
            raise
        self._started.append(engine.stop)
        runner = ContainerPodRunner(engine=engine, images=images, on_output=self.on_pod_output)
        self._started.append(runner.close)
        whose = "started by the local stack" if engine.started else "already running"
        self.pod_runner_choice = (
            f"containers (Docker engine {whose}; images built from examples/: "
            f"{', '.join(sorted(images.values()))})"
        )
        return runner

    def stop(self) -> None:
        """Stop in reverse order of starting."""
        while self._started:
            stop = self._started.pop()
            with contextlib.suppress(Exception):  # keep stopping the rest
                stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- AWS -----------------------------------------------------------------------------------

    def client(self, service: str, **credentials: str) -> Any:
        """A boto3 client on the local AWS, as the admin (dummy keys) unless told otherwise."""
        creds = credentials or {
            "aws_access_key_id": DUMMY_KEY,
            "aws_secret_access_key": DUMMY_SECRET,
        }
        return boto3.session.Session().client(
            service, region_name=REGION, endpoint_url=self.aws_url, **creds
        )  # type: ignore[call-overload]

    def _aws_world(self) -> None:
        create_eks_cluster(
            eks=self.client("eks"),
            name=CLUSTER,
            role_arn=f"arn:aws:iam::{ACCOUNT}:role/eks-cluster",
            subnet_id="subnet-local",
            emulator=self.kubernetes,
        )
        self.function_credentials = assume_role(
            sts=self.client("sts"), role_arn=FUNCTION_ROLE, session_name="migration-trigger"
        )
        sqs = self.client("sqs")
        self.topic_arn, self.notifications_queue = topic_with_queue(
            sns=self.client("sns"),
            sqs=sqs,
            topic_name="migration-trigger-results-local",
            queue_name="results-subscription",
        )
        self.ledger_arn = create_ledger(dynamodb=self.client("dynamodb"), name=LEDGER)
        # The function's place as the rules' target: events land in this queue, and the local
        # runner hands each to the function, as EventBridge invokes it.
        self.inbox_queue = sqs.create_queue(QueueName="function-inbox")["QueueUrl"]
        inbox_arn = queue_arn(sqs=sqs, queue_url=self.inbox_queue)
        events = self.client("events")
        for name, rule in template_rules(environment="local").items():
            if rule.bus != "default":
                events.create_event_bus(Name=rule.bus)
            events.put_rule(Name=name, EventBusName=rule.bus, EventPattern=json.dumps(rule.pattern))
            events.put_targets(
                Rule=name, EventBusName=rule.bus, Targets=[{"Id": "function", "Arn": inbox_arn}]
            )
        # Whatever process runs the function (the demo, the CLI in a shell), moto answers its
        # requests under template.yaml's policy, as AWS would.
        self.iam = function_enforcer(
            access_key=self.function_credentials["aws_access_key_id"],
            role_arn=FUNCTION_ROLE,
            region=REGION,
            account=ACCOUNT,
            refs={
                "ClusterName": CLUSTER,
                "ResultsTopic": self.topic_arn,
                "DataKey.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/local-data-key",
                "Ledger": LEDGER,
                "Ledger.Arn": self.ledger_arn,
                "RequestsBus": requests_bus("local"),
                "RequestsBus.Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/"
                + requests_bus("local"),
            },
            # The demo's production profile snapshots before migrating.
            conditions={**DEFAULT_CONDITIONS, "TakesSnapshots": True},
        )
        gate(self.moto, self.iam)

    def create_database(
        self, identifier: str, *, profile: str | None, sample_secret: bool = False
    ) -> Database:
        """An RDS instance with an RDS-managed secret, served by a new PostgreSQL database."""
        tags = [{"Key": PROFILE_TAG, "Value": profile}] if profile else []
        self.client("rds").create_db_instance(
            DBInstanceIdentifier=identifier,
            Engine="postgres",
            DBInstanceClass="db.t4g.micro",
            MasterUsername="app",
            ManageMasterUserPassword=True,
            DBName=identifier.replace("-", "_"),
            Tags=tags,
        )
        database = self._serve(identifier, sample_secret=sample_secret)
        assert database is not None
        return database

    def adopt_databases(self) -> list[Database]:
        """Serve RDS instances created through the API (AWS CLI, boto3) from PostgreSQL too."""
        from moto.rds.models import rds_backends

        adopted = []
        for identifier in list(rds_backends[ACCOUNT][REGION].databases):
            if identifier not in self.databases and identifier not in self._unservable:
                database = self._serve(identifier)
                if database is not None:
                    adopted.append(database)
        return adopted

    def deliver(self, on_result: Callable[[dict[str, Any], Any], None]) -> list[str]:
        """Hand the function each event the template's rules delivered since the last call, as
        EventBridge invokes it: each its own durable execution, started asynchronously (the
        message leaves the inbox once the execution has started; one that cannot start stays,
        and is tried again, as a rule retries a failed delivery). `on_result(event, outcome)`
        is called when each ends. Returns the names of the executions started."""
        sqs = self.client("sqs")
        started = []
        batch = sqs.receive_message(QueueUrl=self.inbox_queue, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        for message in batch:
            event = json.loads(message["Body"])
            self._deliveries += 1
            name = f"delivered-{self._deliveries}"
            arn = self.runner.run_async(
                input=message["Body"], execution_timeout=EXECUTION_TIMEOUT, execution_name=name
            )
            sqs.delete_message(QueueUrl=self.inbox_queue, ReceiptHandle=message["ReceiptHandle"])
            threading.Thread(
                target=lambda arn=arn, event=event: on_result(
                    event, self.runner.wait_for_result(arn, timeout=EXECUTION_TIMEOUT)
                ),
                name=name,
                daemon=True,
            ).start()
            started.append(name)
        return started

    def sweep_if_due(self, now: float | None = None) -> bool:
        """Put the sweep's "Scheduled Event" in the function's inbox when template.yaml's Sweep
        schedule (a rate) is due, as EventBridge's scheduled rule delivers it; whether it did."""
        now = time.monotonic() if now is None else now
        _, period = sweep_schedule()
        if period is None:
            return False
        if self._next_sweep is None:
            self._next_sweep = now + period
        if now < self._next_sweep:
            return False
        self._next_sweep = now + period
        event = json.loads((ROOT / "events" / "scheduled-sweep.json").read_text())
        event.update(
            id=str(uuid.uuid4()),
            time=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            resources=[f"arn:aws:events:{REGION}:{ACCOUNT}:rule/migration-trigger-local-sweep"],
        )
        self.client("sqs").send_message(QueueUrl=self.inbox_queue, MessageBody=json.dumps(event))
        return True

    def requests_entries(self) -> Path:
        """events/manual-retrigger.put-events.json, put on this stack's requests bus: for
        `aws --profile local-admin events put-events --entries file://…`."""
        entries = json.loads((ROOT / "events" / "manual-retrigger.put-events.json").read_text())
        for entry in entries:
            entry["EventBusName"] = requests_bus("local")
        path = self.directory / "manual-retrigger.put-events.json"
        path.write_text(json.dumps(entries, indent=2))
        return path

    def _serve(self, identifier: str, *, sample_secret: bool = False) -> Database | None:
        """Back one moto RDS instance with a PostgreSQL database, role and managed secret."""
        from moto.rds.models import DBInstance, rds_backends

        instance = rds_backends[ACCOUNT][REGION].databases[identifier]
        secret = getattr(instance, "master_user_secret", None)
        if "postgres" not in instance.engine or secret is None:
            # Only what the product migrates locally: PostgreSQL with an RDS-managed secret.
            self._unservable.add(identifier)
            return None
        name = instance.db_name or identifier.replace("-", "_")
        # One role per database: RDS master users are per instance, PostgreSQL roles per server.
        username = f"{instance.master_username or 'app'}_{identifier.replace('-', '_')}"
        password = secrets.token_urlsafe(18)
        self.postgres.sql(f'CREATE ROLE "{username}" LOGIN')
        self.postgres.sql(f'CREATE DATABASE "{name}" OWNER "{username}"')
        # moto derives the endpoint from the identifier; point it at the local server instead.
        instance.__class__ = type(
            "LocalDBInstance", (DBInstance,), {"address": property(lambda _self: "127.0.0.1")}
        )
        instance.port = self.postgres.port
        instance.db_name = name
        secret_arn = secret.secret_arn
        if sample_secret:
            secret_arn = self._rename_secret(secret_arn)
        database = Database(identifier, instance.arn, secret_arn, username, password)
        self.databases[identifier] = database
        self.set_password(identifier, secret_arn, username, password)
        return database

    def set_password(self, identifier: str, secret_arn: str, username: str, password: str) -> str:
        """Rotate as RDS does: the database, then the secret's AWSCURRENT; returns the version."""
        self.postgres.sql(f"ALTER ROLE \"{username}\" PASSWORD '{password}'")
        put = self.client("secretsmanager").put_secret_value(
            SecretId=secret_arn,
            SecretString=json.dumps({"username": username, "password": password}),
        )
        if identifier in self.databases:
            self.databases[identifier].password = password
        return str(put["VersionId"])

    @staticmethod
    def _rename_secret(arn: str) -> str:
        from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

        store = secretsmanager_backends[ACCOUNT][REGION].secrets
        secret = store.pop(arn)
        if not isinstance(secret, FakeSecret):
            raise RuntimeError(f"moto has no secret {arn}")
        secret.name = secret.secret_id = SAMPLE_SECRET
        secret.arn = SAMPLE_SECRET_ARN
        store[SAMPLE_SECRET] = secret
        return SAMPLE_SECRET_ARN

    # -- what a shell needs --------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """Variables that point the CLI, boto3, the AWS CLI and kubectl at this stack."""
        creds = self.function_credentials
        return {
            "AWS_ENDPOINT_URL": self.aws_url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": creds["aws_session_token"],
            "KUBECONFIG": str(self.directory / "kubeconfig"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.directory / "aws-credentials"),
            "ENVIRONMENT": "local",
            "CLUSTER_NAME": CLUSTER,
            "MIGRATION_PROFILES_FILE": str(self.directory / "profiles.json"),
            "TOPIC_ARN": self.topic_arn,
            "LEDGER_TABLE": LEDGER,
            "REQUESTS_BUS": requests_bus("local"),
        }
