"""AWS behind the ports: RDS facts, Secrets Manager, and EKS cluster discovery.

Every botocore error is translated into AwsError, with `retryable` set for throttling, server
errors and lost connections. No message built here contains a secret value.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from migration_trigger.domain.aftermath import ExecutionInfo
from migration_trigger.domain.approval import ecr_image, is_digest
from migration_trigger.domain.bluegreen import Deployment
from migration_trigger.domain.database import DatabaseFacts, DatabaseSecret, SecretFacts
from migration_trigger.domain.events import (
    MANUAL_DETAIL_TYPE,
    MANUAL_SOURCE,
    parse_database_reference,
)
from migration_trigger.domain.snapshots import Snapshot, Target
from migration_trigger.domain.sweep import Request
from migration_trigger.errors import AwsError

_RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "InternalFailure",
    "InternalServiceError",
    "ServiceUnavailable",
    "InternalServerError",
}


def call[T](what: str, fn: Callable[[], T]) -> T:
    """Make one AWS call; a botocore error becomes an AwsError that says `what` failed."""
    try:
        return fn()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = error.response.get("Error", {}).get("Message", "")
        raise AwsError(
            f"{what}: {code}: {message}".rstrip(": "),
            code=code,
            retryable=code in _RETRYABLE_CODES or int(status or 0) >= 500,
        ) from None
    except ParamValidationError as error:
        # botocore refused the parameters before sending them: trying again cannot help.
        raise AwsError(f"{what}: ParamValidationError: {error}", retryable=False) from None
    except BotoCoreError as error:
        raise AwsError(f"{what}: {type(error).__name__}: {error}", retryable=True) from None


def _tags(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or [] if "Key" in t}


class Rds:
    """Reads what RDS knows about an instance or cluster."""

    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client

    def describe(self, reference: str) -> DatabaseFacts:
        """Status, endpoint, master user, secret and tags of a database (ARN or db:/cluster:)."""
        parsed = parse_database_reference(reference)
        if parsed is None:
            raise AwsError(f"{reference} is not an RDS instance or cluster ARN")
        kind, identifier = parsed
        shape = _SHAPES[kind]
        found = call(
            f"describe DB {shape.kind} {identifier}",
            lambda: getattr(self.client, shape.operation)(**{shape.id_parameter: identifier}),
        )[shape.list_key]
        if not found:
            raise AwsError(f"DB {shape.kind} {identifier} does not exist", code=shape.not_found)
        db = found[0]
        writer = self._writer_status(db) if shape.kind == "cluster" else None
        return _facts(db, shape, identifier, writer, reference)

    def listed(self) -> list[DatabaseFacts]:
        """Every instance and cluster, with their tags (DescribeDBInstances and
        DescribeDBClusters return each one's TagList), page by page: no call per database. A
        cluster's writer status is not asked (None here)."""
        found = []
        for key, shape in _SHAPES.items():
            paginator = self.client.get_paginator(shape.operation)
            pages: list[dict[str, Any]] = call(
                f"list DB {shape.kind}s", partial(list, paginator.paginate())
            )
            for page in pages:
                for db in page[shape.list_key]:
                    identifier = str(db.get(shape.id_parameter, ""))
                    found.append(_facts(db, shape, identifier, None, f"{key}:{identifier}"))
        return found

    def blue_green(self) -> list[Deployment]:
        """The account's Blue/Green deployments (DescribeBlueGreenDeployments, paginated): an
        account has few, so all are listed and domain/bluegreen.roles reads them."""
        paginator = self.client.get_paginator("describe_blue_green_deployments")
        pages: list[dict[str, Any]] = call(
            "describe Blue/Green deployments", partial(list, paginator.paginate())
        )
        return [
            Deployment(
                identifier=str(d.get("BlueGreenDeploymentIdentifier", "")),
                status=str(d.get("Status", "")),
                source=str(d.get("Source", "")),
                target=str(d.get("Target", "")),
                members=tuple(
                    (str(m.get("SourceMember", "")), str(m.get("TargetMember", "")))
                    for m in d.get("SwitchoverDetails", [])
                ),
            )
            for page in pages
            for d in page.get("BlueGreenDeployments", [])
        ]

    def _writer_status(self, cluster: dict[str, Any]) -> str | None:
        """The status of a cluster's writer instance; None while it has no writer."""
        writer = next(
            (m for m in cluster.get("DBClusterMembers") or [] if m.get("IsClusterWriter")), None
        )
        if writer is None:
            return None
        identifier = writer["DBInstanceIdentifier"]
        found = call(
            f"describe DB instance {identifier}",
            lambda: self.client.describe_db_instances(DBInstanceIdentifier=identifier),
        )["DBInstances"]
        return str(found[0].get("DBInstanceStatus", "unknown")) if found else None


class _Shape(NamedTuple):
    """Where DescribeDBInstances and DescribeDBClusters put the same facts."""

    kind: str
    operation: str
    id_parameter: str
    list_key: str
    arn_key: str
    status_key: str
    name_key: str
    not_found: str
    created_key: str


_SHAPES = {
    "db": _Shape(
        "instance",
        "describe_db_instances",
        "DBInstanceIdentifier",
        "DBInstances",
        "DBInstanceArn",
        "DBInstanceStatus",
        "DBName",
        "DBInstanceNotFound",
        "InstanceCreateTime",
    ),
    "cluster": _Shape(
        "cluster",
        "describe_db_clusters",
        "DBClusterIdentifier",
        "DBClusters",
        "DBClusterArn",
        "Status",
        "DatabaseName",
        "DBClusterNotFoundFault",
        "ClusterCreateTime",
    ),
}


def _facts(
    db: dict[str, Any], shape: _Shape, identifier: str, writer: str | None, reference: str
) -> DatabaseFacts:
    """What DescribeDBInstances or DescribeDBClusters says of one database."""
    # Instances nest their endpoint ({Address, Port}); clusters give a host and a port.
    endpoint = db.get("Endpoint")
    host = endpoint.get("Address", "") if isinstance(endpoint, dict) else endpoint or ""
    port = endpoint.get("Port") if isinstance(endpoint, dict) else db.get("Port")
    engine = db.get("Engine", "")
    return DatabaseFacts(
        arn=db.get(shape.arn_key, reference),
        identifier=identifier,
        kind=shape.kind,
        status=db.get(shape.status_key, "unknown"),
        engine=engine,
        host=host,
        port=int(port or 0),
        name=db.get(shape.name_key) or _default_db_name(engine),
        master_username=db.get("MasterUsername", ""),
        managed_secret_arn=(db.get("MasterUserSecret") or {}).get("SecretArn"),
        tags=_tags(db.get("TagList")),
        created=str(db.get(shape.created_key) or ""),
        cluster=db.get("DBClusterIdentifier") if shape.kind == "instance" else None,
        writer_status=writer,
        members=tuple(
            str(m["DBInstanceIdentifier"])
            for m in db.get("DBClusterMembers") or []
            if m.get("DBInstanceIdentifier")
        ),
    )


def _default_db_name(engine: str) -> str:
    return "postgres" if "postgres" in engine else ""


class LazyClient:
    """An adapter whose boto3 client is made on first use (most invocations never need it),
    inside the call that needs it, so an error making it is that call's error."""

    __slots__ = ("_client", "_make_client")

    def __init__(self, make_client: Callable[[], Any]) -> None:
        self._make_client = make_client
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The client, made on first use."""
        if self._client is None:
            self._client = self._make_client()
        return self._client


class DurableExecutions(LazyClient):
    """What Lambda says of this function's durable executions (GetDurableExecution).

    The client is made on first use: most executions never ask (only a queue check that finds a
    suspended Job of an earlier execution does).
    """

    __slots__ = ()

    def status(self, execution: str) -> str:
        """The execution's status. AwsError when Lambda could not be asked or does not know the
        execution (ResourceNotFoundException): neither says it has ended."""
        return str(self._get(execution, data=False).get("Status") or "")

    def details(self, execution: str) -> ExecutionInfo:
        """Name, status, error and input event (IncludeExecutionData) of an execution."""
        found = self._get(execution, data=True)
        error = found.get("Error") or {}
        return ExecutionInfo(
            name=str(found.get("DurableExecutionName") or execution.rsplit("/", 1)[-1]),
            status=str(found.get("Status") or ""),
            error_type=error.get("ErrorType"),
            error=(error.get("ErrorMessage") or "")[:1024] or None,
            input=found.get("InputPayload"),
        )

    def _get(self, execution: str, *, data: bool) -> Any:
        """GetDurableExecution, with its payloads (input, result) or without them."""

        def ask() -> Any:
            request: dict[str, Any] = {"DurableExecutionArn": execution}
            operation = self.client.meta.service_model.operation_model("GetDurableExecution")
            if "IncludeExecutionData" in operation.input_shape.members:
                request["IncludeExecutionData"] = data
            return self.client.get_durable_execution(**request)

        return call(f"get durable execution {execution}", ask)


class EcrImages(LazyClient):
    """The digest an Amazon ECR image tag names (DescribeImages, on the image's repository and
    registry: only a profile with `approval` whose image is in ECR asks). The client is made on
    first use."""

    __slots__ = ()

    def digest(self, image: str) -> str:
        """The tag's digest now (ECR API reference, DescribeImages: imageDetails[].imageDigest).
        AwsError if the image is not found or the repository cannot be read."""
        reference = ecr_image(image)
        if reference is None:
            raise AwsError(f"{image} is not an image in Amazon ECR by tag")

        def describe() -> Any:
            return self.client.describe_images(
                registryId=reference.account,
                repositoryName=reference.repository,
                imageIds=[{"imageTag": reference.tag}],
            )

        found = call(f"describe image {reference.repository}:{reference.tag}", describe)
        digests = {d.get("imageDigest") for d in found.get("imageDetails") or []}
        (digest,) = digests if len(digests) == 1 else (None,)
        if not isinstance(digest, str) or not is_digest(digest):
            raise AwsError(
                f"Amazon ECR names no single digest for {image}: found {sorted(map(str, digests))}"
            )
        return digest


class _SnapshotShape(NamedTuple):
    """Where the instance and cluster snapshot APIs put the same things."""

    create: str
    describe: str
    delete: str
    id_key: str
    database_key: str
    response_key: str
    list_key: str
    exists_code: str


_SNAPSHOT_SHAPES = {
    "instance": _SnapshotShape(
        "create_db_snapshot",
        "describe_db_snapshots",
        "delete_db_snapshot",
        "DBSnapshotIdentifier",
        "DBInstanceIdentifier",
        "DBSnapshot",
        "DBSnapshots",
        "DBSnapshotAlreadyExists",
    ),
    "cluster": _SnapshotShape(
        "create_db_cluster_snapshot",
        "describe_db_cluster_snapshots",
        "delete_db_cluster_snapshot",
        "DBClusterSnapshotIdentifier",
        "DBClusterIdentifier",
        "DBClusterSnapshot",
        "DBClusterSnapshots",
        "DBClusterSnapshotAlreadyExistsFault",
    ),
}


class RdsSnapshots:
    """Manual snapshots of RDS instances and clusters (CreateDBSnapshot, CreateDBClusterSnapshot
    and their Describe and Delete; RDS API reference)."""

    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client

    def take(self, target: Target, name: str, tags: dict[str, str]) -> Snapshot:
        """Create the snapshot; one of that name already there (a retried step) is found."""
        shape = _SNAPSHOT_SHAPES[target.kind]
        try:
            created = call(
                f"snapshot DB {target.kind} {target.identifier}",
                lambda: getattr(self.client, shape.create)(
                    **{shape.id_key: name, shape.database_key: target.identifier},
                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                ),
            )
        except AwsError as error:
            if error.code != shape.exists_code:
                raise
            return self.find(target, name)
        return _snapshot(created[shape.response_key], shape)

    def find(self, target: Target, name: str) -> Snapshot:
        """The snapshot as RDS describes it now."""
        shape = _SNAPSHOT_SHAPES[target.kind]
        found = call(
            f"describe snapshot {name}",
            lambda: getattr(self.client, shape.describe)(**{shape.id_key: name}),
        )[shape.list_key]
        if not found:
            raise AwsError(f"snapshot {name} does not exist")
        return _snapshot(found[0], shape)

    def taken(self, target: Target) -> list[Snapshot]:
        """The target's manual snapshots, every page."""
        shape = _SNAPSHOT_SHAPES[target.kind]
        snapshots: list[Snapshot] = []
        marker: str | None = None
        while True:
            request: dict[str, Any] = {shape.database_key: target.identifier}
            request["SnapshotType"] = "manual"
            if marker:
                request["Marker"] = marker
            page = call(
                f"list the snapshots of DB {target.kind} {target.identifier}",
                partial(getattr(self.client, shape.describe), **request),
            )
            snapshots += [_snapshot(s, shape) for s in page.get(shape.list_key) or []]
            marker = page.get("Marker")
            if not marker:
                return snapshots

    def delete(self, target: Target, name: str) -> None:
        """Delete one snapshot."""
        shape = _SNAPSHOT_SHAPES[target.kind]
        call(
            f"delete snapshot {name}",
            lambda: getattr(self.client, shape.delete)(**{shape.id_key: name}),
        )


def _snapshot(raw: dict[str, Any], shape: _SnapshotShape) -> Snapshot:
    created = raw.get("SnapshotCreateTime")
    return Snapshot(
        identifier=str(raw.get(shape.id_key, "")),
        status=str(raw.get("Status", "unknown")),
        created=float(created.timestamp()) if isinstance(created, datetime.datetime) else 0.0,
        tags=tuple(sorted(_tags(raw.get("TagList")).items())),
    )


class Callbacks:
    """Answers to a durable execution's callback (Lambda API: SendDurableExecutionCallbackSuccess
    with a Result blob, SendDurableExecutionCallbackFailure with an Error object), and the
    caller's identity the answer names (the service records no caller: CallbackSucceededDetails
    holds only the Result)."""

    __slots__ = ("_lambda", "_sts")

    def __init__(self, lambda_client: Any, sts_client: Any) -> None:
        self._lambda = lambda_client
        self._sts = sts_client

    def caller(self) -> str:
        """The ARN of whoever's credentials sign the answer (STS GetCallerIdentity)."""
        return str(call("get caller identity", self._sts.get_caller_identity)["Arn"])

    def succeed(self, callback_id: str, result: str) -> None:
        """Answer with a result."""
        self._answer(
            lambda: self._lambda.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=result.encode()
            )
        )

    def fail(self, callback_id: str, *, message: str, error_type: str, data: str) -> None:
        """Answer with an error."""
        self._answer(
            lambda: self._lambda.send_durable_execution_callback_failure(
                CallbackId=callback_id,
                Error={"ErrorMessage": message, "ErrorType": error_type, "ErrorData": data},
            )
        )

    @staticmethod
    def _answer(send: Callable[[], Any]) -> None:
        try:
            call("send the answer", send)
        except AwsError as error:
            # "The callback ID token has either expired or the callback associated with the token
            # has already been closed" (Lambda API reference, CallbackTimeoutException).
            if error.code == "CallbackTimeoutException":
                raise AwsError(
                    "this request has already been answered or has timed out: nothing was sent "
                    f"({error})",
                    code=error.code,
                ) from None
            raise


