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

from migration_trigger.domain import placement
from migration_trigger.domain.approval import Approval, parse_approval
from migration_trigger.domain.checking import CheckPending, parse_check_pending
from migration_trigger.domain.events import KIND_RULES, TriggerKind
from migration_trigger.domain.retrying import Retry, parse_retry
from migration_trigger.domain.windows import RunWindow, parse_window
from migration_trigger.errors import ConfigurationError

# Patterns are matched whole (re.fullmatch): with `$`, a trailing newline would pass.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: EKS CreateCluster: letters, digits, '-' and '_', starting with a letter or digit, up to 100.
_EKS_CLUSTER = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,99}")
#: eu-west-1, us-gov-west-1, cn-northwest-1, us-isob-east-1, eusc-de-east-1.
_REGION = re.compile(r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}")
#: A Kubernetes quantity, as quantity.go (k8s.io/apimachinery/pkg/api/resource) defines it:
#: <signedNumber><suffix>, a number being `digits`, `digits.digits`, `digits.` or `.digits`, the
#: suffix binary SI (Ki…Ei), a decimal exponent (e/E and an integer: the parser reads it with
#: ParseInt) or decimal SI (m, none, k, M, G, T, P, E, plus the n and u suffix.go also reads).
_QUANTITY = re.compile(
    r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"  # <signedNumber>
    r"([KMGTPE]i|[eE][+-]?[0-9]+|[numkMGTPE])?"  # <binarySI> | <decimalExponent> | <decimalSI>
)
#: The container resources a profile may request or limit: a migration needs no other (GPUs,
#: hugepages), and a misspelt name would otherwise reach Kubernetes as an extended resource.
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")

#: Variables the function sets itself (the ephemeral Secret's and the Job's env): a profile may
#: not set them.
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
#: Nor any name with these prefixes (compared in upper case): libpq and the MySQL client read
#: PG*/MYSQL* (PGHOSTADDR alone sends the password to another host, PGSERVICEFILE and
#: MYSQL_TEST_LOGIN_FILE read another connection's settings), LIBMYSQL_PLUGINS and LD_* load code
#: into the tool, AWS_* changes the pod's AWS identity or endpoints, and DB_*/DATABASE_URL* are
#: the names tools read for the connection the function gives.
RESERVED_ENV_PREFIXES = ("PG", "MYSQL", "LIBMYSQL_", "AWS_", "LD_", "DB_", "DATABASE_URL")


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


def _fail(profile: str, key: str, message: str) -> ConfigurationError:
    """The error for one key of one profile: `profile 'p': 'key' message`."""
    return ConfigurationError(f"profile '{profile}': '{key}' {message}")


