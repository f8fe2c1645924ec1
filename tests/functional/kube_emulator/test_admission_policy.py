"""k8s/admission-policy.yaml, enforced by the emulator as kube-apiserver enforces it.

The ValidatingAdmissionPolicy confines what the function's group (`migration-trigger`) may create:
a request it denies answers 422 Invalid, `jobs.batch "<name>" is forbidden: ValidatingAdmissionPolicy
'<policy>' with binding '<binding>' denied request: <message>`, the sentence after "forbidden: "
repeated as the Status' only cause (k8s.io/apiserver pkg/admission/plugin/policy/validating/
dispatcher.go, admission.NewForbidden in pkg/admission/errors.go, reasonToCode in
validating/policy_decision.go, apierrors.NewForbidden in k8s.io/apimachinery pkg/api/errors).
Requests go through the official `kubernetes` client with the function's EKS token.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kube_emulator import Emulator
from migration_trigger.adapters.eks_auth import eks_token
from migration_trigger.domain import jobspec
from migration_trigger.domain.profiles import Profile, parse_profiles
from tests.conftest import CLUSTER, assume_function_role
from tests.helpers import ROOT, manifests, sample_plan, sts_for_tokens

NS = "migrations"
POLICY = "migration-trigger-jobs"
PARAMS = "migration-trigger-job-policy"
DENIED = f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: "
TEMPLATE = yaml.safe_load((ROOT / "k8s" / "templates" / "migration-job.yaml").read_text())
EXAMPLES = (ROOT / "k8s" / "profiles" / "examples.json").read_text()
KUBECTL = shutil.which("kubectl")
ALLOWED = "ghcr.io/example/, docker.io/flyway/, docker.io/arigaio/, ghcr.io/amacneil/"


@pytest.fixture
def policy_loaded(emulator: Emulator) -> Emulator:
    """The namespace, the function's RBAC and the admission policy, as `kubectl apply -f k8s/`."""
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml", "admission-policy.yaml"))
    return emulator


def api_client(emulator: Emulator, token: str) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config_dict(emulator.kubeconfig(token=token, namespace=NS))
    yield api
    api.close()


@pytest.fixture
def as_function(policy_loaded: Emulator) -> Iterator[client.BatchV1Api]:
    """BatchV1Api authenticated as the function: an EKS token of its role (group
    `migration-trigger`)."""
    token = eks_token(sts_for_tokens("eu-west-1", assume_function_role()), CLUSTER)
    for api in api_client(policy_loaded, token):
        yield client.BatchV1Api(api)


@pytest.fixture
def as_admin(policy_loaded: Emulator, token: str) -> Iterator[client.BatchV1Api]:
    """BatchV1Api of a cluster admin: not in the group, so not subject to the policy."""
    for api in api_client(policy_loaded, token):
        yield client.BatchV1Api(api)


def plan_for(profile: Profile) -> jobspec.JobPlan:
    built: jobspec.JobPlan = sample_plan(profile, suffix=profile.name)
    return built


def product_job(**profile: Any) -> dict[str, Any]:
    """The Job the function renders for a profile (the tests' orders profile by default)."""
    document = {
        "profiles": {
            "orders": {
                "cluster": {"eksClusterName": CLUSTER},
                "namespace": NS,
                "image": "ghcr.io/example/orders-migrations:1.0.0",
                "command": ["dbmate", "up"],
                **profile,
            }
        }
    }
    parsed = parse_profiles(json.dumps(document))["orders"]
    return jobspec.render_job(TEMPLATE, plan_for(parsed))


def edit(emulator: Emulator, resource: str, namespace: str, name: str, change: Any) -> None:
    """Change a stored object as an administrator would (`kubectl edit`)."""
    rtype = emulator.store_types[resource]
    emulator.store.mutate(rtype, namespace, name, change)


