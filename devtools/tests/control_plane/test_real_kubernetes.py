"""What the function relies on in Kubernetes, against the real kube-apiserver, controllers and
etcd (Kubernetes v1.36, built from its own modules), with one node (control_plane/node.py): EKS
authentication through the token webhook, the project's RBAC and admission policies (type-checked and evaluated by the real CEL
environment), suspended Jobs and their pods, delete preconditions, and garbage collection.

Each answer the product reads is checked as the product reads it: through its own client
(adapters/kube.py, adapters/cluster.py) and its own interpretation (domain/jobstate.py).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from control_plane import ControlPlane
from devtools.tests.control_plane.conftest import NS, function_client
from migration_trigger.adapters.cluster import JobGateway
from migration_trigger.adapters.kube import KubeClient
from migration_trigger.domain import jobspec
from migration_trigger.domain.jobstate import Hold, JobPhase, job_state
from migration_trigger.domain.profiles import parse_profiles
from migration_trigger.errors import KubernetesError
from tests.fixtures import assume_function_role
from tests.helpers import ROOT, eventually, sample_plan, sts_for_tokens

TEMPLATE: dict[str, Any] = __import__("yaml").safe_load(
    (ROOT / "k8s" / "templates" / "migration-job.yaml").read_text()
)
PROFILE = parse_profiles((ROOT / "k8s" / "profiles" / "examples.json").read_text())["dbmate"]
SECRETS = f"/api/v1/namespaces/{NS}/secrets"


def plan(suffix: str) -> jobspec.JobPlan:
    built: jobspec.JobPlan = sample_plan(PROFILE, suffix=suffix)
    return built


@pytest.fixture
def jobs(control_plane: ControlPlane, admin: KubeClient) -> JobGateway:
    """The product's gateway as the function (its EKS token, the project's RBAC)."""
    return JobGateway(function_client(control_plane), NS)


def test_the_control_plane_is_the_pinned_release(control_plane: ControlPlane, admin: KubeClient):
    version = admin.get("/version")

    assert version["gitVersion"] == "v1.36.3"
    assert control_plane.started_seconds > 0


def test_the_functions_eks_token_is_authenticated_through_the_webhook_as_its_group(
    control_plane: ControlPlane, jobs: JobGateway
):
    review = jobs.client.create(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )

    user = review["status"]["userInfo"]
    assert user["username"].startswith("arn:aws:sts::123456789012:assumed-role/")
    assert "migration-trigger" in user["groups"]
    assert "system:authenticated" in user["groups"]


def test_a_token_for_another_cluster_is_refused(control_plane: ControlPlane, admin: KubeClient):
    from migration_trigger.adapters.eks_auth import TokenSource

    other = KubeClient(
        server=control_plane.url,
        credentials=TokenSource(sts_for_tokens("eu-west-1", assume_function_role()), "other"),
        ca_pem=control_plane.ca_pem,
    )

    with pytest.raises(KubernetesError) as refused:
        other.get(f"/apis/batch/v1/namespaces/{NS}/jobs")

    assert refused.value.status == 401


def test_the_function_creates_its_job_suspended_and_its_credentials_secret(jobs: JobGateway):
    run = plan("create")

    created = jobs.create_job(jobspec.render_job(TEMPLATE, run, start_by=time.time() + 600))
    uid = created["metadata"]["uid"]
    existing = jobs.create_secret(jobspec.render_secret(run, uid, {"DATABASE_URL": "x"}))

    assert created["spec"]["suspend"] is True
    assert existing is None
    assert jobs.get_job(run.name)["metadata"]["uid"] == uid
    assert job_state(created, []).phase is JobPhase.QUEUED


def test_the_real_admission_policy_refuses_a_root_container_with_its_message(
    jobs: JobGateway,
):
    manifest = jobspec.render_job(TEMPLATE, plan("root"))
    manifest["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0

    with pytest.raises(KubernetesError) as refused:
        jobs.create_job(manifest)

    assert refused.value.status == 422
    assert (
        "ValidatingAdmissionPolicy 'migration-trigger-jobs' with binding "
        "'migration-trigger-jobs' denied request: " in str(refused.value)
    )


def test_the_function_deletes_its_jobs_secret_but_no_other(jobs: JobGateway, admin: KubeClient):
    """The Secrets policy admits DELETE of its Jobs' own credentials Secrets only (oldObject):
    not another Secret, nor one a Job owns under another name."""
    run = plan("secret")
    uid = jobs.create_job(jobspec.render_job(TEMPLATE, run))["metadata"]["uid"]
    jobs.create_secret(jobspec.render_secret(run, uid, {"DATABASE_URL": "x"}))
    admin.create(SECRETS, {"metadata": {"name": "app-config"}, "stringData": {"k": "v"}})
    renamed = jobspec.render_secret(run, uid, {"k": "v"})
    renamed["metadata"]["name"] = "job-owned-config"
    admin.create(SECRETS, renamed)

    jobs.delete_secret(run.secret_name)
    with pytest.raises(KubernetesError) as refused:
        jobs.delete_secret("app-config")
    with pytest.raises(KubernetesError) as misnamed:
        jobs.delete_secret("job-owned-config")

    with pytest.raises(KubernetesError) as gone:
        admin.get(f"{SECRETS}/{run.secret_name}")
    assert gone.value.status == 404
    assert refused.value.status == 422
    assert (
        "the group migration-trigger may only write or delete Secrets owned by a batch/v1 Job"
        in str(refused.value)
    )
    assert admin.get(f"{SECRETS}/app-config")["metadata"]["name"] == "app-config"
    assert misnamed.value.status == 422
    assert "the credentials Secret of one of its migration Jobs" in str(misnamed.value)


def test_a_started_job_has_a_pod_it_controls_which_no_node_can_take(
    jobs: JobGateway, admin: KubeClient
):
    """The real Job controller labels and owns its pod; placed by the profile on nodes that do
    not exist, the real scheduler says why it cannot place it, and the product reads that as a
    pod held unschedulable."""
    profile = PROFILE._replace(node_selector={"pool": "none"})
    run = sample_plan(profile, suffix="start")
    uid = jobs.create_job(jobspec.render_job(TEMPLATE, run))["metadata"]["uid"]
    jobs.create_secret(jobspec.render_secret(run, uid, {"DATABASE_URL": "x"}))

    jobs.resume(run.name)

    def unschedulable() -> Any:
        pods = jobs.pods(uid)
        conditions = (pods[0].get("status") or {}).get("conditions") or [] if pods else []
        return pods if any(c.get("reason") == "Unschedulable" for c in conditions) else None

    pods = eventually(unschedulable, timeout=30)
    state = job_state(jobs.get_job(run.name) or {}, pods)
    assert state.hold is Hold.UNSCHEDULABLE
    assert "0/1 nodes are available" in state.reason
    assert "didn't match Pod's node affinity/selector" in state.reason
    assert pods[0]["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == uid


def test_a_bare_pod_with_the_jobs_name_label_is_not_among_its_pods(
    jobs: JobGateway, admin: KubeClient
):
    run = plan("bare")
    uid = jobs.create_job(jobspec.render_job(TEMPLATE, run))["metadata"]["uid"]
    admin.create(
        f"/api/v1/namespaces/{NS}/pods",
        {
            "metadata": {"name": f"{run.name}-planted", "labels": {"job-name": run.name}},
            # The namespace enforces Pod Security `restricted` (k8s/namespace.yaml), as the
            # real apiserver's PodSecurity admission shows.
            "spec": {
                "containers": [
                    {
                        "name": "x",
                        "image": "ghcr.io/example/x:1",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                    }
                ],
                "restartPolicy": "Never",
            },
        },
    )

    assert jobs.pods(uid) == []


def test_a_delete_with_stale_preconditions_is_refused_and_the_job_kept(jobs: JobGateway):
    run = plan("preconditions")
    created = jobs.create_job(jobspec.render_job(TEMPLATE, run))
    jobs.resume(run.name)  # changes its resourceVersion

    with pytest.raises(KubernetesError) as refused:
        jobs.delete_job(
            run.name,
            uid=created["metadata"]["uid"],
            resource_version=created["metadata"]["resourceVersion"],
        )

    assert refused.value.status == 409
    assert jobs.get_job(run.name) is not None


def test_deleting_a_job_collects_its_pods_and_its_secret(jobs: JobGateway, admin: KubeClient):
    run = plan("collect")
    uid = jobs.create_job(jobspec.render_job(TEMPLATE, run))["metadata"]["uid"]
    jobs.create_secret(jobspec.render_secret(run, uid, {"DATABASE_URL": "x"}))
    jobs.resume(run.name)
    eventually(lambda: jobs.pods(uid), timeout=30)

    jobs.delete_job(run.name)

    def collected() -> bool:
        try:
            admin.get(f"{SECRETS}/{run.secret_name}")
        except KubernetesError as error:
            return error.status == 404 and jobs.pods(uid) == []
        return False

    assert eventually(collected, timeout=60)


def test_kubectl_reads_the_functions_rights_from_the_projects_rbac(
    control_plane: ControlPlane, admin: KubeClient
):
    def can(verb: str, resource: str) -> str:
        done = control_plane.kubectl(
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            NS,
            "--as=arn:aws:sts::123456789012:assumed-role/migration-trigger-function/x",
            "--as-group=migration-trigger",
            check=False,
        )
        return done.stdout.strip()

    assert can("create", "jobs") == "yes"
    assert can("delete", "secrets") == "yes"
    assert can("list", "secrets") == "no"
    assert can("create", "configmaps") == "no"
