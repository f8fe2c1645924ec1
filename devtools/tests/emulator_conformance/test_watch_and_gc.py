"""Watches (resume, timeouts, 410, selectors) and owner-reference garbage collection."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kube_emulator import Emulator, Fault, PodScript, ScriptedRunner
from migration_trigger.adapters.kube import KubeClient
from migration_trigger.errors import KubernetesError
from tests.helpers import eventually

CONFIGMAPS = "/api/v1/namespaces/migrations/configmaps"
JOBS = "/apis/batch/v1/namespaces/migrations/jobs"
PODS = "/api/v1/namespaces/migrations/pods"
SECRETS = "/api/v1/namespaces/migrations/secrets"


def job(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "m", "image": "busybox"}],
                }
            }
        },
    }


def test_watch_reports_changes_after_a_resource_version(admin: KubeClient):
    start = admin.get(CONFIGMAPS)["metadata"]["resourceVersion"]
    admin.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    admin.patch(f"{CONFIGMAPS}/a", {"data": {"x": "1"}})
    admin.delete(f"{CONFIGMAPS}/a")

    events = list(admin.watch(CONFIGMAPS, resource_version=start, timeout_seconds=1))

    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)


def test_watch_honours_timeout_seconds(admin: KubeClient):
    start = admin.get(CONFIGMAPS)["metadata"]["resourceVersion"]

    began = time.monotonic()
    events = list(admin.watch(CONFIGMAPS, resource_version=start, timeout_seconds=1))

    assert events == []
    assert 0.9 <= time.monotonic() - began < 5


def test_watch_filters_by_label_and_field_selector(admin: KubeClient):
    start = admin.get(CONFIGMAPS)["metadata"]["resourceVersion"]
    admin.create(CONFIGMAPS, {"metadata": {"name": "a", "labels": {"app": "orders"}}})
    admin.create(CONFIGMAPS, {"metadata": {"name": "b", "labels": {"app": "billing"}}})

    by_label = list(
        admin.watch(
            CONFIGMAPS, resource_version=start, timeout_seconds=1, labelSelector="app=orders"
        )
    )
    by_name = list(
        admin.watch(
            CONFIGMAPS, resource_version=start, timeout_seconds=1, fieldSelector="metadata.name=b"
        )
    )

    assert [e["object"]["metadata"]["name"] for e in by_label] == ["a"]
    assert [e["object"]["metadata"]["name"] for e in by_name] == ["b"]


def test_watch_from_a_compacted_version_is_410_gone(emulator: Emulator, admin: KubeClient):
    old = admin.get(CONFIGMAPS)["metadata"]["resourceVersion"]
    admin.create(CONFIGMAPS, {"metadata": {"name": "a"}})
    emulator.store.compact()

    with pytest.raises(KubernetesError) as caught:
        list(admin.watch(CONFIGMAPS, resource_version=old, timeout_seconds=1))

    assert caught.value.status == 410
    assert caught.value.reason == "Expired"


def test_watch_can_be_closed_early_by_a_fault(emulator: Emulator, admin: KubeClient):
    start = admin.get(CONFIGMAPS)["metadata"]["resourceVersion"]
    emulator.fault(Fault(path="/configmaps$", method="GET", close_watch_after=0.2))

    began = time.monotonic()
    list(admin.watch(CONFIGMAPS, resource_version=start, timeout_seconds=30))

    assert time.monotonic() - began < 5


def test_watch_without_resource_version_starts_with_current_objects(admin: KubeClient):
    admin.create(CONFIGMAPS, {"metadata": {"name": "a"}})

    events = list(admin.watch(CONFIGMAPS, resource_version="", timeout_seconds=1))

    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


def _owned_secret(job_obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{job_obj['metadata']['name']}-env",
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": job_obj["metadata"]["name"],
                    "uid": job_obj["metadata"]["uid"],
                }
            ],
        },
        "stringData": {"X": "y"},
    }


def _finished_job_with_secret(admin: KubeClient, name: str) -> dict[str, Any]:
    created = admin.create(JOBS, job(name))
    admin.create(SECRETS, _owned_secret(created))
    eventually(lambda: admin.get(PODS, labelSelector=f"job-name={name}")["items"])
    return created


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_deleting_a_job_collects_its_pods_and_owned_secret(
    emulator: Emulator, admin: KubeClient, policy: str
):
    _finished_job_with_secret(admin, "gc")

    admin.delete(f"{JOBS}/gc", propagation=policy)

    assert admin.get(PODS, labelSelector="job-name=gc")["items"] == []
    assert emulator.store.find(emulator.store_types["secrets"], "migrations", "gc-env") is None
    with pytest.raises(KubernetesError):
        admin.get(f"{JOBS}/gc")


def test_foreground_deletion_marks_the_job_before_removing_it(admin: KubeClient):
    _finished_job_with_secret(admin, "fg")
    start = admin.get(JOBS)["metadata"]["resourceVersion"]

    admin.delete(f"{JOBS}/fg", propagation="Foreground")

    events = list(admin.watch(JOBS, resource_version=start, timeout_seconds=1))
    assert [e["type"] for e in events][-2:] == ["MODIFIED", "DELETED"]
    assert events[-2]["object"]["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in events[-2]["object"]["metadata"]["finalizers"]


def test_orphan_deletion_keeps_pods_without_owner(admin: KubeClient):
    _finished_job_with_secret(admin, "orphan")

    admin.delete(f"{JOBS}/orphan", propagation="Orphan")

    pods = admin.get(PODS, labelSelector="job-name=orphan")["items"]
    assert len(pods) == 1
    assert "ownerReferences" not in pods[0]["metadata"]


def test_job_delete_without_policy_orphans_pods_as_the_api_does(admin: KubeClient):
    _finished_job_with_secret(admin, "legacy")

    admin._json("DELETE", f"{JOBS}/legacy")

    assert len(admin.get(PODS, labelSelector="job-name=legacy")["items"]) == 1


def test_deleting_a_running_pod_stops_its_runner(
    runner: ScriptedRunner, emulator: Emulator, admin: KubeClient
):
    runner.when(PodScript(duration=30, logs=["working"]), job_name="long")
    admin.create(JOBS, job("long"))
    pod = eventually(
        lambda: [
            p
            for p in admin.get(PODS, labelSelector="job-name=long")["items"]
            if p["status"]["phase"] == "Running"
        ]
    )[0]

    admin.delete(f"{JOBS}/long", propagation="Background")

    assert admin.get(PODS, labelSelector="job-name=long")["items"] == []
    with pytest.raises(KubernetesError) as caught:
        admin.text(f"{PODS}/{pod['metadata']['name']}/log")
    assert caught.value.status == 404
