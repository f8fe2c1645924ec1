"""Server-side printing of Jobs and RBAC's answers, as kube-apiserver 1.31 gives them.

The Job Table is printers.go's (pkg/printers/internalversion, 1.31: jobColumnDefinitions,
printJob), read through the official client and kubectl; the RBAC reasons are those of
plugin/pkg/auth/authorizer/rbac/rbac.go and pkg/registry/rbac/validation/rule.go, read from a
SelfSubjectAccessReview, `kubectl auth can-i` and a 403.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kube_emulator import Emulator, PodScript, ScriptedRunner, StaticToken
from tests.helpers import eventually, run_kubectl

NS = "migrations"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def job(name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "metadata": {"labels": labels or {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "migrator:1"}],
                },
            },
        },
    }


def get_raw(api: client.ApiClient, path: str, *, accept: str, **query: str) -> bytes:
    """A GET through the client's REST layer with the Accept header kubectl sends for tables."""
    method, url, headers, body, post = api.param_serialize(
        "GET",
        path,
        query_params=list(query.items()),
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method, url, headers, body, post)
    data: bytes = response.read()
    assert response.status == 200, data
    return data


@pytest.fixture
def batch(api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api)


# -- the Job table --------------------------------------------------------------------------------


def test_job_columns_carry_format_and_the_fields_swagger_docs(
    api: client.ApiClient, batch: client.BatchV1Api
):
    """Every TableColumnDefinition has `format` (not omitempty), and a column printing a field
    is described by that field's SwaggerDoc, as printers.go writes them."""
    batch.create_namespaced_job(NS, job("columns", suspend=True))

    printed = json.loads(get_raw(api, f"{JOBS}/columns", accept=TABLE))

    assert printed["columnDefinitions"] == [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": "Name must be unique within a namespace. Is required when creating "
            "resources, although some resources may allow a client to request the generation "
            "of an appropriate name automatically. Name is primarily intended for creation "
            "idempotence and configuration definition. Cannot be updated. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
            "priority": 0,
        },
        {
            "name": "Status",
            "type": "string",
            "format": "",
            "description": "Status of the job.",
            "priority": 0,
        },
        {
            "name": "Completions",
            "type": "string",
            "format": "",
            "description": "The number of pods which reached phase Succeeded. The value increases "
            "monotonically for a given spec. However, it may decrease in reaction to scale down "
            "of elastic indexed jobs.",
            "priority": 0,
        },
        {
            "name": "Duration",
            "type": "string",
            "format": "",
            "description": "Time required to complete the job.",
            "priority": 0,
        },
        {
            "name": "Age",
            "type": "string",
            "format": "",
            "description": "CreationTimestamp is a timestamp representing the server time when "
            "this object was created. It is not guaranteed to be set in happens-before order "
            "across separate operations. Clients may not set this value. It is represented in "
            "RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
            "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
            "api-conventions.md#metadata",
            "priority": 0,
        },
        {
            "name": "Containers",
            "type": "string",
            "format": "",
            "description": "Names of each container in the template.",
            "priority": 1,
        },
        {
            "name": "Images",
            "type": "string",
            "format": "",
            "description": "Images referenced by each container in the template.",
            "priority": 1,
        },
        {
            "name": "Selector",
            "type": "string",
            "format": "",
            "description": "A label query over pods that should match the pod count. Normally, "
            "the system sets this field for you. More info: https://kubernetes.io/docs/concepts/"
            "overview/working-with-objects/labels/#label-selectors",
            "priority": 1,
        },
    ]


def test_a_job_that_met_its_success_criteria_prints_running_until_it_is_complete(
    runner: ScriptedRunner, api: client.ApiClient, batch: client.BatchV1Api
):
    """printJob in 1.31 has no SuccessCriteriaMet branch (kubernetes/kubernetes#132832 added
    it in 1.34): the interim condition alone prints Running."""
    runner.when(PodScript(duration=0.2), job_name="two-step")
    since = batch.list_namespaced_job(NS).metadata.resource_version
    batch.create_namespaced_job(NS, job("two-step"))
    eventually(lambda: (batch.read_namespaced_job("two-step", NS).status.conditions or [])[1:])

    # The watch in Table form, replayed from before the create: each event a one-row Table.
    stream = get_raw(
        api,
        JOBS,
        accept=TABLE,
        watch="true",
        resourceVersion=since,
        timeoutSeconds="1",
        includeObject="Object",
    )
    printed = []
    for line in stream.splitlines():
        (row,) = json.loads(line)["object"]["rows"]
        conditions = row["object"].get("status", {}).get("conditions") or []
        printed.append((row["cells"][1], [c["type"] for c in conditions if c["status"] == "True"]))

    assert ("Running", ["SuccessCriteriaMet"]) in printed
    assert printed[-1] == ("Complete", ["SuccessCriteriaMet", "Complete"])
    assert {status for status, _ in printed} == {"Running", "Complete"}


