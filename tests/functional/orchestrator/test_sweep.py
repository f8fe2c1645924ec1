"""The reconciliation sweep over real wires: moto's RDS (listed page by page, tags with each
database), the ledger in moto's DynamoDB, the requests bus in moto's EventBridge with the
template's MigrationRequested rule, the function's calls held to the template's policy. The
story's side: tests/story/test_sweep.py."""

from __future__ import annotations

import json
from typing import Any

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from local_stack.template import deployed, function_events, resolve
from tests.fixtures import ACCOUNT, REGION, admin_client
from tests.functional.orchestrator.conftest import (
    PROFILE_TAG,
    REQUESTS_BUS,
    World,
    profiles,
)
from tests.helpers import load_event

SWEEP = load_event("scheduled-sweep.json")


def requests_bus_to_queue() -> str:
    """The requests bus and the template's MigrationRequested rule on it, delivering to a queue
    (standing for the function): the queue's URL."""
    rule = function_events()["MigrationRequested"]
    context = deployed(region=REGION, account=ACCOUNT, refs={"RequestsBus": REQUESTS_BUS})
    events, sqs = admin_client("events"), admin_client("sqs")
    events.create_event_bus(Name=REQUESTS_BUS)
    queue = sqs.create_queue(QueueName="delivered-requests")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="MigrationRequested",
        EventBusName=REQUESTS_BUS,
        EventPattern=json.dumps(resolve(rule["Pattern"], context)),
    )
    events.put_targets(
        Rule="MigrationRequested",
        EventBusName=REQUESTS_BUS,
        Targets=[{"Id": "function", "Arn": arn["QueueArn"]}],
    )
    return str(queue)


def delivered(queue: str) -> list[dict[str, Any]]:
    """The events the rule delivered so far."""
    sqs = admin_client("sqs")
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return found


def tenants(count: int, *, profile: str = "orders") -> list[str]:
    """`count` opted-in PostgreSQL instances, created now; their ARNs."""
    rds = admin_client("rds")
    return [
        rds.create_db_instance(
            DBInstanceIdentifier=f"tenant-{i:04d}",
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            MasterUsername="app",
            ManageMasterUserPassword=True,
            Tags=[{"Key": PROFILE_TAG, "Value": profile}],
        )["DBInstance"]["DBInstanceArn"]
        for i in range(count)
    ]


def test_a_database_created_while_no_event_came_is_found_migrated_and_its_late_event_is_a_duplicate(
    world: World,
):
    queue = requests_bus_to_queue()
    (missed,) = tenants(1)
    world.pods.when(PodScript(logs="Applied 1 migration\n"))

    swept = world.run(SWEEP, name="sweep")

    assert swept.status is InvocationStatus.SUCCEEDED, swept.error
    # orders-db was created before the ledger: reported, never started
    assert (swept.result["opted_in"], swept.result["started"], swept.result["behind"]) == (2, 1, 1)
    assert any("tenant-0000" in line for line in swept.result["started_names"])
    (request,) = delivered(queue)
    assert request["detail"]["database"] == missed
    # The request, run as the rule delivers it, migrates the database as its creation would
    run = world.run(request, name="missed")
    assert run.result["status"] == "succeeded" and run.result["trigger"] == "db-created"
    # and the creation's own event, late, is a duplicate of that Job
    late = load_event("rds-instance-created.json")
    late["detail"]["SourceArn"] = missed
    assert world.run(late, name="late").result["status"] == "duplicate"
    # A second sweep finds it up to date
    again = world.run(SWEEP, name="sweep-again")
    assert again.result["started"] == 0 and again.result["up_to_date"] == 1
    denied = [c for c in world.iam.calls if not c.allowed]
    assert denied == []
    (announced,) = [m for m in world.notifications() if "sweep" in m["Subject"]]
    assert announced["Subject"].startswith("[test] Migration sweep: 2 opted in")


def test_a_thousand_databases_are_judged_in_one_invocation_with_a_dozen_list_calls(world: World):
    """Tags come with DescribeDBInstances (100 a page): no call per database. The ledger is read
    a hundred keys a call (BatchGetItem); requests go ten an entry batch (PutEvents)."""
    requests_bus_to_queue()
    # moto keeps an automated snapshot of each new instance, and refuses more than its quota
    world.monkeypatch.setenv("MOTO_RDS_SNAPSHOT_LIMIT", "5000")
    tenants(1000)
    world.monkeypatch.setenv("SWEEP_MAX_STARTS", "50")

    swept = world.run(SWEEP, name="sweep", timeout=600)

    assert swept.status is InvocationStatus.SUCCEEDED, swept.error
    assert swept.result["opted_in"] == 1001
    assert swept.result["started"] == 50
    assert swept.result["deferred"] == 1001 - 50 - 1, "the rest, left for the next sweep"
    calls = [c.action for c in world.iam.calls]
    listing = [a for a in calls if a in ("rds:DescribeDBInstances", "rds:DescribeDBClusters")]
    assert len(listing) <= 12, len(listing)
    assert calls.count("dynamodb:BatchGetItem") == 11
    assert calls.count("events:PutEvents") == 5
    assert all(c.allowed for c in world.iam.calls)


