"""A world for the orchestrator: moto as AWS, a Kubernetes cluster as EKS, the handler run durably.

The function runs as its IAM role (credentials issued by moto's STS), authenticates to the
cluster with a presigned token, and is authorized by the project's k8s/ RBAC. The cluster is the
one MIGRATION_TRIGGER_CLUSTER chooses for tests marked ON_CHOSEN_CLUSTERS: the real control plane
(tests/fixtures.py `control_plane`: real kube-apiserver, controllers, scheduler, and a node whose
pods play the same scripts), the emulator, or each in turn; the emulator for the rest.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore

from kube_emulator import Emulator, Fault, PodScript, ScriptedRunner
from kube_emulator.faults import FaultInjector, RequestLog
from local_stack.durable_service import durable_execution_api, durable_function
from local_stack.iam import Enforcer, approvers_enforcer, enforce_on_default_session
from local_stack.world import assume_role, create_eks_cluster, create_ledger, topic_with_queue
from migration_trigger.wiring import reset_caches
from tests.fixtures import (
    ACCOUNT,
    CLUSTER,
    FUNCTION_ROLE,
    REGION,
    admin_client,
    assume_function_role,
    clusters_under_test,
)
from tests.helpers import manifests, pointed_event

CANARY = "canary-Pa55:w/rd@#%-do-not-leak"
PROFILE_TAG = "migration-trigger:profile"
#: The ledger table, as template.yaml names it for the environment `test`.
LEDGER = "migration-trigger-test-ledger"
#: The requests bus, as template.yaml names it for the environment `test`.
REQUESTS_BUS = "migration-trigger-test-requests"
JOBS = "/apis/batch/v1/namespaces/migrations/jobs"


def profiles(**overrides: Any) -> dict[str, Any]:
    base = {
        "cluster": {"eksClusterName": CLUSTER},
        "namespace": "migrations",
        "image": "ghcr.io/example/orders-migrations:1.0.0",
        "command": ["dbmate", "up"],
        "credentials": "ephemeral-secret",
        "pollSeconds": 2,
        "rotationSettleSeconds": 0,
    }
    return {
        "profiles": {
            "orders": {**base, **overrides},
            "reports": {**base, "triggers": ["manual"]},
            "arn-mode": {**base, "credentials": "secret-arn", "serviceAccount": "migration-runner"},
        }
    }


@dataclass
class Run:
    """One durable execution's outcome."""

    status: InvocationStatus
    result: Any
    error: str | None
    operations: list[Any] = field(default_factory=list)
    #: Every checkpointed operation, as Lambda's durable API sends them on replay
    #: (`InitialExecutionState.Operations`).
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, runner: DurableFunctionTestRunner, arn: str, timeout: int) -> Run:
        """The execution `arn` of `runner`, once it has ended."""
        outcome = runner.wait_for_result(arn, timeout=timeout)
        # The testing SDK keeps the service's own operation records in its store.
        stored = runner._store.load(arn).operations
        return cls(
            outcome.status,
            json.loads(outcome.result) if outcome.result else None,
            outcome.error.message if outcome.error else None,
            outcome.operations,
            [operation.to_json_dict() for operation in stored],
        )


#: Run a test on the clusters MIGRATION_TRIGGER_CLUSTER chooses (the real control plane in
#: `make test`; the emulator, or both).
ON_CHOSEN_CLUSTERS = pytest.mark.parametrize("world", clusters_under_test(), indirect=True)


