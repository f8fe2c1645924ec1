"""The emulator answers the official `kubernetes` Python client as kube-apiserver does (issue 16).

Each test drives the emulator through the reference client, not the product's own, and checks an
answer a real API server gives; the docstrings cite where kubernetes/kubernetes decides it. Every
one of them failed before the emulator was changed to match.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kube_emulator import Emulator, PodScript, ScriptedRunner
from tests.helpers import eventually, fail_on_handler_errors

NS = "migrations"


def pod(name: str, image: str = "busybox:1.36", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": image, "args": ["sleep", "60"]}], **spec},
    }


@pytest.fixture(autouse=True)
def sleeping_pods(runner: ScriptedRunner) -> None:
    """Pods here run `sleep`: once started, they stay Running (the emulator runs bare pods)."""
    runner.when(PodScript(duration=3600))


def running(core: client.CoreV1Api, name: str) -> Any:
    """The pod as it is once running: what a client edits is the current object."""
    eventually(lambda: core.read_namespaced_pod(name, NS).status.phase == "Running")
    return core.read_namespaced_pod(name, NS)


def failure(caught: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    """The Status body of a refused request."""
    body: dict[str, Any] = json.loads(caught.value.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    return body


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- 1. pod create: status and defaults -----------------------------------------------------------


def test_created_pod_is_pending_with_the_defaults_the_api_server_fills_in(core: client.CoreV1Api):
    """PrepareForCreate (pkg/registry/core/pod/strategy.go) sets Pending and the QoS class;
    SetDefaults_PodSpec/_Pod/_Container (pkg/apis/core/v1/defaults.go) and the ServiceAccount,
    Priority and DefaultTolerationSeconds admission plugins (plugin/pkg/admission) the rest."""
    created = core.create_namespaced_pod(NS, {**pod("bare"), "status": {"phase": "Running"}})

    assert created.status.phase == "Pending", "a client's status is dropped on create"
    assert created.status.qos_class == "BestEffort"
    spec = created.spec
    assert spec.restart_policy == "Always"
    assert spec.dns_policy == "ClusterFirst"
    assert spec.service_account_name == spec.service_account == "default"
    assert spec.termination_grace_period_seconds == 30
    assert spec.scheduler_name == "default-scheduler"
    assert spec.enable_service_links is True
    assert spec.priority == 0 and spec.preemption_policy == "PreemptLowerPriority"
    assert {(t.key, t.effect, t.toleration_seconds) for t in spec.tolerations} == {
        ("node.kubernetes.io/not-ready", "NoExecute", 300),
        ("node.kubernetes.io/unreachable", "NoExecute", 300),
    }
    container = spec.containers[0]
    assert container.image_pull_policy == "IfNotPresent"
    assert container.termination_message_path == "/dev/termination-log"
    assert container.termination_message_policy == "File"
    # Then the scheduler binds it to a node and the kubelet runs it: nothing else of the spec moves.
    read = running(core, "bare").spec.to_dict()
    assert read.pop("node_name")
    assert read == {k: v for k, v in created.spec.to_dict().items() if k != "node_name"}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("registry.local:5000/team/busybox", "Always"),
        ("busybox:1.36", "IfNotPresent"),
        ("registry.local:5000/busybox:1.36", "IfNotPresent"),
        ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy_follows_the_tag(core: client.CoreV1Api, image: str, policy: str):
    """SetDefaults_Container: Always for `latest` or no tag (ParseImageName, pkg/util/parsers)."""
    created = core.create_namespaced_pod(NS, pod("p", image=image))

    assert created.spec.containers[0].image_pull_policy == policy


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({"limits": {"cpu": "500m", "memory": "64Mi"}}, "Guaranteed"),
        (
            {
                "requests": {"cpu": "0.5", "memory": "64Mi"},
                "limits": {"cpu": "500m", "memory": "64Mi"},
            },
            "Guaranteed",
        ),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        ({"limits": {"memory": "64Mi"}}, "Burstable"),
    ],
)
def test_qos_class_is_computed_from_requests_and_limits(
    core: client.CoreV1Api, resources: dict[str, Any], qos: str
):
    """GetPodQOS (pkg/apis/core/helper/qos); requests default to limits (SetDefaults_Pod)."""
    body = pod("p")
    body["spec"]["containers"][0]["resources"] = resources

    created = core.create_namespaced_pod(NS, body)

    assert created.status.qos_class == qos
    if "requests" not in resources:
        assert created.spec.containers[0].resources.requests == resources["limits"]


# -- 2. no dropped connections ------------------------------------------------------------------


def test_log_of_a_scheduled_pod_not_started_is_400_waiting_to_start(
    core: client.CoreV1Api, runner: ScriptedRunner
):
    """The kubelet answers for a container not yet running (validateContainerLogStatus in
    pkg/kubelet/kubelet_pods.go): 400 `container "x" in pod "y" is waiting to start: <reason>`."""
    runner.reset()
    runner.when(
        PodScript(waiting_reason="ContainerCreating"),
        match=lambda p: p["metadata"]["name"] == "waiting",
    )
    core.create_namespaced_pod(NS, pod("waiting", nodeName="emulator-node"))

    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("waiting", NS)

    assert caught.value.status == 400
    assert failure(caught)["message"] == (
        'container "app" in pod "waiting" is waiting to start: ContainerCreating'
    )


def test_log_of_a_pod_without_a_node_is_answered_at_once(
    emulator: Emulator, core: client.CoreV1Api
):
    """LogLocation (pkg/registry/core/pod/strategy.go) has no node to ask for an unscheduled pod
    and streams nothing (204, StreamObject in k8s.io/apiserver responsewriters). Before, the
    handler failed on the pod's missing status and dropped the connection; the client retried."""
    core.create_namespaced_pod(NS, pod("idle"))

    log = core.read_namespaced_pod_log("idle", NS)

    assert not log
    assert len(emulator.requests.find("GET", "/pods/idle/log$")) == 1, "answered, not retried"


