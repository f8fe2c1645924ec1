"""The Job and its ephemeral Secret, rendered from the Job template and a profile. Pure."""

from __future__ import annotations

import copy
import hashlib
import re
import time
import urllib.parse
from typing import Any, NamedTuple

from migration_trigger.domain import placement
from migration_trigger.domain.database import Endpoint
from migration_trigger.domain.events import Trigger, parse_rds_arn
from migration_trigger.domain.profiles import CredentialMode, Profile
from migration_trigger.errors import ConfigurationError

LABEL_PREFIX = "migration-trigger.io"
MANAGED_BY = "migration-trigger"
CONTAINER = "migrate"
#: When the execution that created a Job will have started or deleted it (RFC 3339, UTC).
START_BY = f"{LABEL_PREFIX}/start-by"
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def _dns_label(text: str, limit: int) -> str:
    return _NOT_DNS.sub("-", text.lower()).strip("-")[:limit].strip("-") or "db"


def database_key(database_arn: str) -> str:
    """A label-safe key for one database, for finding every Job of it."""
    return hashlib.sha256(database_arn.encode()).hexdigest()[:16]


def job_name(database_arn: str, dedup_key: str) -> str:
    """Deterministic DNS-1123 name: the same database and event always give the same Job."""
    parsed = parse_rds_arn(database_arn)
    identifier = parsed[3] if parsed else database_arn
    digest = hashlib.sha256(f"{database_arn}\n{dedup_key}".encode()).hexdigest()[:10]
    return f"migrate-{_dns_label(identifier, 40)}-{digest}"


def engine_family(engine: str) -> str:
    """postgres, mysql or the engine as given."""
    if "postgres" in engine:
        return "postgres"
    if "mysql" in engine or "mariadb" in engine:
        return "mysql"
    return engine


def database_url(endpoint: Endpoint, username: str, password: str, query: str = "") -> str:
    """A connection URL with user and password percent-encoded."""
    scheme = {"postgres": "postgresql", "mysql": "mysql"}.get(
        engine_family(endpoint.engine), endpoint.engine
    )
    user = urllib.parse.quote(username, safe="")
    secret = urllib.parse.quote(password, safe="")
    url = f"{scheme}://{user}:{secret}@{endpoint.host}:{endpoint.port}/{urllib.parse.quote(endpoint.name)}"
    return f"{url}?{query}" if query else url


def pg_options(settings: tuple[tuple[str, str], ...]) -> str:
    """Session settings as libpq's PGOPTIONS and a connection URL's `options` carry them:
    `-c name=value` each (PostgreSQL docs, libpq "Parameter Key Words": options; "Environment
    Variables": PGOPTIONS behaves the same). tests/e2e/test_session_settings.py reads them back
    from real PostgreSQL through dbmate and psql."""
    return " ".join(f"-c {name}={value}" for name, value in settings)


def mysql_variables(settings: tuple[tuple[str, str], ...]) -> str:
    """Session settings as a MySQL connection URL's query carries them: each parameter the Go
    driver does not know is a system variable it sets for the session, its value as given
    (go-sql-driver/mysql README, "System Variables": a string value quoted, `%27…%27`); dbmate
    passes the URL's query to that driver (amacneil/dbmate pkg/driver/mysql connectionString).
    tests/e2e/test_session_settings.py reads them back from real MariaDB through dbmate."""
    return "&".join(
        f"{name}={urllib.parse.quote(value if _NUMBER.fullmatch(value) else f"'{value}'", safe='')}"
        for name, value in settings
    )


_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


