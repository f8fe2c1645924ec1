"""kubectl's everyday commands for a migration Job, against the real control plane.

The emulator's kubectl tests (devtools/tests/emulator_conformance/test_kubectl_everyday.py), run
unchanged with the real apiserver, its Job controller and garbage collector, and the node
stand-in running the pods: what an operator sees with `kubectl apply`, `get -w`, `wait`, `logs`
and `delete --cascade=foreground` on EKS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from control_plane import ControlPlane
from devtools.tests.emulator_conformance import test_kubectl_everyday as everyday
from devtools.tests.emulator_conformance.test_kubectl_everyday import job_file  # noqa: F401 - fixture
from kube_emulator import ScriptedRunner
from migration_trigger.adapters.eks_auth import eks_token
from tests.fixtures import CLUSTER, STATIC_KEY, STATIC_SECRET
from tests.helpers import sts_for_tokens

pytestmark = pytest.mark.kubectl


@pytest.fixture
def kubeconfig(
    control_plane: ControlPlane, aws: str, node_runner: ScriptedRunner, tmp_path: Path
) -> Path:
    """A cluster admin's kubeconfig, as the emulator's tests have it: an EKS token of the tests'
    own identity (an access entry in the group bound to cluster-admin), checked by the webhook."""
    token = eks_token(
        sts_for_tokens(
            "eu-west-1", {"aws_access_key_id": STATIC_KEY, "aws_secret_access_key": STATIC_SECRET}
        ),
        CLUSTER,
    )
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(control_plane.kubeconfig(token=token, namespace="migrations")))
    return path


@pytest.mark.parametrize(
    "test",
    [
        everyday.test_apply_creates_the_job_then_reports_it_unchanged,
        everyday.test_get_watch_streams_the_job_until_it_completes,
        everyday.test_wait_for_complete_returns_when_the_job_completes,
        everyday.test_wait_for_failed_returns_when_the_job_fails,
        everyday.test_wait_for_complete_times_out_when_the_job_fails,
        everyday.test_logs_prints_the_migration_log,
        everyday.test_delete_foreground_returns_once_the_job_and_its_pods_are_gone,
    ],
    ids=lambda test: test.__name__.removeprefix("test_"),
)
def test_kubectl_everyday_on_the_real_control_plane(
    test: object,
    node_runner: ScriptedRunner,
    kubeconfig: Path,
    job_file: Path,  # noqa: F811
) -> None:
    test(node_runner, kubeconfig, job_file)  # type: ignore[operator]
