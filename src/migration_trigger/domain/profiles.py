"""Migration profiles: the platform team's allow-list of what may run, where, and on which triggers.

A database opts in with one tag whose value names a profile. The tag selects; it never supplies an
image, command, namespace or cluster: those come only from this document, which is deployment
configuration the platform team controls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from migration_trigger.domain.events import TriggerKind
from migration_trigger.errors import ConfigurationError

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Variables the function sets itself; a profile may not override them.
RESERVED_ENV = frozenset(
    {
        "DATABASE_URL",
        "DB_SECRET_ARN",
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "DB_USER",
        "DB_PASSWORD",
        "DB_ENGINE",
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "MYSQL_HOST",
        "MYSQL_TCP_PORT",
        "MYSQL_PWD",
        "MIGRATION_DATABASE_ARN",
        "MIGRATION_TRIGGER",
        "MIGRATION_EVENT_ID",
    }
)


class CredentialMode(StrEnum):
    """How the migration container gets the database password."""

    #: The Job gets only the secret's ARN and reads it with its own service account (IRSA/Pod
    #: Identity). The function never reads the password.
    SECRET_ARN = "secret-arn"
    #: The function reads the secret and creates a Kubernetes Secret owned by the Job (deleted
    #: with it) holding DATABASE_URL and the per-engine variables.
    EPHEMERAL_SECRET = "ephemeral-secret"


class ClusterTarget(NamedTuple):
    """Where Jobs run: an EKS cluster by name, or a kubeconfig context (non-EKS, local stack)."""

    eks_cluster: str | None = None
    region: str | None = None
    kube_context: str | None = None

    def describe(self) -> str:
        """A short name for results and logs."""
        return self.eks_cluster or f"kubeconfig:{self.kube_context}"


class Profile(NamedTuple):
    """One allowed migration: the image and command to run, where, and with which limits."""

    name: str
    cluster: ClusterTarget
    namespace: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    service_account: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    #: Container requests/limits, as in a pod spec.
    resources: Mapping[str, Any] = MappingProxyType({})
    credentials: CredentialMode = CredentialMode.EPHEMERAL_SECRET
    triggers: frozenset[TriggerKind] = frozenset(TriggerKind)
    #: Pods retried after a failure (restartPolicy Never). 0: a failure is reported, not rerun.
    backoff_limit: int = 0
    #: Seconds the Job may run once started before Kubernetes stops it (DeadlineExceeded).
    active_deadline_seconds: int = 1800
    #: Seconds a finished Job (and its pod logs) stays in the cluster; long enough to read logs.
    ttl_seconds_after_finished: int = 7 * 24 * 3600
    #: Seconds to wait for the database to become `available` before giving up (timed_out).
    wait_for_available_seconds: int = 3600
    #: Seconds to wait behind another migration of the same database before giving up.
    queue_timeout_seconds: int = 3600
    #: Seconds between status checks while a Job runs (durable waits: nothing is billed).
    poll_seconds: int = 10
    #: Seconds to wait after a rotation before launching, so the new password has settled.
    rotation_settle_seconds: int = 30
    #: Query string appended to DATABASE_URL, e.g. `sslmode=verify-full` (ephemeral-secret mode).
    url_query: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **self._asdict(),
            "cluster": self.cluster._asdict(),
            "command": list(self.command),
            "args": list(self.args),
            "env": [list(pair) for pair in self.env],
            "resources": dict(self.resources),
            "credentials": str(self.credentials),
            "triggers": sorted(str(t) for t in self.triggers),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Inverse of to_dict."""
        return cls(
            **{
                **data,
                "cluster": ClusterTarget(**data["cluster"]),
                "command": tuple(data["command"]),
                "args": tuple(data["args"]),
                "env": tuple((k, v) for k, v in data["env"]),
                "credentials": CredentialMode(data["credentials"]),
                "triggers": frozenset(TriggerKind(t) for t in data["triggers"]),
            }
        )


