"""The function's configuration: one validated object read from the environment per invocation."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from migration_trigger.domain.ledger import DEFAULT_HISTORY_DAYS
from migration_trigger.domain.profiles import Profile, parse_profiles
from migration_trigger.domain.result import Status
from migration_trigger.domain.schedule import fitted, refusal
from migration_trigger.errors import ConfigurationError

#: Statuses that notify by default. `rejected` is counted, not notified one by one: whoever can
#: send events could otherwise page a person per event; the template alarms on the count.
DEFAULT_NOTIFY = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.DECLINED, Status.PENDING}
)


class Settings(NamedTuple):
    """Deployment configuration. Environment variable names are the field names in UPPER_CASE."""

    #: Name of the environment (dev, prod): a metric dimension and the notification subject prefix.
    ENVIRONMENT: str
    #: The validated profiles, from MIGRATION_PROFILES_PARAMETER (an SSM parameter's name, first),
    #: MIGRATION_PROFILES (JSON text) or MIGRATION_PROFILES_FILE (a path).
    PROFILES: Mapping[str, Profile]
    #: SNS topic for results; empty: no notifications.
    TOPIC_ARN: str = ""
    #: Further notification targets, comma-separated, each one a notifier sends to (wiring.py's
    #: NOTIFIERS: today SNS topic ARNs, which the function's role must be allowed to publish to).
    NOTIFY_TARGETS: tuple[str, ...] = ()
    #: Statuses that publish a notification.
    NOTIFY_STATUSES: frozenset[Status] = DEFAULT_NOTIFY
    #: RDS tag whose value names the profile: the opt-in.
    PROFILE_TAG_KEY: str = "migration-trigger:profile"
    #: Tag on a self-managed secret naming its database's ARN (RDS-managed secrets need none).
    DATABASE_TAG_KEY: str = "migration-trigger:database"
    #: Tag on a database naming its self-managed credentials secret.
    SECRET_TAG_KEY: str = "migration-trigger:secret"
    #: The deployment's SelfManagedSecretPrefix: when set, its IAM policy reads tagged secrets
    #: under it only, and those may bind to the database that tags them.
    SELF_MANAGED_SECRET_PREFIX: str = ""
    #: Whether this deployment migrates databases whose opt-in tag names a profile alone
    #: (`orders`). A tag may also name the deployment: `<ENVIRONMENT>/<profile>` (`prod/orders`)
    #: is claimed by that deployment only. Where several deployments share an account and
    #: region, all but one set this to false, so each database is migrated by exactly one.
    CLAIM_UNQUALIFIED_TAGS: bool = True
    #: CloudWatch namespace of the metrics.
    METRICS_NAMESPACE: str = "MigrationTrigger"
    #: Lines of the migration log kept in the result and the notification.
    LOG_TAIL_LINES: int = 40
    #: Kubeconfig file for profiles that target a kubeconfig context.
    KUBECONFIG: str = ""
    #: The namespace the function is granted (k8s/rbac.yaml); when set, profiles must use it.
    MIGRATION_NAMESPACE: str = ""
    #: Seconds a durable execution may run (the template's DurableConfig.ExecutionTimeout, passed
    #: here by the template itself): every profile's waits must fit in it.
    EXECUTION_TIMEOUT_SECONDS: int = 86400
    #: The DynamoDB table results are recorded in (the template's Ledger); empty: none.
    LEDGER_TABLE: str = ""
    #: Days each result's history item is kept in the ledger.
    LEDGER_HISTORY_DAYS: int = DEFAULT_HISTORY_DAYS
    #: The bus migration requests go to (the template's RequestsBus): the sweep sends its own
    #: there. Empty: the sweep cannot start migrations.
    REQUESTS_BUS: str = ""
    #: Migration requests one sweep sends at most; the rest wait for the next sweep.
    SWEEP_MAX_STARTS: int = 50
    #: The spoke accounts whose databases this (hub) deployment migrates, comma-separated: their
    #: events come from the spoke template's rules, and the function assumes SPOKE_ROLE_NAME in
    #: each (domain/accounts.py). An event of any other account than these and its own is
    #: rejected.
    SPOKE_ACCOUNTS: frozenset[str] = frozenset()
    #: The role the spoke template creates in each spoke account.
    SPOKE_ROLE_NAME: str = "migration-trigger-spoke"
    #: Why the profiles could not be loaded, if they could not. Only a new event needs them (its
    #: `resolve` step fails with this); an execution in flight replays the profile it resolved,
    #: so a broken edit of the profiles never fails a migration already under way.
    PROFILES_ERROR: str = ""

    @property
    def profiles(self) -> Mapping[str, Profile]:
        """The profiles; a ConfigurationError if they could not be loaded."""
        if self.PROFILES_ERROR:
            raise ConfigurationError(self.PROFILES_ERROR)
        return self.PROFILES

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, read_parameter: Callable[[str], str] | None = None
    ) -> Settings:
        """Read and validate; a ConfigurationError names the variable at fault.

        `read_parameter` reads an SSM parameter, for MIGRATION_PROFILES_PARAMETER.
        """
        environment = env.get("ENVIRONMENT", "").strip()
        if not environment:
            raise ConfigurationError("ENVIRONMENT is not set (e.g. dev, prod)")
        notify = _notify_statuses(env.get("NOTIFY_STATUSES"))
        default = cls._field_defaults
        timeout = _integer(
            env, "EXECUTION_TIMEOUT_SECONDS", 60, 31_622_400, default["EXECUTION_TIMEOUT_SECONDS"]
        )
        namespace = env.get("MIGRATION_NAMESPACE", "")
        profiles, profiles_error = {}, ""
        try:
            profiles = _profiles(
                env, namespace=namespace, execution_timeout=timeout, read_parameter=read_parameter
            )
        except ConfigurationError as error:
            profiles_error = str(error)
        return cls(
            ENVIRONMENT=environment,
            PROFILES=profiles,
            PROFILES_ERROR=profiles_error,
            TOPIC_ARN=env.get("TOPIC_ARN", ""),
            NOTIFY_TARGETS=_further_targets(env),
            NOTIFY_STATUSES=notify,
            LOG_TAIL_LINES=_integer(env, "LOG_TAIL_LINES", 0, 1000, default["LOG_TAIL_LINES"]),
            KUBECONFIG=env.get("KUBECONFIG", ""),
            MIGRATION_NAMESPACE=namespace,
            EXECUTION_TIMEOUT_SECONDS=timeout,
            # Unset or empty: the field's default.
            PROFILE_TAG_KEY=env.get("PROFILE_TAG_KEY") or default["PROFILE_TAG_KEY"],
            DATABASE_TAG_KEY=env.get("DATABASE_TAG_KEY") or default["DATABASE_TAG_KEY"],
            SECRET_TAG_KEY=env.get("SECRET_TAG_KEY") or default["SECRET_TAG_KEY"],
            SELF_MANAGED_SECRET_PREFIX=env.get("SELF_MANAGED_SECRET_PREFIX", ""),
            CLAIM_UNQUALIFIED_TAGS=_boolean(env, "CLAIM_UNQUALIFIED_TAGS", default=True),
            METRICS_NAMESPACE=env.get("METRICS_NAMESPACE") or default["METRICS_NAMESPACE"],
            LEDGER_TABLE=env.get("LEDGER_TABLE", ""),
            LEDGER_HISTORY_DAYS=_integer(
                env, "LEDGER_HISTORY_DAYS", 1, 3650, default["LEDGER_HISTORY_DAYS"]
            ),
            REQUESTS_BUS=env.get("REQUESTS_BUS", ""),
            SWEEP_MAX_STARTS=_integer(
                env, "SWEEP_MAX_STARTS", 0, 1000, default["SWEEP_MAX_STARTS"]
            ),
            SPOKE_ACCOUNTS=_accounts(env.get("SPOKE_ACCOUNTS", "")),
            SPOKE_ROLE_NAME=_role_name(env.get("SPOKE_ROLE_NAME") or default["SPOKE_ROLE_NAME"]),
        )

    @property
    def notify_targets(self) -> tuple[str, ...]:
        """Where results are notified, one notifier each (wiring.py builds them, the cost model
        counts their steps): see notify_targets()."""
        return _in_order(self.TOPIC_ARN, self.NOTIFY_TARGETS)

    @classmethod
    def for_reporting(cls, env: Mapping[str, str]) -> Settings:
        """What reporting needs when the configuration is invalid; never raises.

        A deployment whose settings cannot be read still reports each event as failed (log, metric,
        notification), so the alarm and the topic see a broken configuration, not only the log.
        """
        default = cls._field_defaults
        return cls(
            ENVIRONMENT=env.get("ENVIRONMENT", "").strip() or "unknown",
            PROFILES={},
            TOPIC_ARN=env.get("TOPIC_ARN", ""),
            NOTIFY_TARGETS=_further_targets(env),
            METRICS_NAMESPACE=env.get("METRICS_NAMESPACE") or default["METRICS_NAMESPACE"],
            LEDGER_TABLE=env.get("LEDGER_TABLE", ""),
        )


def notify_targets(env: Mapping[str, str]) -> tuple[str, ...]:
    """Where this deployment notifies results, in order: the results topic (TOPIC_ARN) if set,
    then NOTIFY_TARGETS. Each target gets a notifier of its kind (wiring.py) and a `notify-<i>`
    step of its own, which the cost model counts."""
    return _in_order(env.get("TOPIC_ARN", ""), _further_targets(env))


def _further_targets(env: Mapping[str, str]) -> tuple[str, ...]:
    """NOTIFY_TARGETS, comma-separated."""
    return tuple(t.strip() for t in env.get("NOTIFY_TARGETS", "").split(",") if t.strip())


def _in_order(topic: str, further: tuple[str, ...]) -> tuple[str, ...]:
    return (topic, *further) if topic else further


def _accounts(raw: str) -> frozenset[str]:
    """SPOKE_ACCOUNTS: AWS account ids (12 digits), comma-separated."""
    accounts = frozenset(a.strip() for a in raw.split(",") if a.strip())
    wrong = sorted(a for a in accounts if not (len(a) == 12 and a.isascii() and a.isdigit()))
    if wrong:
        raise ConfigurationError(
            f"SPOKE_ACCOUNTS: {', '.join(wrong)} is not an AWS account id (12 digits)"
        )
    return accounts


def _role_name(name: str) -> str:
    """SPOKE_ROLE_NAME: an IAM role name (IAM User Guide, "IAM object quotas": 64 characters of
    letters, digits and +=,.@_-), with room for the spokes' `-forwarding` role."""
    if not (0 < len(name) <= 53 and re.fullmatch(r"[\w+=,.@-]+", name, flags=re.ASCII)):
        raise ConfigurationError(f"SPOKE_ROLE_NAME: {name!r} is not an IAM role name")
    return name