class Secrets:
    """Secrets Manager: a secret's ARN, version and tags, and its current value."""

    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client

    def describe(self, secret_id: str) -> SecretFacts:
        """Facts about a secret (name, partial or full ARN); never its value."""
        described = call(
            f"describe secret {secret_id}", lambda: self.client.describe_secret(SecretId=secret_id)
        )
        current = next(
            (
                v
                for v, stages in (described.get("VersionIdsToStages") or {}).items()
                if "AWSCURRENT" in stages
            ),
            None,
        )
        return SecretFacts(
            arn=described.get("ARN", secret_id),
            current_version=current,
            tags=_tags(described.get("Tags")),
            name=str(described.get("Name") or ""),
            owning_service=described.get("OwningService"),
        )

    def read(self, secret_arn: str, version: str | None = None) -> DatabaseSecret:
        """The username and password of a version of the secret (AWSCURRENT if none is named)."""
        data, version_id = self._value(secret_arn, version)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            # Say what is wrong with the shape, never what is in it.
            raise AwsError(f"secret {secret_arn}: 'username' and 'password' must be strings")
        return DatabaseSecret(username, password, version_id)

    def names(self, secret_arn: str) -> tuple[tuple[str, str], ...]:
        """What the secret's current JSON says its database is: ("db" | "cluster", identifier)
        from `dbInstanceIdentifier` / `dbClusterIdentifier`; none for any other shape (the
        `secret-arn` mode's Job may read a secret of its own shape). Nothing else is kept."""
        value = call(
            f"read secret {secret_arn}",
            lambda: self.client.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT"),
        )
        try:
            data = json.loads(value.get("SecretString") or "")
        except ValueError:
            return ()
        if not isinstance(data, dict):
            return ()
        return tuple(
            (kind, data[key])
            for kind, key in (("db", "dbInstanceIdentifier"), ("cluster", "dbClusterIdentifier"))
            if isinstance(data.get(key), str) and data[key]
        )

    def _value(self, secret_arn: str, version: str | None) -> tuple[dict[str, Any], str | None]:
        """The secret's JSON and version id; AwsError unless it holds a username and password."""
        which = {"VersionId": version} if version else {"VersionStage": "AWSCURRENT"}
        value = call(
            f"read secret {secret_arn}",
            lambda: self.client.get_secret_value(SecretId=secret_arn, **which),
        )
        try:
            data = json.loads(value.get("SecretString") or "")
        except ValueError:
            data = None
        if not isinstance(data, dict) or "username" not in data or "password" not in data:
            raise AwsError(
                f"secret {secret_arn} is not a JSON object with 'username' and 'password'"
            ) from None
        return data, value.get("VersionId")