class _Cluster:
    """What the world needs of a cluster, whichever it is."""

    #: "emulator" or "real" (with MIGRATION_TRIGGER_CLUSTER=kubeconfig the world is skipped).
    kind: str
    url: str
    ca_data: str
    #: Every request the function made, with hooks run before each is served.
    requests: RequestLog
    #: Arm a fault on the function's requests.
    fault: Callable[[Fault], None]
    #: The faults armed.
    faults: FaultInjector
    #: How the cluster checks EKS tokens (and static ones).
    authenticator: Any

    def apply_all(self, documents: list[Any]) -> None:
        """Create or replace these objects as an administrator."""
        raise NotImplementedError

    def select(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        """The objects of a resource (jobs, secrets, pods) in a namespace."""
        raise NotImplementedError

    def get(self, resource: str, name: str) -> dict[str, Any] | None:
        """One object of the migrations namespace as an administrator, or None."""
        raise NotImplementedError

    def patch(self, resource: str, name: str, merge: dict[str, Any]) -> None:
        """A JSON merge patch of an object in the migrations namespace, as an administrator."""
        raise NotImplementedError

    def delete(self, resource: str, name: str) -> None:
        """Delete an object of the migrations namespace as an administrator (background)."""
        raise NotImplementedError

    def advance_kubelet_clock(self, seconds: float) -> None:
        """Move the node's timers (image pull back-off, a waiting reason's duration) ahead."""
        raise NotImplementedError

    def expire_deadline(self, job: str, deadline: int) -> int:
        """Make the Job's `deadline` (its activeDeadlineSeconds) pass; returns the deadline the
        Job ends with."""
        raise NotImplementedError

    def unschedulable(self, pods: ScriptedRunner) -> tuple[dict[str, Any], str]:
        """Profile keys whose pod no node can take, and the scheduler's message about it."""
        raise NotImplementedError

    def kubeconfig(self, token: str, context: str) -> dict[str, Any]:
        """A kubeconfig for the function's endpoint with one context, presenting `token`."""
        raise NotImplementedError


#: What the emulator's scheduler says of a pod no node can take (the real scheduler's words).
SCHEDULER = (
    "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: "
    "3 No preemption victims found for incoming pod."
)


class _Emulated(_Cluster):
    kind = "emulator"

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.url, self.ca_data = emulator.url, emulator.ca_data
        self.requests = emulator.requests
        self.authenticator = emulator.authenticator
        self.fault = emulator.fault
        self.faults = emulator.faults

    def apply_all(self, documents: list[Any]) -> None:
        self.emulator.apply_all(documents)

    def select(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        items, _ = self.emulator.store.select(self.emulator.store_types[resource], namespace)
        return items

    def get(self, resource: str, name: str) -> dict[str, Any] | None:
        return self.emulator.store.find(self.emulator.store_types[resource], "migrations", name)

    def patch(self, resource: str, name: str, merge: dict[str, Any]) -> None:
        from kube_emulator.api import merge_patch

        def change(obj: dict[str, Any]) -> None:
            merged = merge_patch(obj, merge)
            obj.clear()
            obj.update(merged)

        self.emulator.store.mutate(self.emulator.store_types[resource], "migrations", name, change)

    def delete(self, resource: str, name: str) -> None:
        self.emulator.store.delete(
            self.emulator.store_types[resource], "migrations", name, "Background"
        )

    def advance_kubelet_clock(self, seconds: float) -> None:
        self.emulator.advance_clock(seconds)

    def expire_deadline(self, job: str, deadline: int) -> int:
        # One clock for the whole emulator: the Job controller's deadline passes with it.
        self.emulator.advance_clock(deadline + 1)
        return deadline

    def unschedulable(self, pods: ScriptedRunner) -> tuple[dict[str, Any], str]:
        pods.when(PodScript(unschedulable=SCHEDULER))
        return {}, SCHEDULER

    def kubeconfig(self, token: str, context: str) -> dict[str, Any]:
        document = self.emulator.kubeconfig(token=token)
        document["contexts"][0]["name"] = document["current-context"] = context
        return document


class _Real(_Cluster):
    kind = "real"
    _PATHS: ClassVar[dict[str, str]] = {
        "jobs": "/apis/batch/v1/namespaces/{}/jobs",
        "secrets": "/api/v1/namespaces/{}/secrets",
    }

    def __init__(self, plane: Any) -> None:
        self.plane = plane
        # The function is pointed at the fault-injecting proxy in front of the apiserver.
        self.url, self.ca_data = plane.proxy.url, plane.ca_data
        self.requests = plane.proxy.requests
        self.authenticator = plane.authenticator
        self.fault = plane.proxy.fault
        self.faults = plane.proxy.faults

    def apply_all(self, documents: list[Any]) -> None:
        import yaml

        path = Path(tempfile.mkdtemp()) / "manifests.yaml"
        path.write_text(yaml.safe_dump_all([d for d in documents if d]))
        try:
            self.plane.kubectl("apply", "-f", str(path))
        finally:
            path.unlink()

    def select(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.plane.admin.get(self._path(resource, namespace)).get(
            "items", []
        )
        # As the emulator's store holds them: objects being deleted are still listed there too.
        return items

    def _path(self, resource: str, namespace: str = "migrations", name: str = "") -> str:
        path = self._PATHS.get(resource, "/api/v1/namespaces/{}/" + resource).format(namespace)
        return f"{path}/{name}" if name else path

    def get(self, resource: str, name: str) -> dict[str, Any] | None:
        from control_plane.admin import AdminError

        try:
            return self.plane.admin.get(self._path(resource, name=name))
        except AdminError as error:
            if error.status == 404:
                return None
            raise

    def patch(self, resource: str, name: str, merge: dict[str, Any]) -> None:
        self.plane.admin.patch(self._path(resource, name=name), merge)

    def delete(self, resource: str, name: str) -> None:
        self.plane.admin.delete(
            self._path(resource, name=name), {"propagationPolicy": "Background"}
        )

    def advance_kubelet_clock(self, seconds: float) -> None:
        self.plane.node.advance_clock(seconds)

    def expire_deadline(self, job: str, deadline: int) -> int:
        # The control plane's clock is real. An administrator may shorten a running Job's
        # activeDeadlineSeconds (mutable: pkg/apis/batch/validation ValidateJobSpecUpdate checks
        # only that it is not negative); the Job controller then stops the Job as at its
        # deadline: DeadlineExceeded, its pods deleted.
        self.patch("jobs", job, {"spec": {"activeDeadlineSeconds": 1}})
        return 1

    def unschedulable(self, pods: ScriptedRunner) -> tuple[dict[str, Any], str]:
        # The real scheduler decides: a pod for nodes that do not exist.
        # (v1.36's words: the dynamic-resource plugin adds its clause even with no claims.)
        message = (
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
            "no new claims to deallocate, preemption: 0/1 nodes are available: "
            "1 Preemption is not helpful for scheduling."
        )
        return {"nodeSelector": {"pool": "none"}}, message

    def kubeconfig(self, token: str, context: str) -> dict[str, Any]:
        document: dict[str, Any] = self.plane.kubeconfig(token=token)
        document["clusters"][0]["cluster"]["server"] = self.url  # through the proxy
        document["contexts"][0]["name"] = document["current-context"] = context
        return document


@dataclass
class World:
    """Handles on everything a test needs to arrange and observe."""

    emulator: Emulator | None
    pods: ScriptedRunner
    db_arn: str
    secret_arn: str
    queue_url: str
    monkeypatch: pytest.MonkeyPatch
    #: The function's AWS calls, checked against template.yaml's policy.
    iam: Enforcer
    skip_time: bool = True
    _sqs: Any = None
    #: Every execution run in this world, as Lambda's durable-execution API serves them.
    executions: InMemoryExecutionStore = field(default_factory=InMemoryExecutionStore)
    cluster: _Cluster | None = None

    def event(self, name: str, **detail: Any) -> dict[str, Any]:
        """A sample event from events/, pointed at this world's database or secret."""
        return dict(pointed_event(name, self.db_arn, self.secret_arn, **detail))

    def run(self, event: Any, *, name: str = "execution", timeout: int = 60) -> Run:
        """Invoke the Lambda handler as a durable execution, in-process."""
        from migration_trigger.handler import lambda_handler

        with DurableFunctionTestRunner(
            handler=lambda_handler, skip_time=self.skip_time, region=REGION, store=self.executions
        ) as runner:
            arn = runner.run_async(
                input=json.dumps(event), execution_timeout=timeout, execution_name=name
            )
            return Run.of(runner, arn, timeout)

    def run_answering(
        self, event: Any, answer: Callable[[dict[str, Any]], None], *, timeout: int = 120
    ) -> Run:
        """Run the function on an event whose migration asks for approval, with a person
        answering: `answer` gets the request as SNS delivered it to the topic's queue, while the
        execution waits. Lambda's durable-execution API, callbacks included, serves the
        execution at AWS_ENDPOINT_URL_LAMBDA (local_stack/durable_service.py)."""
        from migration_trigger.handler import lambda_handler

        with durable_function(
            lambda_handler, self.executions, region=REGION, skip_time=self.skip_time
        ) as (url, runner):
            self.monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", url)
            arn = runner.run_async(
                input=json.dumps(event), execution_timeout=timeout, execution_name="answered"
            )
            answer(self.approval_request())
            return Run.of(runner, arn, timeout)

    def approval_request(self, wait: float = 60) -> dict[str, Any]:
        """The next request for approval the topic's queue receives (other messages drained)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for message in self.notifications():
                attributes = message.get("MessageAttributes") or {}
                if attributes.get("status", {}).get("Value") == "approval_requested":
                    return message
            time.sleep(0.2)
        raise AssertionError("no request for approval reached the topic")

    def deploy_with(self, conditions: dict[str, bool], **parameters: str) -> None:
        """The function's policy as template.yaml gives it for these parameters and conditions."""
        import os

        from local_stack.iam import DEFAULT_CONDITIONS, function_policy
        from local_stack.template import deployed

        context = deployed(
            region=REGION,
            account=ACCOUNT,
            refs={**deployment_refs(os.environ["TOPIC_ARN"]), **parameters},
            conditions={**DEFAULT_CONDITIONS, **conditions},
        )
        self.iam.statements = function_policy(context)

    def set_profiles(self, document: dict[str, Any]) -> None:
        """Replace the deployment's profiles document."""
        self.monkeypatch.setenv("MIGRATION_PROFILES", json.dumps(document))

    def notifications(self) -> list[dict[str, Any]]:
        """SNS messages delivered so far to the subscribed queue (drained)."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self._sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self._sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def jobs(self) -> list[dict[str, Any]]:
        """Jobs in the migrations namespace, as the cluster holds them."""
        assert self.cluster is not None
        return self.cluster.select("jobs", "migrations")

    @property
    def requests(self) -> RequestLog:
        """The function's requests to the cluster, as it received them."""
        assert self.cluster is not None
        return self.cluster.requests

    def fault(self, fault: Fault) -> None:
        """Make the cluster fail the function's matching requests."""
        assert self.cluster is not None
        self.cluster.fault(fault)

    @property
    def authenticator(self) -> Any:
        """How the cluster checks the function's EKS tokens."""
        assert self.cluster is not None
        return self.cluster.authenticator

    @property
    def faults(self) -> FaultInjector:
        """The faults armed on the function's requests."""
        assert self.cluster is not None
        return self.cluster.faults

    def secrets(self) -> list[dict[str, Any]]:
        """Secrets in the migrations namespace, as the cluster holds them."""
        return self.select("secrets")

    def select(self, resource: str) -> list[dict[str, Any]]:
        """Objects of a resource (jobs, secrets, pods) in the migrations namespace."""
        assert self.cluster is not None
        return self.cluster.select(resource, "migrations")

    def get(self, resource: str, name: str) -> dict[str, Any] | None:
        """One object of the migrations namespace, or None."""
        assert self.cluster is not None
        return self.cluster.get(resource, name)

    def apply(self, document: dict[str, Any]) -> None:
        """Create or replace an object as an administrator (`kubectl apply`)."""
        assert self.cluster is not None
        self.cluster.apply_all([document])

    def patch(self, resource: str, name: str, merge: dict[str, Any]) -> None:
        """Change an object of the migrations namespace as an administrator."""
        assert self.cluster is not None
        self.cluster.patch(resource, name, merge)

    def delete(self, resource: str, name: str) -> None:
        """Delete an object of the migrations namespace as an administrator."""
        assert self.cluster is not None
        self.cluster.delete(resource, name)

    def set_db_status(self, status: str) -> None:
        """Change the RDS instance's status in moto (it has no lifecycle of its own)."""
        from moto.rds.models import rds_backends

        rds_backends[ACCOUNT][REGION].databases["orders-db"].status = status


@pytest.fixture
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """An opted-in RDS instance with an RDS-managed secret, a topic with a queue, and the cluster
    (the one a test's ON_CHOSEN_CLUSTERS parameter names; the emulator otherwise)."""
    emulator: Emulator | None = None
    cluster: _Cluster
    if getattr(request, "param", "emulator") == "kubeconfig":
        pytest.skip(
            "MIGRATION_TRIGGER_CLUSTER=kubeconfig: the orchestrator needs EKS authentication and "
            "scripted pods, which only the built control plane and the emulator provide"
        )
    if getattr(request, "param", "emulator") == "real":
        request.getfixturevalue("aws")
        cluster = _Real(request.getfixturevalue("control_plane"))
        runner: ScriptedRunner = request.getfixturevalue("node_runner")
    else:
        emulator = request.getfixturevalue("emulator")
        cluster = _Emulated(emulator)
        runner = request.getfixturevalue("runner")
    # The project's manifests as `kubectl apply -f k8s/` installs them: every Job the function
    # creates here passes the admission policy, as on EKS.
    cluster.apply_all(manifests("namespace.yaml", "rbac.yaml", "validating-admission-policy.yaml"))
    create_eks_cluster(
        eks=boto3.client("eks"),
        name=CLUSTER,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        subnet_id="subnet-1",
        emulator=cluster,
    )
    rds = boto3.client("rds")
    db = rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="app",
        ManageMasterUserPassword=True,
        DBName="orders",
        Tags=[
            {"Key": PROFILE_TAG, "Value": "orders"},
            {"Key": "migration-trigger:image", "Value": "evil:latest"},
        ],
    )["DBInstance"]
    secret_arn = db["MasterUserSecret"]["SecretArn"]
    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"username": "app", "password": CANARY})
    )
    create_ledger(dynamodb=boto3.client("dynamodb"), name=LEDGER)
    sqs = boto3.client("sqs")
    topic, queue_url = topic_with_queue(
        sns=boto3.client("sns"), sqs=sqs, topic_name="migration-results", queue_name="results"
    )

    credentials = assume_function_role()
    for key, value in credentials.items():
        monkeypatch.setenv(key.upper(), value)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("CLUSTER_NAME", CLUSTER)
    monkeypatch.setenv("TOPIC_ARN", topic)
    monkeypatch.setenv("LEDGER_TABLE", LEDGER)
    monkeypatch.setenv("REQUESTS_BUS", REQUESTS_BUS)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "migration-trigger")
    monkeypatch.setenv("NOTIFY_STATUSES", "succeeded,failed,timed_out,rejected,skipped")
    monkeypatch.setenv("MIGRATION_PROFILES", json.dumps(profiles()))
    executions = InMemoryExecutionStore()
    with durable_execution_api(executions, region=REGION) as lambda_endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lambda_endpoint)
        reset_caches()
        iam = enforce_function_policy(credentials["aws_access_key_id"], topic)
        yield World(
            emulator,
            runner,
            db["DBInstanceArn"],
            secret_arn,
            queue_url,
            monkeypatch,
            iam,
            _sqs=sqs,
            executions=executions,
            cluster=cluster,
        )
    reset_caches()