def test_without_the_grant_to_the_requests_bus_nothing_is_started_and_the_sweep_says_why(
    world: World,
):
    requests_bus_to_queue()
    tenants(1)
    world.iam.statements = [s for s in world.iam.statements if s.sid != "RequestMissedMigrations"]

    swept = world.run(SWEEP, name="sweep")

    assert swept.status is InvocationStatus.SUCCEEDED, "the next sweep tries again"
    assert swept.result["status"] == "failed"
    assert "events:PutEvents" in swept.result["reason"]
    (announced,) = world.notifications()
    assert announced["Subject"].startswith("[test] Migration sweep: could not sweep")


def test_status_shows_each_database_its_latest_result_and_the_images_they_stand_at(
    world: World, capsys: Any
):
    from migration_trigger import cli

    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    assert world.run(world.event("rds-instance-created.json")).result["status"] == "succeeded"
    (missed,) = tenants(1)
    # a profile's image moves on after orders-db was migrated
    document = profiles()
    document["profiles"]["orders"]["image"] = "ghcr.io/example/orders-migrations:1.1.0"
    world.set_profiles(document)
    capsys.readouterr()  # the function's own log lines

    assert cli.main(["status"]) == 0
    text = capsys.readouterr()

    assert "listing the databases (RDS)" in text.err, "a progress indicator while it lists"
    header, *lines = text.out.splitlines()
    assert header.split()[:3] == ["DATABASE", "PROFILE", "ENGINE"]
    (orders,) = [line for line in lines if line.startswith("orders-db ")]
    assert "db-created" in orders and "succeeded" in orders and "image_changed" in orders
    assert "orders-migrations:1.0.0" in orders
    (tenant,) = [line for line in lines if line.startswith("tenant-0000 ")]
    assert "missed_creation" in tenant
    assert any(
        line.startswith("profile orders stands at 2 images:")
        and "orders-migrations:1.0.0 (1)" in line
        and "none (1)" in line
        for line in lines
    )

    assert cli.main(["status", "--json", "--migration-profile", "orders"]) == 0
    shown = json.loads(capsys.readouterr().out)
    by_name = {row["database"]: row for row in shown["databases"]}
    assert by_name["orders-db"]["profile_image"] == "ghcr.io/example/orders-migrations:1.1.0"
    assert by_name["tenant-0000"]["last_result"] is None
    assert missed.endswith(":db:tenant-0000")
    assert cli.main(["status", "--json", "--migration-profile", "reports"]) == 0
    assert json.loads(capsys.readouterr().out)["databases"] == []


def test_a_database_restored_while_no_event_came_is_found_and_migrated(world: World):
    """RDS restores a snapshot into a new instance (RestoreDBInstanceFromDBSnapshot): the sweep
    finds it by its creation time, after the ledger began, with no migration since."""
    queue = requests_bus_to_queue()
    rds = admin_client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="before")
    restored = rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier="orders-restored",
        DBSnapshotIdentifier="before",
        Tags=[{"Key": PROFILE_TAG, "Value": "orders"}],
    )["DBInstance"]
    world.pods.when(PodScript(logs="Applied 1 migration\n"))

    swept = world.run(SWEEP, name="sweep")

    assert any(line.startswith("orders-restored:") for line in swept.result["started_names"])
    (request,) = delivered(queue)
    assert request["detail"]["database"] == restored["DBInstanceArn"]
    run = world.run(request, name="restored")
    assert run.result["status"] == "succeeded", run.result
    late = load_event("rds-restored-from-snapshot.json")
    late["detail"]["SourceArn"] = restored["DBInstanceArn"]
    assert world.run(late, name="late").result["status"] == "duplicate"


def test_the_function_may_put_only_migration_requests_on_the_requests_bus(world: World):
    """RequestMissedMigrations holds events:source and events:detail-type to a manual
    request's: the function's role cannot put another kind of event there."""
    import boto3
    import pytest
    from botocore.exceptions import ClientError

    requests_bus_to_queue()
    events = boto3.client("events")  # the function's own credentials
    entry = {"EventBusName": REQUESTS_BUS, "Detail": "{}"}

    allowed = events.put_events(
        Entries=[{**entry, "Source": "migration-trigger", "DetailType": "Migration Requested"}]
    )
    assert allowed["FailedEntryCount"] == 0
    for source, kind in (("aws.rds", "RDS DB Instance Event"), ("migration-trigger", "Other")):
        with pytest.raises(ClientError, match="AccessDeniedException"):
            events.put_events(Entries=[{**entry, "Source": source, "DetailType": kind}])
