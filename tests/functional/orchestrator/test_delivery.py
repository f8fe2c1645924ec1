"""At-least-once delivery over the wire: replays repeat nothing the cluster sees, ignored events
never reach it, EventBridge delivers a manual request as the template's rule matches it. The
story's cases (duplicates, redeliveries, batches, a second trigger waiting its turn):
tests/story/test_redelivery.py and test_queue.py."""

from __future__ import annotations

import json

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World
from tests.helpers import ROOT


@ON_CHOSEN_CLUSTERS
def test_replays_never_repeat_side_effects(world: World):
    world.pods.when(PodScript(logs="slow\n", duration=1.0))

    run = world.run(world.event("rds-instance-created.json"))

    # Each durable wait ends an invocation; the next one replays every completed step.
    waits = [op for op in run.operations if op.operation_type.value == "WAIT"]
    assert len(waits) >= 2
    assert len(world.requests.find("POST", "/jobs$")) == 1
    assert len(world.requests.find("POST", "/secrets$")) == 1
    assert len(world.requests.find("PATCH", "/jobs/")) == 1
    assert len(world.notifications()) == 1


@ON_CHOSEN_CLUSTERS
def test_ignored_and_malformed_events_never_touch_the_cluster(world: World):
    ignored = world.event("rds-instance-created.json", EventID="RDS-EVENT-0006")
    malformed = {
        "id": "x",
        "source": "aws.rds",
        "detail-type": "RDS DB Instance Event",
        "detail": "oops",
    }

    runs = [
        world.run(ignored),
        world.run(malformed, name="malformed"),
        world.run([1, 2], name="batch"),
    ]

    assert [r.status for r in runs] == [InvocationStatus.SUCCEEDED] * 3
    assert runs[0].result["status"] == "ignored"
    assert runs[1].result == {
        **runs[1].result,
        "status": "rejected",
        "reason": "the event has no 'detail' object",
    }
    assert [r["status"] for r in runs[2].result] == ["rejected", "rejected"]
    assert world.requests.all() == []


@ON_CHOSEN_CLUSTERS
def test_manual_request_put_on_the_bus_reaches_the_function_as_eventbridge_delivers_it(
    world: World,
):
    events, sqs = admin_client("events"), admin_client("sqs")
    queue = sqs.create_queue(QueueName="bus-target")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    entries = json.loads((ROOT / "events" / "manual-retrigger.put-events.json").read_text())
    requests = entries[0]["EventBusName"]
    events.create_event_bus(Name=requests)
    events.put_rule(
        Name="manual",
        EventBusName=requests,
        EventPattern=json.dumps(
            {"source": ["migration-trigger"], "detail-type": ["Migration Requested"]}
        ),
    )
    events.put_targets(
        Rule="manual", EventBusName=requests, Targets=[{"Id": "q", "Arn": queue_arn}]
    )

    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    delivered = json.loads(message["Body"])
    run = world.run(delivered)

    assert run.result["status"] == "succeeded"
    assert run.result["trigger"] == "manual"
    assert run.result["database"] == world.db_arn


@ON_CHOSEN_CLUSTERS
def test_cluster_is_described_once_per_warm_container(world: World):
    from migration_trigger.wiring import boto3_client

    calls: list[str] = []
    boto3_client("eks", "eu-west-1").meta.events.register(
        "before-call.eks.DescribeCluster", lambda **_: calls.append("DescribeCluster")
    )

    first = world.run(world.event("rds-instance-created.json"), name="first")
    second = world.run(world.event("manual-retrigger.json"), name="second")

    assert first.result["status"] == second.result["status"] == "succeeded"
    assert calls == ["DescribeCluster"]
