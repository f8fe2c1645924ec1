"""The function under k8s/validating-admission-policy.yaml (the world applies it, as
`kubectl apply -f k8s/` does): its own Jobs and credentials Secret pass, a foreign image does not.

The emulator enforces the ValidatingAdmissionPolicy as kube-apiserver does (kube_emulator/
admission.py): the function's create of a Job whose image is from a registry outside the
ConfigMap's list answers 422 with the policy's message (k8s.io/apiserver pkg/admission/plugin/
policy/validating/dispatcher.go), and the execution fails with that message, leaving no Job.
"""

from __future__ import annotations

import json

from aws_durable_execution_sdk_python.execution import InvocationStatus

from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World, profiles

POLICY = "migration-trigger-jobs"


@ON_CHOSEN_CLUSTERS
def test_a_profile_image_from_an_unlisted_registry_fails_with_the_policys_message(
    world: World,
):
    world.set_profiles(profiles(image="registry.evil.example/orders-migrations:1.0.0"))

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    denied = (
        f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: images "
        "must come from an allowed registry (ghcr.io/example/, docker.io/flyway/, "
        "docker.io/arigaio/, ghcr.io/amacneil/; ConfigMap migration-trigger-job-policy): "
        "migrate (registry.evil.example/orders-migrations:1.0.0)"
    )
    assert "the cluster refused the Job" in (run.error or "")
    assert denied in (run.error or "")
    assert world.jobs() == [], "no Job is left behind"
    (creates,) = world.requests.find("POST", "/jobs$")
    assert creates.status == 422
    (message,) = world.notifications()
    body = json.loads(message["Message"])
    assert body["status"] == "failed"
    assert denied in json.dumps(body)


@ON_CHOSEN_CLUSTERS
def test_the_products_own_job_passes_the_policy_and_the_migration_succeeds(world: World):
    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded", run.error
    (job,) = world.jobs()
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "ghcr.io/example/orders-migrations:1.0.0"
    )


@ON_CHOSEN_CLUSTERS
def test_the_secret_arn_mode_runs_as_its_listed_service_account(world: World):
    document = profiles()
    document["profiles"]["orders"] = document["profiles"]["arn-mode"]
    world.set_profiles(document)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded", run.error
    (job,) = world.jobs()
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "migration-runner"


@ON_CHOSEN_CLUSTERS
def test_the_ephemeral_credentials_secret_passes_the_secrets_policy(world: World):
    """migration-trigger-secrets admits what jobspec.render_secret writes: type Opaque, owned by
    the Job."""
    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded", run.error
    (create,) = world.requests.find("POST", "/secrets$")
    assert create.status == 201