def _show(value: Any) -> str:
    """A value as an error message quotes it: repr (so a newline shows), and not too long."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _only(profile: str, key: str, raw: dict[str, Any], allowed: tuple[str, ...], how: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise _fail(profile, key, f"has unknown keys {unknown}; allowed{how}: {sorted(allowed)}")


def _matching(profile: str, key: str, raw: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(raw, str) or not pattern.fullmatch(raw):
        raise _fail(profile, key, f"must be {what}")
    return raw


# -- readers: (profile name, JSON key, raw value) -> the field's value, or ConfigurationError ----

Reader = Callable[[str, str, Any], Any]

#: The keys of each form of `cluster`, by the key that selects the form.
_CLUSTER_FORMS = {
    "eksClusterName": ("eksClusterName", "region"),
    "kubeconfigContext": ("kubeconfigContext",),
}


def _cluster(profile: str, key: str, raw: Any) -> ClusterTarget:
    if not isinstance(raw, dict):
        raise _fail(
            profile, key, "must be an object: {eksClusterName, region?} or {kubeconfigContext}"
        )
    forms = [form for form in _CLUSTER_FORMS if form in raw]
    if len(forms) != 1:
        raise _fail(profile, key, "needs exactly one of 'eksClusterName' or 'kubeconfigContext'")
    (form,) = forms
    _only(profile, key, raw, _CLUSTER_FORMS[form], f" with '{form}'")
    if form == "kubeconfigContext":
        context = raw[form]
        if not isinstance(context, str) or not context.strip() or not context.isprintable():
            raise _fail(profile, f"{key}.{form}", "must be a context name of the kubeconfig")
        return ClusterTarget(kube_context=context)
    name = _matching(
        profile, f"{key}.{form}", raw[form], _EKS_CLUSTER,
        "an EKS cluster name (letters, digits, '-', '_'; up to 100)",
    )  # fmt: skip
    region = None
    if "region" in raw:
        region = _matching(
            profile, f"{key}.region", raw["region"], _REGION, "an AWS region such as eu-west-1"
        )
    return ClusterTarget(eks_cluster=name, region=region)


def _dns_label(profile: str, key: str, raw: Any) -> str:
    return _matching(profile, key, raw, _NAME, "a DNS label (a-z, 0-9, '-'; up to 63)")


def _printable(raw: Any, forbidden: str) -> bool:
    return (
        isinstance(raw, str)
        and raw.isascii()
        and raw.isprintable()
        and not any(c in forbidden for c in raw)
    )


def _image(profile: str, key: str, raw: Any) -> str:
    if not raw or not _printable(raw, " "):
        raise _fail(profile, key, "must be an image reference without spaces")
    return str(raw)


def _strings(profile: str, key: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise _fail(profile, key, "must be a list of strings")
    return tuple(raw)


def _env(profile: str, key: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise _fail(profile, key, "must map names to string values")
    for name in raw:
        if not _ENV_NAME.fullmatch(name):
            raise _fail(profile, key, f"name {_show(name)} is not a valid variable name")
        upper = name.upper()
        if upper in RESERVED_ENV or upper.startswith(RESERVED_ENV_PREFIXES):
            raise _fail(
                profile, key,
                f"name {_show(name)} is reserved: the names migration-trigger sets, and any "
                f"starting with {', '.join(RESERVED_ENV_PREFIXES)}, could redirect the "
                "connection, load code or change the pod's AWS identity",
            )  # fmt: skip
    return tuple(sorted(raw.items()))


#: A PostgreSQL setting's name (`lock_timeout`, or a custom `extension.name`).
_SETTING_NAME = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")
#: A setting's value as PGOPTIONS and the URL's `options` carry it without quoting: a number with
#: a unit (`5s`, `30min`), a word, or a number.
_SETTING_VALUE = re.compile(r"[A-Za-z0-9_.:+-]{1,64}")
#: Settings a migration may not change for its session: who it is, and where objects go.
_SESSION_REFUSED = frozenset({"role", "session_authorization", "search_path"})


def _session_settings(profile: str, key: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or not raw or len(raw) > 16:
        raise _fail(profile, key, "must map 1 to 16 setting names to values, such as "
                    '{"lock_timeout": "5s", "statement_timeout": "30min"}')  # fmt: skip
    settings = []
    for name, value in raw.items():
        if not _SETTING_NAME.fullmatch(name) or name in _SESSION_REFUSED:
            raise _fail(profile, key, f"{_show(name)} is not a setting a migration may set")
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not _SETTING_VALUE.fullmatch(text):
            raise _fail(
                profile, f"{key}.{name}",
                f"must be a number or a word such as '5s' or '30min', not {_show(value)}",
            )  # fmt: skip
        settings.append((name, text))
    return tuple(sorted(settings))


def _resources(profile: str, key: str, raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(profile, key, "must be an object with 'requests' and/or 'limits'")
    _only(profile, key, raw, ("limits", "requests"), "")
    resources: dict[str, dict[str, str]] = {}
    for part, amounts in raw.items():
        where = f"{key}.{part}"
        if not isinstance(amounts, dict):
            raise _fail(profile, where, f"must be an object of {list(RESOURCE_NAMES)}")
        _only(profile, where, amounts, RESOURCE_NAMES, "")
        for name, amount in amounts.items():
            _matching(
                profile, f"{where}.{name}", amount, _QUANTITY,
                f"a quantity string such as '500m' or '256Mi', not {_show(amount)}",
            )  # fmt: skip
            if amount.startswith("-"):
                # Kubernetes refuses it too (ValidateNonnegativeQuantity), but only at create-job.
                raise _fail(profile, f"{where}.{name}", f"must not be negative ({amount})")
        resources[part] = dict(amounts)
    return resources


def _credentials(profile: str, key: str, raw: Any) -> CredentialMode:
    choices = [str(mode) for mode in CredentialMode]
    if raw not in choices:
        raise _fail(profile, key, f"must be one of {choices}, not {_show(raw)}")
    return CredentialMode(raw)


#: The triggers a profile runs on unless it says: named one by one, so that a kind added later
#: runs only for the profiles that opt in.
DEFAULT_TRIGGERS = frozenset(
    {
        TriggerKind.DB_CREATED,
        TriggerKind.DB_RESTORED,
        TriggerKind.SECRET_ROTATED,
        TriggerKind.MANUAL,
    }
)


def _triggers(profile: str, key: str, raw: Any) -> frozenset[TriggerKind]:
    # A check is no trigger of migrations: a profile with a checkCommand takes checks.
    choices = sorted(str(kind) for kind in TriggerKind if not KIND_RULES[kind].checks)
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise _fail(profile, key, f"must be a list of triggers from {choices}")
    unknown = sorted({t for t in raw if t not in choices})
    if unknown:
        raise _fail(profile, key, f"names unknown triggers {unknown}; allowed: {choices}")
    if not raw:
        raise _fail(profile, key, "must name at least one trigger")
    return frozenset(TriggerKind(t) for t in raw)


#: The DATABASE_URL query parameters a profile may set: TLS, timeouts, keepalives, names and
#: pool settings of libpq ("Connection Strings", "Parameter Key Words"), pgx, Prisma and the MySQL
#: drivers. Anything else is refused: `host`, `hostaddr`, `port`, `service`, `passfile`, `user`,
#: `password`, `dbname` (and `options`, which sets server settings) would send the migration, or
#: its password, somewhere other than the database the function resolved.
URL_QUERY_KEYS = frozenset(
    {
        "application_name",
        "channel_binding",
        "charset",
        "connect_timeout",
        "connection_limit",
        "gssencmode",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "parseTime",
        "pgbouncer",
        "pool_timeout",
        "readTimeout",
        "require_auth",
        "schema",
        "socket_timeout",
        "ssl-mode",
        "sslaccept",
        "sslcert",
        "sslcompression",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslnegotiation",
        "sslrootcert",
        "statement_cache_size",
        "target_session_attrs",
        "tcp_user_timeout",
        "timeout",
        "tls",
        "writeTimeout",
    }
)


def _query(profile: str, key: str, raw: Any) -> str:
    if not _printable(raw, " #?;"):
        raise _fail(profile, key, "must be a query string without '?', '#', ';' or spaces")
    names = [part.split("=", 1)[0] for part in str(raw).split("&") if part]
    refused = sorted({name for name in names if name not in URL_QUERY_KEYS})
    if refused:
        raise _fail(
            profile,
            key,
            f"may not set {refused}: only {', '.join(sorted(URL_QUERY_KEYS))} (host, port, "
            "user, password, dbname and the like would redirect the migration or its password)",
        )
    return str(raw)


def _placed(reader: Callable[[Any, placement.Fail, str], Any]) -> Reader:
    """A placement reader (placement.py) as a profile key's reader."""

    def read(profile: str, key: str, raw: Any) -> Any:
        return reader(raw, lambda where, message: _fail(profile, where, message), key)

    return read


