"""The emulator's OpenAPI documents, strategic merge patch, field validation and server-side apply
answer as kube-apiserver 1.31 does (issue 11 item 7, issue 16 item 4).

Driven through the official `kubernetes` client (its REST layer where the typed API refuses what a
test must send: an unknown field, a raw document) and, for `kubectl apply`, the kubectl binary.
Each docstring cites where kubernetes/kubernetes (or its staging repositories) decides the answer.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException, RESTResponse

from kube_emulator import Emulator, PodScript, ScriptedRunner
from kube_emulator.resources import RESOURCE_TYPES
from tests.helpers import eventually, run_kubectl

NS = "migrations"
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def batch(api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api)


def raw(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    accept: str = "application/json",
    body: Any = None,
    content_type: str | None = None,
    query: dict[str, str] | None = None,
) -> RESTResponse:
    """A request through the client's REST layer, answered whatever its status."""
    headers = {"Accept": accept, **({"Content-Type": content_type} if content_type else {})}
    method, url, headers, body, post = api.param_serialize(
        method,
        path,
        query_params=list((query or {}).items()),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method, url, headers, body, post)
    response.read()
    return response


def status(response: RESTResponse) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response.data)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    return body


def failure(caught: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(caught.value.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    return body


def job(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "spec": {
            "backoffLimit": 0,
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "busybox:1.36"}],
                }
            },
        },
    }


@pytest.fixture(autouse=True)
def sleeping_pods(runner: ScriptedRunner) -> None:
    """Pods here run `sleep`: once started they stay Running, and the emulated kubelet leaves
    them alone (the emulator runs bare pods)."""
    runner.when(PodScript(duration=3600))


def started(core: client.CoreV1Api, name: str) -> client.V1Pod:
    """A `sleep` pod created and running: the object a client then edits."""
    core.create_namespaced_pod(NS, sleeper(name))
    eventually(lambda: core.read_namespaced_pod(name, NS).status.phase == "Running")
    return core.read_namespaced_pod(name, NS)


def sleeper(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {
                    "name": "sleep",
                    "image": "busybox:1.35",
                    "args": ["sleep", "3600"],
                    "env": [{"name": "A", "value": "1"}],
                }
            ]
        },
    }


# -- the OpenAPI documents --------------------------------------------------------------------------


def test_openapi_v3_lists_each_served_group_version_with_its_document_hash(
    api: client.ApiClient,
):
    """handler3.go (k8s.io/kube-openapi): /openapi/v3 maps each group-version to
    /openapi/v3/<path>?hash=<upper-case hex SHA-512 of the document>, which is served as JSON
    with that ETag."""
    listing = json.loads(raw(api, "GET", "/openapi/v3").data)

    assert set(listing["paths"]) == {
        "api/v1",
        "apis/batch/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/admissionregistration.k8s.io/v1",
    }
    for gv_path, entry in listing["paths"].items():
        url, _, digest = entry["serverRelativeURL"].partition("?hash=")
        assert url == f"/openapi/v3/{gv_path}"
        document = raw(api, "GET", url, query={"hash": digest})
        assert document.status == 200
        assert document.getheader("Content-Type") == "application/json"
        assert document.getheader("Cache-Control") == "public, immutable"
        assert hashlib.sha512(document.data).hexdigest().upper() == digest
        assert document.getheader("Etag") == f'"{digest}"'
        assert json.loads(document.data)["openapi"] == "3.0.0"


def test_openapi_v3_documents_every_served_kind_with_its_patch_operation(api: client.ApiClient):
    """Every kind the emulator serves has its schema (found by x-kubernetes-group-version-kind)
    and a PATCH operation with the GVK, the fieldValidation parameter and the patch media types:
    what kubectl looks for (cli-runtime query_param_verifier_v3.go, kubectl apply/patcher.go
    gvkSupportsPatchOpenAPIV3)."""
    listing = json.loads(raw(api, "GET", "/openapi/v3").data)["paths"]
    for rtype in RESOURCE_TYPES:
        gv_path = f"apis/{rtype.group}/{rtype.version}" if rtype.group else f"api/{rtype.version}"
        url = listing[gv_path]["serverRelativeURL"].split("?")[0]
        document = json.loads(raw(api, "GET", url).data)
        gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
        assert any(
            gvk in schema.get("x-kubernetes-group-version-kind", [])
            for schema in document["components"]["schemas"].values()
        ), rtype.kind
        (patch,) = [
            item["patch"]
            for item in document["paths"].values()
            if item.get("patch", {}).get("x-kubernetes-group-version-kind") == gvk
            and item["patch"]["operationId"].endswith(rtype.kind)
        ]
        assert {"in": "query", "name": "fieldValidation"}.items() <= next(
            p for p in patch["parameters"] if p["name"] == "fieldValidation"
        ).items()
        assert set(patch["requestBody"]["content"]) == {
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            APPLY,
        }


