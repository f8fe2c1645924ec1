"""Migration profiles: the platform team's allow-list of what may run, where, and on which triggers.

A database opts in with one tag whose value names a profile. The tag selects; it never supplies an
image, command, namespace or cluster: those come only from this document, which is deployment
configuration the platform team controls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
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


def _fail(profile: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"profile '{profile}': {message}")


# -- readers: (profile name, JSON key, raw value) -> the field's value, or ConfigurationError ----

Reader = Callable[[str, str, Any], Any]


_CLUSTER_KEYS = frozenset({"eksClusterName", "region", "kubeconfigContext"})


def _cluster(profile: str, key: str, raw: Any) -> ClusterTarget:
    if not isinstance(raw, dict) or bool(raw.get("eksClusterName")) == bool(
        raw.get("kubeconfigContext")
    ):
        raise _fail(
            profile, f"'{key}' needs exactly one of 'eksClusterName' or 'kubeconfigContext'"
        )
    unknown = sorted(set(raw) - _CLUSTER_KEYS)
    if unknown:
        raise _fail(
            profile, f"'{key}' has unknown keys {unknown}; allowed: {sorted(_CLUSTER_KEYS)}"
        )
    if not all(isinstance(value, str) for value in raw.values()):
        raise _fail(profile, f"'{key}' values must be strings")
    return ClusterTarget(
        eks_cluster=raw.get("eksClusterName"),
        region=raw.get("region"),
        kube_context=raw.get("kubeconfigContext"),
    )


def _dns_label(profile: str, key: str, raw: Any) -> str:
    if not isinstance(raw, str) or not _NAME.match(raw):
        raise _fail(profile, f"'{key}' must be a DNS label")
    return raw


def _image(profile: str, key: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw or any(c.isspace() for c in raw):
        raise _fail(profile, f"'{key}' must be an image reference without spaces")
    return raw


def _strings(profile: str, key: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise _fail(profile, f"'{key}' must be a list of strings")
    return tuple(raw)


def _env(profile: str, key: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise _fail(profile, f"'{key}' must map names to string values")
    for name in raw:
        if not _ENV_NAME.match(name):
            raise _fail(profile, f"env name '{name}' is not a valid variable name")
        if name in RESERVED_ENV:
            raise _fail(profile, f"env name '{name}' is set by migration-trigger itself")
    return tuple(sorted(raw.items()))


def _resources(profile: str, key: str, raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(profile, f"'{key}' must be an object (requests/limits)")
    return raw


def _credentials(profile: str, _key: str, raw: Any) -> CredentialMode:
    try:
        return CredentialMode(raw)
    except ValueError as error:
        raise _fail(profile, str(error)) from None


def _triggers(profile: str, key: str, raw: Any) -> frozenset[TriggerKind]:
    try:
        triggers = frozenset(TriggerKind(t) for t in raw)
    except (ValueError, TypeError) as error:
        raise _fail(profile, str(error)) from None
    if not triggers:
        raise _fail(profile, f"'{key}' must name at least one trigger")
    return triggers


def _query(profile: str, key: str, raw: Any) -> str:
    if not isinstance(raw, str) or any(c.isspace() or c in "#?" for c in raw):
        raise _fail(profile, f"'{key}' must be a query string without '?', '#' or spaces")
    return raw


def _integer(low: int, high: int) -> Reader:
    def read(profile: str, key: str, raw: Any) -> int:
        if not isinstance(raw, int) or isinstance(raw, bool) or not low <= raw <= high:
            raise _fail(profile, f"'{key}' must be an integer from {low} to {high}")
        return raw

    return read


class Key(NamedTuple):
    """One key of a profile document: the Profile field it sets, how it is read, its default."""

    json: str
    field: str
    read: Reader
    default: Any
    doc: str

    @property
    def required(self) -> bool:
        """Whether a profile must give this key."""
        return self.default is _REQUIRED


_REQUIRED: Any = object()
_DAY = 24 * 3600

#: Every key a profile may have; the only place that says what each means and allows.
KEYS: dict[str, Key] = {
    key.field: key
    for key in (
        Key("cluster", "cluster", _cluster, _REQUIRED,
            "`{eksClusterName, region?}` or `{kubeconfigContext}`: where Jobs run"),
        Key("namespace", "namespace", _dns_label, _REQUIRED, "Kubernetes namespace of the Job"),
        Key("image", "image", _image, _REQUIRED, "the migration image"),
        Key("command", "command", _strings, (), "the container's command (list of strings)"),
        Key("args", "args", _strings, (), "the container's arguments (list of strings)"),
        Key("serviceAccount", "service_account", _dns_label, None,
            "the pod's service account; required by `secret-arn`"),
        Key("env", "env", _env, (), "extra environment variables; reserved names refused"),
        Key("resources", "resources", _resources, MappingProxyType({}),
            "container requests/limits, as in a pod spec"),
        Key("credentials", "credentials", _credentials, CredentialMode.EPHEMERAL_SECRET,
            "`ephemeral-secret` or `secret-arn`: how the container gets the password"),
        Key("triggers", "triggers", _triggers, frozenset(TriggerKind),
            "which triggers run this profile"),
        Key("backoffLimit", "backoff_limit", _integer(0, 10), 0,
            "pods retried after a failure (restartPolicy Never); 0: a failure is reported"),
        Key("activeDeadlineSeconds", "active_deadline_seconds", _integer(60, 7 * _DAY), 1800,
            "seconds the Job may run once started before Kubernetes stops it"),
        Key("ttlSecondsAfterFinished", "ttl_seconds_after_finished", _integer(300, 30 * _DAY),
            7 * _DAY, "seconds a finished Job (and its pod logs) stays in the cluster"),
        Key("waitForAvailableSeconds", "wait_for_available_seconds", _integer(0, 7 * _DAY), 3600,
            "seconds to wait for the database to become `available` (then `timed_out`)"),
        Key("queueTimeoutSeconds", "queue_timeout_seconds", _integer(0, 7 * _DAY), 3600,
            "seconds to wait behind another migration of the same database"),
        Key("pollSeconds", "poll_seconds", _integer(1, 300), 10,
            "pause between checks in a wait's first 10 minutes; 60 s after, or this if longer"),
        Key("rotationSettleSeconds", "rotation_settle_seconds", _integer(0, 3600), 30,
            "seconds to wait after a rotation before launching"),
        Key("databaseUrlQuery", "url_query", _query, "",
            "query string appended to DATABASE_URL, e.g. `sslmode=verify-full`"),
        Key("startTimeoutSeconds", "start_timeout_seconds", _integer(30, 7 * _DAY), 600,
            "seconds the Job's first pod may take to start (scheduled, image pulled) before the "
            "migration fails with what holds it"),
    )
}  # fmt: skip


class Profile(NamedTuple):
    """One allowed migration: the image and command to run, where, and with which limits.

    Field meanings, bounds and defaults: KEYS.
    """

    name: str
    cluster: ClusterTarget
    namespace: str
    image: str
    command: tuple[str, ...] = KEYS["command"].default
    args: tuple[str, ...] = KEYS["args"].default
    service_account: str | None = KEYS["service_account"].default
    env: tuple[tuple[str, str], ...] = KEYS["env"].default
    resources: Mapping[str, Any] = KEYS["resources"].default
    credentials: CredentialMode = KEYS["credentials"].default
    triggers: frozenset[TriggerKind] = KEYS["triggers"].default
    backoff_limit: int = KEYS["backoff_limit"].default
    active_deadline_seconds: int = KEYS["active_deadline_seconds"].default
    ttl_seconds_after_finished: int = KEYS["ttl_seconds_after_finished"].default
    wait_for_available_seconds: int = KEYS["wait_for_available_seconds"].default
    queue_timeout_seconds: int = KEYS["queue_timeout_seconds"].default
    poll_seconds: int = KEYS["poll_seconds"].default
    rotation_settle_seconds: int = KEYS["rotation_settle_seconds"].default
    url_query: str = KEYS["url_query"].default
    start_timeout_seconds: int = KEYS["start_timeout_seconds"].default


_BY_JSON = {key.json: key for key in KEYS.values()}


def _profile(name: str, raw: Any) -> Profile:
    if not _NAME.match(name):
        raise ConfigurationError(f"profile name '{name}' must be a DNS label (a-z, 0-9, '-')")
    if not isinstance(raw, dict):
        raise _fail(name, "must be an object")
    unknown = sorted(set(raw) - set(_BY_JSON))
    if unknown:
        raise _fail(name, f"unknown keys {unknown}; allowed: {sorted(_BY_JSON)}")
    values: dict[str, Any] = {}
    for key in KEYS.values():
        if raw.get(key.json) is not None:
            values[key.field] = key.read(name, key.json, raw[key.json])
        elif key.required:
            # Read the missing value anyway: the reader's message says what the key must be.
            values[key.field] = key.read(name, key.json, None)
    profile = Profile(name=name, **values)
    if profile.credentials is CredentialMode.SECRET_ARN and profile.service_account is None:
        raise _fail(
            name, "credentials 'secret-arn' needs a 'serviceAccount' allowed to read the secret"
        )
    return profile


#: Levels of objects and lists a profiles document may nest: a profile needs 5
#: (profiles > name > resources > limits > value); more is a mistake, and past ~1,000 the JSON
#: parser itself would fail with a RecursionError.
MAX_DEPTH = 16


def _depth(text: str) -> int:
    """How deep the document's brackets nest, outside strings (checked before parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (json would keep the last silently)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigurationError(f"the profiles document has a duplicate key '{key}'")
        seen[key] = value
    return seen


def parse_profiles(text: str) -> dict[str, Profile]:
    """Parse and validate the profiles document: {"profiles": {"<name>": {...}}}."""
    if _depth(text) > MAX_DEPTH:
        raise ConfigurationError(
            f"the profiles document is nested deeper than {MAX_DEPTH} levels of objects and lists"
        )
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as error:
        raise ConfigurationError(f"the profiles document is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("profiles"), dict):
        raise ConfigurationError('the profiles document must be {"profiles": {"<name>": {...}}}')
    return {name: _profile(name, raw) for name, raw in document["profiles"].items()}
