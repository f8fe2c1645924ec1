"""What AWS says about a database and its credentials secret: plain values, no I/O."""

from __future__ import annotations

from typing import NamedTuple

AVAILABLE = "available"
#: Tags RDS puts on the master secret it manages, naming the secret's database.
RDS_INSTANCE_TAG = "aws:rds:primaryDBInstanceArn"
RDS_CLUSTER_TAG = "aws:rds:primaryDBClusterArn"


class Endpoint(NamedTuple):
    """Where the database listens, and what it is. None of this is secret."""

    engine: str
    host: str
    port: int
    name: str


class DatabaseFacts(NamedTuple):
    """What RDS says about the database: status, endpoint, owner secret and tags."""

    arn: str
    identifier: str
    kind: str  # instance | cluster
    status: str
    engine: str
    host: str
    port: int
    name: str
    master_username: str
    tags: dict[str, str]
    managed_secret_arn: str | None = None
    #: When RDS created it (ISO 8601): with the ARN, what makes a creation or restore unique.
    created: str = ""
    #: For an instance that belongs to a cluster (Aurora, Multi-AZ DB cluster): the cluster's id.
    cluster: str | None = None
    #: For a cluster: the status of its writer instance; None while it has none.
    writer_status: str | None = None
    #: For a cluster: the identifiers of its member instances, as RDS lists them.
    members: tuple[str, ...] = ()

    @property
    def endpoint(self) -> Endpoint:
        """Where to connect."""
        return Endpoint(engine=self.engine, host=self.host, port=self.port, name=self.name)

    @property
    def ready(self) -> bool:
        """Whether a migration can connect now.

        A cluster is `available` before any instance exists: RDS creates a cluster's instances
        only once the cluster is available, and only its writer accepts a migration.
        """
        if self.status != AVAILABLE:
            return False
        return self.kind != "cluster" or self.writer_status == AVAILABLE

    def waiting_for(self) -> str:
        """What keeps it from being ready, in words for a result."""
        if self.status != AVAILABLE:
            return f"was still '{self.status}'"
        if self.writer_status is None:
            return "had no writer instance"
        return f"had its writer instance still '{self.writer_status}'"


class SecretFacts(NamedTuple):
    """A secret's full ARN, its current version, tags, name and owner. Never its value."""

    arn: str
    current_version: str | None
    tags: dict[str, str]
    name: str = ""
    #: The AWS service that manages the secret (DescribeSecret's OwningService), if any.
    owning_service: str | None = None

    def rds_owner(self) -> str | None:
        """The database RDS manages the secret for, from the tags RDS sets (keys under `aws:`
        are reserved for AWS: no user can set them)."""
        return self.tags.get(RDS_INSTANCE_TAG) or self.tags.get(RDS_CLUSTER_TAG)

    @property
    def rds_managed(self) -> bool:
        """Whether RDS manages it: its owner, its `rds!` name, or its RDS tags say so."""
        return (
            self.owning_service == "rds"
            or self.name.startswith("rds!")
            or self.rds_owner() is not None
        )

    def database(self, *, database_tag_key: str) -> str | None:
        """The database the secret belongs to: RDS's own tags, else (never for a secret RDS
        manages) ours."""
        if self.rds_managed:
            return self.rds_owner()
        return self.tags.get(database_tag_key)


class DatabaseSecret:
    """Credentials read from a secret. Never logged, never returned from a step.

    A plain class, not a tuple: it cannot be unpacked, iterated or serialised by accident.
    """

    __slots__ = ("password", "username", "version")

    def __init__(self, username: str, password: str, version: str | None = None) -> None:
        self.username = username
        self.password = password
        #: The secret version it was read from (its VersionId: not secret).
        self.version = version

    def __repr__(self) -> str:
        return f"DatabaseSecret(username={self.username!r}, password=<redacted>)"
