"""Fixtures the emulator's tests share."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from kube_emulator import Emulator, StaticToken
from migration_trigger.adapters.eks_auth import eks_token
from tests.fixtures import CLUSTER, STATIC_KEY, STATIC_SECRET
from tests.helpers import sts_for_tokens


@pytest.fixture
def kubeconfig(emulator: Emulator, tmp_path: Path) -> Path:
    """A kubeconfig of a cluster admin (an EKS token of the tests' own identity), in the
    migrations namespace, as kubectl reads one."""
    token = eks_token(
        sts_for_tokens(
            "eu-west-1", {"aws_access_key_id": STATIC_KEY, "aws_secret_access_key": STATIC_SECRET}
        ),
        CLUSTER,
    )
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(emulator.kubeconfig(token=token, namespace="migrations")))
    return path


@pytest.fixture
def token(emulator: Emulator) -> str:
    """A bearer token of a cluster admin (system:masters)."""
    value = secrets.token_urlsafe(16)
    emulator.authenticator.static_tokens = [
        *emulator.authenticator.static_tokens,
        StaticToken(value, "reference-client"),
    ]
    return value


@pytest.fixture
def api(emulator: Emulator, token: str) -> Iterator[client.ApiClient]:
    """An official-client ApiClient built from a kubeconfig, as its users build one."""
    api_client = config.new_client_from_config_dict(
        emulator.kubeconfig(token=token, namespace="migrations")
    )
    yield api_client
    api_client.close()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)
