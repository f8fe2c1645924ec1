"""The Job controller: pods, phases, counts, backoff, deadlines, TTL, stuck containers and logs."""

from __future__ import annotations

from typing import Any

import pytest

from kube_emulator import Emulator, PodScript, ScriptedRunner
from migration_trigger.adapters.kube import KubeClient
from migration_trigger.errors import KubernetesError
from tests.helpers import eventually

JOBS = "/apis/batch/v1/namespaces/migrations/jobs"
PODS = "/api/v1/namespaces/migrations/pods"


def job(name: str, *, policy: str = "Never", containers: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": policy,
                    "containers": [
                        {"name": f"c{i}" if i else "migrate", "image": "migrator:1"}
                        for i in range(containers)
                    ],
                }
            },
        },
    }


def condition(admin: KubeClient, name: str) -> dict[str, Any] | None:
    status = admin.get(f"{JOBS}/{name}").get("status", {})
    done = [c for c in status.get("conditions", []) if c["type"] in ("Complete", "Failed")]
    return done[0] if done else None


def pods_of(admin: KubeClient, name: str) -> list[dict[str, Any]]:
    return list(admin.get(PODS, labelSelector=f"job-name={name}")["items"])


def test_successful_pod_completes_the_job(runner: ScriptedRunner, admin: KubeClient):
    runner.when(PodScript(logs="applied 3 migrations\n", duration=0.1), job_name="ok")

    created = admin.create(JOBS, job("ok"))
    done = eventually(lambda: condition(admin, "ok"))

    status = admin.get(f"{JOBS}/ok")["status"]
    assert done["type"] == "Complete"
    assert status["succeeded"] == 1 and "active" not in status
    assert status["startTime"] and status["completionTime"]
    (pod,) = pods_of(admin, "ok")
    assert pod["metadata"]["labels"]["controller-uid"] == created["metadata"]["uid"]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")


def test_pod_moves_pending_running_succeeded(
    runner: ScriptedRunner, emulator: Emulator, admin: KubeClient
):
    runner.when(PodScript(start_delay=0.3, duration=0.3), job_name="phases")
    start = admin.get(PODS)["metadata"]["resourceVersion"]

    admin.create(JOBS, job("phases"))
    eventually(lambda: condition(admin, "phases"))

    events = admin.watch(
        PODS, resource_version=start, timeout_seconds=1, labelSelector="job-name=phases"
    )
    phases = [e["object"]["status"]["phase"] for e in events]
    assert phases[0] == "Pending"
    assert phases.index("Running") < phases.index("Succeeded")


def test_running_job_counts_active_pod(runner: ScriptedRunner, admin: KubeClient):
    runner.when(PodScript(duration=2), job_name="busy")

    admin.create(JOBS, job("busy"))

    status = eventually(
        lambda: (
            admin.get(f"{JOBS}/busy")["status"].get("active")
            and admin.get(f"{JOBS}/busy")["status"]
        )
    )
    assert status["active"] == 1