def test_a_handler_bug_is_answered_with_a_500_status_and_recorded(
    emulator: Emulator, core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
):
    """A panic in kube-apiserver still gets an answer; errors.NewInternalError's Status shape."""

    def broken(*_args: Any) -> Any:
        raise RuntimeError("secret-looking detail that must not be echoed")

    monkeypatch.setattr(emulator.api, "handle", broken)

    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map(NS)

    assert caught.value.status == 500
    body = failure(caught)
    assert body["reason"] == "InternalError"
    assert body["message"].startswith("Internal error occurred: RuntimeError")
    assert "secret-looking" not in caught.value.body
    (error,) = emulator.errors.all()
    assert error.request.path.endswith("/configmaps") and "RuntimeError" in error.traceback
    with pytest.raises(pytest.fail.Exception, match="request handler failed 1 time"):
        fail_on_handler_errors(emulator)
    emulator.errors.clear()


# -- 3. default ServiceAccount ------------------------------------------------------------------


def test_every_namespace_has_a_default_service_account(core: client.CoreV1Api):
    """The service account controller (pkg/controller/serviceaccount) creates `default` in each
    namespace, and creates it again when it is deleted."""
    core.create_namespace({"metadata": {"name": "fresh"}})

    assert core.read_namespaced_service_account("default", "fresh").metadata.name == "default"
    first = core.read_namespaced_service_account("default", NS)
    core.delete_namespaced_service_account("default", NS)
    again = core.read_namespaced_service_account("default", NS)
    assert again.metadata.uid != first.metadata.uid


# -- 5. pod spec updates ------------------------------------------------------------------------


def test_adding_a_container_to_a_pod_is_422(core: client.CoreV1Api):
    """ValidateContainerUpdates (pkg/apis/core/validation/validation.go) stops ValidatePodUpdate
    with `pod updates may not add or remove containers`."""
    core.create_namespaced_pod(NS, pod("p"))
    current = running(core, "p")
    current.spec.containers.append(client.V1Container(name="extra", image="busybox:1.36"))

    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_pod("p", NS, current)

    assert caught.value.status == 422
    body = failure(caught)
    assert body["reason"] == "Invalid"
    assert body["message"] == (
        'Pod "p" is invalid: spec.containers: Forbidden: pod updates may not add or remove '
        "containers"
    )


