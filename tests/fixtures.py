"""Shared fixtures: AWS as a moto server on loopback, and Kubernetes: the real control plane
(built from Kubernetes' own modules) or the emulator, as MIGRATION_TRIGGER_CLUSTER chooses."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from control_plane import ControlPlane, available
from kube_emulator import AccessEntry, Emulator, ScriptedRunner
from local_stack.world import (
    FUNCTION_GROUP,
    assume_role,
    eks_authenticator,
    emulator_config,
    start_moto_server,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CLUSTER = "platform-dev"
FUNCTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/migration-trigger-function"
# moto answers GetCallerIdentity for keys it did not issue with this user.
DEFAULT_CALLER = f"arn:aws:sts::{ACCOUNT}:user/moto"
ADMIN_GROUP = "test-admins"
STATIC_KEY, STATIC_SECRET = "AKIATESTINGSTATIC01", "testing-secret-key"

#: Which Kubernetes the suites that need a cluster run against (devtools/README.md): `real`, the
#: control plane built by `make setup-kubernetes` (what `make test` runs); `emulator`, ours
#: (no Go needed; the tests of the real control plane are skipped); `both`, each test on each;
#: or `kubeconfig`, the cluster KUBECONFIG names (kind, say), as its administrator: there only
#: what needs neither EKS authentication nor the node stand-in's scripted pods runs.
CLUSTER_CHOICES = {
    "real": ("real",),
    "emulator": ("emulator",),
    "both": ("emulator", "real"),
    "kubeconfig": ("kubeconfig",),
}


def clusters_under_test() -> tuple[str, ...]:
    """The clusters MIGRATION_TRIGGER_CLUSTER names; a clear error for anything else."""
    chosen = os.environ.get("MIGRATION_TRIGGER_CLUSTER", "real")
    if chosen not in CLUSTER_CHOICES:
        raise pytest.UsageError(
            f"MIGRATION_TRIGGER_CLUSTER={chosen!r}: use one of {', '.join(CLUSTER_CHOICES)}"
        )
    return CLUSTER_CHOICES[chosen]


def pytest_configure(config: pytest.Config) -> None:
    """A MIGRATION_TRIGGER_CLUSTER that names no cluster stops the run before any test."""
    clusters_under_test()


#: The session's moto server, once started (gated(), below, puts policies in front of it).
SERVERS: list[Any] = []


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a loopback port, shared by the session."""
    server, url = start_moto_server()
    SERVERS.append(server)
    yield url
    SERVERS.remove(server)
    server.stop()


@contextmanager
def gated(enforcers: Mapping[str, Any]) -> Iterator[None]:
    """While the block runs, requests signed by a session of one of the roles `enforcers` names
    (role ARN -> local_stack.iam.Enforcer) pass that role's policy first, whichever client makes
    them (local_stack.iam.assumed_role_gate)."""
    from local_stack.iam import assumed_role_gate

    (server,) = SERVERS
    wsgi = server._server  # werkzeug's server looks its app up on every request
    app = wsgi.app
    wsgi.app = assumed_role_gate(app, enforcers)
    try:
        yield
    finally:
        wsgi.app = app


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Environment pointing boto3 at the moto server, with dummy credentials; state reset after."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", STATIC_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", STATIC_SECRET)
    boto3.DEFAULT_SESSION = None
    yield moto_server
    boto3.DEFAULT_SESSION = None
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    ).close()


def admin_client(service: str) -> Any:
    """A client on moto as the tests' own admin identity: never the function's role.

    The function's credentials are in the environment while a world exists; arranging and
    observing through them would pass through the function's policy (local_stack/iam.py).
    """
    return boto3.client(  # type: ignore[call-overload]
        service,
        aws_access_key_id=STATIC_KEY,
        aws_secret_access_key=STATIC_SECRET,
        aws_session_token=None,
    )


def assume_function_role(session_name: str = "migration-trigger") -> dict[str, Any]:
    """Credentials of the function's role, issued by moto's STS as Lambda would receive them."""
    return assume_role(sts=boto3.client("sts"), role_arn=FUNCTION_ROLE, session_name=session_name)


@pytest.fixture
def runner() -> ScriptedRunner:
    """The scripted pod runner the emulator's Job controller uses in this test."""
    return ScriptedRunner()


@pytest.fixture
def emulator(aws: str, runner: ScriptedRunner) -> Iterator[Emulator]:
    """The Kubernetes emulator over HTTPS on loopback, authenticating EKS tokens against moto.

    The function's role is mapped to the `migration-trigger` group, as the SAM template's access
    entry does; what that group may do comes from the RBAC objects a test loads.
    """
    config = emulator_config(
        cluster=CLUSTER,
        sts_endpoint=aws,
        static_key=STATIC_KEY,
        static_secret=STATIC_SECRET,
        function_role=FUNCTION_ROLE,
        other_entries=(AccessEntry(DEFAULT_CALLER, groups=(ADMIN_GROUP,), username="test-admin"),),
        namespaces=("default", "migrations"),
    )
    with Emulator(config, runner=runner) as server:
        server.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "test-admins"},
                "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "Group", "name": ADMIN_GROUP}],
            }
        )
        yield server
        from tests.helpers import fail_on_handler_errors

        fail_on_handler_errors(server)


