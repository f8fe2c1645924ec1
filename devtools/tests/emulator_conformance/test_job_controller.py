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


def job_events(admin: KubeClient, name: str, since: str) -> list[dict[str, Any]]:
    """The Job's statuses as a watch from `since` delivers them."""
    events = admin.watch(
        JOBS, resource_version=since, timeout_seconds=1, fieldSelector=f"metadata.name={name}"
    )
    return [e["object"].get("status", {}) for e in events if e["type"] != "BOOKMARK"]


def kinds(status: dict[str, Any]) -> list[str]:
    return [c["type"] for c in status.get("conditions", []) if c["status"] == "True"]


def test_success_is_success_criteria_met_then_complete(runner: ScriptedRunner, admin: KubeClient):
    """Kubernetes 1.31+ (job_controller.go: newSuccessCondition, enactJobFinished): the interim
    SuccessCriteriaMet comes first; Complete, with completionTime, only in a later sync."""
    runner.when(PodScript(duration=0.2), job_name="two-step")
    since = admin.get(JOBS)["metadata"]["resourceVersion"]

    admin.create(JOBS, job("two-step"))
    eventually(lambda: condition(admin, "two-step"))

    statuses = job_events(admin, "two-step", since)
    interim = next(s for s in statuses if "SuccessCriteriaMet" in kinds(s))
    assert "Complete" not in kinds(interim) and "completionTime" not in interim
    final = statuses[-1]
    assert kinds(final) == ["SuccessCriteriaMet", "Complete"]
    complete = final["conditions"][-1]
    assert complete["reason"] == "CompletionsReached" and final["completionTime"]
    assert (final["ready"], final["terminating"]) == (0, 0)


def test_deadline_is_failure_target_while_the_pod_terminates_then_failed(
    runner: ScriptedRunner, emulator: Emulator, admin: KubeClient
):
    """The controller records FailureTarget, deletes the running pod (it is terminating:
    status.terminating 1), and adds Failed with the same reason once no pod is terminating."""
    runner.when(PodScript(duration=60, logs=["step 1"]), job_name="late")
    admin.create(JOBS, job("late", activeDeadlineSeconds=30))
    eventually(lambda: admin.get(f"{JOBS}/late")["status"].get("ready") == 1)
    since = admin.get(JOBS)["metadata"]["resourceVersion"]

    emulator.advance_clock(31)
    done = eventually(lambda: condition(admin, "late"))

    assert (done["type"], done["reason"]) == ("Failed", "DeadlineExceeded")
    statuses = job_events(admin, "late", since)
    interim = next(s for s in statuses if "FailureTarget" in kinds(s))
    assert "Failed" not in kinds(interim)
    assert any(s.get("terminating") == 1 and "Failed" not in kinds(s) for s in statuses)
    target = next(c for c in statuses[-1]["conditions"] if c["type"] == "FailureTarget")
    assert (target["reason"], target["message"]) == (done["reason"], done["message"])
    assert statuses[-1]["terminating"] == 0
    assert pods_of(admin, "late") == []


def test_resumed_job_counts_its_deadline_from_the_resume(
    runner: ScriptedRunner, emulator: Emulator, admin: KubeClient
):
    """job_controller.go syncJob: a suspended Job has Suspended=True (JobSuspended) and no
    startTime; on resume the condition turns False (JobResumed) and startTime is set then, so
    time spent suspended never counts against activeDeadlineSeconds."""
    runner.when(PodScript(duration=60, logs=["working"]), job_name="paused")
    admin.create(JOBS, job("paused", suspend=True, activeDeadlineSeconds=100))
    eventually(lambda: kinds(admin.get(f"{JOBS}/paused").get("status", {})) == ["Suspended"])
    emulator.advance_clock(120)

    admin.patch(f"{JOBS}/paused", {"spec": {"suspend": False}})
    eventually(lambda: admin.get(f"{JOBS}/paused")["status"].get("ready") == 1)

    status = admin.get(f"{JOBS}/paused")["status"]
    resumed = next(c for c in status["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")
    assert status["startTime"] == resumed["lastTransitionTime"]
    assert condition(admin, "paused") is None, "120 s suspended do not count against 100 s"


def test_created_suspended_job_has_no_start_time_until_resumed(admin: KubeClient):
    admin.create(JOBS, job("queued", suspend=True))
    assert eventually(lambda: kinds(admin.get(f"{JOBS}/queued").get("status", {}))) == ["Suspended"]
    assert "startTime" not in admin.get(f"{JOBS}/queued")["status"]


def test_unschedulable_pod_is_pending_with_the_schedulers_condition(
    runner: ScriptedRunner, admin: KubeClient
):
    message = "0/3 nodes are available: 3 Insufficient memory."
    runner.when(PodScript(unschedulable=message), job_name="big")

    admin.create(JOBS, job("big"))

    pod = eventually(
        lambda: next(
            (
                p
                for p in pods_of(admin, "big")
                if p["status"].get("conditions", [{}])[0].get("status") == "False"
            ),
            None,
        )
    )
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["conditions"] == [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": pod["status"]["conditions"][0]["lastTransitionTime"],
        }
    ]
    assert "containerStatuses" not in pod["status"] and "nodeName" not in pod["spec"]
    assert admin.get(f"{JOBS}/big")["status"]["active"] == 1


