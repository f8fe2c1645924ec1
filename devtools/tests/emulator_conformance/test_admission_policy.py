"""k8s/validating-admission-policy.yaml, enforced by the emulator as kube-apiserver enforces it.

Its two ValidatingAdmissionPolicies confine the Jobs and Secrets the function's group
(`migration-trigger`) may create: a request one denies answers 422 Invalid,
`jobs.batch "<name>" is forbidden: ValidatingAdmissionPolicy
'<policy>' with binding '<binding>' denied request: <message>`, the sentence after "forbidden: "
repeated as the Status' only cause (k8s.io/apiserver pkg/admission/plugin/policy/validating/
dispatcher.go, admission.NewForbidden in pkg/admission/errors.go, reasonToCode in
validating/policy_decision.go, apierrors.NewForbidden in k8s.io/apimachinery pkg/api/errors).
Requests go through the official `kubernetes` client with the function's EKS token.
"""

from __future__ import annotations

import copy
import json
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
from tests.fixtures import CLUSTER, assume_function_role
from tests.helpers import ROOT, manifests, run_kubectl, sample_plan, sts_for_tokens

NS = "migrations"
POLICY = "migration-trigger-jobs"
SECRETS_POLICY = "migration-trigger-secrets"
PARAMS = "migration-trigger-job-policy"
DENIED = f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: "
TEMPLATE = yaml.safe_load((ROOT / "k8s" / "templates" / "migration-job.yaml").read_text())
EXAMPLES = (ROOT / "k8s" / "profiles" / "examples.json").read_text()
ALLOWED = "ghcr.io/example/, docker.io/flyway/, docker.io/arigaio/, ghcr.io/amacneil/"
SELINUX = (
    "seLinuxOptions must set no user or role and a type from container_t, container_init_t, "
    "container_kvm_t, container_engine_t (pod or container): "
)
APPARMOR = (
    "AppArmor profiles must be RuntimeDefault or Localhost (pod, container or "
    "container.apparmor.security.beta.kubernetes.io annotation): "
)


@pytest.fixture
def policy_loaded(emulator: Emulator) -> Emulator:
    """The namespace, the function's RBAC and the admission policy, as `kubectl apply -f k8s/`."""
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml", "validating-admission-policy.yaml"))
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


@pytest.fixture
def function_core(policy_loaded: Emulator) -> Iterator[client.CoreV1Api]:
    """CoreV1Api authenticated as the function (group `migration-trigger`)."""
    token = eks_token(sts_for_tokens("eu-west-1", assume_function_role()), CLUSTER)
    for api in api_client(policy_loaded, token):
        yield client.CoreV1Api(api)


@pytest.fixture
def admin_core(policy_loaded: Emulator, token: str) -> Iterator[client.CoreV1Api]:
    """CoreV1Api of a cluster admin: not in the group, so not subject to the policies."""
    for api in api_client(policy_loaded, token):
        yield client.CoreV1Api(api)


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