def test_openapi_schemas_carry_the_real_patch_extensions(api: client.ApiClient):
    """The schemas come from the real definitions (kubernetes-validate's copy of kube-apiserver's
    OpenAPI), with the struct tags' extensions: containers, env and volumes merge by name,
    ports by containerPort (pkg/apis/core types.go `patchMergeKey`), volumes also retain keys."""
    listing = json.loads(raw(api, "GET", "/openapi/v3").data)["paths"]
    batch_doc = json.loads(raw(api, "GET", listing["apis/batch/v1"]["serverRelativeURL"]).data)
    schemas = batch_doc["components"]["schemas"]
    pod_spec = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]
    container = schemas["io.k8s.api.core.v1.Container"]["properties"]

    def merge_meta(prop: dict[str, Any]) -> tuple[Any, ...]:
        return (
            prop.get("x-kubernetes-patch-merge-key"),
            prop.get("x-kubernetes-patch-strategy"),
            prop.get("x-kubernetes-list-type"),
            prop.get("x-kubernetes-list-map-keys"),
        )

    assert merge_meta(pod_spec["containers"]) == ("name", "merge", "map", ["name"])
    assert merge_meta(pod_spec["volumes"]) == ("name", "merge,retainKeys", "map", ["name"])
    assert merge_meta(container["env"]) == ("name", "merge", "map", ["name"])
    assert merge_meta(container["ports"]) == (
        "containerPort",
        "merge",
        "map",
        ["containerPort", "protocol"],
    )
    job_schema = schemas["io.k8s.api.batch.v1.Job"]
    assert job_schema["x-kubernetes-group-version-kind"] == [
        {"group": "batch", "kind": "Job", "version": "v1"}
    ]
    # As kube-openapi writes v3: references under allOf, plain string types, no enum on kind.
    assert job_schema["properties"]["spec"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.batch.v1.JobSpec"}
    ]
    assert job_schema["properties"]["kind"]["type"] == "string"
    assert "enum" not in job_schema["properties"]["kind"]
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"


def test_openapi_v2_is_served_as_json_and_protobuf_alone_is_not_acceptable(
    emulator: Emulator, api: client.ApiClient
):
    """kube-openapi's /openapi/v2 handler (pkg/handler/handler.go) serves the first Accept clause
    it can and answers a bare 406 otherwise. client-go asks for protobuf only (discovery
    OpenAPISchema); the emulator cannot encode protobuf, so it answers that 406 and serves JSON
    to any client that accepts it."""
    swagger = raw(api, "GET", "/openapi/v2")
    protobuf_only = raw(api, "GET", "/openapi/v2", accept=V2_PROTOBUF)
    either = raw(api, "GET", "/openapi/v2", accept=f"{V2_PROTOBUF}, application/json;q=0.5")

    document = json.loads(swagger.data)
    assert swagger.status == 200 and document["swagger"] == "2.0"
    assert document["info"]["version"] == "v1.31.0"
    containers = document["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    patch = document["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "batch",
        "version": "v1",
        "kind": "Job",
    }
    assert protobuf_only.status == 406 and protobuf_only.data == b""
    assert either.status == 200 and either.data == swagger.data
    assert [r.status for r in emulator.requests.find("GET", "^/openapi/v2$")] == [200, 406, 200]


def test_openapi_v3_stale_hash_redirects_and_unknown_group_version_is_empty(
    emulator: Emulator, api: client.ApiClient
):
    """HandleGroupVersion (handler3.go): a hash that is not the document's is redirected (301) to
    the current URL; a group-version it does not know makes it return without writing, which Go's
    server answers with an empty 200."""
    followed = raw(api, "GET", "/openapi/v3/apis/batch/v1", query={"hash": "STALE"})
    unknown = raw(api, "GET", "/openapi/v3/apis/apps/v1")

    assert followed.status == 200 and json.loads(followed.data)["openapi"] == "3.0.0"
    assert [r.status for r in emulator.requests.find("GET", "/openapi/v3/apis/batch/v1$")] == [
        301,
        200,
    ]
    assert unknown.status == 200 and unknown.data == b""