def test_changing_a_container_other_than_its_image_is_422(core: client.CoreV1Api):
    """ValidatePodUpdate: `spec: Forbidden: pod updates may not change fields other than ...`."""
    core.create_namespaced_pod(NS, pod("p"))
    current = running(core, "p")
    current.spec.containers[0].args = ["sleep", "120"]

    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_pod("p", NS, current)

    assert caught.value.status == 422
    message = failure(caught)["message"]
    assert message.startswith(
        'Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other than '
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`"
    )
    assert "spec.containers[0].args" in message


def test_a_pods_image_may_change_and_its_status_is_kept(core: client.CoreV1Api):
    """Images are updatable; PrepareForUpdate keeps the stored status over a client's."""
    core.create_namespaced_pod(NS, pod("p"))
    current = running(core, "p")
    current.spec.containers[0].image = "busybox:1.37"
    current.status.phase = "Succeeded"

    updated = core.replace_namespaced_pod("p", NS, current)

    assert updated.spec.containers[0].image == "busybox:1.37"
    assert updated.status.phase == "Running"


# -- 6. JSON patch ------------------------------------------------------------------------------


def test_json_patch_is_applied(core: client.CoreV1Api):
    """application/json-patch+json (RFC 6902) is a patch type the API server accepts
    (jsonPatcher in k8s.io/apiserver/pkg/endpoints/handlers/patch.go)."""
    core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}, "data": {"k": "v"}})
    core.create_namespaced_pod(NS, pod("p"))

    patched = core.patch_namespaced_config_map(
        "c",
        NS,
        [
            {"op": "replace", "path": "/data/k", "value": "w"},
            {"op": "add", "path": "/data/n", "value": "1"},
        ],
    )
    image = core.patch_namespaced_pod(
        "p", NS, [{"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:1.37"}]
    )

    assert patched.data == {"k": "w", "n": "1"}
    assert image.spec.containers[0].image == "busybox:1.37"


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "test", "path": "/data/k", "value": "not-v"},
        {"op": "remove", "path": "/data/absent"},
    ],
)
def test_json_patch_that_does_not_apply_is_422(core: client.CoreV1Api, operation: dict[str, Any]):
    """patchObj.Apply failing answers 422 (errors.NewGenericServerResponse), object unchanged."""
    core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}, "data": {"k": "v"}})

    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("c", NS, [operation])

    assert caught.value.status == 422
    assert failure(caught)["reason"] == "Invalid"
    assert core.read_namespaced_config_map("c", NS).data == {"k": "v"}


# -- 7. Secrets ---------------------------------------------------------------------------------


def test_secret_string_data_is_stored_as_base64_data_with_type_opaque(core: client.CoreV1Api):
    """Convert_v1_Secret_To_core_Secret (pkg/apis/core/v1/conversion.go): stringData overwrites
    data and is not kept; SetDefaults_Secret: type Opaque."""
    created = core.create_namespaced_secret(
        NS,
        {
            "metadata": {"name": "db"},
            "data": {"USER": b64("app"), "PASSWORD": b64("old")},
            "stringData": {"PASSWORD": "new"},
        },
    )

    for secret in (created, core.read_namespaced_secret("db", NS)):
        assert secret.string_data is None
        assert secret.data == {"USER": b64("app"), "PASSWORD": b64("new")}
        assert secret.type == "Opaque"
    patched = core.patch_namespaced_secret("db", NS, {"stringData": {"USER": "admin"}})
    assert patched.data["USER"] == b64("admin") and patched.string_data is None


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"data": {"K": b64("v2")}}, "data: Forbidden: field is immutable when `immutable` is set"),
        (
            {"stringData": {"K": "v2"}},
            "data: Forbidden: field is immutable when `immutable` is set",
        ),
        ({"immutable": False}, "immutable: Forbidden: field is immutable when `immutable` is set"),
        (
            {"type": "example.com/other"},
            'type: Invalid value: "example.com/other": field is immutable',
        ),
    ],
)
def test_an_immutable_secret_refuses_changes_to_its_data(
    core: client.CoreV1Api, patch: dict[str, Any], message: str
):
    """ValidateSecretUpdate (pkg/apis/core/validation/validation.go)."""
    core.create_namespaced_secret(
        NS, {"metadata": {"name": "frozen"}, "data": {"K": b64("v1")}, "immutable": True}
    )

    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_secret("frozen", NS, patch)

    assert caught.value.status == 422
    assert failure(caught)["message"] == f'Secret "frozen" is invalid: {message}'
    labelled = core.patch_namespaced_secret("frozen", NS, {"metadata": {"labels": {"a": "b"}}})
    assert labelled.metadata.labels == {"a": "b"}, "metadata stays changeable"


def test_an_immutable_config_map_refuses_changes_to_its_data(core: client.CoreV1Api):
    """ValidateConfigMapUpdate: the same rule for ConfigMaps."""
    core.create_namespaced_config_map(
        NS, {"metadata": {"name": "frozen"}, "data": {"k": "v"}, "immutable": True}
    )

    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("frozen", NS, {"data": {"k": "w"}})

    assert caught.value.status == 422
    assert "data: Forbidden: field is immutable when `immutable` is set" in caught.value.body


# -- 8. namespace deletion ----------------------------------------------------------------------


def test_deleting_a_namespace_terminates_it_then_its_contents_and_it_are_gone(
    core: client.CoreV1Api,
):
    """REST.Delete (pkg/registry/core/namespace/storage/storage.go) marks the namespace
    Terminating and returns it; the namespace controller empties it, then it is 404."""
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "c"}, "data": {"k": "v"}})

    deleted = core.delete_namespace("doomed")

    assert deleted["kind"] == "Namespace"
    assert deleted["status"]["phase"] == "Terminating"
    assert deleted["metadata"]["deletionTimestamp"]

    def gone() -> bool:
        try:
            core.read_namespace("doomed")
        except ApiException as error:
            return error.status == 404
        return False

    eventually(gone)
    assert core.list_namespaced_config_map("doomed").items == []


def test_a_terminating_namespace_refuses_new_content_and_a_second_delete(
    emulator: Emulator, core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
):
    """While it terminates: its objects are still served, creating one is 403 (NamespaceLifecycle
    admission) and deleting it again is 409 Conflict (REST.Delete)."""
    monkeypatch.setattr(emulator.namespaces, "_purge", lambda _name: None)  # hold it Terminating
    core.create_namespace({"metadata": {"name": "held"}})
    core.create_namespaced_config_map("held", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    core.delete_namespace("held")

    assert core.read_namespace("held").status.phase == "Terminating"
    assert core.read_namespaced_config_map("c", "held").data == {"k": "v"}
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map("held", {"metadata": {"name": "late"}})
    assert refused.value.status == 403
    assert failure(refused)["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace held because '
        "it is being terminated"
    )
    with pytest.raises(ApiException) as again:
        core.delete_namespace("held")
    assert again.value.status == 409 and failure(again)["reason"] == "Conflict"


# -- 9. delete responses ------------------------------------------------------------------------


def _create_and_delete(api: client.ApiClient, kind: str) -> tuple[dict[str, Any], str]:
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    meta = {"metadata": {"name": "gone"}}
    if kind == "configmaps":
        uid = core.create_namespaced_config_map(NS, {**meta, "data": {"k": "v"}}).metadata.uid
        result = core.delete_namespaced_config_map("gone", NS)
    elif kind == "secrets":
        uid = core.create_namespaced_secret(NS, meta).metadata.uid
        result = core.delete_namespaced_secret("gone", NS)
    elif kind == "jobs":
        job = {
            **meta,
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "m", "image": "busybox:1.36"}],
                    }
                }
            },
        }
        uid = batch.create_namespaced_job(NS, job).metadata.uid
        result = batch.delete_namespaced_job("gone", NS, propagation_policy="Background")
    elif kind == "pods":
        uid = core.create_namespaced_pod(NS, pod("gone")).metadata.uid
        result = core.delete_namespaced_pod("gone", NS)
    else:
        uid = core.create_namespaced_service_account(NS, meta).metadata.uid
        result = core.delete_namespaced_service_account("gone", NS)
    body = result if isinstance(result, dict) else api.sanitize_for_serialization(result)
    return body, uid


@pytest.mark.parametrize(
    ("kind", "group"), [("configmaps", ""), ("secrets", ""), ("jobs", "batch")]
)
def test_deleting_a_kind_that_does_not_return_the_object_answers_a_success_status(
    api: client.ApiClient, kind: str, group: str
):
    """finalizeDelete (k8s.io/apiserver/pkg/registry/generic/registry/store.go): without
    ReturnDeletedObject, a Status whose details name the resource (plural) and uid."""
    body, uid = _create_and_delete(api, kind)

    assert body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"] == {"name": "gone", "group": group, "kind": kind, "uid": uid}


@pytest.mark.parametrize(
    ("kind", "returned"), [("pods", "Pod"), ("serviceaccounts", "ServiceAccount")]
)
def test_deleting_a_pod_or_service_account_answers_the_object(
    api: client.ApiClient, kind: str, returned: str
):
    """ReturnDeletedObject: true in pkg/registry/core/{pod,serviceaccount}/storage/storage.go."""
    body, uid = _create_and_delete(api, kind)

    assert body["kind"] == returned
    assert body["metadata"]["uid"] == uid


# -- a kind the emulator does not serve -----------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda core: core.create_namespaced_service(NS, {"metadata": {"name": "web"}}),
        lambda core: core.list_node(),
        lambda core: core.read_namespaced_replication_controller("web", NS),
    ],
    ids=["service", "node", "replicationcontroller"],
)
def test_a_kind_not_served_is_404_with_the_status_of_an_unknown_resource(
    core: client.CoreV1Api, call: Any
):
    """An unknown resource in a served group version reaches go-restful's serviceErrorHandler
    (k8s.io/apiserver/pkg/server/handler.go): NewGenericServerResponse(404, ...) with empty,
    non-nil Details (k8s.io/apimachinery/pkg/api/errors/errors.go)."""
    with pytest.raises(ApiException) as caught:
        call(core)

    assert caught.value.status == 404
    assert json.loads(caught.value.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server could not find the requested resource",
        "reason": "NotFound",
        "details": {},
        "code": 404,
    }


# -- delete preconditions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"uid": "00000000-0000-4000-8000-000000000001"}, "UID in precondition: 00000000-"),
        ({"resourceVersion": "1"}, "ResourceVersion in precondition: 1, ResourceVersion in"),
    ],
    ids=["uid", "resourceVersion"],
)
def test_a_delete_whose_preconditions_fail_is_409_and_deletes_nothing(
    core: client.CoreV1Api, change: dict[str, str], failed: str
):
    """Preconditions.Check (k8s.io/apiserver pkg/storage/interfaces.go) fails with an
    InvalidObjError, which InterpretDeleteError answers as 409 Conflict."""
    made = core.create_namespaced_config_map(NS, {"metadata": {"name": "seen"}, "data": {"a": "1"}})
    seen = {"uid": made.metadata.uid, "resourceVersion": made.metadata.resource_version}

    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map(
            "seen", NS, body=client.V1DeleteOptions(preconditions={**seen, **change})
        )

    body = failure(caught)
    assert caught.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"].startswith(
        'Operation cannot be fulfilled on configmaps "seen": StorageError: invalid object, '
        f"Code: 4, Key: /registry/configmaps/{NS}/seen, ResourceVersion: 0, AdditionalErrorMsg: "
        "Precondition failed: "
    )
    assert failed in body["message"]
    assert core.read_namespaced_config_map("seen", NS).data == {"a": "1"}

    core.delete_namespaced_config_map("seen", NS, body=client.V1DeleteOptions(preconditions=seen))
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("seen", NS)
    assert gone.value.status == 404
