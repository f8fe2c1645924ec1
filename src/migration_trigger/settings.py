"""The function's configuration: one validated object read from the environment per invocation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from migration_trigger.domain.profiles import Profile, parse_profiles
from migration_trigger.domain.result import Status
from migration_trigger.errors import ConfigurationError

DEFAULT_NOTIFY = frozenset({Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.REJECTED})


class Settings(NamedTuple):
    """Deployment configuration. Environment variable names are the field names in UPPER_CASE."""

    #: Name of the environment (dev, prod): a metric dimension and the notification subject prefix.
    ENVIRONMENT: str
    #: The validated profiles, from MIGRATION_PROFILES (JSON text) or MIGRATION_PROFILES_FILE.
    PROFILES: Mapping[str, Profile]
    #: SNS topic for results; empty: no notifications.
    TOPIC_ARN: str = ""
    #: Statuses that publish a notification.
    NOTIFY_STATUSES: frozenset[Status] = DEFAULT_NOTIFY
    #: RDS tag whose value names the profile: the opt-in.
    PROFILE_TAG_KEY: str = "migration-trigger:profile"
    #: Tag on a self-managed secret naming its database's ARN (RDS-managed secrets need none).
    DATABASE_TAG_KEY: str = "migration-trigger:database"
    #: Tag on a database naming its self-managed credentials secret.
    SECRET_TAG_KEY: str = "migration-trigger:secret"
    #: CloudWatch namespace of the metrics.
    METRICS_NAMESPACE: str = "MigrationTrigger"
    #: Lines of the migration log kept in the result and the notification.
    LOG_TAIL_LINES: int = 40
    #: Kubeconfig file for profiles that target a kubeconfig context.
    KUBECONFIG: str = ""
    #: The namespace the function is granted (k8s/rbac.yaml); when set, profiles must use it.
    MIGRATION_NAMESPACE: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate; a ConfigurationError names the variable at fault."""
        environment = env.get("ENVIRONMENT", "").strip()
        if not environment:
            raise ConfigurationError("ENVIRONMENT is not set (e.g. dev, prod)")
        if env.get("MIGRATION_PROFILES"):
            text = env["MIGRATION_PROFILES"]
        elif env.get("MIGRATION_PROFILES_FILE"):
            path = Path(env["MIGRATION_PROFILES_FILE"])
            try:
                text = path.read_text()
            except OSError as error:
                raise ConfigurationError(
                    f"MIGRATION_PROFILES_FILE: cannot read {path}: {error.strerror}"
                ) from None
        else:
            raise ConfigurationError(
                "set MIGRATION_PROFILES (JSON) or MIGRATION_PROFILES_FILE (path)"
            )
        notify_raw = env.get("NOTIFY_STATUSES")
        notify = DEFAULT_NOTIFY
        if notify_raw is not None:
            try:
                notify = frozenset(Status(s.strip()) for s in notify_raw.split(",") if s.strip())
            except ValueError:
                valid = ", ".join(str(s) for s in Status)
                raise ConfigurationError(
                    f"NOTIFY_STATUSES: use a comma-separated list of: {valid}"
                ) from None
        source = (
            "MIGRATION_PROFILES" if env.get("MIGRATION_PROFILES") else "MIGRATION_PROFILES_FILE"
        )
        try:
            profiles = parse_profiles(text)
        except ConfigurationError as error:
            raise ConfigurationError(f"{source}: {error}") from None
        namespace = env.get("MIGRATION_NAMESPACE", "")
        outside = sorted(
            name for name, p in profiles.items() if namespace and p.namespace != namespace
        )
        if outside:
            raise ConfigurationError(
                f"profiles {outside} use a namespace other than MIGRATION_NAMESPACE={namespace}, "
                "the only one the function is granted"
            )
        default = cls._field_defaults
        tail_raw = env.get("LOG_TAIL_LINES", "40")
        if not tail_raw.isdigit() or not 0 <= int(tail_raw) <= 1000:
            raise ConfigurationError("LOG_TAIL_LINES must be an integer from 0 to 1000")
        return cls(
            ENVIRONMENT=environment,
            PROFILES=profiles,
            TOPIC_ARN=env.get("TOPIC_ARN", ""),
            NOTIFY_STATUSES=notify,
            LOG_TAIL_LINES=int(tail_raw),
            KUBECONFIG=env.get("KUBECONFIG", ""),
            MIGRATION_NAMESPACE=namespace,
            # Unset or empty: the field's default.
            PROFILE_TAG_KEY=env.get("PROFILE_TAG_KEY") or default["PROFILE_TAG_KEY"],
            DATABASE_TAG_KEY=env.get("DATABASE_TAG_KEY") or default["DATABASE_TAG_KEY"],
            SECRET_TAG_KEY=env.get("SECRET_TAG_KEY") or default["SECRET_TAG_KEY"],
            METRICS_NAMESPACE=env.get("METRICS_NAMESPACE") or default["METRICS_NAMESPACE"],
        )

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
            METRICS_NAMESPACE=env.get("METRICS_NAMESPACE") or default["METRICS_NAMESPACE"],
        )