def refusal(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def assert_denied(error: ApiException, name: str, message: str) -> None:
    status = refusal(error)
    cause = DENIED + message
    assert error.status == 422
    assert status["reason"] == "Invalid"
    assert status["message"] == f'jobs.batch "{name}" is forbidden: {cause}'
    assert status["details"] == {
        "name": name,
        "group": "batch",
        "kind": "jobs",
        "causes": [{"message": cause}],
    }


def pod(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def container(job: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = pod(job)["containers"][0]
    return first


def test_a_job_with_a_foreign_image_created_as_the_function_is_refused_with_the_policys_message(
    as_function: client.BatchV1Api, policy_loaded: Emulator
):
    job = product_job(image="registry.evil.example/miner:latest")

    with pytest.raises(ApiException) as refused:
        as_function.create_namespaced_job(NS, job)

    name = job["metadata"]["name"]
    assert_denied(
        refused.value,
        name,
        f"images must come from an allowed registry ({ALLOWED}; ConfigMap {PARAMS}): "
        "migrate (registry.evil.example/miner:latest)",
    )
    jobs, _ = policy_loaded.store.select(policy_loaded.store_types["jobs"], NS)
    assert jobs == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda job: container(job)["securityContext"].update(privileged=True),
            "privileged containers are not allowed: migrate",
            id="privileged",
        ),
        pytest.param(
            lambda job: (
                pod(job)["securityContext"].pop("runAsNonRoot"),
                container(job)["securityContext"].pop("runAsNonRoot"),
            ),
            "containers must set runAsNonRoot: true (pod or container) and never runAsUser: 0: "
            "migrate",
            id="root-by-default",
        ),
        pytest.param(
            lambda job: container(job)["securityContext"].update(runAsUser=0),
            "containers must set runAsNonRoot: true (pod or container) and never runAsUser: 0: "
            "migrate",
            id="runAsUser-0",
        ),
        pytest.param(
            lambda job: container(job)["securityContext"].pop("capabilities"),
            "containers must drop ALL capabilities and add none but NET_BIND_SERVICE: migrate",
            id="no-drop-ALL",
        ),
        pytest.param(
            lambda job: container(job)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
            "containers must drop ALL capabilities and add none but NET_BIND_SERVICE: migrate",
            id="adds-SYS_ADMIN",
        ),
        pytest.param(
            lambda job: container(job)["securityContext"].update(allowPrivilegeEscalation=True),
            "containers must set allowPrivilegeEscalation: false: migrate",
            id="privilege-escalation",
        ),
        pytest.param(
            lambda job: pod(job)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
            "containers must use seccompProfile RuntimeDefault or Localhost (pod or container): "
            "migrate",
            id="seccomp-unconfined",
        ),
        pytest.param(
            lambda job: pod(job).update(hostNetwork=True),
            "hostNetwork, hostPID and hostIPC are not allowed",
            id="hostNetwork",
        ),
        pytest.param(
            lambda job: pod(job)["volumes"].append({"name": "root", "hostPath": {"path": "/"}}),
            "volumes must be of a type Pod Security restricted allows (configMap, csi, "
            "downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret; never "
            "hostPath): root",
            id="hostPath",
        ),
        pytest.param(
            lambda job: pod(job).update(serviceAccountName="cluster-admin-sa"),
            f"service account cluster-admin-sa is not allowed (default, migration-runner; "
            f"ConfigMap {PARAMS})",
            id="unlisted-service-account",
        ),
        pytest.param(
            lambda job: pod(job).update(
                initContainers=[
                    {**copy.deepcopy(container(job)), "name": "fetch", "image": "evil.io/x:1"}
                ]
            ),
            f"images must come from an allowed registry ({ALLOWED}; ConfigMap {PARAMS}): "
            "fetch (evil.io/x:1)",
            id="init-container-image",
        ),
    ],
)
def test_a_job_outside_the_restricted_fields_or_the_lists_is_refused_with_its_message(
    as_function: client.BatchV1Api, change: Any, message: str
):
    job = product_job()
    change(job)

    with pytest.raises(ApiException) as refused:
        as_function.create_namespaced_job(NS, job)

    assert_denied(refused.value, job["metadata"]["name"], message)


