"""The emulator's REST semantics, exercised over HTTPS with the product's own client."""

from __future__ import annotations

from typing import Any

import pytest

from kube_emulator import Emulator
from migration_trigger.adapters.kube import KubeClient
from migration_trigger.errors import KubernetesError

JOBS = "/apis/batch/v1/namespaces/migrations/jobs"
CONFIGMAPS = "/api/v1/namespaces/migrations/configmaps"


def job(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "m", "image": "busybox"}],
                }
            }
        },
    }


def configmap(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


def test_created_object_gets_identity_timestamps_and_increasing_resource_version(admin: KubeClient):
    first = admin.create(CONFIGMAPS, configmap("a"))
    second = admin.create(CONFIGMAPS, configmap("b"))

    assert first["kind"] == "ConfigMap" and first["apiVersion"] == "v1"
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    assert first["metadata"]["creationTimestamp"].endswith("Z")
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    listed = admin.get(CONFIGMAPS)
    assert listed["kind"] == "ConfigMapList" and listed["apiVersion"] == "v1"
    assert int(listed["metadata"]["resourceVersion"]) >= int(second["metadata"]["resourceVersion"])


def test_every_write_increases_resource_version(admin: KubeClient):
    created = admin.create(CONFIGMAPS, configmap("a"))
    patched = admin.patch(f"{CONFIGMAPS}/a", {"data": {"k": "w"}})

    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert patched["data"] == {"k": "w"}


def test_create_of_existing_name_is_409_already_exists(admin: KubeClient):
    admin.create(JOBS, job("dup"))

    with pytest.raises(KubernetesError) as caught:
        admin.create(JOBS, job("dup"))

    assert caught.value.status == 409
    assert caught.value.reason == "AlreadyExists"
    assert 'jobs.batch "dup" already exists' in str(caught.value)


def test_missing_object_is_404_not_found(admin: KubeClient):
    with pytest.raises(KubernetesError) as caught:
        admin.get(f"{JOBS}/nope")

    assert (caught.value.status, caught.value.reason) == (404, "NotFound")
    assert 'jobs.batch "nope" not found' in str(caught.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (job("Bad_Name"), "metadata.name"),
        ({"metadata": {"name": "nospec"}, "spec": {}}, "spec.template"),
        (
            {
                "metadata": {"name": "noimage"},
                "spec": {
                    "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m"}]}}
                },
            },
            "spec.template.spec.containers[0].image",
        ),
        (
            {
                "metadata": {"name": "always"},
                "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "busybox"}]}}},
            },
            "spec.template.spec.restartPolicy",
        ),
    ],
)
def test_invalid_object_is_422_invalid_naming_the_field(admin: KubeClient, body: Any, field: str):
    with pytest.raises(KubernetesError) as caught:
        admin.create(JOBS, body)

    assert (caught.value.status, caught.value.reason) == (422, "Invalid")
    assert field in str(caught.value)


