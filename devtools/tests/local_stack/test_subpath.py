"""A volume mount's subPath stays inside its volume, at the API server and at the runtime.

kube-apiserver refuses an absolute subPath or one with a `..` element (validateLocalDescendingPath,
pkg/apis/core/validation/validation.go); the kubelet still resolves symlinks and refuses a target
outside the volume (pkg/volume/util/subpath). The emulator does the first, the container runner
the second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kube_emulator import Emulator
from local_stack.container_runner import PodConfigError, _within
from migration_trigger.adapters.kube import KubeClient
from migration_trigger.errors import KubernetesError

JOBS = "/apis/batch/v1/namespaces/migrations/jobs"


def job(sub_path: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "sub", "namespace": "migrations"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                    "containers": [
                        {
                            "name": "migrate",
                            "image": "ghcr.io/example/x:1",
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/work", "subPath": sub_path}
                            ],
                        }
                    ],
                }
            }
        },
    }


@pytest.mark.parametrize(
    ("sub_path", "message"),
    [
        ("/etc", 'Invalid value: "/etc": must be a relative path'),
        ("../../etc", "Invalid value: \"../../etc\": must not contain '..'"),
        ("a/../../b", "Invalid value: \"a/../../b\": must not contain '..'"),
    ],
)
def test_the_api_server_refuses_a_sub_path_that_leaves_its_volume(
    emulator: Emulator, admin: KubeClient, sub_path: str, message: str
):
    emulator.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "migrations"}})

    with pytest.raises(KubernetesError) as refused:
        admin.create(JOBS, job(sub_path))

    assert refused.value.status == 422
    assert message in str(refused.value)
    assert "spec.template.spec.containers[0].volumeMounts[0].subPath" in str(refused.value)


def test_a_sub_path_inside_its_volume_is_mounted_from_there(tmp_path: Path):
    (tmp_path / "data" / "migrations").mkdir(parents=True)

    assert _within(tmp_path / "data", "migrations", "tmp") == (tmp_path / "data" / "migrations")


def test_the_runtime_refuses_a_symlink_that_leaves_the_volume(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "escape").symlink_to("/etc")

    with pytest.raises(PodConfigError) as refused:
        _within(tmp_path / "data", "escape", "tmp")

    assert 'subpath "escape" not within volume path' in str(refused.value)
