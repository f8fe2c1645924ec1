"""The function's IAM policy grants what its code calls, and no more.

The policy is template.yaml's, enforced on every call the function makes (local_stack/iam.py).
One world runs each kind of migration; every action the template grants must have been called
and allowed, except those AWS services use on the function's behalf, listed here with why.
"""

from __future__ import annotations

import json
import os

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from local_stack.iam import DEFAULT_CONDITIONS, function_policy
from local_stack.template import deployed
from migration_trigger import cli
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import (
    ACCOUNT,
    ECR_IMAGE,
    ON_CHOSEN_CLUSTERS,
    PROFILE_TAG,
    REGION,
    REPOSITORY,
    World,
    allow_ecr_images,
    deployment_refs,
    profiles,
    push,
)
from tests.functional.orchestrator.test_approval import command
from tests.functional.orchestrator.test_aurora import CLUSTER_ID, add_instance, aurora_cluster
from tests.functional.orchestrator.test_outages import outage

#: Granted, but called by AWS on the function's behalf, never by its code.
ON_ITS_BEHALF = {
    # SNS encrypts each message with the topic's key as the publisher (SNS developer guide,
    # "Encryption at rest": publishers need kms:GenerateDataKey and kms:Decrypt on the key).
    "kms:GenerateDataKey": "SNS, publishing to the KMS-encrypted results topic",
    "kms:Decrypt": (
        "SNS for the topic's key; Secrets Manager for secrets under SecretKmsKeyArns; DynamoDB "
        "for the ledger's key"
    ),
}
PARAMETER = "/migration-trigger/test/profiles"
SPOKE_A = "222222222222"


REPOSITORIES = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPOSITORY}"


def granted() -> set[str]:
    context = deployed(
        region=REGION,
        account=ACCOUNT,
        refs={
            **deployment_refs(os.environ["TOPIC_ARN"]),
            "ProfilesParameterName": PARAMETER,
            "ApprovalImageRepositories": REPOSITORIES,
        },
        conditions=dict.fromkeys(DEFAULT_CONDITIONS, True),
    )
    return {
        action
        for statement in function_policy(context)
        for action in statement.actions
        if statement.effect == "Allow"
    }