def credential_values(
    endpoint: Endpoint,
    username: str,
    password: str,
    query: str = "",
    settings: tuple[tuple[str, str], ...] = (),
) -> dict[str, str]:
    """What the ephemeral Secret holds: DATABASE_URL (with the session settings: in its `options`
    for PostgreSQL, as system variables of its query for MySQL) and the usual per-engine
    variables."""
    family = engine_family(endpoint.engine)
    if settings and family in ("postgres", "mysql"):
        if family == "postgres":
            more = f"options={urllib.parse.quote(pg_options(settings), safe='')}"
        else:
            more = mysql_variables(settings)
        query = f"{query}&{more}" if query else more
    values = {
        "DATABASE_URL": database_url(endpoint, username, password, query),
        "DB_HOST": endpoint.host,
        "DB_PORT": str(endpoint.port),
        "DB_NAME": endpoint.name,
        "DB_USER": username,
        "DB_PASSWORD": password,
        "DB_ENGINE": endpoint.engine,
    }
    if family == "postgres":
        values.update(
            PGHOST=endpoint.host,
            PGPORT=str(endpoint.port),
            PGDATABASE=endpoint.name,
            PGUSER=username,
            PGPASSWORD=password,
        )
    elif family == "mysql":
        values.update(
            MYSQL_HOST=endpoint.host, MYSQL_TCP_PORT=str(endpoint.port), MYSQL_PWD=password
        )
    return values


class JobPlan(NamedTuple):
    """Everything needed to render one migration Job."""

    name: str
    profile: Profile
    trigger: Trigger
    database_arn: str
    secret_arn: str
    endpoint: Endpoint
    execution: str
    #: Once started: the secret version whose password the Job was given (see records.Started).
    secret_version: str | None = None
    #: The profile's image by digest, when a profile with approval pinned its ECR tag.
    image: str | None = None
    #: How long the database's last successful migration ran, when the profile's
    #: watchFromLedger asks the ledger and it knows (records.Resolved).
    expected_seconds: float | None = None

    @property
    def secret_name(self) -> str:
        """The ephemeral Secret's name (ephemeral-secret mode)."""
        return f"{self.name}-db"

    def labels(self) -> dict[str, str]:
        """Labels on the Job and its pods; the database key finds every Job of one database."""
        parsed = parse_rds_arn(self.database_arn)
        return {
            "app.kubernetes.io/name": "database-migration",
            "app.kubernetes.io/managed-by": MANAGED_BY,
            f"{LABEL_PREFIX}/database": _dns_label(parsed[3] if parsed else "db", 63),
            f"{LABEL_PREFIX}/database-key": database_key(self.database_arn),
            f"{LABEL_PREFIX}/trigger": str(self.trigger.kind),
            f"{LABEL_PREFIX}/event-id": _dns_label(self.trigger.event_id, 63),
            f"{LABEL_PREFIX}/profile": self.profile.name,
        }

    def annotations(self) -> dict[str, str]:
        """Context a person reading `kubectl describe job` wants, and the owning execution."""
        return {
            f"{LABEL_PREFIX}/database-arn": self.database_arn,
            f"{LABEL_PREFIX}/trigger-detail": self.trigger.detail[:256],
            f"{LABEL_PREFIX}/event-id": self.trigger.event_id,
            f"{LABEL_PREFIX}/execution": self.execution,
        }


