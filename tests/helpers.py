"""Helpers shared by test modules: clients built the way production builds them, and waiting."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from kube_emulator import Emulator
from migration_trigger.adapters.eks_auth import TokenSource
from migration_trigger.adapters.kube import KubeClient

ROOT = Path(__file__).resolve().parent.parent


def manifests(*names: str) -> list[dict[str, Any]]:
    """Documents of the project's k8s/ manifests."""
    docs: list[dict[str, Any]] = []
    for name in names:
        docs += [d for d in yaml.safe_load_all((ROOT / "k8s" / name).read_text()) if d]
    return docs


def run_kubectl(
    kubeconfig: Path, *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run kubectl (Debian's kubernetes-client, installed by scripts/setup.sh) with a kubeconfig;
    its exit status is the caller's to check."""
    found = shutil.which("kubectl")
    assert found, "kubectl is installed by scripts/setup.sh"
    return subprocess.run(
        [found, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sample_facts(**overrides: Any) -> Any:
    """What RDS says of the sample instance `orders-db` (available, PostgreSQL, tagged for the
    `prisma` profile), with `overrides`."""
    from migration_trigger.domain.database import DatabaseFacts

    facts = DatabaseFacts(
        arn="arn:aws:rds:eu-west-1:123456789012:db:orders-db",
        identifier="orders-db",
        kind="instance",
        status="available",
        engine="postgres",
        host="orders-db.example",
        port=5432,
        name="orders",
        master_username="app",
        tags={"migration-trigger:profile": "prisma"},
    )
    return facts._replace(**overrides)


def sample_profile(**keys: Any) -> Any:
    """A profile `p` with the required keys and these, as the function parses one."""
    import json

    from migration_trigger.domain.profiles import parse_profiles

    base = {"cluster": {"eksClusterName": "c"}, "namespace": "migrations", "image": "i:1"}
    return parse_profiles(json.dumps({"profiles": {"p": {**base, **keys}}}))["p"]


def sample_plan(profile: Any, trigger: Any = None, *, suffix: str = "") -> Any:
    """The plan of a migration of the sample database (events/rds-instance-created.json unless
    `trigger` is given) with `profile`, as the function makes one; `suffix` varies the name."""
    from migration_trigger.domain import jobspec
    from migration_trigger.domain.events import Trigger, parse_event

    trigger = trigger or parse_event(load_event("rds-instance-created.json"))
    assert isinstance(trigger, Trigger)
    key = f"{trigger.dedup_key}-{suffix}" if suffix else trigger.dedup_key
    return jobspec.JobPlan(
        name=jobspec.job_name(trigger.database or "", key),
        profile=profile,
        trigger=trigger,
        database_arn=trigger.database or "",
        secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf",
        endpoint=jobspec.Endpoint(
            "postgres", "orders-db.abc.eu-west-1.rds.amazonaws.com", 5432, "orders"
        ),
        execution="arn:aws:lambda:eu-west-1:123456789012:function:f:live/durable-execution/x",
    )


def sts_for_tokens(region: str, credentials: dict[str, Any]) -> Any:
    """An STS client that presigns for the real regional endpoint, as production does."""
    return boto3.client(
        "sts", region_name=region, endpoint_url=f"https://sts.{region}.amazonaws.com", **credentials
    )


def kube_client(
    emulator: Emulator, credentials: dict[str, Any], *, cluster: str | None = None, **kwargs: Any
) -> KubeClient:
    """The product's Kubernetes client, authenticated with an EKS token for these credentials."""
    tokens = TokenSource(
        sts_for_tokens("eu-west-1", credentials),
        cluster or emulator.config.cluster_name,
        clock=emulator.clock,
    )
    return KubeClient(
        server=emulator.url,
        credentials=tokens,
        ca_pem=emulator.ca_pem,
        clock=emulator.clock,
        **kwargs,
    )


def eventually[T](
    check: Callable[[], T | None], *, timeout: float = 10.0, every: float = 0.02
) -> T:
    """Poll `check` until it returns something truthy; fail with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def load_event(name: str) -> Any:
    """A document from events/, parsed."""
    import json

    return json.loads((ROOT / "events" / name).read_text())


def pointed_event(name: str, database: str, secret: str, /, **detail: Any) -> Any:
    """A sample event from events/, pointed at this database (an RDS event, a manual request) or
    this secret (a rotation's events), with `detail` fields replaced (`database` among them)."""
    event = load_event(name)
    if event["source"] == "aws.rds" or event["detail-type"] == "Migration Requested":
        if "SourceArn" in event["detail"]:
            event["detail"]["SourceArn"] = database
        if "database" in event["detail"]:
            event["detail"]["database"] = database
    if event["detail-type"] == "Secret Label Updated":
        event["resources"] = [secret]
        event["detail"]["name"] = secret.rsplit(":", 1)[-1]
    if event["detail-type"] == "AWS Service Event via CloudTrail":
        event["detail"]["additionalEventData"]["SecretId"] = secret
    event["detail"].update(detail)
    return event


def event_files() -> list[str]:
    """Every document in events/."""
    return sorted(p.name for p in (ROOT / "events").glob("*.json"))


def fail_on_handler_errors(server: Emulator) -> None:
    """Fail the test if the emulator answered any request with an unexpected 500 (a handler bug).

    A test that provokes one on purpose clears `server.errors` once it has checked the answer.
    """
    errors = server.errors.all()
    if errors:
        details = "\n\n".join(f"{e.request.method} {e.request.path}\n{e.traceback}" for e in errors)
        pytest.fail(f"the emulator's request handler failed {len(errors)} time(s):\n{details}")


@contextlib.contextmanager
def postgres_with(role: str, password: str, database: str) -> Iterator[Any]:
    """A local PostgreSQL (local_stack.postgres) with a login role owning one database, for the
    end-to-end tests of real tools; skips where PostgreSQL or dbmate is not installed."""
    from local_stack.postgres import LocalPostgres

    dbmate = ROOT / "tools" / "node_modules" / ".bin" / "dbmate"
    if shutil.which("psql") is None or not dbmate.exists():
        pytest.skip("PostgreSQL and dbmate are installed by `make setup`")
    server = LocalPostgres().start()
    try:
        server.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        server.sql(f"CREATE DATABASE {database} OWNER {role}")
        yield server
    finally:
        server.stop()