# -- strategic merge patch ---------------------------------------------------------------------------


def test_strategic_merge_patch_merges_containers_by_name_and_keeps_their_args(
    core: client.CoreV1Api,
):
    """StrategicMergeMapPatch (apimachinery pkg/util/strategicpatch/patch.go): `containers` has
    patchStrategy merge, patchMergeKey name, so the patch's container merges into the one of that
    name. A JSON merge patch (RFC 7386) replaces the whole list instead, dropping args, which a
    pod update refuses (ValidatePodUpdate)."""
    started(core, "sleepy")

    patched = core.patch_namespaced_pod(
        "sleepy", NS, {"spec": {"containers": [{"name": "sleep", "image": "busybox:1.36"}]}}
    )
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_pod(
            "sleepy",
            NS,
            {"spec": {"containers": [{"name": "sleep", "image": "busybox:1.37"}]}},
            _content_type="application/merge-patch+json",
        )

    (container,) = patched.spec.containers
    assert container.image == "busybox:1.36"
    assert container.args == ["sleep", "3600"]
    assert container.env[0].name == "A"
    assert caught.value.status == 422
    assert "pod updates may not change fields" in failure(caught)["message"]


def test_strategic_merge_patch_merges_pod_conditions_by_type(core: client.CoreV1Api):
    """PodStatus.conditions merge by `type` (patchMergeKey), as a controller setting a readiness
    gate's condition relies on: the kubelet's conditions are kept, the new one goes first
    (normalizeElementOrder/mergeSortedSlice in patch.go), and a later patch of the same type
    updates it in place."""
    kubelets = [(c.type, c.status) for c in started(core, "gated").status.conditions]

    def patch(state: str) -> list[tuple[str, str]]:
        body = {"status": {"conditions": [{"type": "example.com/Migrated", "status": state}]}}
        pod = core.patch_namespaced_pod_status("gated", NS, body)
        return [(c.type, c.status) for c in pod.status.conditions]

    added = patch("False")
    updated = patch("True")

    assert ("Ready", "True") in kubelets
    assert added == [("example.com/Migrated", "False"), *kubelets]
    assert updated == [("example.com/Migrated", "True"), *kubelets]


def test_strategic_merge_patch_directives(core: client.CoreV1Api):
    """The directives of patch.go: `$patch: delete` removes the list element with that merge key
    (ownerReferences merge by uid), `$deleteFromPrimitiveList/<list>` removes values from a merging
    list of scalars (finalizers), `$patch: replace` replaces a map, `$setElementOrder/<list>`
    orders the merged list, and null deletes a key."""

    def owner(uid: str) -> dict[str, str]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "name": f"owner-{uid}", "uid": uid}

    core.create_namespaced_config_map(
        NS,
        {
            "metadata": {
                "name": "directives",
                "labels": {"a": "1", "b": "2"},
                "annotations": {"keep": "yes", "drop": "yes"},
                "ownerReferences": [owner("u1"), owner("u2")],
                "finalizers": ["example.com/one", "example.com/two"],
            },
            "data": {"k": "v"},
        },
    )

    patched = core.patch_namespaced_config_map(
        "directives",
        NS,
        {
            "metadata": {
                "labels": {"$patch": "replace", "c": "3"},
                "annotations": {"drop": None},
                "$setElementOrder/ownerReferences": [{"uid": "u3"}, {"uid": "u2"}],
                "ownerReferences": [{"uid": "u1", "$patch": "delete"}, owner("u3")],
                "$deleteFromPrimitiveList/finalizers": ["example.com/one"],
            }
        },
    )

    meta = patched.metadata
    assert meta.labels == {"c": "3"}
    assert meta.annotations == {"keep": "yes"}
    assert [ref.uid for ref in meta.owner_references] == ["u3", "u2"]
    assert meta.finalizers == ["example.com/two"]
    assert patched.data == {"k": "v"}


