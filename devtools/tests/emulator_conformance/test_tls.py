"""TLS to the API server: older EKS cluster CAs, and certificates that do not verify.

EKS clusters first created on Kubernetes 1.16 or older have a root CA without Subject or
Authority Key Identifiers; Python 3.13's default context sets VERIFY_X509_STRICT and refuses such
a chain ("Missing Authority Key Identifier": kubernetes-client/python#2394,
aws/containers-roadmap#2638). The emulator's `legacy_ca` mode serves one.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator

import pytest

from kube_emulator import Emulator, EmulatorConfig, StaticToken
from migration_trigger.adapters.kube import Credentials, KubeClient
from migration_trigger.errors import KubernetesError


def serve(*, legacy_ca: bool) -> tuple[Emulator, str]:
    token = secrets.token_urlsafe(16)
    config = EmulatorConfig(legacy_ca=legacy_ca, static_tokens=(StaticToken(token, "admin"),))
    return Emulator(config).start(), token


@pytest.fixture
def legacy() -> Iterator[tuple[Emulator, str]]:
    emulator, token = serve(legacy_ca=True)
    yield emulator, token
    emulator.stop()


def client(emulator: Emulator, token: str, ca_pem: bytes, sleeps: list[float]) -> KubeClient:
    return KubeClient(
        server=emulator.url,
        credentials=lambda: Credentials(token, refresh_at=math.inf),
        ca_pem=ca_pem,
        sleep=sleeps.append,
    )


def test_a_cluster_ca_without_key_identifiers_is_trusted(legacy: tuple[Emulator, str]):
    emulator, token = legacy

    namespaces = client(emulator, token, emulator.ca_pem, []).get("/api/v1/namespaces")

    assert namespaces["kind"] == "NamespaceList"


def test_a_certificate_that_does_not_verify_fails_at_once_saying_so(
    legacy: tuple[Emulator, str],
):
    # Given the API server of another cluster (its certificate is not signed by our CA)
    other, token = serve(legacy_ca=False)
    sleeps: list[float] = []
    try:
        with pytest.raises(KubernetesError) as caught:
            client(other, token, legacy[0].ca_pem, sleeps).get("/api/v1/namespaces")
    finally:
        other.stop()

    # Then no retry can help: it fails at once, naming the certificate, not the network
    assert caught.value.retryable is False
    assert sleeps == []
    assert "certificate" in str(caught.value)
    assert "did not verify against the cluster's CA" in str(caught.value)
    assert "cannot reach" not in str(caught.value)