def _retry(profile: str, key: str, raw: Any) -> Retry:
    try:
        return parse_retry(raw)
    except ValueError as error:
        raise _fail(profile, key, str(error)) from None


class SweepPolicy(NamedTuple):
    """What the reconciliation sweep does for the profile's databases (domain/sweep.py), beyond
    migrating a creation or restore that was missed."""

    #: A database whose latest migration failed or timed out is migrated again (once per failed
    #: Job).
    retry_failed: bool = False
    #: A database last migrated with another image than the profile names now (or whose check
    #: found migrations pending): `migrate`, or `report` only.
    on_image_change: str = "report"
    #: A database that looks up to date is checked (the profile's checkCommand), once a day.
    check: bool = False


_SWEEP_KEYS = {"retryFailed": bool, "onImageChange": str, "check": bool}


def _sweep(profile: str, key: str, raw: Any) -> SweepPolicy:
    if not isinstance(raw, dict) or set(raw) - set(_SWEEP_KEYS):
        raise _fail(profile, key, "must be an object with `retryFailed`, `onImageChange`, `check`")
    retry, check = raw.get("retryFailed", False), raw.get("check", False)
    change = raw.get("onImageChange", "report")
    for name, value in (("retryFailed", retry), ("check", check)):
        if not isinstance(value, bool):
            raise _fail(profile, f"{key}.{name}", "must be true or false")
    if change not in ("migrate", "report"):
        raise _fail(profile, f"{key}.onImageChange", "must be `migrate` or `report`")
    return SweepPolicy(retry_failed=retry, on_image_change=change, check=check)