def test_strategic_merge_patch_errors_answer_as_the_api_server(
    api: client.ApiClient, core: client.CoreV1Api
):
    """interpretStrategicMergePatchError (k8s.io/apiserver endpoints/handlers/patch.go): a bad
    directive key is 400 BadRequest; other merge errors are plain Go errors, which the API server
    answers as a 500 Status without a reason (responsewriters.ErrorToAPIStatus); an unknown
    patch media type is 415 listing the four it accepts (installer.go supportedTypes)."""
    started(core, "errors")
    path = f"/api/v1/namespaces/{NS}/pods/errors"
    smp = "application/strategic-merge-patch+json"

    no_key = raw(
        api, "PATCH", path, body={"spec": {"containers": [{"image": "x"}]}}, content_type=smp
    )
    bad_directive = raw(
        api, "PATCH", path, body={"metadata": {"$deleteFromPrimitiveList": ["x"]}}, content_type=smp
    )
    merge_in_list = raw(
        api,
        "PATCH",
        path,
        body={"spec": {"containers": [{"name": "sleep", "$patch": "merge"}]}},
        content_type=smp,
    )
    unsupported = raw(api, "PATCH", path, body="<patch/>", content_type="application/xml")

    assert no_key.status == 500
    assert status(no_key)["message"] == (
        "map: map[image:x] does not contain declared merge key: name"
    )
    assert "reason" not in status(no_key)
    assert bad_directive.status == 400
    assert status(bad_directive)["message"] == "invalid patch format of primitive list"
    assert merge_in_list.status == 500
    assert status(merge_in_list)["message"] == "merging lists cannot yet be specified in the patch"
    assert unsupported.status == 415
    assert status(unsupported)["message"].endswith(
        "accepted media types include: application/json-patch+json, "
        "application/merge-patch+json, application/strategic-merge-patch+json, "
        "application/apply-patch+yaml"
    )


def test_patch_with_dry_run_changes_nothing(core: client.CoreV1Api):
    """dryRun=All (as `kubectl diff` sends it) runs the patch and validation but stores nothing."""
    before = started(core, "dry")

    answered = core.patch_namespaced_pod(
        "dry",
        NS,
        {"spec": {"containers": [{"name": "sleep", "image": "busybox:1.36"}]}},
        dry_run="All",
    )

    assert answered.spec.containers[0].image == "busybox:1.36"
    after = core.read_namespaced_pod("dry", NS)
    assert after.spec.containers[0].image == "busybox:1.35"
    assert after.metadata.resource_version == before.metadata.resource_version


# -- field validation --------------------------------------------------------------------------------


def test_unknown_fields_are_refused_when_strict_and_dropped_with_a_warning_by_default(
    api: client.ApiClient,
):
    """createHandler (k8s.io/apiserver endpoints/handlers/create.go): fieldValidation=Strict
    answers 400 `... cannot be handled as a Job: strict decoding error: unknown field "..."`
    (transformDecodeError); without it the default is Warn (handlers/rest.go fieldValidation):
    created, the field dropped, a `Warning: 299 - "unknown field ..."` header per field."""
    path = f"/apis/batch/v1/namespaces/{NS}/jobs"
    body = job("bogus")
    body["spec"]["bogus"] = 1
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"

    strict = raw(
        api,
        "POST",
        path,
        body=body,
        content_type="application/json",
        query={"fieldValidation": "Strict"},
    )
    warned = raw(api, "POST", path, body=body, content_type="application/json")
    invalid = raw(
        api,
        "POST",
        path,
        body=body,
        content_type="application/json",
        query={"fieldValidation": "Lax"},
    )

    assert strict.status == 400
    assert status(strict)["message"] == (
        'Job in version "v1" cannot be handled as a Job: strict decoding error: '
        'unknown field "spec.template.spec.containers[0].imagePullPolicyy", unknown field "spec.bogus"'
    )
    assert warned.status == 201
    # In the order the decoder meets them: the body's key order.
    assert warned.headers.getlist("Warning") == [
        '299 - "unknown field \\"spec.template.spec.containers[0].imagePullPolicyy\\""',
        '299 - "unknown field \\"spec.bogus\\""',
    ]
    stored = json.loads(raw(api, "GET", f"{path}/bogus").data)["spec"]
    assert "bogus" not in stored
    assert "imagePullPolicyy" not in stored["template"]["spec"]["containers"][0]
    assert invalid.status == 422
    assert status(invalid)["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Lax": '
        'supported values: "", "Ignore", "Strict", "Warn"'
    )