def waiting_of(admin: KubeClient, name: str) -> dict[str, Any] | None:
    for pod in pods_of(admin, name):
        for status in pod["status"].get("containerStatuses", []):
            if "waiting" in status["state"]:
                return dict(status["state"]["waiting"])
    return None


def test_failed_pull_backs_off_then_runs_once_the_registry_answers(
    runner: ScriptedRunner, emulator: Emulator, admin: KubeClient
):
    """kubelet image_manager.go: a failed pull is ErrImagePull, then ImagePullBackOff
    (`Back-off pulling image "<image>"`) for 10 s; the next attempt succeeds here."""
    runner.when(PodScript(pull_error="429 Too Many Requests", pull_failures=1), job_name="blip")

    admin.create(JOBS, job("blip"))
    backoff = eventually(
        lambda: (waiting_of(admin, "blip") or {}).get("reason") == "ImagePullBackOff"
    )
    assert backoff
    assert waiting_of(admin, "blip") == {
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "migrator:1"',
    }

    emulator.advance_clock(10)

    assert eventually(lambda: condition(admin, "blip"))["type"] == "Complete"


def test_permanent_pull_error_keeps_backing_off(
    runner: ScriptedRunner, emulator: Emulator, admin: KubeClient
):
    runner.when(PodScript(pull_error="manifest unknown"), job_name="gone")
    since = admin.get(PODS)["metadata"]["resourceVersion"]
    admin.create(JOBS, job("gone"))
    eventually(lambda: (waiting_of(admin, "gone") or {}).get("reason") == "ImagePullBackOff")

    emulator.advance_clock(10)
    eventually(lambda: len(pulls(admin, since)) >= 3)

    seen = pulls(admin, since)
    assert [reason for reason, _ in seen[:3]] == [
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImagePull",
    ]
    assert seen[0][1] == 'failed to pull and unpack image "migrator:1": manifest unknown'
    assert condition(admin, "gone") is None


def pulls(admin: KubeClient, since: str) -> list[tuple[str, str]]:
    """The pull states the pods of Job `gone` went through, in order."""
    events = admin.watch(
        PODS, resource_version=since, timeout_seconds=1, labelSelector="job-name=gone"
    )
    seen: list[tuple[str, str]] = []
    for event in events:
        for status in event["object"]["status"].get("containerStatuses", []):
            waiting = status["state"].get("waiting", {})
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                said = (waiting["reason"], waiting.get("message", ""))
                if not seen or seen[-1] != said:
                    seen.append(said)
    return seen


def test_a_pod_created_on_its_own_is_scheduled_and_run(runner: ScriptedRunner, admin: KubeClient):
    """A bare pod leaves Pending as on a real node: scheduled, run, and finished by its policy."""
    runner.when(
        PodScript(logs="hello from a bare pod\n"), match=lambda p: p["metadata"]["name"] == "bare"
    )

    admin.create(
        PODS,
        {
            "metadata": {"name": "bare"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox:1.36"}],
            },
        },
    )

    done = eventually(lambda: admin.get(f"{PODS}/bare")["status"]["phase"] == "Succeeded")
    assert done
    pod = admin.get(f"{PODS}/bare")
    assert pod["spec"]["nodeName"]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert admin.text(f"{PODS}/bare/log") == "hello from a bare pod\n"


def test_a_bare_pod_that_always_restarts_stays_running(runner: ScriptedRunner, admin: KubeClient):
    runner.when(PodScript(), match=lambda p: p["metadata"]["name"] == "looping")

    admin.create(
        PODS,
        {
            "metadata": {"name": "looping"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
        },
    )

    restarts = eventually(
        lambda: admin.get(f"{PODS}/looping")["status"]["containerStatuses"][0]["restartCount"] >= 1
    )
    assert restarts
    assert admin.get(f"{PODS}/looping")["status"]["phase"] in ("Pending", "Running")
