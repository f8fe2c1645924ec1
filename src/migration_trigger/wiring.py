"""Wiring: the real adapters for this environment, built once per warm container and cached."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from migration_trigger.adapters import ssm
from migration_trigger.adapters.accounts import AssumedAccounts, assumed_session
from migration_trigger.adapters.aws import (
    Callbacks,
    DurableExecutions,
    EcrImages,
    Rds,
    RdsSnapshots,
    RequestsBus,
    Secrets,
    cached_cluster,
)
from migration_trigger.adapters.cluster import JobGateway
from migration_trigger.adapters.eks_auth import TokenSource
from migration_trigger.adapters.kube import KubeClient
from migration_trigger.adapters.kubeconfig import load_context
from migration_trigger.adapters.ledger import DynamoLedger
from migration_trigger.adapters.observability import PowertoolsMetrics
from migration_trigger.adapters.sns import SnsNotifier
from migration_trigger.domain.events import Home
from migration_trigger.domain.profiles import ClusterTarget
from migration_trigger.errors import ConfigurationError
from migration_trigger.ports import Log, Notifier, Services
from migration_trigger.settings import Settings

TEMPLATE = Path(__file__).parent / "templates" / "migration-job.yaml"


@cache
def boto3_client(service: str, region: str | None = None) -> Any:
    """One boto3 client per service and region per container (endpoint from AWS_ENDPOINT_URL)."""
    import boto3  # noqa: PLC0415 - paid once, when the first client is needed

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def callbacks_as(profile: str | None, region: str | None) -> Callbacks:
    """Answers to requests for approval, signed by a boto3 session of their own: a person's
    identity (a named profile, or the usual chain), never the function's cached clients."""
    import boto3  # noqa: PLC0415

    session = boto3.session.Session(profile_name=profile)
    region = region or session.region_name or default_region()
    return Callbacks(session.client("lambda", region), session.client("sts", region))


@cache
def token_sts_client(region: str) -> Any:
    """STS client that presigns tokens for the real regional endpoint EKS verifies against.

    Presigning is local: no request is sent, so an endpoint override (a local AWS emulator)
    must not leak into the token; EKS accepts only STS hosts. botocore's endpoint data gives the
    region's partition its own host (`sts.cn-north-1.amazonaws.com.cn` in China).
    """
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    # botocore >= 1.31 has the option; its type stubs do not list it yet.
    config = Config(ignore_configured_endpoint_urls=True)  # type: ignore[call-arg]
    return boto3.client("sts", region_name=region, config=config)


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
    for cached in (
        boto3_client,
        token_sts_client,
        kube_client_for,
        load_template,
        cached_cluster,
        assumed_session,
    ):
        cached.cache_clear()
    ssm.forget()


def read_parameter(name: str) -> str:
    """An SSM parameter's value (the profiles document), cached per warm container."""
    return ssm.read_profiles_parameter(name, client=boto3_client("ssm", default_region()))


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


def build_services(
    settings: Settings, *, log: Log, region: str | None = None, home: Home | None = None
) -> Services:
    """Adapters for this environment (AWS endpoint and credentials from the usual variables)."""
    region = region or default_region()
    if home is not None:
        home = home._replace(spokes=settings.SPOKE_ACCOUNTS)
    return Services(
        settings=settings,
        rds=Rds(boto3_client("rds", region)),
        secrets=Secrets(boto3_client("secretsmanager", region)),
        notifiers=tuple(notifier_for(t, settings, region) for t in settings.notify_targets),
        metrics=PowertoolsMetrics(settings.METRICS_NAMESPACE, settings.ENVIRONMENT),
        log=log,
        jobs_for=lambda profile: JobGateway(
            kube_client_for(profile.cluster, settings.KUBECONFIG), profile.namespace
        ),
        job_template=load_template,
        home=home,
        executions=DurableExecutions(lambda: boto3_client("lambda", region)),
        images=EcrImages(lambda: boto3_client("ecr", region)),
        snapshots=RdsSnapshots(boto3_client("rds", region)),
        approvers=(
            NOTIFIERS["sns"](settings.TOPIC_ARN, settings, region) if settings.TOPIC_ARN else None
        ),
        requests=(
            RequestsBus(lambda: boto3_client("events", region), settings.REQUESTS_BUS)
            if settings.REQUESTS_BUS
            else None
        ),
        fleet_reports=(
            NOTIFIERS["sns"](settings.TOPIC_ARN, settings, region) if settings.TOPIC_ARN else None
        ),
        accounts=(
            AssumedAccounts(
                lambda: boto3_client("sts", region),
                home=home,
                region=region,
                role_name=settings.SPOKE_ROLE_NAME,
            )
            if home is not None and settings.SPOKE_ACCOUNTS
            else None
        ),
        ledger=(
            DynamoLedger(
                lambda: boto3_client("dynamodb", region),
                settings.LEDGER_TABLE,
                history_days=settings.LEDGER_HISTORY_DAYS,
            )
            if settings.LEDGER_TABLE
            else None
        ),
    )


#: A notifier for each form of target (settings.notify_targets): an ARN by its service, a URL by
#: its scheme.
NOTIFIERS: dict[str, Any] = {
    "sns": lambda target, settings, region: SnsNotifier(
        boto3_client("sns", region), target, environment=settings.ENVIRONMENT
    ),
}


def notifier_for(target: str, settings: Settings, region: str) -> Notifier:
    """The notifier of a notification target, one of NOTIFIERS."""
    parts = target.split(":")
    form = parts[2] if parts[0] == "arn" and len(parts) > 2 else target.split("://", 1)[0]
    if form not in NOTIFIERS:
        raise ConfigurationError(f"no notifier sends to {target!r}")
    notifier: Notifier = NOTIFIERS[form](target, settings, region)
    return notifier


def reporting_services(env: Mapping[str, str], *, log: Log) -> Services:
    """Adapters that can still report when the settings are invalid.

    Only the report step runs: its log, metrics and notifier. Without a region there is no SNS, and
    the AWS clients built for a stand-in region are never called.
    """
    settings = Settings.for_reporting(env)
    try:
        return build_services(settings, log=log)
    except ConfigurationError:
        quiet = settings._replace(TOPIC_ARN="", NOTIFY_TARGETS=(), LEDGER_TABLE="")
        return build_services(quiet, log=log, region="us-east-1")
