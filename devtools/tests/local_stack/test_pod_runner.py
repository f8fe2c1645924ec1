"""The local stack's pod runner: containers as local processes, configured as the kubelet would."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from kube_emulator import Emulator
from local_stack.pod_runner import ProcessPodRunner
from migration_trigger.adapters.kube import KubeClient
from tests.helpers import eventually

NS = "/api/v1/namespaces/migrations"
JOBS = "/apis/batch/v1/namespaces/migrations/jobs"


@pytest.fixture
def image(tmp_path: Path, emulator: Emulator) -> str:
    root = tmp_path / "image"
    (root / "work").mkdir(parents=True)
    (root / "work" / "marker.txt").write_text("inside the image\n")
    emulator.runner = ProcessPodRunner(images={"example/app:1": root})
    return "example/app:1"


def job(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", **container}],
                    "volumes": [{"name": "settings", "configMap": {"name": "app-settings"}}],
                }
            },
        },
    }


def finished(admin: KubeClient, name: str) -> dict[str, Any] | None:
    conditions = admin.get(f"{JOBS}/{name}").get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] in ("Complete", "Failed")), None)


def waiting_reason(admin: KubeClient, name: str) -> str | None:
    pods = admin.get(f"{NS}/pods", labelSelector=f"job-name={name}")["items"]
    state = pods[0]["status"]["containerStatuses"][0]["state"] if pods else {}
    return state.get("waiting", {}).get("reason") if "waiting" in state else None


def test_container_runs_with_env_secrets_config_mounts_and_working_dir(
    image: str, admin: KubeClient
):
    admin.create(
        f"{NS}/secrets",
        {"metadata": {"name": "db"}, "stringData": {"DB_PASSWORD": "pw-1", "TOKEN": "t-2"}},
    )
    admin.create(
        f"{NS}/configmaps",
        {
            "metadata": {"name": "app-settings"},
            "data": {"settings.conf": "mode=strict\n", "LEVEL": "debug"},
        },
    )
    script = 'echo "$PLAIN $DB_PASSWORD $FROM_KEY $LEVEL_FROM_CONFIG"; cat /etc/app/settings.conf; cat marker.txt; pwd; exit 3'
    container = {
        "image": image,
        "command": ["sh", "-c"],
        "args": [script],
        "workingDir": "/work",
        "env": [
            {"name": "PLAIN", "value": "plain"},
            {"name": "FROM_KEY", "valueFrom": {"secretKeyRef": {"name": "db", "key": "TOKEN"}}},
            {
                "name": "LEVEL_FROM_CONFIG",
                "valueFrom": {"configMapKeyRef": {"name": "app-settings", "key": "LEVEL"}},
            },
        ],
        "envFrom": [{"secretRef": {"name": "db"}}],
        "volumeMounts": [{"name": "settings", "mountPath": "/etc/app"}],
    }

    admin.create(JOBS, job("runs", container))
    done = eventually(lambda: finished(admin, "runs"))

    pod = admin.get(f"{NS}/pods", labelSelector="job-name=runs")["items"][0]
    log = admin.text(f"{NS}/pods/{pod['metadata']['name']}/log")
    lines = log.splitlines()
    assert lines[0] == "plain pw-1 t-2 debug"
    assert lines[1:3] == ["mode=strict", "inside the image"]
    assert lines[3].endswith("/rootfs/work")
    assert done["reason"] == "BackoffLimitExceeded"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_unknown_image_cannot_be_pulled(image: str, admin: KubeClient):
    admin.create(JOBS, job("unknown", {"image": "example/missing:9", "command": ["true"]}))

    assert eventually(lambda: waiting_reason(admin, "unknown")) == "ErrImagePull"


def test_missing_secret_is_a_container_config_error(image: str, admin: KubeClient):
    container = {
        "image": image,
        "command": ["true"],
        "envFrom": [{"secretRef": {"name": "absent"}}],
    }

    admin.create(JOBS, job("nosecret", container))

    assert eventually(lambda: waiting_reason(admin, "nosecret")) == "CreateContainerConfigError"


def test_active_deadline_kills_the_process(image: str, admin: KubeClient):
    admin.create(
        JOBS,
        job("forever", {"image": image, "command": ["sleep", "31.5"]}, activeDeadlineSeconds=1),
    )

    done = eventually(lambda: finished(admin, "forever"))

    assert done["reason"] == "DeadlineExceeded"

    def gone() -> bool:
        found = subprocess.run(["pgrep", "-f", "sleep 31.5"], capture_output=True, check=False)
        return found.returncode != 0

    assert eventually(gone, timeout=5)