@pytest.mark.parametrize("name", ["prisma", "flyway", "alembic", "atlas", "dbmate"])
def test_the_job_rendered_for_each_example_profile_is_admitted(
    as_function: client.BatchV1Api, name: str
):
    """The example value of the ConfigMap admits the example profiles' images and accounts."""
    profile = parse_profiles(EXAMPLES)[name]
    job = jobspec.render_job(TEMPLATE, plan_for(profile))

    created = as_function.create_namespaced_job(NS, job)

    assert created.metadata.name == job["metadata"]["name"]


def test_a_conforming_job_is_admitted_and_may_be_unsuspended(as_function: client.BatchV1Api):
    """UPDATE is checked too: the function's patch un-suspending its Job keeps it conforming."""
    job = product_job(serviceAccount="migration-runner", credentials="secret-arn")
    name = job["metadata"]["name"]

    as_function.create_namespaced_job(NS, job)
    patched = as_function.patch_namespaced_job(name, NS, {"spec": {"suspend": False}})

    assert patched.spec.suspend is False


def test_a_user_outside_the_group_is_not_subject_to_the_policy(as_admin: client.BatchV1Api):
    job = product_job(image="registry.evil.example/miner:latest")
    pod(job)["hostNetwork"] = True

    created = as_admin.create_namespaced_job(NS, job)

    assert created.spec.template.spec.host_network is True


def test_the_product_own_job_passes_a_dry_run_and_a_refused_dry_run_writes_nothing(
    as_function: client.BatchV1Api, policy_loaded: Emulator
):
    """Admission runs on dry runs too (the request's dryRun is only the plugin's to read)."""
    good, bad = product_job(), product_job(image="evil.io/x:1")
    bad["metadata"]["name"] += "-bad"

    as_function.create_namespaced_job(NS, good, dry_run="All")
    with pytest.raises(ApiException) as refused:
        as_function.create_namespaced_job(NS, bad, dry_run="All")

    assert refused.value.status == 422
    jobs, _ = policy_loaded.store.select(policy_loaded.store_types["jobs"], NS)
    assert jobs == []


def test_a_missing_params_configmap_refuses_every_job_of_the_group(
    as_function: client.BatchV1Api, policy_loaded: Emulator
):
    """parameterNotFoundAction Deny with failurePolicy Fail: CollectParams' error
    (policy/generic/policy_dispatcher.go) becomes a configuration error that denies
    (validating/dispatcher.go addConfigError): the policy fails closed."""
    policy_loaded.store.delete(policy_loaded.store_types["configmaps"], NS, PARAMS)
    job = product_job()

    with pytest.raises(ApiException) as refused:
        as_function.create_namespaced_job(NS, job)

    assert_denied(
        refused.value,
        job["metadata"]["name"],
        "failed to configure binding: no params found for policy binding with `Deny` "
        "parameterNotFoundAction",
    )


def test_a_missing_configmap_with_allow_or_failure_policy_ignore_admits(
    as_function: client.BatchV1Api, policy_loaded: Emulator
):
    """parameterNotFoundAction Allow: no params is no evaluation (CollectParams returns none);
    Deny under failurePolicy Ignore: the configuration error is dropped."""
    policy_loaded.store.delete(policy_loaded.store_types["configmaps"], NS, PARAMS)

    def action(value: str) -> Any:
        return lambda binding: binding["spec"]["paramRef"].update(parameterNotFoundAction=value)

    edit(policy_loaded, "validatingadmissionpolicybindings", "", POLICY, action("Allow"))
    first = product_job(image="evil.io/x:1")

    as_function.create_namespaced_job(NS, first)

    edit(policy_loaded, "validatingadmissionpolicybindings", "", POLICY, action("Deny"))
    edit(
        policy_loaded,
        "validatingadmissionpolicies",
        "",
        POLICY,
        lambda policy: policy["spec"].update(failurePolicy="Ignore"),
    )
    second = product_job(image="evil.io/x:2")
    second["metadata"]["name"] += "-2"

    as_function.create_namespaced_job(NS, second)