def test_failures_beyond_backoff_limit_fail_the_job(runner: ScriptedRunner, admin: KubeClient):
    runner.when(PodScript(exit_code=3, logs="error: relation exists\n"), job_name="bad")

    admin.create(JOBS, job("bad", backoffLimit=1))
    done = eventually(lambda: condition(admin, "bad"))

    assert (done["type"], done["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert done["message"] == "Job has reached the specified backoff limit"
    pods = pods_of(admin, "bad")
    assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Failed"}
    assert admin.get(f"{JOBS}/bad")["status"]["failed"] == 2
    # With restartPolicy Never the failed pods stay, and so do their logs.
    log = admin.text(f"{PODS}/{pods[0]['metadata']['name']}/log")
    assert "relation exists" in log


def test_on_failure_policy_deletes_pods_and_their_logs_at_the_limit(
    runner: ScriptedRunner, admin: KubeClient
):
    runner.when(PodScript(exit_code=1, logs="boom\n"), job_name="restarts")

    admin.create(JOBS, job("restarts", policy="OnFailure", backoffLimit=2))
    done = eventually(lambda: condition(admin, "restarts"))

    assert done["reason"] == "BackoffLimitExceeded"
    assert pods_of(admin, "restarts") == []


def test_active_deadline_fails_the_job_and_kills_the_pod(runner: ScriptedRunner, admin: KubeClient):
    runner.when(PodScript(duration=30, logs=["step 1", "step 2"]), job_name="slow")

    admin.create(JOBS, job("slow", activeDeadlineSeconds=1))
    done = eventually(lambda: condition(admin, "slow"))

    assert (done["type"], done["reason"]) == ("Failed", "DeadlineExceeded")
    assert done["message"] == "Job was active longer than specified deadline"
    assert pods_of(admin, "slow") == []


@pytest.mark.parametrize(
    ("reason", "log_message"),
    [
        ("ImagePullBackOff", "trying and failing to pull image"),
        ("CreateContainerConfigError", "CreateContainerConfigError"),
    ],
)
def test_stuck_container_keeps_pod_pending_with_waiting_reason(
    runner: ScriptedRunner, admin: KubeClient, reason: str, log_message: str
):
    runner.when(PodScript(waiting_reason=reason, waiting_message="details"), job_name="stuck")

    admin.create(JOBS, job("stuck"))

    def waiting() -> dict[str, Any] | None:
        pods = pods_of(admin, "stuck")
        state = pods[0]["status"]["containerStatuses"][0]["state"] if pods else {}
        return state.get("waiting") if state.get("waiting", {}).get("reason") == reason else None

    assert eventually(waiting)["message"] == "details"
    pod = pods_of(admin, "stuck")[0]
    assert pod["status"]["phase"] == "Pending"
    with pytest.raises(KubernetesError) as caught:
        admin.text(f"{PODS}/{pod['metadata']['name']}/log")
    assert caught.value.status == 400
    assert f"is waiting to start: {log_message}" in str(caught.value)


def test_logs_are_plain_text_with_tail_lines_and_container(
    runner: ScriptedRunner, emulator: Emulator, admin: KubeClient
):
    runner.when(PodScript(logs="one\ntwo\nthree\n"), job_name="logs")
    admin.create(JOBS, job("logs"))
    eventually(lambda: condition(admin, "logs"))
    name = pods_of(admin, "logs")[0]["metadata"]["name"]

    full = admin.text(f"{PODS}/{name}/log")
    tail = admin.text(f"{PODS}/{name}/log", tailLines=2, container="migrate")

    assert full == "one\ntwo\nthree\n"
    assert tail == "two\nthree\n"
    assert emulator.requests.find("GET", "/log$")[-1].status == 200
    with pytest.raises(KubernetesError) as caught:
        admin.text(f"{PODS}/{name}/log", container="sidecar")
    assert caught.value.status == 400
    assert "container sidecar is not valid" in str(caught.value)


def test_logs_of_multi_container_pod_need_a_container(runner: ScriptedRunner, admin: KubeClient):
    admin.create(JOBS, job("multi", containers=2))
    eventually(lambda: condition(admin, "multi"))
    name = pods_of(admin, "multi")[0]["metadata"]["name"]

    with pytest.raises(KubernetesError) as caught:
        admin.text(f"{PODS}/{name}/log")

    assert "a container name must be specified" in str(caught.value)


def test_ttl_after_finished_deletes_job_and_pods(emulator: Emulator, admin: KubeClient):
    admin.create(JOBS, job("ttl", ttlSecondsAfterFinished=600))
    eventually(lambda: condition(admin, "ttl"))
    assert pods_of(admin, "ttl")

    emulator.advance_clock(601)

    eventually(lambda: not admin.get(JOBS, fieldSelector="metadata.name=ttl")["items"])
    assert pods_of(admin, "ttl") == []


def test_suspended_job_starts_no_pod_until_resumed(admin: KubeClient):
    admin.create(JOBS, job("later", suspend=True))
    assert pods_of(admin, "later") == []

    admin.patch(f"{JOBS}/later", {"spec": {"suspend": False}})

    assert eventually(lambda: condition(admin, "later"))["type"] == "Complete"


def test_ttl_controller_deletes_a_finished_job_in_the_foreground(
    emulator: Emulator, admin: KubeClient
):
    """kube-controller-manager's ttlafterfinished controller deletes with
    DeletePropagationForeground (and a UID precondition): the Job stays visible, marked with the
    foregroundDeletion finalizer, until its pods are gone."""
    admin.create(JOBS, job("ttl-fg", ttlSecondsAfterFinished=600))
    eventually(lambda: condition(admin, "ttl-fg"))
    since = admin.get(JOBS)["metadata"]["resourceVersion"]

    emulator.advance_clock(601)
    eventually(lambda: not admin.get(JOBS, fieldSelector="metadata.name=ttl-fg")["items"])

    events = list(
        admin.watch(
            JOBS, resource_version=since, timeout_seconds=1, fieldSelector="metadata.name=ttl-fg"
        )
    )
    marked = [e for e in events if e["type"] == "MODIFIED"]
    assert marked, [e["type"] for e in events]
    assert "foregroundDeletion" in marked[-1]["object"]["metadata"]["finalizers"]
    assert marked[-1]["object"]["metadata"]["deletionTimestamp"]
    assert events[-1]["type"] == "DELETED"
