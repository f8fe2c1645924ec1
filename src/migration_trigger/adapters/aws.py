"""AWS behind small interfaces: RDS facts, Secrets Manager, SNS, and EKS cluster discovery.

Every botocore error is translated into AwsError, with `retryable` set for throttling, server
errors and lost connections. No message built here contains a secret value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from migration_trigger.domain.decision import DatabaseFacts
from migration_trigger.domain.events import parse_database_reference
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
RDS_INSTANCE_TAG = "aws:rds:primaryDBInstanceArn"
RDS_CLUSTER_TAG = "aws:rds:primaryDBClusterArn"


def _call[T](what: str, fn: Callable[[], T]) -> T:
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
        found = _call(
            f"describe DB {shape.kind} {identifier}",
            lambda: getattr(self.client, shape.operation)(**{shape.id_parameter: identifier}),
        )[shape.list_key]
        if not found:
            raise AwsError(f"DB {shape.kind} {identifier} does not exist", code=shape.not_found)
        db = found[0]
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
        )


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
    ),
}


def _default_db_name(engine: str) -> str:
    return "postgres" if "postgres" in engine else ""


class SecretFacts(NamedTuple):
    """A secret's ARN, the database it belongs to, and its current version. No value."""

    arn: str
    database_arn: str | None
    current_version: str | None
    tags: dict[str, str]


class DatabaseSecret:
    """Credentials read from a secret. Never logged, never returned from a step.

    A plain class, not a tuple: it cannot be unpacked, iterated or serialised by accident.
    """

    __slots__ = ("password", "username")

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def __repr__(self) -> str:
        return f"DatabaseSecret(username={self.username!r}, password=<redacted>)"


class Secrets:
    """Secrets Manager: which database a secret belongs to, and its current value."""

    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client

    def describe(self, secret_id: str, *, database_tag_key: str) -> SecretFacts:
        """Facts about a secret, with its database found from RDS's tags or ours."""
        described = _call(
            f"describe secret {secret_id}", lambda: self.client.describe_secret(SecretId=secret_id)
        )
        tags = _tags(described.get("Tags"))
        database = (
            tags.get(RDS_INSTANCE_TAG) or tags.get(RDS_CLUSTER_TAG) or tags.get(database_tag_key)
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
            database_arn=database,
            current_version=current,
            tags=tags,
        )

    def read(self, secret_arn: str) -> DatabaseSecret:
        """The AWSCURRENT username and password."""
        value = _call(
            f"read secret {secret_arn}",
            lambda: self.client.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT"),
        )
        try:
            data = json.loads(value.get("SecretString") or "")
            username, password = data["username"], data["password"]
        except (ValueError, KeyError, TypeError):
            # Say what is wrong with the shape, never what is in it.
            raise AwsError(
                f"secret {secret_arn} is not a JSON object with 'username' and 'password'"
            ) from None
        if not isinstance(username, str) or not isinstance(password, str):
            raise AwsError(f"secret {secret_arn}: 'username' and 'password' must be strings")
        return DatabaseSecret(username, password)


class Notifier:
    """Publishes results to one SNS topic."""

    __slots__ = ("client", "topic_arn")

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def publish(self, subject: str, message: str, attributes: dict[str, str]) -> str:
        """Publish; returns the message id."""
        response = _call(
            f"publish to {self.topic_arn}",
            lambda: self.client.publish(
                TopicArn=self.topic_arn,
                Subject=subject,
                Message=message,
                MessageAttributes={
                    k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v
                },
            ),
        )
        return str(response["MessageId"])


class ClusterInfo(NamedTuple):
    """An EKS cluster's API endpoint and CA."""

    name: str
    endpoint: str
    ca_pem: bytes


def describe_cluster(client: Any, name: str) -> ClusterInfo:
    """Endpoint and CA of an EKS cluster."""
    cluster = _call(f"describe EKS cluster {name}", lambda: client.describe_cluster(name=name))[
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