def test_the_platform_team_edits_the_configmap_not_the_policy(
    as_function: client.BatchV1Api, policy_loaded: Emulator
):
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    edit(
        policy_loaded,
        "configmaps",
        NS,
        PARAMS,
        lambda cm: cm["data"].update(allowedImagePrefixes=registry),
    )
    ecr = product_job(image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders:1")
    lookalike = product_job(image="123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.io/x:1")
    lookalike["metadata"]["name"] += "-x"

    as_function.create_namespaced_job(NS, ecr)
    with pytest.raises(ApiException) as refused:
        as_function.create_namespaced_job(NS, lookalike)

    assert "images must come from an allowed registry" in refusal(refused.value)["message"]


def test_a_binding_namespace_selector_limits_where_the_policy_applies(
    as_function: client.BatchV1Api, policy_loaded: Emulator
):
    """matchResources.namespaceSelector (policy/matching/matching.go, namespace/matcher.go)."""
    selector = {"matchLabels": {"kubernetes.io/metadata.name": "elsewhere"}}
    edit(
        policy_loaded,
        "validatingadmissionpolicybindings",
        "",
        POLICY,
        lambda binding: binding["spec"].update(matchResources={"namespaceSelector": selector}),
    )

    as_function.create_namespaced_job(NS, product_job(image="evil.io/x:1"))


def test_an_expression_that_fails_to_evaluate_denies_under_failure_policy_fail(
    as_function: client.BatchV1Api, policy_loaded: Emulator
):
    """An evaluation error is the decision's message (validator.go; cel/activation.go)."""
    edit(
        policy_loaded,
        "validatingadmissionpolicies",
        "",
        POLICY,
        lambda policy: policy["spec"]["validations"].insert(
            0, {"expression": "object.spec.nothere == 1"}
        ),
    )
    job = product_job()

    with pytest.raises(ApiException) as refused:
        as_function.create_namespaced_job(NS, job)

    assert_denied(
        refused.value,
        job["metadata"]["name"],
        "expression 'object.spec.nothere == 1' resulted in error: no such key: nothere",
    )


def test_policies_are_served_cluster_scoped(policy_loaded: Emulator, token: str):
    for api in api_client(policy_loaded, token):
        registration = client.AdmissionregistrationV1Api(api)

        policies = registration.list_validating_admission_policy()
        binding = registration.read_validating_admission_policy_binding(POLICY)

    assert [p.metadata.name for p in policies.items] == [POLICY]
    assert binding.spec.param_ref.name == PARAMS
    assert binding.spec.validation_actions == ["Deny"]


def test_kubectl_applies_the_manifest_and_shows_the_denial_to_the_function(
    emulator: Emulator, kubeconfig: Path, tmp_path: Path
):
    """`kubectl apply -f k8s/admission-policy.yaml` (discovery, OpenAPI, the three kinds); then
    kubectl, as the function, prints the API server's message for a foreign image."""
    assert KUBECTL, "kubectl is installed by scripts/setup.sh"
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))

    def kubectl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    applied = kubectl(kubeconfig, "apply", "-f", str(ROOT / "k8s" / "admission-policy.yaml"))
    token = eks_token(sts_for_tokens("eu-west-1", assume_function_role()), CLUSTER)
    function = tmp_path / "function-kubeconfig"
    function.write_text(json.dumps(emulator.kubeconfig(token=token, namespace=NS)))
    job = product_job(image="registry.evil.example/miner:latest")
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps(job))
    refused = kubectl(function, "create", "-f", str(manifest))

    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [
        f"configmap/{PARAMS} created",
        f"validatingadmissionpolicy.admissionregistration.k8s.io/{POLICY} created",
        f"validatingadmissionpolicybinding.admissionregistration.k8s.io/{POLICY} created",
    ]
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f'The jobs "{job["metadata"]["name"]}" is invalid: : {DENIED}images must come from'
    ), refused.stderr
