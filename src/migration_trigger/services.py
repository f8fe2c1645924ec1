"""The adapters one invocation uses, built once per warm container by a cached factory."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from migration_trigger.adapters.aws import Notifier, Rds, Secrets, cached_cluster
from migration_trigger.adapters.cluster import JobGateway
from migration_trigger.adapters.eks_auth import TokenSource
from migration_trigger.adapters.kube import KubeClient
from migration_trigger.adapters.kubeconfig import load_context
from migration_trigger.domain.profiles import ClusterTarget, Profile
from migration_trigger.domain.result import Result
from migration_trigger.errors import ConfigurationError
from migration_trigger.settings import Settings

TEMPLATE = Path(__file__).parent / "templates" / "migration-job.yaml"


class Metrics(Protocol):
    """Records one result as metrics."""

    def record(self, result: Result) -> None:
        """Emit the metrics of a result."""


class Log(Protocol):
    """Structured logging."""

    def info(self, message: str, **fields: Any) -> None:
        """Log at info."""

    def warning(self, message: str, **fields: Any) -> None:
        """Log at warning."""


class Services:
    """Everything with side effects the workflow uses."""

    __slots__ = (
        "clock",
        "job_template",
        "jobs_for",
        "log",
        "metrics",
        "notifier",
        "rds",
        "secrets",
        "settings",
    )

    def __init__(
        self,
        *,
        settings: Settings,
        rds: Rds,
        secrets: Secrets,
        notifier: Notifier | None,
        metrics: Metrics,
        log: Log,
        jobs_for: Callable[[Profile], JobGateway],
        job_template: Callable[[], dict[str, Any]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.rds = rds
        self.secrets = secrets
        self.notifier = notifier
        self.metrics = metrics
        self.log = log
        self.jobs_for = jobs_for
        self.job_template = job_template
        self.clock = clock


@cache
def boto3_client(service: str, region: str | None = None) -> Any:
    """One boto3 client per service and region per container (endpoint from AWS_ENDPOINT_URL)."""
    import boto3  # noqa: PLC0415 - paid once, when the first client is needed

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


@cache
def token_sts_client(region: str) -> Any:
    """STS client that presigns tokens for the real regional endpoint EKS verifies against.

    Presigning is local: no request is sent, so an endpoint override (a local AWS emulator)
    must not leak into the token; EKS accepts only STS hosts.
    """
    import boto3  # noqa: PLC0415

    return boto3.client(
        "sts", region_name=region, endpoint_url=f"https://sts.{region}.amazonaws.com"
    )


@cache
def load_template(path: str = str(TEMPLATE)) -> dict[str, Any]:
    """The Job template, parsed once per container."""
    import yaml  # noqa: PLC0415 - a parse per container, not per import

    document = yaml.safe_load(Path(path).read_text())
    if not isinstance(document, dict):
        raise ConfigurationError(f"the Job template {path} is not a mapping")
    return document


def reset_caches() -> None:
    """Forget every per-container cache, for a process that changes endpoints or credentials.

    Lambda never needs this; the local stack and the tests switch AWS identity in one process.
    """
    import boto3  # noqa: PLC0415

    boto3.DEFAULT_SESSION = None  # it caches the credentials it first resolved
    for cached in (boto3_client, token_sts_client, kube_client_for, load_template, cached_cluster):
        cached.cache_clear()


def default_region() -> str:
    """The region boto3 would use."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigurationError("AWS_REGION is not set")
    return region


@cache
def kube_client_for(target: ClusterTarget, kubeconfig: str) -> KubeClient:
    """A Kubernetes client for a profile's cluster (EKS by name, or a kubeconfig context).

    Cached per container: the cluster is described once and the token is reused until it is
    due for refresh.
    """
    if target.eks_cluster:
        region = target.region or default_region()
        info = cached_cluster(region, target.eks_cluster, boto3_client)
        tokens = TokenSource(token_sts_client(region), target.eks_cluster)
        return KubeClient(server=info.endpoint, credentials=tokens, ca_pem=info.ca_pem)
    if not kubeconfig:
        raise ConfigurationError(
            f"a profile targets kubeconfig context '{target.kube_context}' "
            "but KUBECONFIG is not set"
        )
    context = load_context(Path(kubeconfig), target.kube_context or "")
    return KubeClient(
        server=context.server,
        credentials=context.credentials,
        ca_pem=context.ca_pem,
        insecure=context.insecure,
    )


class PowertoolsMetrics:
    """EMF metrics through Powertools: a count per status and the migration duration."""

    def __init__(self, namespace: str, environment: str) -> None:
        self._namespace = namespace
        self._environment = environment

    def record(self, result: Result) -> None:
        """`Migrations` (Count) by Environment, Status; `MigrationDuration` (s) by Environment."""
        from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: PLC0415

        dimensions = {"Environment": self._environment}
        with single_metric(
            name="Migrations",
            unit=MetricUnit.Count,
            value=1,
            namespace=self._namespace,
            default_dimensions=dimensions,
        ) as metric:
            metric.add_dimension(name="Status", value=str(result.status))
        if result.duration_seconds is not None and result.job:
            with single_metric(
                name="MigrationDuration",
                unit=MetricUnit.Seconds,
                value=result.duration_seconds,
                namespace=self._namespace,
                default_dimensions=dimensions,
            ):
                pass


class PowertoolsLog:
    """Structured JSON logs through the Powertools Logger."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def info(self, message: str, **fields: Any) -> None:
        """Log at info with fields as keys."""
        self._logger.info(message, extra=fields)

    def warning(self, message: str, **fields: Any) -> None:
        """Log at warning with fields as keys."""
        self._logger.warning(message, extra=fields)


class PrintLog:
    """JSON lines on stderr, for the CLI."""

    def info(self, message: str, **fields: Any) -> None:
        """Print at info."""
        self._print("INFO", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        """Print at warning."""
        self._print("WARNING", message, fields)

    @staticmethod
    def _print(level: str, message: str, fields: dict[str, Any]) -> None:
        import sys  # noqa: PLC0415

        print(
            json.dumps({"level": level, "message": message, **fields}), file=sys.stderr, flush=True
        )


def build_services(settings: Settings, *, log: Log, region: str | None = None) -> Services:
    """Adapters for this environment (AWS endpoint and credentials from the usual variables)."""
    region = region or default_region()
    notifier = (
        Notifier(boto3_client("sns", region), settings.TOPIC_ARN) if settings.TOPIC_ARN else None
    )
    return Services(
        settings=settings,
        rds=Rds(boto3_client("rds", region)),
        secrets=Secrets(boto3_client("secretsmanager", region)),
        notifier=notifier,
        metrics=PowertoolsMetrics(settings.METRICS_NAMESPACE, settings.ENVIRONMENT),
        log=log,
        jobs_for=lambda profile: JobGateway(
            kube_client_for(profile.cluster, settings.KUBECONFIG), profile.namespace
        ),
        job_template=load_template,
    )