@ON_CHOSEN_CLUSTERS
def test_every_granted_action_is_one_the_function_calls(world: World, approver: object):
    # Given the profiles in a parameter (every optional grant on), an instance and a cluster,
    # and a guarded profile whose image is in ECR
    document = profiles()
    document["profiles"]["snapshotting"] = {
        **document["profiles"]["orders"],
        "snapshotBeforeMigration": True,
        "keepSnapshots": 1,
    }
    document["profiles"]["guarded"] = {
        **document["profiles"]["snapshotting"],
        "image": ECR_IMAGE,
        "approval": {"required": True, "timeoutSeconds": 600},
    }
    admin_client("ssm").put_parameter(Name=PARAMETER, Type="String", Value=json.dumps(document))
    world.monkeypatch.setenv("MIGRATION_PROFILES", "")
    world.monkeypatch.setenv("MIGRATION_PROFILES_PARAMETER", PARAMETER)
    world.deploy_with(
        {
            "HasProfilesParameter": True,
            "HasApprovalImageRepositories": True,
            "TakesSnapshots": True,
            "HasSpokes": True,
        },
        ProfilesParameterName=PARAMETER,
        ApprovalImageRepositories=REPOSITORIES,
        SpokeAccounts=[SPOKE_A],  # type: ignore[arg-type]
    )
    push("1.4.0", "1")
    allow_ecr_images(world)
    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    cluster = aurora_cluster()
    add_instance(f"{CLUSTER_ID}-1")

    # When each kind of migration runs: a creation, a rotation, a cluster's creation, and one
    # queued behind a Job that an ended execution left suspended (it asks Lambda about it)
    runs = [
        world.run(world.event("rds-instance-created.json"), name="created"),
        world.run(world.event("secret-label-updated.json"), name="rotated"),
        world.run(cluster_created(cluster["DBClusterArn"]), name="cluster"),
    ]
    outage(world, "PATCH", "/jobs/migrate-")
    outage(world, "DELETE", "/jobs/migrate-")
    assert world.run(world.event("manual-retrigger.json"), name="left").error
    world.faults.clear()
    runs.append(
        world.run(world.event("manual-retrigger.json", requestId="orders-db-again"), name="queued")
    )
    # and, with snapshots, one on the instance, then one guarded (approved, its image pinned to
    # its ECR digest, the first snapshot pruned), and two on the cluster (the first pruned)
    profile_of(world.db_arn, "snapshotting")
    runs.append(world.run(world.event("manual-retrigger.json", requestId="snap"), name="snap"))
    profile_of(world.db_arn, "guarded")

    def approve(message: dict[str, object]) -> None:
        assert cli.main([*command(message, "approve"), "--profile", "approver"]) == 0

    runs.append(
        world.run_answering(world.event("manual-retrigger.json", requestId="guarded"), approve)
    )
    profile_of(cluster["DBClusterArn"], "snapshotting")
    for request in ("cluster-1", "cluster-2"):
        event = world.event("manual-retrigger.json", requestId=request)
        event["detail"]["database"] = cluster["DBClusterArn"]
        runs.append(world.run(event, name=request))

    # and a sweep (it lists, reads the ledger, requests a missed creation's migration)
    from tests.functional.orchestrator.test_sweep import SWEEP, requests_bus_to_queue, tenants

    requests_bus_to_queue()
    tenants(1)
    runs.append(world.run(SWEEP, name="sweep"))

    # and a spoke's creation, through the role the hub assumes there (the spoke's own calls are
    # held to spoke/template.yaml in test_spokes.py)
    runs.append(world.run(spoke_creation(world), name="spoke"))

    # Then everything was allowed, and every granted action was needed
    assert [r.status for r in runs] == [InvocationStatus.SUCCEEDED] * 10, [r.error for r in runs]
    assert runs[-2].result["started"] == 1, runs[-2].result
    denied = [c for c in world.iam.calls if not c.allowed]
    assert denied == []
    called = {c.action for c in world.iam.calls}
    unused = granted() - called - set(ON_ITS_BEHALF)
    assert unused == set(), f"granted but never called: {sorted(unused)}"


def spoke_creation(world: World) -> dict[str, object]:
    """SPOKE_A listed, with the role spoke/template.yaml creates, and a database created there:
    its creation event as the spoke's rule forwards it."""
    from local_stack.iam import trusted_by_roles_in_moto
    from tests.fixtures import FUNCTION_ROLE
    from tests.functional.orchestrator.test_spokes import (
        ORGANIZATION,
        created_in,
        database_in,
        rolled_out,
    )

    world.monkeypatch.setenv("SPOKE_ACCOUNTS", SPOKE_A)
    world.iam.trusts = trusted_by_roles_in_moto(FUNCTION_ROLE, org=ORGANIZATION)
    rolled_out(SPOKE_A)
    database, _ = database_in(SPOKE_A)
    return created_in(world, SPOKE_A, database)


def profile_of(database_arn: str, profile: str) -> None:
    """Tag a database with a profile, as its owner would."""
    admin_client("rds").add_tags_to_resource(
        ResourceName=database_arn, Tags=[{"Key": PROFILE_TAG, "Value": profile}]
    )


def cluster_created(arn: str) -> dict[str, object]:
    from tests.helpers import load_event

    event = load_event("rds-cluster-created.json")
    event["detail"]["SourceArn"] = arn
    return event


@ON_CHOSEN_CLUSTERS
def test_rds_managed_secrets_are_readable_only_for_the_databases_named(world: World):
    """MigratedDatabases bounds GetSecretValue on RDS-managed secrets by their database tag."""
    world.deploy_with({}, MigratedDatabases="billing-*")
    world.pods.when(PodScript(logs="Applied 1 migration\n"))

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    reads = [c for c in world.iam.calls if c.action == "secretsmanager:GetSecretValue"]
    assert reads and not any(c.allowed for c in reads), "orders-db is not a billing-* database"
    assert world.jobs() == [] or all(j["spec"].get("suspend") for j in world.jobs())
