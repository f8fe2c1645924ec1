"""Ways a migration fails that cross a real wire, and what the result says; the execution fails
with it: a pod's exit code, the scheduler's and the Job controller's own words, RBAC, throttled
API calls, an expiring token, a configuration that cannot be read. The watch policy's other cases
(pods that cannot start, pull and create errors, a database not yet available, a Job deleted
from under it) run in the story tier: tests/story/test_following.py."""

from __future__ import annotations

import json
import threading

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import Fault, PodScript
from kube_emulator.faults import RecordedRequest
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World, profiles
from tests.helpers import eventually, manifests


@ON_CHOSEN_CLUSTERS
def test_failing_migration_is_failed_with_exit_code_and_log_tail(world: World):
    world.pods.when(
        PodScript(
            exit_code=1, logs='Applying 002_orders.sql\nERROR: relation "orders" already exists\n'
        )
    )

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert "failed: the migration exited with code 1" in (run.error or "")
    (message,) = world.notifications()
    assert message["Subject"] == "[test] Migration FAILED: orders-db (db-created)"
    assert 'relation \\"orders\\" already exists' in message["Message"]
    (job,) = world.jobs()
    assert len(world.jobs()) == 1, "a failed migration never starts a second Job"
    assert job["status"]["failed"] == 1


@ON_CHOSEN_CLUSTERS
def test_pod_that_is_never_scheduled_fails_after_start_timeout_with_the_schedulers_message(
    world: World,
):
    assert world.cluster is not None
    placement, scheduler = world.cluster.unschedulable(world.pods)
    world.set_profiles(profiles(startTimeoutSeconds=60, **placement))

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    error = run.error or ""
    assert f"cannot be scheduled: Unschedulable: {scheduler}" in error
    assert "the pod did not start within startTimeoutSeconds (60s)" in error
    assert world.jobs() == []
    (notification,) = world.notifications()
    assert "0/" in notification["Message"] and "nodes are available" in notification["Message"]


def expire_deadline(world: World, deadline: int) -> list[int]:
    """Once the Job is active, make its deadline pass (a thread); the deadline it ended with
    lands in the list returned."""
    ended: list[int] = []

    def expire() -> None:
        jobs = eventually(
            lambda: [j for j in world.jobs() if j["status"].get("active")], timeout=30
        )
        assert world.cluster is not None
        ended.append(world.cluster.expire_deadline(jobs[0]["metadata"]["name"], deadline))

    threading.Thread(target=expire, daemon=True).start()
    return ended


def failed(world: World) -> bool:
    return all("Failed" in str(j["status"].get("conditions") or "") for j in world.jobs()) and bool(
        world.jobs()
    )


@ON_CHOSEN_CLUSTERS
def test_deadline_before_the_pod_started_says_what_held_it(world: World):
    assert world.cluster is not None
    placement, scheduler = world.cluster.unschedulable(world.pods)
    world.set_profiles(profiles(activeDeadlineSeconds=60, startTimeoutSeconds=3600, **placement))
    looks: list[str] = []
    ended: list[int] = []

    def deadline_passes_at_the_third_look(request: RecordedRequest) -> None:
        if request.method == "GET" and request.path.endswith("/namespaces/migrations/pods"):
            looks.append(request.path)
            if len(looks) == 3:
                (job,) = world.jobs()
                assert world.cluster is not None
                ended.append(world.cluster.expire_deadline(job["metadata"]["name"], 60))
                eventually(lambda: failed(world))

    world.requests.on_request(deadline_passes_at_the_third_look)
    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    error = run.error or ""
    assert (
        f"timed_out: the migration ran longer than its {ended[0]}s deadline and was stopped"
        in error
    )
    assert "its pod never started: pod migrate-orders-db-" in error
    assert f"cannot be scheduled: Unschedulable: {scheduler}" in error


@ON_CHOSEN_CLUSTERS
def test_rbac_denial_is_a_failed_result_that_says_what_to_check(world: World):
    rbac = manifests("rbac.yaml")
    rbac[0]["rules"][0]["verbs"].remove("create")
    assert world.cluster is not None
    world.cluster.apply_all(rbac)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert 'cannot create resource "jobs" in API group "batch" in the namespace "migrations"' in (
        run.error or ""
    )
    assert "Check the function's EKS access entry and that k8s/rbac.yaml is applied" in (
        run.error or ""
    )
    (notification,) = world.notifications()
    assert '"status": "failed"' in notification["Message"]