def _boolean(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise ConfigurationError(f"{name} must be true or false")
    return raw == "true"


def _integer(env: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    raw = env.get(name) or str(default)
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ConfigurationError(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _notify_statuses(raw: str | None) -> frozenset[Status]:
    if raw is None:
        return DEFAULT_NOTIFY
    try:
        return frozenset(Status(s.strip()) for s in raw.split(",") if s.strip())
    except ValueError:
        valid = ", ".join(str(s) for s in Status)
        raise ConfigurationError(
            f"NOTIFY_STATUSES: use a comma-separated list of: {valid}"
        ) from None


def _profiles_text(
    env: Mapping[str, str], read_parameter: Callable[[str], str] | None
) -> tuple[str, str]:
    """(variable, text) of the profiles document: SSM parameter, inline, or file."""
    if name := env.get("MIGRATION_PROFILES_PARAMETER"):
        if read_parameter is None:
            raise ConfigurationError("MIGRATION_PROFILES_PARAMETER: nothing here reads SSM")
        return "MIGRATION_PROFILES_PARAMETER", read_parameter(name)
    if env.get("MIGRATION_PROFILES"):
        return "MIGRATION_PROFILES", env["MIGRATION_PROFILES"]
    if env.get("MIGRATION_PROFILES_FILE"):
        path = Path(env["MIGRATION_PROFILES_FILE"])
        try:
            return "MIGRATION_PROFILES_FILE", path.read_text()
        except OSError as error:
            raise ConfigurationError(
                f"MIGRATION_PROFILES_FILE: cannot read {path}: {error.strerror}"
            ) from None
    raise ConfigurationError(
        "set MIGRATION_PROFILES (JSON), MIGRATION_PROFILES_PARAMETER (an SSM parameter's name) "
        "or MIGRATION_PROFILES_FILE (path)"
    )


def _profiles(
    env: Mapping[str, str],
    *,
    namespace: str,
    execution_timeout: int,
    read_parameter: Callable[[str], str] | None,
) -> dict[str, Profile]:
    """The validated profiles: each in the granted namespace, each fitting one execution."""
    source, text = _profiles_text(env, read_parameter)
    notifiers = len(notify_targets(env))
    try:
        profiles = parse_profiles(text)
        for name in _defaulting_blue_green(text, profiles):
            profiles[name] = fitted(
                profiles[name], execution_timeout=execution_timeout, notifiers=notifiers
            )
        for profile in profiles.values():
            why = refusal(profile, execution_timeout=execution_timeout, notifiers=notifiers)
            if why is not None:
                raise ConfigurationError(why)
    except ConfigurationError as error:
        raise ConfigurationError(f"{source}: {error}") from None
    _check_clusters(profiles, cluster=env.get("CLUSTER_NAME", ""), region=env.get("AWS_REGION", ""))
    outside = sorted(name for name, p in profiles.items() if namespace and p.namespace != namespace)
    if outside:
        raise ConfigurationError(
            f"profiles {outside} use a namespace other than MIGRATION_NAMESPACE={namespace}, "
            "the only one the function is granted"
        )
    return profiles


def _defaulting_blue_green(text: str, profiles: Mapping[str, Profile]) -> list[str]:
    """The profiles that leave waitForBlueGreenSeconds to its default, absent or null (the
    document parsed)."""
    document = json.loads(text).get("profiles", {})
    return [
        name
        for name in profiles
        if isinstance(document.get(name), dict)
        and document[name].get("waitForBlueGreenSeconds") is None
    ]


def _check_clusters(profiles: Mapping[str, Profile], *, cluster: str, region: str) -> None:
    """Profiles must target the one cluster the deployment is granted (IAM and access entry)."""
    if not cluster:
        return
    for profile in profiles.values():
        target = profile.cluster
        if target.eks_cluster and (
            target.eks_cluster != cluster or (target.region and target.region != region)
        ):
            where = f"{target.eks_cluster} in {target.region or region}"
            raise ConfigurationError(
                f"profile '{profile.name}' targets EKS cluster {where}, but this deployment is "
                f"granted only {cluster} in {region} (CLUSTER_NAME: its IAM policy and access "
                "entry cover one cluster). Deploy another stack for that cluster, with "
                "ClusterName set to it"
            )
