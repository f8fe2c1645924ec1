"""The emulator as a process of its own (`kube-emulator`), driven by kubectl."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import eventually

EMULATOR = str(Path(sys.executable).parent / "kube-emulator")


@pytest.mark.kubectl
def test_kube_emulator_process_serves_kubectl_and_stops_on_sigterm(tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [EMULATOR, "--kubeconfig", str(kubeconfig)], stdout=subprocess.PIPE, text=True
    )
    try:
        eventually(kubeconfig.exists, timeout=30)
        kubectl = [shutil.which("kubectl") or "kubectl", "--kubeconfig", str(kubeconfig)]

        namespaces = subprocess.run(
            [*kubectl, "get", "namespaces", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        created = subprocess.run(
            [*kubectl, "create", "configmap", "settings", "--from-literal=a=1"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert "namespace/default" in namespaces.stdout, namespaces.stderr
        assert "configmap/settings created" in created.stdout, created.stderr
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
