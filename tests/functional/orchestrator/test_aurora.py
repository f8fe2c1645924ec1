"""Aurora and other DB clusters: the cluster is migrated, through its writer, once per creation.

CreateDBCluster "creates an empty cluster. You must explicitly create the writer instance for
your DB cluster using the CreateDBInstance operation" (RDS API reference, CreateDBCluster), so
RDS-EVENT-0170 can arrive before any instance can take a connection; and RDS-EVENT-0005 fires for
every member instance, readers included, while the managed master secret belongs to the cluster.
moto models cluster members and their writer (`DBClusterMembers.IsClusterWriter`).
"""

from __future__ import annotations

import json
from typing import Any

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, PROFILE_TAG, World, profiles
from tests.helpers import load_event

CLUSTER_ID = "billing-cluster"

pytestmark = ON_CHOSEN_CLUSTERS


def aurora_cluster() -> dict[str, Any]:
    """An opted-in Aurora PostgreSQL cluster with an RDS-managed secret, and no instance yet."""
    rds = admin_client("rds")
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=CLUSTER_ID,
        Engine="aurora-postgresql",
        MasterUsername="app",
        ManageMasterUserPassword=True,
        DatabaseName="billing",
        Tags=[{"Key": PROFILE_TAG, "Value": "orders"}],
    )["DBCluster"]
    admin_client("secretsmanager").put_secret_value(
        SecretId=cluster["MasterUserSecret"]["SecretArn"],
        SecretString=json.dumps({"username": "app", "password": "billing-password"}),
    )
    return dict(cluster)


def add_instance(identifier: str) -> str:
    """A member instance of the cluster (the first one becomes its writer); returns its ARN."""
    instance = admin_client("rds").create_db_instance(
        DBInstanceIdentifier=identifier,
        DBClusterIdentifier=CLUSTER_ID,
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
    )["DBInstance"]
    return str(instance["DBInstanceArn"])


def rds_event(name: str, source_arn: str) -> dict[str, Any]:
    event = load_event(name)
    event["detail"]["SourceArn"] = source_arn
    return event


def test_cluster_created_before_its_writer_is_migrated_once_the_writer_is_available(
    world: World,
):
    from migration_trigger.wiring import boto3_client

    # Given a cluster that RDS has created, with no instance yet
    cluster = aurora_cluster()
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.1))

    def writer_appears(**_: object) -> None:
        # The function has seen the cluster without a writer: RDS then creates the instance.
        if not admin_client("rds").describe_db_clusters(DBClusterIdentifier=CLUSTER_ID)[
            "DBClusters"
        ][0]["DBClusterMembers"]:
            add_instance("billing-1")

    boto3_client("rds", "eu-west-1").meta.events.register(
        "after-call.rds.DescribeDBClusters", writer_appears
    )

    # When RDS-EVENT-0170 arrives
    run = world.run(rds_event("rds-cluster-created.json", cluster["DBClusterArn"]))

    # Then the function waited for the writer, and migrated the cluster
    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert run.result["status"] == "succeeded"
    assert run.result["database"] == cluster["DBClusterArn"]
    assert "database-available-0" in [op.name for op in run.operations]
    (job,) = world.jobs()
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MIGRATION_DATABASE_ARN"] == cluster["DBClusterArn"]


def test_cluster_that_never_gets_a_writer_times_out_saying_so(world: World):
    cluster = aurora_cluster()
    world.set_profiles(profiles(waitForAvailableSeconds=60))

    run = world.run(rds_event("rds-cluster-created.json", cluster["DBClusterArn"]))

    assert run.status is InvocationStatus.FAILED
    assert f"{CLUSTER_ID} had no writer instance after 60s" in (run.error or "")
    assert world.jobs() == []


def test_every_event_of_one_cluster_creation_makes_one_job_for_the_cluster(world: World):
    # Given a cluster with a writer and a reader
    cluster = aurora_cluster()
    writer, reader = add_instance("billing-1"), add_instance("billing-2")
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.1))

    # When RDS announces the writer, the reader and the cluster
    runs = [
        world.run(rds_event("rds-instance-created.json", writer), name="writer"),
        world.run(rds_event("rds-instance-created.json", reader), name="reader"),
        world.run(rds_event("rds-cluster-created.json", cluster["DBClusterArn"]), name="cluster"),
    ]

    # Then one migration ran, of the cluster; the other events are its duplicates
    assert [r.result["status"] for r in runs] == ["succeeded", "duplicate", "duplicate"]
    assert {r.result["database"] for r in runs} == {cluster["DBClusterArn"]}
    assert len({r.result["job"] for r in runs}) == 1
    assert len(world.jobs()) == 1
