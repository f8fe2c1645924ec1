"""Fault injection, the request registry, and the emulator driven by the kubectl binary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from kube_emulator import Emulator, Fault, PodScript, ScriptedRunner
from migration_trigger.adapters.eks_auth import eks_token
from migration_trigger.adapters.kube import KubeClient
from migration_trigger.errors import KubernetesError
from tests.fixtures import CLUSTER, assume_function_role
from tests.helpers import eventually, manifests, run_kubectl, sts_for_tokens

CONFIGMAPS = "/api/v1/namespaces/migrations/configmaps"
SECRETS = "/api/v1/namespaces/migrations/secrets"


def no_sleep_client(admin: KubeClient, slept: list[float]) -> KubeClient:
    admin.sleep = slept.append
    return admin


def test_throttled_request_is_retried_after_retry_after(emulator: Emulator, admin: KubeClient):
    slept: list[float] = []
    client = no_sleep_client(admin, slept)
    emulator.fault(Fault(path="/configmaps$", method="GET", status=429, retry_after=3, times=2))

    client.get(CONFIGMAPS)

    assert slept == [3.0, 3.0]
    assert [r.status for r in emulator.requests.find("GET", "/configmaps$")] == [429, 429, 200]


@pytest.mark.parametrize(
    ("header", "waits"),
    [("-5", [0.0, 0.0]), ("nan", [0.5, 1.0]), ("inf", [0.5, 1.0]), ("soon", [0.5, 1.0])],
)
def test_a_negative_or_non_finite_retry_after_is_clamped_not_a_crash(
    emulator: Emulator, admin: KubeClient, header: str, waits: list[float]
):
    slept: list[float] = []
    client = no_sleep_client(admin, slept)
    emulator.fault(
        Fault(path="/configmaps$", method="GET", status=429, retry_after=header, times=2)
    )

    client.get(CONFIGMAPS)

    assert slept == waits


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_with_backoff(emulator: Emulator, admin: KubeClient, status: int):
    slept: list[float] = []
    client = no_sleep_client(admin, slept)
    emulator.fault(Fault(path="/configmaps$", status=status, times=2))

    client.get(CONFIGMAPS)

    assert slept == [0.5, 1.0]


def test_persistent_server_error_surfaces_after_the_last_attempt(
    emulator: Emulator, admin: KubeClient
):
    client = no_sleep_client(admin, [])
    emulator.fault(Fault(path="/configmaps$", status=500, times=99))

    with pytest.raises(KubernetesError) as caught:
        client.get(CONFIGMAPS)

    assert caught.value.status == 500 and caught.value.retryable
    assert len(emulator.requests.find("GET", "/configmaps$")) == client.max_attempts


def test_dropped_connection_is_retried(emulator: Emulator, admin: KubeClient):
    client = no_sleep_client(admin, [])
    emulator.fault(Fault(path="/configmaps$", drop=True))

    client.get(CONFIGMAPS)

    assert [r.status for r in emulator.requests.find("GET", "/configmaps$")] == [0, 200]


def test_hanging_request_times_out_then_retries(emulator: Emulator, admin: KubeClient):
    client = no_sleep_client(admin, [])
    client.timeout_seconds = 0.3
    emulator.fault(Fault(path="/configmaps$", hang=1.0, drop=True))

    began = time.monotonic()
    client.get(CONFIGMAPS)

    assert time.monotonic() - began >= 0.3
    assert len(emulator.requests.find("GET", "/configmaps$")) == 2


def test_faults_match_method_and_run_out(emulator: Emulator, admin: KubeClient):
    emulator.fault(Fault(path="/configmaps$", method="POST", status=503, times=1))
    client = no_sleep_client(admin, [])

    client.get(CONFIGMAPS)
    client.create(CONFIGMAPS, {"metadata": {"name": "a"}})

    assert [r.status for r in emulator.requests.find("POST", "/configmaps$")] == [503, 201]


def test_registry_records_requests_and_redacts_secret_values(emulator: Emulator, admin: KubeClient):
    canary = "canary-Pa55w0rd!"
    admin.create(SECRETS, {"metadata": {"name": "db"}, "stringData": {"PASSWORD": canary}})

    (recorded,) = emulator.requests.find("POST", "/secrets$")
    assert recorded.user == "test-admin"
    assert recorded.body["stringData"] == {"PASSWORD": "<redacted>"}
    assert canary not in repr(emulator.requests.all())


# -- kubectl -----------------------------------------------------------------------------------


def kubectl(kubeconfig: Path, *args: str) -> str:
    done = run_kubectl(kubeconfig, *args, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.kubectl
def test_kubectl_discovers_creates_gets_lists_and_reads_logs(
    emulator: Emulator, runner: ScriptedRunner, kubeconfig: Path, tmp_path: Path
):
    runner.when(PodScript(logs="migrated to 20241101\n"), job_name="from-kubectl")
    manifest: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "from-kubectl"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "x"}]}
            }
        },
    }
    (tmp_path / "job.json").write_text(json.dumps(manifest))

    resources = kubectl(kubeconfig, "api-resources", "--api-group=batch")
    created = kubectl(kubeconfig, "create", "--validate=false", "-f", str(tmp_path / "job.json"))
    eventually(
        lambda: (
            "Complete"
            in kubectl(
                kubeconfig,
                "get",
                "job",
                "from-kubectl",
                "-o",
                "jsonpath={.status.conditions[*].type}",
            )
        )
    )
    listed = kubectl(kubeconfig, "get", "pods", "-l", "job-name=from-kubectl", "-o", "name")
    logs = kubectl(kubeconfig, "logs", "job/from-kubectl")

    assert "jobs" in resources
    assert "job.batch/from-kubectl created" in created
    assert listed.startswith("pod/from-kubectl-")
    assert logs == "migrated to 20241101\n"


@pytest.mark.kubectl
def test_kubectl_as_the_function_role_meets_project_rbac(emulator: Emulator, tmp_path: Path):
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))
    token = eks_token(sts_for_tokens("eu-west-1", assume_function_role()), CLUSTER)
    config = tmp_path / "function-kubeconfig"
    config.write_text(json.dumps(emulator.kubeconfig(token=token, namespace="default")))

    denied = run_kubectl(config, "get", "jobs", "-n", "default", timeout=60)
    allowed = kubectl(config, "get", "jobs", "-n", "migrations")

    assert denied.returncode != 0
    assert (
        'cannot list resource "jobs" in API group "batch" in the namespace "default"'
        in denied.stderr
    )
    assert "No resources found" in allowed or allowed == ""