def test_a_role_rule_without_verbs_is_422_as_kube_apiserver_says(admin: KubeClient):
    """Found by the orchestrator's RBAC tests on the real apiserver (ValidatePolicyRule)."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "no-verbs"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": []}],
    }
    with pytest.raises(KubernetesError) as caught:
        admin.create("/apis/rbac.authorization.k8s.io/v1/namespaces/migrations/roles", role)

    assert (caught.value.status, caught.value.reason) == (422, "Invalid")
    assert "rules[0].verbs: Required value: verbs must contain at least one value" in str(
        caught.value
    )


def test_invalid_status_body_lists_causes(emulator: Emulator, admin: KubeClient):
    with pytest.raises(KubernetesError):
        admin.create(JOBS, job("Bad_Name"))

    # The client surfaces the message; the full Status body is what the server sent.
    request = emulator.requests.find("POST", "/jobs$")[-1]
    assert request.status == 422


def test_create_in_missing_namespace_is_404(admin: KubeClient):
    with pytest.raises(KubernetesError) as caught:
        admin.create("/api/v1/namespaces/ghost/configmaps", configmap("a"))

    assert caught.value.status == 404
    assert 'namespaces "ghost" not found' in str(caught.value)


def test_label_selectors_equality_and_set_based(admin: KubeClient):
    admin.create(CONFIGMAPS, configmap("a", app="orders", tier="db"))
    admin.create(CONFIGMAPS, configmap("b", app="orders", tier="web"))
    admin.create(CONFIGMAPS, configmap("c", app="billing"))

    def names(selector: str) -> list[str]:
        items = admin.get(CONFIGMAPS, labelSelector=selector)["items"]
        return [i["metadata"]["name"] for i in items]

    assert names("app=orders") == ["a", "b"]
    assert names("app==orders,tier!=db") == ["b"]
    assert names("tier in (db, web)") == ["a", "b"]
    assert names("app notin (orders)") == ["c"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c"]


def test_field_selector_on_metadata_name(admin: KubeClient):
    admin.create(CONFIGMAPS, configmap("a"))
    admin.create(CONFIGMAPS, configmap("b"))

    items = admin.get(CONFIGMAPS, fieldSelector="metadata.name=b")["items"]

    assert [i["metadata"]["name"] for i in items] == ["b"]


def test_unsupported_field_selector_is_400(admin: KubeClient):
    with pytest.raises(KubernetesError) as caught:
        admin.get(CONFIGMAPS, fieldSelector="spec.whatever=x")

    assert caught.value.status == 400
    assert "field label not supported" in str(caught.value)


def test_list_items_carry_no_kind_but_the_list_does(admin: KubeClient):
    admin.create(JOBS, job("a"))

    listed = admin.get(JOBS)

    assert (listed["kind"], listed["apiVersion"]) == ("JobList", "batch/v1")
    assert "kind" not in listed["items"][0]


def test_update_with_stale_resource_version_is_409_conflict(emulator: Emulator, admin: KubeClient):
    created = admin.create(CONFIGMAPS, configmap("a"))
    admin.patch(f"{CONFIGMAPS}/a", {"data": {"k": "newer"}})

    stale = {**created, "data": {"k": "stale"}}
    with pytest.raises(KubernetesError) as caught:
        admin._json("PUT", f"{CONFIGMAPS}/a", body=stale)

    assert (caught.value.status, caught.value.reason) == (409, "Conflict")


def test_job_pod_template_is_immutable(admin: KubeClient):
    admin.create(JOBS, job("a"))

    with pytest.raises(KubernetesError) as caught:
        admin.patch(
            f"{JOBS}/a",
            {"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "other"}]}}}},
        )

    assert caught.value.status == 422
    assert "field is immutable" in str(caught.value)


def test_job_gets_generated_selector_and_template_labels(admin: KubeClient):
    created = admin.create(JOBS, job("a"))

    uid = created["metadata"]["uid"]
    labels = created["spec"]["template"]["metadata"]["labels"]
    assert created["spec"]["selector"]["matchLabels"] == {"batch.kubernetes.io/controller-uid": uid}
    assert labels["job-name"] == "a" and labels["controller-uid"] == uid
    assert created["spec"]["backoffLimit"] == 6


def test_discovery_documents_list_served_resources(admin: KubeClient):
    core = admin.get("/api/v1")
    batch = admin.get("/apis/batch/v1")
    groups = admin.get("/apis")

    core_names = {r["name"] for r in core["resources"]}
    assert {
        "pods",
        "pods/log",
        "secrets",
        "configmaps",
        "serviceaccounts",
        "namespaces",
    } <= core_names
    assert {r["name"] for r in batch["resources"]} >= {"jobs", "jobs/status"}
    assert {g["name"] for g in groups["groups"]} == {
        "batch",
        "rbac.authorization.k8s.io",
        "admissionregistration.k8s.io",
    }
    assert admin.get("/version")["major"] == "1"


def test_unknown_path_is_404(admin: KubeClient):
    with pytest.raises(KubernetesError) as caught:
        admin.get("/apis/apps/v1/namespaces/default/deployments")

    assert caught.value.status == 404