def assert_denied(
    error: ApiException,
    name: str,
    message: str,
    *,
    policy: str = POLICY,
    group: str = "batch",
    kind: str = "jobs",
) -> None:
    status = refusal(error)
    cause = (
        f"ValidatingAdmissionPolicy '{policy}' with binding '{policy}' denied request: {message}"
    )
    qualified = f"{kind}.{group}" if group else kind
    assert error.status == 422
    assert status["reason"] == "Invalid"
    assert status["message"] == f'{qualified} "{name}" is forbidden: {cause}'
    assert status["details"] == {
        "name": name,
        "group": group,
        "kind": kind,
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
            # With allowPrivilegeEscalation left false, kube-apiserver's own validation refuses
            # it before admission ("cannot set `allowPrivilegeEscalation` to false and
            # `privileged` to true", found running these cases against the real apiserver).
            lambda job: container(job)["securityContext"].update(
                privileged=True, allowPrivilegeEscalation=True
            ),
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
            lambda job: pod(job)["securityContext"].update(runAsUser=0),
            "the pod must not set runAsUser: 0 (securityContext)",
            id="pod-runAsUser-0",
        ),
        pytest.param(
            lambda job: container(job).update(
                ports=[{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}]
            ),
            "containers must not use a hostPort (absent or 0): migrate",
            id="hostPort",
        ),
        pytest.param(
            lambda job: (
                pod(job).update(hostUsers=False),
                container(job)["securityContext"].update(procMount="Unmasked"),
            ),
            "containers must use procMount Default: migrate",
            id="procMount-Unmasked",
        ),
        pytest.param(
            # The API server accepts hostProcess only with hostNetwork: the hostProcess message
            # comes first.
            lambda job: (
                pod(job).update(hostNetwork=True),
                pod(job)["securityContext"].update(windowsOptions={"hostProcess": True}),
            ),
            "windowsOptions.hostProcess is not allowed (pod or container): the pod",
            id="pod-hostProcess",
        ),
        pytest.param(
            lambda job: (
                pod(job).update(hostNetwork=True),
                container(job)["securityContext"].update(windowsOptions={"hostProcess": True}),
            ),
            "windowsOptions.hostProcess is not allowed (pod or container): migrate",
            id="container-hostProcess",
        ),
        pytest.param(
            lambda job: pod(job)["securityContext"].update(
                sysctls=[{"name": "kernel.msgmax", "value": "65536"}]
            ),
            "sysctls are not allowed: kernel.msgmax",
            id="sysctl-unsafe",
        ),
        pytest.param(
            lambda job: pod(job)["securityContext"].update(
                sysctls=[{"name": "net.ipv4.tcp_syncookies", "value": "1"}]
            ),
            "sysctls are not allowed: net.ipv4.tcp_syncookies",
            id="sysctl-even-a-safe-one",
        ),
        pytest.param(
            lambda job: pod(job)["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
            f"{SELINUX}the pod",
            id="pod-seLinux-type-spc_t",
        ),
        pytest.param(
            lambda job: container(job)["securityContext"].update(
                seLinuxOptions={"type": "container_t", "user": "system_u"}
            ),
            f"{SELINUX}migrate",
            id="container-seLinux-user",
        ),
        pytest.param(
            lambda job: container(job)["securityContext"].update(
                seLinuxOptions={"role": "system_r"}
            ),
            f"{SELINUX}migrate",
            id="container-seLinux-role",
        ),
        pytest.param(
            lambda job: pod(job)["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
            f"{APPARMOR}the pod",
            id="pod-appArmor-unconfined",
        ),
        pytest.param(
            lambda job: container(job)["securityContext"].update(
                appArmorProfile={"type": "Unconfined"}
            ),
            f"{APPARMOR}migrate",
            id="container-appArmor-unconfined",
        ),
        pytest.param(
            lambda job: job["spec"]["template"]["metadata"].update(
                annotations={"container.apparmor.security.beta.kubernetes.io/migrate": "unconfined"}
            ),
            f"{APPARMOR}container.apparmor.security.beta.kubernetes.io/migrate",
            id="appArmor-annotation-unconfined",
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


def test_a_job_with_allowed_values_of_the_pod_security_fields_is_admitted(
    as_function: client.BatchV1Api,
):
    """The allowed values are not mistaken for forbidden ones: hostPort 0, procMount Default,
    hostProcess false, an allowed SELinux type, RuntimeDefault and Localhost AppArmor."""
    job = product_job()
    context = container(job)["securityContext"]
    container(job)["ports"] = [{"containerPort": 8080, "hostPort": 0}]
    context.update(
        procMount="Default",
        windowsOptions={"hostProcess": False},
        seLinuxOptions={"type": "container_t", "level": "s0:c123,c456"},
        appArmorProfile={"type": "Localhost", "localhostProfile": "k8s-migrate"},
    )
    pod(job)["securityContext"].update(
        seLinuxOptions={"type": "container_init_t"},
        appArmorProfile={"type": "RuntimeDefault"},
        sysctls=[],
    )
    job["spec"]["template"]["metadata"]["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/migrate": "localhost/k8s-migrate"
    }

    created = as_function.create_namespaced_job(NS, job)

    assert created.metadata.name == job["metadata"]["name"]


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


def service_account_token_secret(name: str) -> dict[str, Any]:
    """What a stolen role would write to read migration-runner's token: the token controller fills
    in a token for the service account the annotation names."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": NS,
            "annotations": {"kubernetes.io/service-account.name": "migration-runner"},
        },
        "type": "kubernetes.io/service-account-token",
    }


def test_a_service_account_token_secret_created_as_the_function_is_refused(
    function_core: client.CoreV1Api, policy_loaded: Emulator
):
    with pytest.raises(ApiException) as refused:
        function_core.create_namespaced_secret(NS, service_account_token_secret("runner-token"))

    assert_denied(
        refused.value,
        "runner-token",
        "the group migration-trigger may only write or delete Secrets of type Opaque, not "
        "kubernetes.io/service-account-token",
        policy=SECRETS_POLICY,
        group="",
        kind="secrets",
    )
    secrets, _ = policy_loaded.store.select(policy_loaded.store_types["secrets"], NS)
    assert secrets == []


def test_a_secret_without_a_job_owner_created_as_the_function_is_refused(
    function_core: client.CoreV1Api,
):
    """A Secret written without `type` is defaulted to Opaque before admission: the owner rule
    is what refuses it."""
    secret = {"metadata": {"name": "loose", "namespace": NS}, "stringData": {"k": "v"}}

    with pytest.raises(ApiException) as refused:
        function_core.create_namespaced_secret(NS, secret)

    assert_denied(
        refused.value,
        "loose",
        "the group migration-trigger may only write or delete Secrets owned by a batch/v1 Job "
        "(metadata.ownerReferences)",
        policy=SECRETS_POLICY,
        group="",
        kind="secrets",
    )


def test_the_products_credentials_secret_created_as_the_function_is_admitted(
    as_function: client.BatchV1Api, function_core: client.CoreV1Api
):
    """jobspec.render_secret's Secret: type Opaque, owned by the Job just created."""
    profile = parse_profiles(EXAMPLES)["dbmate"]
    plan = plan_for(profile)
    job = as_function.create_namespaced_job(NS, jobspec.render_job(TEMPLATE, plan))
    secret = jobspec.render_secret(plan, job.metadata.uid, {"DATABASE_URL": "postgres://x"})

    created = function_core.create_namespaced_secret(NS, secret)

    assert created.type == "Opaque"
    assert created.metadata.owner_references[0].uid == job.metadata.uid


def test_the_function_may_delete_the_credentials_secret_of_its_job(
    as_function: client.BatchV1Api, function_core: client.CoreV1Api, policy_loaded: Emulator
):
    """A DELETE is admitted with `object` null and `oldObject` the stored Secret
    (k8s.io/apiserver pkg/registry/rest/delete.go, AdmissionToValidateObjectDeleteFunc)."""
    plan = plan_for(parse_profiles(EXAMPLES)["dbmate"])
    job = as_function.create_namespaced_job(NS, jobspec.render_job(TEMPLATE, plan))
    secret = jobspec.render_secret(plan, job.metadata.uid, {"DATABASE_URL": "postgres://x"})
    function_core.create_namespaced_secret(NS, secret)

    function_core.delete_namespaced_secret(plan.secret_name, NS)

    secrets, _ = policy_loaded.store.select(policy_loaded.store_types["secrets"], NS)
    assert secrets == []


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (
            {"metadata": {"name": "app-config", "namespace": NS}, "stringData": {"k": "v"}},
            "the group migration-trigger may only write or delete Secrets owned by a batch/v1 "
            "Job (metadata.ownerReferences)",
        ),
        (
            service_account_token_secret("runner-token"),
            "the group migration-trigger may only write or delete Secrets of type Opaque, not "
            "kubernetes.io/service-account-token",
        ),
    ],
    ids=["not-owned-by-a-job", "service-account-token"],
)
def test_the_function_may_not_delete_other_secrets(
    admin_core: client.CoreV1Api,
    function_core: client.CoreV1Api,
    policy_loaded: Emulator,
    secret: dict[str, Any],
    message: str,
):
    name = secret["metadata"]["name"]
    admin_core.create_namespaced_secret(NS, secret)

    with pytest.raises(ApiException) as refused:
        function_core.delete_namespaced_secret(name, NS)

    assert_denied(refused.value, name, message, policy=SECRETS_POLICY, group="", kind="secrets")
    assert admin_core.read_namespaced_secret(name, NS).metadata.name == name


def test_a_job_owned_secret_not_named_after_its_migration_job_is_refused(
    as_function: client.BatchV1Api, function_core: client.CoreV1Api
):
    """Owned by a Job is not enough: only `<Job>-db` of a `migrate-…` Job is the group's."""
    plan = plan_for(parse_profiles(EXAMPLES)["dbmate"])
    job = as_function.create_namespaced_job(NS, jobspec.render_job(TEMPLATE, plan))
    secret = jobspec.render_secret(plan, job.metadata.uid, {"DATABASE_URL": "postgres://x"})
    secret["metadata"]["name"] = "app-config"

    with pytest.raises(ApiException) as refused:
        function_core.create_namespaced_secret(NS, secret)

    assert_denied(
        refused.value,
        "app-config",
        "the group migration-trigger may only write or delete the credentials Secret of one of "
        "its migration Jobs (named <Job>-db, owned by a Job named migrate-...)",
        policy=SECRETS_POLICY,
        group="",
        kind="secrets",
    )


def test_a_user_outside_the_group_may_create_a_service_account_token_secret(
    admin_core: client.CoreV1Api,
):
    created = admin_core.create_namespaced_secret(NS, service_account_token_secret("admin-token"))

    assert created.type == "kubernetes.io/service-account-token"


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

    assert sorted(p.metadata.name for p in policies.items) == [POLICY, SECRETS_POLICY]
    assert binding.spec.param_ref.name == PARAMS
    assert binding.spec.validation_actions == ["Deny"]


def test_kubectl_applies_the_manifest_and_shows_the_denial_to_the_function(
    emulator: Emulator, kubeconfig: Path, tmp_path: Path
):
    """`kubectl apply -f k8s/validating-admission-policy.yaml` (discovery, OpenAPI, the three
    kinds); then kubectl, as the function, prints the API server's message for a foreign image."""
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))

    manifest_path = ROOT / "k8s" / "validating-admission-policy.yaml"
    applied = run_kubectl(kubeconfig, "apply", "-f", str(manifest_path), timeout=60)
    token = eks_token(sts_for_tokens("eu-west-1", assume_function_role()), CLUSTER)
    function = tmp_path / "function-kubeconfig"
    function.write_text(json.dumps(emulator.kubeconfig(token=token, namespace=NS)))
    job = product_job(image="registry.evil.example/miner:latest")
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps(job))
    refused = run_kubectl(function, "create", "-f", str(manifest), timeout=60)

    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [
        f"configmap/{PARAMS} created",
        f"validatingadmissionpolicy.admissionregistration.k8s.io/{POLICY} created",
        f"validatingadmissionpolicybinding.admissionregistration.k8s.io/{POLICY} created",
        f"validatingadmissionpolicy.admissionregistration.k8s.io/{SECRETS_POLICY} created",
        f"validatingadmissionpolicybinding.admissionregistration.k8s.io/{SECRETS_POLICY} created",
    ]
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f'The jobs "{job["metadata"]["name"]}" is invalid: : {DENIED}images must come from'
    ), refused.stderr


def test_a_job_placed_on_tainted_nodes_is_admitted(as_function: client.BatchV1Api):
    """Profiles' nodeSelector, tolerations, nodeAffinity and priorityClassName are placement, not
    privilege: the Jobs policy admits them."""
    from tests.unit.test_profiles_and_jobspec import PLACEMENT

    job = product_job(**PLACEMENT)

    created = as_function.create_namespaced_job(NS, job)

    placed = created.spec.template.spec
    assert placed.node_selector == PLACEMENT["nodeSelector"]
    assert [t.key for t in placed.tolerations] == ["dedicated", "spot"]
    assert placed.priority_class_name == "migrations-high"