@contextmanager
def running_execution(world: World) -> Iterator[str]:
    """A durable execution Lambda reports RUNNING until the block ends; yields its ARN."""
    release = threading.Event()

    def still_working(_event: Any, _context: Any) -> dict[str, Any]:
        release.wait(60)
        return {}

    with DurableFunctionTestRunner(
        handler=still_working, region=REGION, store=world.executions
    ) as other:
        try:
            yield other.run_async(input="{}", execution_timeout=120, execution_name="running")
        finally:
            release.set()


def left_by(world: World, execution: str, event: str | dict[str, Any], *, start_by: float) -> Any:
    """The plan of a Job of `event` (a sample's name, pointed at the world's database, or an
    event) that `execution` created and left, suspended with that start-by time (epoch seconds);
    returns the plan and the manifest, to apply."""
    import yaml

    from migration_trigger.domain.events import parse_event
    from migration_trigger.domain.jobspec import render_job
    from migration_trigger.domain.profiles import parse_profiles
    from tests.helpers import ROOT, sample_plan

    trigger = parse_event(world.event(event) if isinstance(event, str) else event)
    profile = parse_profiles(json.dumps(profiles()))["orders"]
    plan = sample_plan(profile, trigger)._replace(execution=execution)
    template = yaml.safe_load((ROOT / "k8s" / "templates" / "migration-job.yaml").read_text())
    return plan, render_job(template, plan, start_by=start_by)