def utc_iso(seconds: float) -> str:
    """An epoch time as ISO 8601 in UTC, to the second: `2026-12-06T10:00:00Z` (annotations,
    results, the ledger's times as status shows them)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def render_job(
    template: dict[str, Any], plan: JobPlan, *, start_by: float | None = None
) -> dict[str, Any]:
    """The Job manifest: the template with the plan's names, image, command, env and limits.

    Created suspended: it starts only when the function un-suspends it, after its credentials
    Secret exists and no other migration of the database is running. `start_by` (epoch seconds)
    is when the execution will have started it or deleted it: a Job still suspended after that
    was left by an execution that ended without cleaning up (START_BY annotation).
    """
    if template.get("kind") != "Job":
        raise ConfigurationError("the Job template is not a batch/v1 Job")
    job = copy.deepcopy(template)
    profile = plan.profile
    meta = job.setdefault("metadata", {})
    meta["name"] = plan.name
    meta["namespace"] = profile.namespace
    meta["labels"] = {**meta.get("labels", {}), **plan.labels()}
    meta["annotations"] = {**meta.get("annotations", {}), **plan.annotations()}
    if start_by is not None:
        meta["annotations"][START_BY] = utc_iso(start_by)
    spec = job.setdefault("spec", {})
    spec.update(
        suspend=True,
        backoffLimit=profile.backoff_limit,
        activeDeadlineSeconds=profile.active_deadline_seconds,
        ttlSecondsAfterFinished=profile.ttl_seconds_after_finished,
    )
    pod_meta = spec["template"].setdefault("metadata", {})
    pod_meta["labels"] = {**pod_meta.get("labels", {}), **plan.labels()}
    pod = spec["template"]["spec"]
    # Never OnFailure: pods (and their logs) would be deleted when the backoff limit is hit.
    pod["restartPolicy"] = "Never"
    if profile.service_account:
        pod["serviceAccountName"] = profile.service_account
    placement.place(pod, profile)
    containers = pod.get("containers") or []
    container = next((c for c in containers if c.get("name") == CONTAINER), None)
    if container is None:
        raise ConfigurationError(f"the Job template has no container named '{CONTAINER}'")
    container["image"] = plan.image or profile.image
    if profile.command:
        container["command"] = list(profile.command)
    if profile.args:
        container["args"] = list(profile.args)
    if profile.resources:
        container["resources"] = copy.deepcopy(dict(profile.resources))
    env = [
        {"name": "MIGRATION_DATABASE_ARN", "value": plan.database_arn},
        {"name": "MIGRATION_TRIGGER", "value": str(plan.trigger.kind)},
        {"name": "MIGRATION_EVENT_ID", "value": plan.trigger.event_id},
    ]
    if profile.credentials is CredentialMode.SECRET_ARN:
        env += [
            {"name": "DB_SECRET_ARN", "value": plan.secret_arn},
            {"name": "DB_HOST", "value": plan.endpoint.host},
            {"name": "DB_PORT", "value": str(plan.endpoint.port)},
            {"name": "DB_NAME", "value": plan.endpoint.name},
            {"name": "DB_ENGINE", "value": plan.endpoint.engine},
        ]
    else:
        container["envFrom"] = [{"secretRef": {"name": plan.secret_name}}]
    if profile.session_settings and engine_family(plan.endpoint.engine) == "postgres":
        # Read by libpq and the drivers that follow it, whichever URL the tool builds.
        env.append({"name": "PGOPTIONS", "value": pg_options(profile.session_settings)})
    env += [{"name": k, "value": v} for k, v in profile.env]
    container["env"] = [*container.get("env", []), *env]
    return job


def execution_of(job: dict[str, Any]) -> str | None:
    """The execution that created a Job (its execution annotation), if it names one."""
    value = ((job.get("metadata") or {}).get("annotations") or {}).get(f"{LABEL_PREFIX}/execution")
    return str(value) if value else None


def event_of(job: dict[str, Any]) -> str | None:
    """The id of the event a Job was created for (its event-id annotation), if it names one."""
    value = ((job.get("metadata") or {}).get("annotations") or {}).get(f"{LABEL_PREFIX}/event-id")
    return str(value) if value else None


def owned_by(obj: dict[str, Any], owner_uid: str) -> bool:
    """Whether an object names `owner_uid` among its owners (the Secret this Job's execution
    made has it as its controller)."""
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(owner.get("uid") == owner_uid for owner in owners)


def render_secret(plan: JobPlan, job_uid: str, values: dict[str, str]) -> dict[str, Any]:
    """The ephemeral credentials Secret, owned by the Job so it is deleted with it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": plan.secret_name,
            "namespace": plan.profile.namespace,
            "labels": plan.labels(),
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": plan.name,
                    "uid": job_uid,
                    "controller": False,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "type": "Opaque",
        "immutable": True,
        "stringData": values,
    }
