"""kubectl's everyday commands for a migration Job, run against the emulator (issue 11 item 9).

Each test drives the kubectl binary (v1.32) as an operator would and expects what a real
kube-apiserver 1.31+ lets it print. Where kubectl streams (`get -w`, `logs -f`) the test reads
until the line it expects and then ends the process.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube_emulator import Emulator, PodScript, ScriptedRunner
from migration_trigger.adapters.eks_auth import eks_token
from tests.fixtures import CLUSTER, assume_function_role
from tests.helpers import ROOT, manifests, run_kubectl, sts_for_tokens

pytestmark = pytest.mark.kubectl

KUBECTL = shutil.which("kubectl")
JOB = "database-migration"


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    """k8s/templates/migration-job.yaml with an image and a short command, as an operator edits it."""
    job: dict[str, Any] = yaml.safe_load((ROOT / "k8s/templates/migration-job.yaml").read_text())
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "registry.example/migrate:1.0"
    container["command"] = ["migrate", "up"]
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def kubectl(kubeconfig: Path, *args: str, timeout: float = 30) -> str:
    done = run_kubectl(kubeconfig, *args, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def read_until(kubeconfig: Path, *args: str, until: str, timeout: float = 15) -> str:
    """Start a streaming kubectl, read its output until a line contains `until`, then end it."""
    assert KUBECTL, "kubectl is installed by scripts/setup.sh"
    process = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if until in line:
                break
    finally:
        timer.cancel()
        process.kill()
        _, err = process.communicate()
    output = "".join(lines)
    assert until in output, f"{output}\n{err}"
    return output


def apply_job(kubeconfig: Path, job_file: Path) -> str:
    return kubectl(kubeconfig, "apply", "-f", str(job_file))


def test_apply_creates_the_job_then_reports_it_unchanged(
    runner: ScriptedRunner, kubeconfig: Path, job_file: Path
):
    runner.when(PodScript(waiting_reason="ContainerCreating"), job_name=JOB)

    first = apply_job(kubeconfig, job_file)
    second = apply_job(kubeconfig, job_file)

    assert first == f"job.batch/{JOB} created\n"
    assert second == f"job.batch/{JOB} unchanged\n"


def test_get_watch_streams_the_job_until_it_completes(
    runner: ScriptedRunner, kubeconfig: Path, job_file: Path
):
    runner.when(PodScript(logs="applied 1\n", duration=0.5), job_name=JOB)
    apply_job(kubeconfig, job_file)

    watched = read_until(
        kubeconfig, "get", "job", JOB, "-w", "--request-timeout=20s", until="Complete"
    )

    header, *rows = watched.splitlines()
    # The server's columns for Jobs (printJob), not kubectl's NAME/AGE fallback.
    assert header.split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert rows[0].split()[:3] == [JOB, "Running", "0/1"]
    assert rows[-1].split()[:3] == [JOB, "Complete", "1/1"]


def test_wait_for_complete_returns_when_the_job_completes(
    runner: ScriptedRunner, kubeconfig: Path, job_file: Path
):
    runner.when(PodScript(logs="applied 1\n", duration=0.5), job_name=JOB)
    apply_job(kubeconfig, job_file)

    began = time.monotonic()
    done = kubectl(kubeconfig, "wait", f"job/{JOB}", "--for=condition=complete", "--timeout=20s")

    assert done == f"job.batch/{JOB} condition met\n"
    assert time.monotonic() - began < 15


def test_wait_for_failed_returns_when_the_job_fails(
    runner: ScriptedRunner, kubeconfig: Path, job_file: Path
):
    runner.when(PodScript(logs="boom\n", exit_code=1, duration=0.3), job_name=JOB)
    apply_job(kubeconfig, job_file)

    done = kubectl(kubeconfig, "wait", f"job/{JOB}", "--for=condition=failed", "--timeout=20s")

    assert done == f"job.batch/{JOB} condition met\n"


def test_wait_for_complete_times_out_when_the_job_fails(
    runner: ScriptedRunner, kubeconfig: Path, job_file: Path
):
    runner.when(PodScript(exit_code=1), job_name=JOB)
    apply_job(kubeconfig, job_file)

    done = run_kubectl(kubeconfig, "wait", f"job/{JOB}", "--for=condition=complete", "--timeout=2s")

    assert done.returncode == 1
    assert "timed out waiting for the condition" in done.stderr


def test_logs_prints_the_migration_log(runner: ScriptedRunner, kubeconfig: Path, job_file: Path):
    runner.when(PodScript(logs="applying 1\napplied 1\n"), job_name=JOB)
    apply_job(kubeconfig, job_file)
    kubectl(kubeconfig, "wait", f"job/{JOB}", "--for=condition=complete", "--timeout=20s")

    assert kubectl(kubeconfig, "logs", f"job/{JOB}") == "applying 1\napplied 1\n"


def test_logs_follow_streams_lines_as_the_pod_writes_them(
    runner: ScriptedRunner, kubeconfig: Path, job_file: Path
):
    runner.when(PodScript(logs=["step 1", "step 2", "done"], duration=1.5), job_name=JOB)
    apply_job(kubeconfig, job_file)
    kubectl(
        kubeconfig, "wait", "pod", "-l", f"job-name={JOB}", "--for=condition=ready", "--timeout=20s"
    )

    followed = read_until(kubeconfig, "logs", "-f", f"job/{JOB}", until="done")

    assert followed == "step 1\nstep 2\ndone\n"


def test_describe_job_and_pod_show_status_owner_and_events(
    emulator: Emulator, runner: ScriptedRunner, kubeconfig: Path, job_file: Path
):
    runner.when(PodScript(logs="ok\n"), job_name=JOB)
    apply_job(kubeconfig, job_file)
    kubectl(kubeconfig, "wait", f"job/{JOB}", "--for=condition=complete", "--timeout=20s")

    job = kubectl(kubeconfig, "describe", "job", JOB)
    pod = kubectl(kubeconfig, "describe", "pod", "-l", f"job-name={JOB}")

    assert f"Name:                        {JOB}" in job
    assert "1 Succeeded" in job
    assert "Events:" in job
    assert re.search(rf"Controlled By:\s+Job/{JOB}\n", pod)
    assert "Events:" in pod
    # The events were asked for, and answered with an empty list, not a 404 kubectl hides.
    searches = emulator.requests.find("GET", "/namespaces/migrations/events$")
    assert [r.status for r in searches] == [200, 200]
    assert f"involvedObject.name={JOB}" in searches[0].query["fieldSelector"].split(",")


def test_delete_foreground_returns_once_the_job_and_its_pods_are_gone(
    runner: ScriptedRunner, kubeconfig: Path, job_file: Path
):
    runner.when(PodScript(waiting_reason="ContainerCreating"), job_name=JOB)
    apply_job(kubeconfig, job_file)
    kubectl(kubeconfig, "wait", "pod", "-l", f"job-name={JOB}", "--for=create", "--timeout=20s")

    deleted = kubectl(kubeconfig, "delete", "job", JOB, "--cascade=foreground", "--timeout=20s")

    assert deleted == f'job.batch "{JOB}" deleted\n'
    assert kubectl(kubeconfig, "get", "job,pods", "-o", "name") == ""


@pytest.fixture
def function_kubeconfig(emulator: Emulator, tmp_path: Path) -> Path:
    """A kubeconfig with the function role's token, the project's RBAC loaded."""
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))
    token = eks_token(sts_for_tokens("eu-west-1", assume_function_role()), CLUSTER)
    path = tmp_path / "function-kubeconfig"
    path.write_text(json.dumps(emulator.kubeconfig(token=token, namespace="migrations")))
    return path


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        (("create", "jobs"), "yes"),
        (("delete", "jobs"), "yes"),
        (("get", "pods", "--subresource=log"), "yes"),
        # TYPE/NAME: a pod named "log", not the subresource (kubectl auth can-i's argument form).
        (("get", "pods/log"), "no"),
        (("delete", "secrets"), "yes"),  # the admission policy narrows it to Job-owned ones
        (("delete", "configmaps"), "no"),
        (("list", "secrets"), "no"),
        (("create", "jobs", "-n", "default"), "no"),
    ],
)
def test_auth_can_i_answers_from_the_projects_rbac(
    function_kubeconfig: Path, args: tuple[str, ...], answer: str
):
    """SelfSubjectAccessReview: yes (exit 0) when a rule allows it, a bare no (exit 1) when none
    does, since RBAC has no opinion and so gives no reason (kubectl pkg/cmd/auth/cani.go)."""
    done = run_kubectl(function_kubeconfig, "auth", "can-i", *args)

    assert (done.stdout, done.returncode) == (f"{answer}\n", 0 if answer == "yes" else 1), (
        done.stderr
    )


def test_access_review_reports_the_binding_that_allows(
    emulator: Emulator, function_kubeconfig: Path
):
    run_kubectl(function_kubeconfig, "auth", "can-i", "create", "jobs")

    (review,) = emulator.requests.find("POST", "/selfsubjectaccessreviews$")
    assert review.status == 201
    assert review.body["spec"]["resourceAttributes"] == {
        "namespace": "migrations",
        "verb": "create",
        "group": "batch",
        "resource": "jobs",
    }