class ClusterInfo(NamedTuple):
    """An EKS cluster's API endpoint and CA."""

    name: str
    endpoint: str
    ca_pem: bytes


def describe_cluster(client: Any, name: str) -> ClusterInfo:
    """Endpoint and CA of an EKS cluster."""
    cluster = call(f"describe EKS cluster {name}", lambda: client.describe_cluster(name=name))[
        "cluster"
    ]
    status = cluster.get("status", "")
    if status not in ("ACTIVE", "UPDATING"):
        raise AwsError(
            f"EKS cluster {name} is {status or 'not ready'}", retryable=status == "CREATING"
        )
    try:
        ca_pem = base64.b64decode(cluster["certificateAuthority"]["data"])
    except (KeyError, TypeError, ValueError):
        raise AwsError(f"EKS cluster {name} reports no certificate authority") from None
    return ClusterInfo(name=name, endpoint=cluster["endpoint"], ca_pem=ca_pem)


@lru_cache(maxsize=32)
def cached_cluster(region: str, name: str, factory: Callable[[str, str], Any]) -> ClusterInfo:
    """describe_cluster, once per warm container."""
    return describe_cluster(factory("eks", region), name)


class RequestsBus(LazyClient):
    """Migration requests put on the deployment's requests bus (EventBridge PutEvents, ten
    entries a call: "Amazon EventBridge quotas"), where the template's MigrationRequested rule
    starts an execution for each, as for a person's request."""

    __slots__ = ("bus",)

    def __init__(self, make_client: Callable[[], Any], bus: str) -> None:
        super().__init__(make_client)
        self.bus = bus

    def send(self, requests: list[Request]) -> list[str]:
        """Put each request; the request ids EventBridge accepted (a failed entry is not)."""
        accepted: list[str] = []
        for start in range(0, len(requests), 10):
            batch = requests[start : start + 10]
            entries = [
                {
                    "EventBusName": self.bus,
                    "Source": MANUAL_SOURCE,
                    "DetailType": MANUAL_DETAIL_TYPE,
                    "Detail": json.dumps(request.detail()),
                    "Resources": [request.database],
                }
                for request in batch
            ]
            answer = call(
                f"put {len(entries)} migration requests on {self.bus}",
                partial(self.client.put_events, Entries=entries),
            )
            for request, entry in zip(batch, answer.get("Entries", []), strict=False):
                if entry.get("EventId") and not entry.get("ErrorCode"):
                    accepted.append(request.request_id)
        return accepted