def test_strict_patch_with_an_unknown_field_is_invalid(
    api: client.ApiClient, core: client.CoreV1Api
):
    """applyPatchToObject (handlers/patch.go): the patched object decoded strictly; an unknown
    field is 422 Invalid on `patch`, whose value is the patch as Go prints the map."""
    started(core, "strict")

    answer = raw(
        api,
        "PATCH",
        f"/api/v1/namespaces/{NS}/pods/strict",
        body={"spec": {"bogus": 1}},
        content_type="application/strategic-merge-patch+json",
        query={"fieldValidation": "Strict"},
    )

    assert answer.status == 422
    body = status(answer)
    assert body["message"] == (
        ' "" is invalid: patch: Invalid value: "map[spec:map[bogus:1]]": '
        'strict decoding error: unknown field "spec.bogus"'
    )
    assert body["details"]["causes"][0]["field"] == "patch"


# -- server-side apply -------------------------------------------------------------------------------


def apply_job(
    batch: client.BatchV1Api, body: dict[str, Any], manager: str, **kwargs: Any
) -> client.V1Job:
    return batch.patch_namespaced_job(
        body["metadata"]["name"], NS, body, field_manager=manager, _content_type=APPLY, **kwargs
    )


def test_server_side_apply_creates_then_merges_and_tracks_what_each_manager_applied(
    emulator: Emulator, batch: client.BatchV1Api
):
    """FieldManager.Apply (apimachinery pkg/util/managedfields): absent, the object is created
    (201); present, the configuration merges in; each manager's fields are kept in managedFields
    (operation Apply, FieldsV1), and a field its manager stops applying is removed unless another
    manager also applies it."""
    created = apply_job(batch, job("ssa", team="db", tier="data"), "migrations")
    apply_job(batch, job("ssa", owner="platform"), "platform")
    reapplied = apply_job(batch, job("ssa", team="db"), "migrations")

    assert [r.status for r in emulator.requests.find("PATCH", "/jobs/ssa$")] == [201, 200, 200]
    assert created.spec.selector is not None, "created with the API server's defaults"
    assert reapplied.metadata.labels == {"team": "db", "owner": "platform"}
    entries = {m.manager: m for m in reapplied.metadata.managed_fields}
    assert set(entries) == {"migrations", "platform"}
    assert entries["migrations"].operation == "Apply"
    assert entries["migrations"].fields_type == "FieldsV1"
    fields = entries["migrations"].fields_v1
    assert fields["f:metadata"] == {"f:labels": {"f:team": {}}}
    assert fields["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        'k:{"name":"migrate"}': {".": {}, "f:image": {}, "f:name": {}}
    }


def test_server_side_apply_conflict_with_another_manager_is_409_unless_forced(
    batch: client.BatchV1Api,
):
    """NewConflictError (managedfields/internal/conflict.go): changing a field another applier
    owns is 409 Conflict naming manager and field path; force=true takes the field over."""
    apply_job(batch, job("contested", team="db"), "migrations")

    with pytest.raises(ApiException) as caught:
        apply_job(batch, job("contested", team="platform"), "platform")
    forced = apply_job(batch, job("contested", team="platform"), "platform", force=True)

    assert caught.value.status == 409
    body = failure(caught)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Apply failed with 1 conflict: conflict with "migrations": .metadata.labels.team'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "migrations"',
            "field": ".metadata.labels.team",
        }
    ]
    assert forced.metadata.labels == {"team": "platform"}
    owners = {m.manager: m.fields_v1 for m in forced.metadata.managed_fields}
    assert "f:metadata" not in owners["migrations"]