@pytest.fixture
def admin(emulator: Emulator) -> Any:
    """The product's Kubernetes client as a cluster admin (the environment's static credentials)."""
    from tests.helpers import kube_client

    return kube_client(
        emulator, {"aws_access_key_id": STATIC_KEY, "aws_secret_access_key": STATIC_SECRET}
    )


@pytest.fixture
def function_client(emulator: Emulator) -> Any:
    """The product's Kubernetes client as the function's role, with the project's RBAC loaded."""
    from tests.helpers import kube_client, manifests

    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))
    return kube_client(emulator, assume_function_role())


#: The pod runner of the real control plane's node, shared by the session; a test that uses the
#: control plane gets it with its rules reset (`runner` on the emulator is per test).
NODE_RUNNER = ScriptedRunner()


@pytest.fixture(scope="session")
def control_plane(moto_server: str) -> Iterator[ControlPlane]:
    """The real control plane (devtools/README.md), shared by the session: EKS tokens checked
    against moto's STS through the apiserver's token webhook, one node running pods with
    NODE_RUNNER, and the project's k8s/ applied with kubectl as `kubectl apply -f k8s/` does."""
    if clusters_under_test() == ("kubeconfig",):
        pytest.skip(
            "MIGRATION_TRIGGER_CLUSTER=kubeconfig: needs the built control plane's EKS token "
            "webhook and node stand-in"
        )
    if "real" not in clusters_under_test():
        pytest.skip("MIGRATION_TRIGGER_CLUSTER=emulator: the real control plane is not used")
    why = available()
    if why is not None:
        pytest.fail(f"the real control plane is part of `make test`: {why}")
    authenticator = eks_authenticator(
        cluster=CLUSTER,
        sts_endpoint=moto_server,
        static_key=STATIC_KEY,
        static_secret=STATIC_SECRET,
        function_role=FUNCTION_ROLE,
        other_entries=[AccessEntry(DEFAULT_CALLER, groups=(ADMIN_GROUP,), username="test-admin")],
    )
    with ControlPlane(authenticator=authenticator, runner=NODE_RUNNER) as plane:
        from tests.helpers import ROOT

        plane.install(ROOT / "k8s", group=FUNCTION_GROUP)
        plane.kubectl(
            "create",
            "clusterrolebinding",
            "test-admins",
            "--clusterrole=cluster-admin",
            f"--group={ADMIN_GROUP}",
        )
        yield plane


@pytest.fixture(scope="session")
def kubeconfig_cluster() -> dict[str, Any]:
    """The cluster KUBECONFIG names (MIGRATION_TRIGGER_CLUSTER=kubeconfig), with the project's
    k8s/ installed and its policies enforced; its kubeconfig document (each test using its
    migrations namespace empties it after: `kubeconfig_namespace`)."""
    import yaml

    from control_plane import install, run_kubectl
    from tests.helpers import ROOT

    path = _own_kubeconfig()
    if not path.is_file():
        pytest.fail(f"MIGRATION_TRIGGER_CLUSTER=kubeconfig: no kubeconfig at {path}")

    def kubectl(*args: str, check: bool = True) -> Any:
        return run_kubectl(path, *args, check=check)

    install(kubectl, ROOT / "k8s", group=FUNCTION_GROUP)
    return yaml.safe_load(path.read_text())


@pytest.fixture
def kubeconfig_namespace(kubeconfig_cluster: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The cluster KUBECONFIG names, its migrations namespace emptied after the test."""
    from control_plane import run_kubectl

    yield kubeconfig_cluster
    run_kubectl(_own_kubeconfig(), "delete", "jobs,secrets,pods", "--all", "-n", "migrations")


def _own_kubeconfig() -> Path:
    """Where kubectl finds the kubeconfig of a cluster of one's own."""
    return Path(os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")


@pytest.fixture
def node_runner(control_plane: ControlPlane) -> Iterator[ScriptedRunner]:
    """The real control plane's pod runner, its rules reset; the namespace emptied after (and
    what a test may change of the node's clock and the EKS authenticator set back)."""
    from kube_emulator.auth import TOKEN_LIFETIME_SECONDS

    def reset() -> None:
        NODE_RUNNER.reset()
        control_plane.proxy.reset()
        assert control_plane.node is not None and control_plane.authenticator is not None
        control_plane.node.clock_offset = 0.0
        control_plane.authenticator.token_lifetime_seconds = TOKEN_LIFETIME_SECONDS
        control_plane.authenticator.static_tokens = ()

    reset()
    yield NODE_RUNNER
    reset()
    control_plane.kubectl(
        "delete", "jobs,secrets,pods", "--all", "-n", "migrations", "--wait=false"
    )
