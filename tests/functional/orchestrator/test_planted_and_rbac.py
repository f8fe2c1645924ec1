"""Nothing planted in the namespace is trusted, and the function's RBAC is exactly what it uses.

A Secret or Job planted at the names the function derives is never used or taken for a
redelivery. Each verb k8s/rbac.yaml grants is removed in turn: the flow then fails (or loses
what the verb gives), so no verb is there that the code does not use.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from kube_emulator.faults import RecordedRequest
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World
from tests.helpers import manifests

PLANTED_PASSWORD = "planted-by-someone-else"
#: How a planted pod shows on the node: unable to start.
PLANTED = PodScript(waiting_reason="InvalidImageName", waiting_message="planted")


def plant_before_create(world: World, make: Any) -> list[str]:
    """When the function creates its Job, first put `make(job name)` in the namespace."""
    names: list[str] = []

    def plant(request: RecordedRequest) -> None:
        if request.method == "POST" and request.path.endswith("/jobs") and not names:
            names.append(request.body["metadata"]["name"])
            world.apply(make(names[0]))

    world.requests.on_request(plant)
    return names


def planted_secret(job: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{job}-db", "namespace": "migrations"},
        "stringData": {"DATABASE_URL": f"postgresql://app:{PLANTED_PASSWORD}@attacker:5432/x"},
    }


def planted_job(job: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job, "namespace": "migrations"},
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "x", "image": "busybox:1.36"}],
                }
            },
        },
    }


@ON_CHOSEN_CLUSTERS
def test_a_secret_planted_at_the_credentials_name_is_never_used(world: World):
    names = plant_before_create(world, planted_secret)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    (job,) = names
    assert (
        f"Secret {job}-db already exists in namespace migrations and was not made for Job {job}"
        in (run.error or "")
    )
    assert world.jobs() == [], "the Job never started and was deleted"
    pods = world.select("pods")
    assert pods == []
    secret = world.get("secrets", f"{job}-db")
    assert secret is not None
    assert "ownerReferences" not in secret["metadata"], "the planted Secret is left as it was"


@ON_CHOSEN_CLUSTERS
def test_a_job_planted_at_the_migrations_name_fails_the_event_loudly(world: World):
    names = plant_before_create(world, planted_job)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    (job,) = names
    assert f"Job {job} already exists in namespace migrations but was not created by this " in (
        run.error or ""
    )
    (message,) = world.notifications()
    assert json.loads(message["Message"])["status"] == "failed"
    (left,) = world.jobs()
    assert left["spec"]["suspend"] is True, "the planted Job is not started"


def planted_pod(job: str) -> dict[str, Any]:
    """A bare pod carrying the Job's `job-name` label, unable to start (its status as the
    emulator takes it; on the real control plane the node plays PLANTED for it)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{job}-planted",
            "namespace": "migrations",
            "labels": {"job-name": job},
        },
        "spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "x"}]},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "migrate",
                    "image": "x",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "InvalidImageName", "message": "planted"}},
                }
            ],
        },
    }


@ON_CHOSEN_CLUSTERS
def test_a_pod_the_job_does_not_control_is_never_judged_or_read(world: World):
    """Only pods the Job controls count (its controller ownerReference and the
    batch.kubernetes.io/controller-uid label the Job controller sets): a bare pod labelled
    job-name=<job> neither fails the migration nor supplies its log."""
    world.pods.when(PLANTED, match=lambda pod: pod["metadata"]["name"].endswith("-planted"))
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=3))
    planted: list[str] = []

    def plant(request: RecordedRequest) -> None:
        if request.method == "PATCH" and "/jobs/" in request.path and not planted:
            planted.append(request.path.rsplit("/", 1)[-1])
            world.apply(planted_pod(planted[0]))

    world.requests.on_request(plant)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded", run.error
    assert "Applied 1 migration" in run.result["log_tail"]
    (job,) = world.jobs()
    assert job["metadata"]["name"] == planted[0]


def without(resource: str, verb: str) -> list[dict[str, Any]]:
    rbac = manifests("rbac.yaml")
    for rule in rbac[0]["rules"]:
        if resource in rule["resources"]:
            assert verb in rule["verbs"], f"{resource} {verb} is no longer granted"
            rule["verbs"].remove(verb)
    # A rule needs at least one verb (the apiserver refuses it otherwise).
    rbac[0]["rules"] = [rule for rule in rbac[0]["rules"] if rule["verbs"]]
    return rbac


def outcome(run: Any) -> str:
    return run.result["status"] if run.result else (run.error or "").split(":", 1)[0]


def test_the_role_grants_exactly_the_verbs_listed_here():
    granted = {
        (resource, verb)
        for rule in manifests("rbac.yaml")[0]["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }

    assert granted == {case[:2] for case in VERBS}


VERBS = [
    ("jobs", "create", "normal"),
    ("jobs", "get", "normal"),
    ("jobs", "list", "normal"),
    ("jobs", "patch", "normal"),
    ("jobs", "delete", "stuck"),
    ("pods", "list", "normal"),
    ("pods/log", "get", "normal"),
    ("secrets", "create", "normal"),
    ("secrets", "get", "planted"),
    ("secrets", "delete", "normal"),
]


@pytest.mark.parametrize(("resource", "verb", "scenario"), VERBS)
@ON_CHOSEN_CLUSTERS
def test_each_granted_verb_is_used(world: World, resource: str, verb: str, scenario: str):
    assert world.cluster is not None
    world.cluster.apply_all(without(resource, verb))
    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    if scenario == "stuck":
        world.pods.reset()
        world.pods.when(PodScript(waiting_reason="InvalidImageName", waiting_message="bad"))
    if scenario == "planted":
        plant_before_create(world, planted_secret)

    run = world.run(world.event("rds-instance-created.json"))

    if (resource, verb) == ("pods/log", "get"):
        assert outcome(run) == "succeeded"
        assert "Applied 1 migration" not in json.dumps(run.result), "no log without the verb"
    elif (resource, verb) == ("jobs", "delete"):
        assert outcome(run) == "failed"
        assert "could not be deleted" in (run.error or "")
        assert len(world.jobs()) == 1
    elif (resource, verb) == ("secrets", "delete"):
        assert outcome(run) == "succeeded", "a Secret left behind is a warning, not a failure"
        secrets = world.select("secrets")
        assert len(secrets) == 1, "without the verb the Secret waits for the Job's TTL"
    elif (resource, verb) == ("secrets", "get"):
        assert outcome(run) == "failed"
        assert "was not made for Job" not in (run.error or ""), "the check needs the verb"
        assert "403" in (run.error or "") or "forbidden" in (run.error or "").lower()
    else:
        assert outcome(run) in ("failed", "timed_out"), run.result