def deployment_refs(topic_arn: str) -> dict[str, str]:
    """What the template's policy refers to, in this world (besides partition, region, account)."""
    return {
        "ClusterName": CLUSTER,
        "ResultsTopic": topic_arn,
        "DataKey.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/test-data-key",
        "Ledger": LEDGER,
        "Ledger.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{LEDGER}",
        "RequestsBus": REQUESTS_BUS,
        "RequestsBus.Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{REQUESTS_BUS}",
    }


def enforce_function_policy(access_key: str, topic_arn: str) -> Enforcer:
    """The function's calls from now on pass template.yaml's policy, as in AWS (local_stack/iam.py)."""
    return enforce_on_default_session(
        access_key=access_key,
        role_arn=FUNCTION_ROLE,
        region=REGION,
        account=ACCOUNT,
        refs=deployment_refs(topic_arn),
    )


def self_managed_instance(identifier: str) -> str:
    """An opted-in instance without an RDS-managed secret (its credentials are a self-managed
    secret's); returns its ARN."""
    rds = admin_client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="app",
        MasterUserPassword="irrelevant-123",
        Tags=[{"Key": PROFILE_TAG, "Value": "orders"}],
    )
    described = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    return str(described[0]["DBInstanceArn"])


APPROVER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/platform-approver"


