"""The real Kubernetes control plane (control_plane/cluster.py: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, built by `make setup-kubernetes`), shared by the
session, with EKS authentication through its token webhook and the project's k8s/ applied with
kubectl, as `kubectl apply -f k8s/` installs it on EKS.

No node is registered: pods are created by the real Job controller and left unscheduled by the
real scheduler. What needs a pod to run stays with the emulator's tier for now.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml

from control_plane import ControlPlane, available
from kube_emulator import AccessEntry
from kube_emulator.auth import EksAuthenticator
from kube_emulator.moto_credentials import moto_secret_lookup
from local_stack.world import FUNCTION_GROUP
from migration_trigger.adapters.eks_auth import TokenSource
from migration_trigger.adapters.kube import KubeClient
from tests.conftest import (
    ADMIN_GROUP,
    CLUSTER,
    DEFAULT_CALLER,
    FUNCTION_ROLE,
    STATIC_KEY,
    STATIC_SECRET,
    assume_function_role,
)
from tests.helpers import ROOT, sts_for_tokens

NS = "migrations"


@pytest.fixture(scope="session")
def control_plane(moto_server: str) -> Iterator[ControlPlane]:
    """The control plane, EKS tokens checked against moto's STS, k8s/ applied."""
    why = available()
    if why is not None:
        pytest.fail(f"the real control plane is part of `make test`: {why}")
    authenticator = EksAuthenticator(
        cluster_name=CLUSTER,
        sts_endpoint=moto_server,
        secret_for_access_key=moto_secret_lookup({STATIC_KEY: STATIC_SECRET}),
        access_entries=[
            AccessEntry(FUNCTION_ROLE, groups=(FUNCTION_GROUP,)),
            AccessEntry(DEFAULT_CALLER, groups=(ADMIN_GROUP,), username="test-admin"),
        ],
        clock=time.time,
    )
    with ControlPlane(authenticator=authenticator) as plane:
        kubectl(plane, "apply", "-f", str(ROOT / "k8s"))
        yield plane


def kubectl(
    plane: ControlPlane, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """kubectl as the administrator (a client certificate in system:masters)."""
    with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig", delete=False) as config:
        config.write(yaml.safe_dump(plane.admin_kubeconfig(NS)))
    try:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", config.name, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        Path(config.name).unlink()
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done


@pytest.fixture
def admin(control_plane: ControlPlane, aws: str) -> Iterator[KubeClient]:
    """The product's client as the administrator; the namespace's Jobs and Secrets removed after."""
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory, "admin.crt"), Path(directory, "admin.key")
        user = control_plane.admin_kubeconfig()["users"][0]["user"]
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        client = _AdminClient(control_plane, cert, key)
        yield client
    kubectl(control_plane, "delete", "jobs,secrets,pods", "--all", "-n", NS, "--wait=false")


class _AdminClient(KubeClient):
    """KubeClient with the administrator's client certificate instead of a bearer token."""

    def __init__(self, plane: ControlPlane, cert: Path, key: Path) -> None:
        from migration_trigger.adapters.kube import Credentials

        super().__init__(
            server=plane.url,
            # An empty bearer token is no token: the apiserver authenticates the certificate.
            credentials=lambda: Credentials("", refresh_at=float("inf")),
            ca_pem=plane.ca_pem,
        )
        context = ssl.create_default_context(cadata=plane.ca_pem.decode())
        context.load_cert_chain(cert, key)
        self._pool = urllib3.PoolManager(ssl_context=context, retries=False)


def function_client(plane: ControlPlane, credentials: dict[str, Any] | None = None) -> KubeClient:
    """The product's client as the function's role: its EKS token, checked by the webhook."""
    tokens = TokenSource(
        sts_for_tokens("eu-west-1", credentials or assume_function_role()), CLUSTER
    )
    return KubeClient(server=plane.url, credentials=tokens, ca_pem=plane.ca_pem)