@pytest.mark.kubectl
def test_wide_output_prints_the_selector_as_format_label_selector(
    kubeconfig: Path, batch: client.BatchV1Api
):
    """metav1.FormatLabelSelector: matchLabels and every matchExpressions operator, sorted by
    key, values sorted (apimachinery pkg/labels/selector.go, Requirement.String)."""
    selector = {
        "matchLabels": {"tier": "db", "app": "migrate"},
        "matchExpressions": [
            {"key": "track", "operator": "In", "values": ["stable", "canary"]},
            {"key": "env", "operator": "NotIn", "values": ["prod", "dev"]},
            {"key": "owner", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    labels = {"app": "migrate", "tier": "db", "track": "stable", "env": "staging", "owner": "x"}
    batch.create_namespaced_job(
        NS, job("picky", labels=labels, suspend=True, manualSelector=True, selector=selector)
    )

    done = run_kubectl(kubeconfig, "get", "job", "picky", "-o", "wide")

    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split()[-1] == "SELECTOR"
    assert row.rstrip().endswith(
        "app=migrate,env notin (dev,prod),!legacy,owner,tier=db,track in (canary,stable)"
    )


@pytest.mark.kubectl
def test_age_under_two_seconds_in_the_future_is_0s_not_invalid(
    emulator: Emulator, kubeconfig: Path, batch: client.BatchV1Api
):
    """HumanDuration truncates to whole seconds before it compares (`int(d.Seconds()) < -1`):
    -1.9s is "0s", as upstream's TestPrintJob has it for a Job created 1.9s ahead."""
    created = batch.create_namespaced_job(NS, job("early", suspend=True))
    stamped = created.metadata.creation_timestamp.timestamp()
    emulator.advance_clock(stamped - 1.9 - emulator.clock())

    done = run_kubectl(kubeconfig, "get", "job", "early")

    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split()[-1] == "AGE"
    assert row.split()[-1] == "0s"


# -- RBAC's reasons -------------------------------------------------------------------------------


def user_token(emulator: Emulator, username: str, *groups: str) -> str:
    """A static bearer token of an authenticated user with these groups."""
    token = secrets.token_urlsafe(16)
    emulator.authenticator.static_tokens = [
        *emulator.authenticator.static_tokens,
        StaticToken(token, username, (*groups, "system:authenticated")),
    ]
    return token


def kubeconfig_of(emulator: Emulator, token: str, path: Path) -> Path:
    """A kubeconfig file of this token, for kubectl."""
    path.write_text(json.dumps(emulator.kubeconfig(token=token, namespace=NS)))
    return path


@pytest.fixture
def as_user(emulator: Emulator) -> Iterator[Any]:
    """Official-client ApiClients built from kubeconfigs of users' tokens."""
    opened: list[client.ApiClient] = []

    def make(token: str) -> client.ApiClient:
        api_client = config.new_client_from_config_dict(
            emulator.kubeconfig(token=token, namespace=NS)
        )
        opened.append(api_client)
        return api_client

    yield make
    for api_client in opened:
        api_client.close()


def can_i(api_client: client.ApiClient, verb: str, resource: str, group: str) -> Any:
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                namespace=NS, verb=verb, group=group, resource=resource
            )
        )
    )
    return client.AuthorizationV1Api(api_client).create_self_subject_access_review(review).status


def binding(name: str, role: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }


def test_a_service_account_is_described_as_name_slash_namespace(emulator: Emulator, as_user: Any):
    """describeSubject (rule.go): `ServiceAccount "name/namespace"`."""
    emulator.apply(
        binding("deployers", "cluster-admin", {"kind": "ServiceAccount", "name": "deployer"})
    )
    deployer = as_user(
        user_token(
            emulator,
            f"system:serviceaccount:{NS}:deployer",
            "system:serviceaccounts",
            f"system:serviceaccounts:{NS}",
        )
    )

    status = can_i(deployer, "create", "jobs", "batch")

    assert status.allowed
    assert status.reason == (
        f'RBAC: allowed by RoleBinding "deployers/{NS}" of ClusterRole "cluster-admin" '
        f'to ServiceAccount "deployer/{NS}"'
    )


@pytest.fixture
def orphan(emulator: Emulator, as_user: Any, tmp_path: Path) -> tuple[client.ApiClient, Path]:
    """A user whose only binding is to a ClusterRole that does not exist: its client and a
    kubeconfig of the same token."""
    emulator.apply(binding("ghostly", "ghost", {"kind": "User", "name": "orphan"}))
    token = user_token(emulator, "orphan")
    return as_user(token), kubeconfig_of(emulator, token, tmp_path / "orphan")


MISSING = 'RBAC: clusterrole.rbac.authorization.k8s.io "ghost" not found'


def test_a_binding_to_a_missing_role_is_the_denials_reason(
    orphan: tuple[client.ApiClient, Path],
):
    """VisitRulesFor reports the role it cannot find; RBAC's NoOpinion carries them as
    `RBAC: <aggregate>` (rbac.go Authorize)."""
    api_client, _ = orphan

    status = can_i(api_client, "create", "jobs", "batch")

    assert (status.allowed, status.reason) == (False, MISSING)


