"""Clients of the real Kubernetes control plane (the session's `control_plane` fixture, in
tests/fixtures.py: etcd, kube-apiserver, kube-controller-manager, kube-scheduler built by
`make setup-kubernetes`, EKS authentication through the token webhook, one node)."""

from __future__ import annotations

import base64
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from control_plane import ControlPlane
from kube_emulator import ScriptedRunner
from migration_trigger.adapters.eks_auth import TokenSource
from migration_trigger.adapters.kube import Credentials, KubeClient
from tests.fixtures import CLUSTER, assume_function_role
from tests.helpers import sts_for_tokens

NS = "migrations"


@pytest.fixture
def admin(
    control_plane: ControlPlane, aws: str, node_runner: ScriptedRunner
) -> Iterator[KubeClient]:
    """The product's client as the administrator (its client certificate)."""
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory, "admin.crt"), Path(directory, "admin.key")
        user = control_plane.admin_kubeconfig()["users"][0]["user"]
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        yield _AdminClient(control_plane, cert, key)


class _AdminClient(KubeClient):
    """KubeClient with the administrator's client certificate instead of a bearer token."""

    def __init__(self, plane: ControlPlane, cert: Path, key: Path) -> None:
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