def test_server_side_apply_refusals_answer_as_the_api_server(
    api: client.ApiClient, batch: client.BatchV1Api
):
    """ValidatePatchOptions: 422 without fieldManager for apply, and for `force` on another patch
    type; structuredMergeManager.Apply: 400 for a wrong apiVersion; a field the schema does not
    declare fails the typed conversion with a plain error, a 500 (kubernetes/kubernetes#122480)."""
    path = f"/apis/batch/v1/namespaces/{NS}/jobs/refused"
    apply_job(batch, job("refused"), "migrations")
    undeclared = job("refused")
    undeclared["spec"]["bogus"] = 1

    no_manager = raw(api, "PATCH", path, body=job("refused"), content_type=APPLY)
    wrong_version = raw(
        api,
        "PATCH",
        path,
        body={**job("refused"), "apiVersion": "batch/v2"},
        content_type=APPLY,
        query={"fieldManager": "migrations"},
    )
    unknown = raw(
        api,
        "PATCH",
        path,
        body=undeclared,
        content_type=APPLY,
        query={"fieldManager": "migrations"},
    )
    forced_merge = raw(
        api,
        "PATCH",
        path,
        body={"metadata": {"labels": {"a": "b"}}},
        content_type="application/merge-patch+json",
        query={"force": "true"},
    )

    assert no_manager.status == 422
    assert status(no_manager)["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
        "is required for apply patch"
    )
    assert wrong_version.status == 400
    assert status(wrong_version)["message"] == (
        "Incorrect version specified in apply patch. Specified patch version: batch/v2, "
        "expected: batch/v1"
    )
    assert unknown.status == 500
    assert status(unknown)["message"] == (
        f"failed to create typed patch object ({NS}/refused; batch/v1, Kind=Job): "
        ".spec.bogus: field not declared in schema"
    )
    assert forced_merge.status == 422
    assert status(forced_merge)["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: '
        "may not be specified for non-apply patch"
    )


# -- kubectl -----------------------------------------------------------------------------------------


def cached_kubectl(kubeconfig: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl with its discovery and OpenAPI cache in `cache`."""
    return run_kubectl(kubeconfig, "--cache-dir", str(cache), *args, timeout=60)


@pytest.mark.kubectl
def test_kubectl_apply_validates_and_patches_with_the_openapi_document(
    emulator: Emulator, token: str, tmp_path: Path
):
    """kubectl apply (kubectl pkg/cmd/apply): it reads /openapi/v3, finds the fieldValidation
    parameter and sends fieldValidation=Strict, so the server refuses an unknown field; on
    re-apply it computes a strategic merge patch from the v3 components; --server-side sends an
    apply patch. Each step answers as on a real cluster."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(emulator.kubeconfig(token=token, namespace=NS)))
    cache = tmp_path / "cache"
    manifest = tmp_path / "job.yaml"
    first = job("from-apply", app="migrate")
    manifest.write_text(yaml.safe_dump(first))

    created = cached_kubectl(kubeconfig, cache, "apply", "-f", str(manifest))
    second = copy.deepcopy(first)
    second["metadata"]["labels"]["tier"] = "db"
    manifest.write_text(yaml.safe_dump(second))
    configured = cached_kubectl(kubeconfig, cache, "apply", "-f", str(manifest))
    labels = cached_kubectl(
        kubeconfig, cache, "get", "job", "from-apply", "-o", "jsonpath={.metadata.labels}"
    )
    bad = job("typo")
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(bad))
    refused = cached_kubectl(kubeconfig, cache, "apply", "-f", str(tmp_path / "typo.yaml"))
    (tmp_path / "ssa.yaml").write_text(yaml.safe_dump(job("server-side", app="migrate")))
    server_side = cached_kubectl(
        kubeconfig, cache, "apply", "--server-side", "-f", str(tmp_path / "ssa.yaml")
    )
    explained = cached_kubectl(kubeconfig, cache, "explain", "job.spec.backoffLimit")

    assert created.returncode == 0, created.stderr
    assert "job.batch/from-apply created" in created.stdout
    assert configured.returncode == 0, configured.stderr
    assert "job.batch/from-apply configured" in configured.stdout
    assert json.loads(labels.stdout) == {"app": "migrate", "tier": "db"}
    assert refused.returncode != 0
    assert (
        'Job in version "v1" cannot be handled as a Job: strict decoding error: unknown field '
        '"spec.template.spec.containers[0].imagePullPolicyy"'
    ) in refused.stderr
    assert server_side.returncode == 0, server_side.stderr
    assert "job.batch/server-side serverside-applied" in server_side.stdout
    assert explained.returncode == 0 and "Specifies the number of retries" in explained.stdout
    (patch,) = emulator.requests.find("PATCH", "/jobs/from-apply$")
    assert patch.headers["Content-Type"] == "application/strategic-merge-patch+json"
    assert patch.query["fieldValidation"] == "Strict"
    (applied,) = emulator.requests.find("PATCH", "/jobs/server-side$")
    assert applied.headers["Content-Type"] == APPLY
    assert applied.query["fieldManager"] == "kubectl"
    assert emulator.requests.find("GET", "^/openapi/v3/apis/batch/v1$")