_KEYS = {
    "cluster",
    "namespace",
    "image",
    "command",
    "args",
    "serviceAccount",
    "env",
    "resources",
    "credentials",
    "triggers",
    "backoffLimit",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "waitForAvailableSeconds",
    "queueTimeoutSeconds",
    "pollSeconds",
    "rotationSettleSeconds",
    "databaseUrlQuery",
}
_INTS = {
    "backoffLimit": ("backoff_limit", 0, 10),
    "activeDeadlineSeconds": ("active_deadline_seconds", 60, 7 * 24 * 3600),
    "ttlSecondsAfterFinished": ("ttl_seconds_after_finished", 300, 30 * 24 * 3600),
    "waitForAvailableSeconds": ("wait_for_available_seconds", 0, 7 * 24 * 3600),
    "queueTimeoutSeconds": ("queue_timeout_seconds", 0, 7 * 24 * 3600),
    "pollSeconds": ("poll_seconds", 1, 300),
    "rotationSettleSeconds": ("rotation_settle_seconds", 0, 3600),
}


def _fail(profile: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"profile '{profile}': {message}")


def _strings(profile: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(profile, f"'{key}' must be a list of strings")
    return tuple(value)


def _profile(name: str, raw: Any) -> Profile:
    if not _NAME.match(name):
        raise ConfigurationError(f"profile name '{name}' must be a DNS label (a-z, 0-9, '-')")
    if not isinstance(raw, dict):
        raise _fail(name, "must be an object")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise _fail(name, f"unknown keys {unknown}; allowed: {sorted(_KEYS)}")
    cluster = raw.get("cluster")
    if not isinstance(cluster, dict) or bool(cluster.get("eksClusterName")) == bool(
        cluster.get("kubeconfigContext")
    ):
        raise _fail(name, "'cluster' needs exactly one of 'eksClusterName' or 'kubeconfigContext'")
    target = ClusterTarget(
        eks_cluster=cluster.get("eksClusterName"),
        region=cluster.get("region"),
        kube_context=cluster.get("kubeconfigContext"),
    )
    namespace = raw.get("namespace")
    if not isinstance(namespace, str) or not _NAME.match(namespace):
        raise _fail(name, "'namespace' must be a DNS label")
    image = raw.get("image")
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        raise _fail(name, "'image' must be an image reference without spaces")
    env_raw = raw.get("env") or {}
    if not isinstance(env_raw, dict) or not all(isinstance(v, str) for v in env_raw.values()):
        raise _fail(name, "'env' must map names to string values")
    for key in env_raw:
        if not _ENV_NAME.match(key):
            raise _fail(name, f"env name '{key}' is not a valid variable name")
        if key in RESERVED_ENV:
            raise _fail(name, f"env name '{key}' is set by migration-trigger itself")
    try:
        mode = CredentialMode(raw.get("credentials", CredentialMode.EPHEMERAL_SECRET))
        triggers = frozenset(TriggerKind(t) for t in raw.get("triggers", list(TriggerKind)))
    except ValueError as error:
        raise _fail(name, str(error)) from None
    if not triggers:
        raise _fail(name, "'triggers' must name at least one trigger")
    service_account = raw.get("serviceAccount")
    if service_account is not None and (
        not isinstance(service_account, str) or not _NAME.match(service_account)
    ):
        raise _fail(name, "'serviceAccount' must be a DNS label")
    if mode is CredentialMode.SECRET_ARN and service_account is None:
        raise _fail(
            name, "credentials 'secret-arn' needs a 'serviceAccount' allowed to read the secret"
        )
    resources = raw.get("resources") or {}
    if not isinstance(resources, dict):
        raise _fail(name, "'resources' must be an object (requests/limits)")
    url_query = raw.get("databaseUrlQuery", "")
    if not isinstance(url_query, str) or any(c.isspace() or c in "#?" for c in url_query):
        raise _fail(name, "'databaseUrlQuery' must be a query string without '?', '#' or spaces")
    numbers: dict[str, int] = {}
    for key, (attr, low, high) in _INTS.items():
        if key in raw:
            value = raw[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise _fail(name, f"'{key}' must be an integer from {low} to {high}")
            numbers[attr] = value
    return Profile(
        name=name,
        cluster=target,
        namespace=namespace,
        image=image,
        command=_strings(name, "command", raw.get("command")),
        args=_strings(name, "args", raw.get("args")),
        service_account=service_account,
        env=tuple(sorted(env_raw.items())),
        resources=resources,
        credentials=mode,
        triggers=triggers,
        url_query=url_query,
        **numbers,
    )


def parse_profiles(text: str) -> dict[str, Profile]:
    """Parse and validate the profiles document: {"profiles": {"<name>": {...}}}."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(f"the profiles document is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("profiles"), dict):
        raise ConfigurationError('the profiles document must be {"profiles": {"<name>": {...}}}')
    return {name: _profile(name, raw) for name, raw in document["profiles"].items()}