@pytest.mark.kubectl
def test_kubectl_auth_can_i_prints_the_missing_role(orphan: tuple[client.ApiClient, Path]):
    """`no - <reason>` (kubectl pkg/cmd/auth/cani.go)."""
    _, kubeconfig = orphan

    done = run_kubectl(kubeconfig, "auth", "can-i", "create", "jobs")

    assert (done.stdout, done.returncode) == (f"no - {MISSING}\n", 1), done.stderr


def test_a_403_ends_with_the_authorizers_reason(orphan: tuple[client.ApiClient, Path]):
    """responsewriters.Forbidden: `<message>: <reason>` when the authorizers give one."""
    api_client, _ = orphan

    with pytest.raises(ApiException) as caught:
        client.BatchV1Api(api_client).create_namespaced_job(NS, job("denied"))

    assert caught.value.status == 403
    assert json.loads(caught.value.body)["message"] == (
        'jobs.batch is forbidden: User "orphan" cannot create resource "jobs" in API group '
        f'"batch" in the namespace "{NS}": {MISSING}'
    )


# -- SelfSubjectAccessReview's spec ---------------------------------------------------------------


def test_resource_and_non_resource_attributes_together_are_invalid(api: client.ApiClient):
    """ValidateSelfSubjectAccessReviewSpec: the cause is at spec.nonResourceAttributes, its
    value printed as Go's %#v prints the internal struct."""
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(verb="get", resource="pods"),
            non_resource_attributes=client.V1NonResourceAttributes(path="/healthz", verb="get"),
        )
    )

    with pytest.raises(ApiException) as caught:
        client.AuthorizationV1Api(api).create_self_subject_access_review(review)

    assert caught.value.status == 422
    body = json.loads(caught.value.body)
    invalid_value = 'authorization.NonResourceAttributes{Path:"/healthz", Verb:"get"}'
    assert body["message"] == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.nonResourceAttributes: '
        f"Invalid value: {invalid_value}: cannot be specified in combination with "
        "resourceAttributes"
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {invalid_value}: cannot be specified in combination "
            "with resourceAttributes",
            "field": "spec.nonResourceAttributes",
        }
    ]


def test_empty_resource_attributes_are_present_not_missing(api: client.ApiClient):
    """`"resourceAttributes": {}` decodes to a non-nil pointer: a review of the empty request,
    answered (system:masters may do anything), not refused as missing."""
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes())
    )

    answer = client.AuthorizationV1Api(api).create_self_subject_access_review(review)

    assert answer.spec.resource_attributes is not None
    assert answer.status.allowed


@pytest.fixture
def prober_kubeconfigs(emulator: Emulator, tmp_path: Path) -> dict[str, Path]:
    """Two users: `prober`, granted get on /healthz and /logs/* by nonResourceURLs, and
    `everything`, granted every verb on every resource but no non-resource URL."""
    roles = {
        "prober": [{"nonResourceURLs": ["/healthz", "/logs/*"], "verbs": ["get"]}],
        "everything": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }
    paths = {}
    for user, rules in roles.items():
        emulator.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": user},
                "rules": rules,
            }
        )
        emulator.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": user},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": user,
                },
                "subjects": [{"kind": "User", "name": user}],
            }
        )
        paths[user] = kubeconfig_of(emulator, user_token(emulator, user), tmp_path / user)
    return paths


@pytest.mark.kubectl
@pytest.mark.parametrize(
    ("user", "verb", "url", "answer"),
    [
        ("prober", "get", "/healthz", "yes"),
        ("prober", "get", "/logs/kube-apiserver.log", "yes"),
        ("prober", "post", "/healthz", "no"),
        ("prober", "get", "/metrics", "no"),
        # Resource rules grant no URL, however wide.
        ("everything", "get", "/healthz", "no"),
    ],
)
def test_can_i_on_a_url_is_matched_against_non_resource_urls(
    prober_kubeconfigs: dict[str, Path], user: str, verb: str, url: str, answer: str
):
    """RuleAllows for a non-resource request: the verb and NonResourceURLMatches (exact, "*",
    or a prefix ending in "*"; pkg/apis/rbac/v1/evaluation_helpers.go)."""
    done = run_kubectl(prober_kubeconfigs[user], "auth", "can-i", verb, url)

    assert (done.stdout, done.returncode) == (f"{answer}\n", 0 if answer == "yes" else 1), (
        done.stderr
    )


def test_cluster_admin_may_get_any_url(kubeconfig: Path):
    """The bootstrap cluster-admin ClusterRole grants `nonResourceURLs: ["*"]` with every verb
    (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go); the tests' admins are bound to
    it through a group, not system:masters."""
    done = run_kubectl(kubeconfig, "auth", "can-i", "get", "/healthz")

    assert done.stdout.strip() == "yes", done.stderr