@ON_CHOSEN_CLUSTERS
def test_throttled_and_failing_api_calls_are_retried(world: World):
    world.fault(Fault(path="/jobs$", method="POST", status=429, retry_after=1))
    world.fault(Fault(path="/jobs/", method="GET", status=503, times=2))

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded"
    assert len(world.jobs()) == 1


@ON_CHOSEN_CLUSTERS
def test_token_expiring_during_a_long_migration_is_refreshed(world: World):
    # Tokens live 2 s here instead of 15 min, so they really expire while the Job runs. A real
    # apiserver keeps a token it accepted accepted for 10 s (TokenSuccessCacheTTL, in front of
    # the webhook's own cache: pkg/kubeapiserver/authenticator/config.go), so there the
    # migration runs longer than that.
    world.authenticator.token_lifetime_seconds = 2
    assert world.cluster is not None
    duration = 14.0 if world.cluster.kind == "real" else 5.0
    world.pods.when(PodScript(duration=duration, logs=["long migration"]))
    world.skip_time = False

    run = world.run(world.event("rds-instance-created.json"), timeout=120)

    assert run.result["status"] == "succeeded"
    statuses = [r.status for r in world.requests.all()]
    assert 401 in statuses, "an expired token was refused"
    assert statuses[statuses.index(401) + 1] == 200, (
        "and the next request, with a new token, passed"
    )


@ON_CHOSEN_CLUSTERS
@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("MIGRATION_PROFILES", "{", "MIGRATION_PROFILES: the profiles document is not valid JSON"),
        ("NOTIFY_STATUSES", "everything", "NOTIFY_STATUSES: use a comma-separated list of"),
    ],
)
def test_invalid_configuration_is_reported_failed_naming_the_setting(
    world: World, capfd: pytest.CaptureFixture[str], variable: str, value: str, named: str
):
    # Given a deployment whose settings cannot be read
    world.monkeypatch.setenv(variable, value)

    # When an event arrives
    run = world.run(world.event("rds-instance-created.json"))

    # Then the execution fails, and the result still reaches the topic and the metrics
    assert run.status is InvocationStatus.FAILED
    assert named in (run.error or "")
    (message,) = world.notifications()
    body = json.loads(message["Message"])
    assert body["status"] == "failed"
    assert named in body["reason"]
    assert body["database"] == world.db_arn
    assert message["Subject"] == "[test] Migration FAILED: orders-db (db-created)"
    metrics = [
        json.loads(line)
        for line in capfd.readouterr().out.splitlines()
        if line.startswith('{"_aws"')
    ]
    assert [(m["Status"], m["Migrations"]) for m in metrics if "Migrations" in m] == [
        ("failed", [1.0])
    ]
    assert world.jobs() == []


@ON_CHOSEN_CLUSTERS
def test_a_timed_out_migration_still_shows_where_it_was(world: World):
    """At activeDeadlineSeconds Kubernetes deletes the Job's running pod, with its log, before it
    marks the Job Failed/DeadlineExceeded (the emulator does the same): the tail read while the
    Job ran is the only evidence left."""
    world.set_profiles(profiles(activeDeadlineSeconds=60))
    world.pods.when(
        PodScript(duration=600, logs=["applying 001_customers.sql", "applying 002_orders.sql"])
    )

    def expire_once_the_log_was_read() -> None:
        eventually(
            lambda: any(r.path.endswith("/log") and r.status == 200 for r in world.requests.all()),
            timeout=30,
        )
        (job,) = world.jobs()
        assert world.cluster is not None
        world.cluster.expire_deadline(job["metadata"]["name"], 60)

    threading.Thread(target=expire_once_the_log_was_read, daemon=True).start()
    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert "s deadline and was stopped" in (run.error or "")
    (message,) = world.notifications()
    tail = json.loads(message["Message"])["log_tail"]
    assert tail.startswith("[read while the Job ran; its pod is gone]")
    assert "applying 001_customers.sql" in tail