def _check_pending(profile: str, key: str, raw: Any) -> CheckPending:
    try:
        return parse_check_pending(raw)
    except ValueError as error:
        raise _fail(profile, key, str(error)) from None


def _approval(profile: str, key: str, raw: Any) -> Approval | None:
    try:
        return parse_approval(raw)
    except ValueError as error:
        raise _fail(profile, key, str(error)) from None


def _window(profile: str, key: str, raw: Any) -> RunWindow:
    try:
        return parse_window(raw)
    except ValueError as error:
        raise _fail(profile, key, str(error)) from None


def _boolean(profile: str, key: str, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise _fail(profile, key, "must be true or false")
    return raw


def _integer(low: int, high: int) -> Reader:
    def read(profile: str, key: str, raw: Any) -> int:
        if not isinstance(raw, int) or isinstance(raw, bool) or not low <= raw <= high:
            raise _fail(profile, key, f"must be an integer from {low} to {high}")
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
            "`{eksClusterName, region?}` or `{kubeconfigContext}` (no other keys): where Jobs run"),
        Key("namespace", "namespace", _dns_label, _REQUIRED, "Kubernetes namespace of the Job"),
        Key("image", "image", _image, _REQUIRED, "the migration image"),
        Key("command", "command", _strings, (), "the container's command (list of strings)"),
        Key("args", "args", _strings, (), "the container's arguments (list of strings)"),
        Key("serviceAccount", "service_account", _dns_label, None,
            "the pod's service account; required by `secret-arn`"),
        Key("env", "env", _env, (),
            "extra environment variables; RESERVED_ENV and RESERVED_ENV_PREFIXES refused"),
        Key("resources", "resources", _resources, MappingProxyType({}),
            "container `requests`/`limits` of RESOURCE_NAMES, in Kubernetes quantity syntax"),
        Key("credentials", "credentials", _credentials, CredentialMode.EPHEMERAL_SECRET,
            "`ephemeral-secret` or `secret-arn`: how the container gets the password"),
        Key("triggers", "triggers", _triggers, DEFAULT_TRIGGERS,
            "which triggers run this profile"),
        Key("backoffLimit", "backoff_limit", _integer(0, 10), 0,
            "pods retried after a failure (restartPolicy Never); 0: a failure is reported"),
        Key("activeDeadlineSeconds", "active_deadline_seconds", _integer(60, 7 * _DAY), 1800,
            "seconds the Job may run once started before Kubernetes stops it"),
        Key("ttlSecondsAfterFinished", "ttl_seconds_after_finished", _integer(300, 30 * _DAY),
            7 * _DAY, "seconds a finished Job (and its pod logs) stays in the cluster"),
        Key("waitForAvailableSeconds", "wait_for_available_seconds", _integer(0, 7 * _DAY), 3600,
            "seconds to wait for the database to become `available` (then `timed_out`)"),
        Key("waitForBlueGreenSeconds", "wait_for_blue_green_seconds", _integer(0, 7 * _DAY),
            6 * 3600,
            "seconds a migration of a database on either side of a Blue/Green deployment waits "
            "for the deployment to switch over (then it runs on the database now under the name) "
            "or to be deleted; past it, `timed_out`. Unset, shortened to fit the execution "
            "timeout. Schema changes on either side while they replicate can break the "
            "replication; a check does not wait"),
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
        Key("nodeSelector", "node_selector", _placed(placement.node_selector),
            MappingProxyType({}), "node labels the Job's pod must run on"),
        Key("tolerations", "tolerations", _placed(placement.tolerations), (),
            "taints the Job's pod tolerates, as a pod spec lists them"),
        Key("affinity", "affinity", _placed(placement.affinity), MappingProxyType({}),
            "the Job's pod's `nodeAffinity` (required or preferred node selector terms)"),
        Key("priorityClassName", "priority_class_name", _placed(placement.priority_class), None,
            "the PriorityClass of the Job's pod"),
        Key("window", "window", _window, None,
            "when a migration may start: `days` (mon…sun; default all), `start` and `end` "
            "(HH:MM, an end not after the start is the next day's), `timeZone` (IANA); outside "
            "it the execution waits, at no cost, until it opens"),
        Key("approval", "approval", _approval, None,
            "a person's yes before the Job starts: `required` (true/false), `timeoutSeconds` "
            "(default 86400), `triggers` (the kinds that need it; default all); the request, with "
            "the Job's fingerprint, goes to the results topic, and an image in Amazon ECR runs "
            "by the digest its tag named when the Job was created"),
        Key("snapshotBeforeMigration", "snapshot_before_migration", _boolean, False,
            "a manual RDS snapshot (of the instance, or of its cluster) before the Job starts, "
            "for triggers on databases that hold data (secret-rotated, manual), waited for; "
            "named migration-trigger-<job> and tagged with the database, trigger and Job"),
        Key("snapshotTimeoutSeconds", "snapshot_timeout_seconds", _integer(60, 86400), 3600,
            "seconds the snapshot may take to become available; past them, or if it fails, the "
            "migration fails and its Job never starts"),
        Key("keepSnapshots", "keep_snapshots", _integer(1, 50), 3,
            "after a success, this product's snapshots of the database beyond the newest "
            "`keepSnapshots` are deleted (never a snapshot it did not take)"),
        Key("sessionSettings", "session_settings", _session_settings, (),
            'settings for the migration\'s session, such as `{"lock_timeout": "5s"}`: for '
            "PostgreSQL in `PGOPTIONS` and `DATABASE_URL`'s `options`; for MySQL system "
            "variables in `DATABASE_URL`'s query; a database of another engine is refused"),
        Key("retry", "retry", _retry, None,
            "a failed migration whose masked log tail matches `whenLogMatches` (a regular "
            "expression) is tried again after `delaySeconds` (default 600), with a new Job, up to "
            "`attempts` in all (2-10)"),
        Key("checkCommand", "check_command", _strings, (),
            "the migration tool's status command, run as a Job by a check (`migration-trigger "
            "check`, a manual request with `\"mode\": \"check\"`, the sweep's `check`): the "
            "image, credentials and placement of the migration; nothing is applied"),
        Key("checkPending", "check_pending", _check_pending, None,
            "how the check's tool says migrations are pending: `exitCodes` (default [0, 1]) and "
            "`logMatches`, a regular expression its output matches; exit 0 otherwise is "
            "`up_to_date`, anything else a failed check"),
        Key("watchFromLedger", "watch_from_ledger", _boolean, False,
            "when the ledger knows how long the database's last successful migration ran, the "
            "watch checks as usual for 10 minutes, then at most every 15 minutes until 80% of "
            "that time, then as usual: fewer checks for long migrations; a failure in between is "
            "noticed up to 15 minutes later"),
        Key("sweep", "sweep", _sweep, SweepPolicy(),
            "what the reconciliation sweep does beyond migrating a missed creation or restore: "
            "`retryFailed` (true: a database whose latest migration failed or timed out is "
            "migrated again, once per failed Job; default false), `onImageChange` (`migrate`: a "
            "database last migrated with another image than the profile names now is migrated; "
            "`report`, the default: it is reported as behind; a check that found migrations "
            "pending counts as a change), `check` (true: a database that looks up to date is "
            "checked with checkCommand, once a day)"),
        Key("logTailInResult", "log_tail_in_result", _boolean, None,
            "whether the result (and so its notification) carries the log's last lines; default: "
            "yes for ephemeral-secret, no for secret-arn, whose log can only be masked by pattern "
            "(the full log is in the function's log either way)"),
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
    wait_for_blue_green_seconds: int = KEYS["wait_for_blue_green_seconds"].default
    queue_timeout_seconds: int = KEYS["queue_timeout_seconds"].default
    poll_seconds: int = KEYS["poll_seconds"].default
    rotation_settle_seconds: int = KEYS["rotation_settle_seconds"].default
    url_query: str = KEYS["url_query"].default
    start_timeout_seconds: int = KEYS["start_timeout_seconds"].default
    log_tail_in_result: bool | None = KEYS["log_tail_in_result"].default
    node_selector: Mapping[str, str] = KEYS["node_selector"].default
    tolerations: tuple[Mapping[str, Any], ...] = KEYS["tolerations"].default
    affinity: Mapping[str, Any] = KEYS["affinity"].default
    priority_class_name: str | None = KEYS["priority_class_name"].default
    window: RunWindow | None = KEYS["window"].default
    retry: Retry | None = KEYS["retry"].default
    approval: Approval | None = KEYS["approval"].default
    snapshot_before_migration: bool = KEYS["snapshot_before_migration"].default
    snapshot_timeout_seconds: int = KEYS["snapshot_timeout_seconds"].default
    keep_snapshots: int = KEYS["keep_snapshots"].default
    session_settings: tuple[tuple[str, str], ...] = KEYS["session_settings"].default
    check_command: tuple[str, ...] = KEYS["check_command"].default
    check_pending: CheckPending | None = KEYS["check_pending"].default
    watch_from_ledger: bool = KEYS["watch_from_ledger"].default
    sweep: SweepPolicy = KEYS["sweep"].default

    @property
    def shares_log_tail(self) -> bool:
        """Whether results carry the log tail: as set, else only where the password is masked
        by value (ephemeral-secret), not by pattern alone (secret-arn)."""
        if self.log_tail_in_result is not None:
            return self.log_tail_in_result
        return self.credentials is CredentialMode.EPHEMERAL_SECRET