@pytest.fixture
def approver(world: World, tmp_path: Any) -> Enforcer:
    """A person with the approvers' role, as the AWS named profile `approver`; their calls pass
    template.yaml's ApproversPolicy, and only it (local_stack/iam.py)."""
    import os

    import boto3

    credentials = assume_role(sts=admin_client("sts"), role_arn=APPROVER_ROLE, session_name="alex")
    (tmp_path / "credentials").write_text(
        "[approver]\n"
        f"aws_access_key_id = {credentials['aws_access_key_id']}\n"
        f"aws_secret_access_key = {credentials['aws_secret_access_key']}\n"
        f"aws_session_token = {credentials['aws_session_token']}\n"
    )
    world.monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    enforcer = approvers_enforcer(
        access_key=credentials["aws_access_key_id"],
        principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/platform-approver/alex",
        region=REGION,
        account=ACCOUNT,
        refs=deployment_refs(os.environ["TOPIC_ARN"]),
    )
    # The CLI makes a boto3 session of its own: hold each new session's calls to the policies
    # (the function's too, for a session whose credentials are the function's).
    original = boto3.session.Session.__init__

    def checked(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        enforcer.install(self)
        world.iam.install(self)

    world.monkeypatch.setattr(boto3.session.Session, "__init__", checked)
    return enforcer


def allow_ecr_images(world: World) -> None:
    """The cluster's admission policy allows the account's ECR registry as well (k8s/
    validating-admission-policy.yaml: a prefix, which images named by digest match too)."""
    assert world.cluster is not None
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/"
    world.cluster.patch(
        "configmaps",
        "migration-trigger-job-policy",
        {"data": {"allowedImagePrefixes": f"ghcr.io/example/, {registry}"}},
    )


REPOSITORY = "orders-migrations"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:1.4.0"


def push(tag: str, layer: str) -> str:
    """An image pushed to moto's ECR under `tag`; its digest."""
    import json

    ecr = admin_client("ecr")
    if not ecr.describe_repositories()["repositories"]:
        ecr.create_repository(repositoryName=REPOSITORY)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                   "digest": "sha256:" + "0" * 64},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1, "digest": "sha256:" + layer * 64}],
    }  # fmt: skip
    pushed = ecr.put_image(
        repositoryName=REPOSITORY, imageManifest=json.dumps(manifest), imageTag=tag
    )
    return str(pushed["image"]["imageId"]["imageDigest"])
