"""At-least-once delivery: duplicates, concurrent triggers, replays, batches, EventBridge itself."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, Run, World
from tests.helpers import ROOT


@ON_CHOSEN_CLUSTERS
def test_duplicate_event_delivered_three_times_gives_one_job_and_one_notification(world: World):
    event = world.event("rds-instance-created.json")

    runs = [world.run(event, name=f"delivery-{i}") for i in range(3)]

    assert [r.result["status"] for r in runs] == ["succeeded", "duplicate", "duplicate"]
    assert "already ran for this event and completed" in runs[1].result["reason"]
    assert len(world.jobs()) == 1
    assert len(world.requests.find("POST", "/jobs$")) == 3
    assert len(world.notifications()) == 1


@ON_CHOSEN_CLUSTERS
def test_duplicate_with_a_new_envelope_id_is_still_a_duplicate(world: World):
    first = world.event("rds-instance-created.json")
    again = {**first, "id": "a-different-envelope"}

    world.run(first)
    second = world.run(again, name="second")

    assert second.result["status"] == "duplicate"
    assert len(world.jobs()) == 1


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


def _pod_runs(world: World) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for job in world.jobs():
        started = job["status"].get("startTime")
        done = job["status"].get("completionTime")
        if started and done:
            spans.append((started, done))
    return spans


@ON_CHOSEN_CLUSTERS
def test_second_trigger_while_a_job_runs_waits_for_it(world: World):
    world.skip_time = False
    running: list[int] = []
    peak: list[int] = [0]
    lock = threading.Lock()

    class Counting(PodScript):
        """Counts the pods running at once."""

        def play(self, io: Any, image: str = "") -> int | None:
            with lock:
                running.append(1)
                peak[0] = max(peak[0], len(running))
            try:
                return super().play(io, image)
            finally:
                with lock:
                    running.pop()

    # Long enough that the first migration still runs when the second (delivered 1.5 s later)
    # first looks at the queue, however loaded the machine: it waits its turn.
    world.pods.when(Counting(logs="migrating\n", duration=8.0))
    results: dict[str, Run] = {}

    def deliver(key: str, event: dict[str, Any]) -> None:
        results[key] = world.run(event, name=key, timeout=120)

    created = threading.Thread(
        target=deliver, args=("created", world.event("rds-instance-created.json"))
    )
    created.start()
    time.sleep(1.5)
    manual = threading.Thread(target=deliver, args=("manual", world.event("manual-retrigger.json")))
    manual.start()
    created.join()
    manual.join()

    assert results["created"].result["status"] == "succeeded"
    assert results["manual"].result["status"] == "succeeded"
    assert len(world.jobs()) == 2
    assert peak[0] == 1
    queued = [
        op.name for op in results["manual"].operations if op.name and op.name.startswith("queued-")
    ]
    assert queued, "the second trigger waited its turn"


@ON_CHOSEN_CLUSTERS
def test_batch_of_events_is_handled_event_by_event(world: World):
    batch = [
        world.event("rds-instance-created.json"),
        {"source": "aws.ec2", "detail-type": "x", "detail": {}, "id": "e"},
    ]

    run = world.run(batch)

    assert run.status is InvocationStatus.SUCCEEDED
    assert [r["status"] for r in run.result] == ["succeeded", "ignored"]
    assert len(world.jobs()) == 1


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
