"""Fixtures the emulator's tests share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kube_emulator import Emulator
from migration_trigger.adapters.eks_auth import eks_token
from tests.conftest import CLUSTER, STATIC_KEY, STATIC_SECRET
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