_BY_JSON = {key.json: key for key in KEYS.values()}


def _profile(name: str, raw: Any) -> Profile:
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"profile name {_show(name)} must be a DNS label (a-z, 0-9, '-'; up to 63)"
        )
    if not isinstance(raw, dict):
        raise ConfigurationError(f"profile '{name}': must be an object of keys")
    unknown = sorted(set(raw) - set(_BY_JSON))
    if unknown:
        raise ConfigurationError(
            f"profile '{name}': unknown keys {unknown}; allowed: {sorted(_BY_JSON)}"
        )
    values: dict[str, Any] = {}
    for key in KEYS.values():
        # null stands for the default, as if the key were absent.
        if raw.get(key.json) is not None:
            values[key.field] = key.read(name, key.json, raw[key.json])
        elif key.required:
            raise _fail(name, key.json, f"is required: {key.doc}")
    profile = Profile(name=name, **values)
    if profile.credentials is CredentialMode.SECRET_ARN and profile.service_account is None:
        raise _fail(
            name, "serviceAccount",
            "is required by credentials 'secret-arn': the Job reads the secret with it",
        )  # fmt: skip
    if bool(profile.check_command) != (profile.check_pending is not None):
        raise _fail(
            name, "checkCommand",
            "and checkPending go together: the command, and how its output says pending",
        )  # fmt: skip
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
