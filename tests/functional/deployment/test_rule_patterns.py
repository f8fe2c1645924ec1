"""template.yaml's EventBridge rules match every sample event, and nothing the code ignores."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local_stack.stack import requests_bus, template_rules
from migration_trigger.domain.events import (
    Ended,
    Ignored,
    Sweep,
    SwitchedOver,
    Trigger,
    parse_event,
)
from tests.helpers import ROOT, event_files, load_event


@pytest.fixture
def bus(aws: str) -> dict[str, str]:
    """One queue per template rule, so a test sees which rules an event matched."""
    return rules_on_the_bus()


BUSES = ("default", requests_bus("dev"))


def rules_on_the_bus(self_managed_secret_prefix: str = "") -> dict[str, str]:
    """template.yaml's enabled rules on moto's buses (the default one, and the requests bus),
    each with a queue of its own."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name=requests_bus("dev"))
    queues = {}
    rules = template_rules(self_managed_secret_prefix=self_managed_secret_prefix)
    for name, rule in rules.items():
        url = sqs.create_queue(QueueName=f"rule-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name=name, EventBusName=rule.bus, EventPattern=json.dumps(rule.pattern))
        events.put_targets(Rule=name, EventBusName=rule.bus, Targets=[{"Id": "q", "Arn": arn}])
        queues[name] = url
    return queues


def matched(bus: dict[str, str], event: dict[str, Any], on: tuple[str, ...] = BUSES) -> list[str]:
    """The rules an event matches, put on each of the buses `on`."""
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event.get("resources", []),
    }
    for name in on:
        sent = boto3.client("events").put_events(Entries=[{**entry, "EventBusName": name}])
        assert sent["FailedEntryCount"] == 0
    sqs = boto3.client("sqs")
    return [
        name
        for name, url in bus.items()
        if sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages")
    ]


def sample_events() -> list[str]:
    """The samples a pattern rule takes (the sweep's comes from its schedule, tested in
    test_the_sweeps_schedule_sends_what_the_function_runs_as_a_sweep)."""
    return [f for f in event_files() if not f.endswith(".put-events.json") and f != SWEEP_SAMPLE]


SWEEP_SAMPLE = "scheduled-sweep.json"


def test_the_sweeps_schedule_sends_what_the_function_runs_as_a_sweep():
    """A rule with a schedule sends EventBridge's "Scheduled Event" (source aws.events, detail
    {}, the rule in `resources`: "Creating a rule that runs on a schedule in Amazon
    EventBridge"); the sample is one, and the template's Sweep is such a rule, off when its
    schedule is empty."""
    from local_stack.template import deployed, function_events, resolve

    event = load_event(SWEEP_SAMPLE)
    sweep = function_events()["Sweep"]
    on = deployed(region="eu-west-1", account="123456789012", conditions={"HasSweepSchedule": True})
    off = deployed(
        region="eu-west-1",
        account="123456789012",
        refs={"SweepSchedule": ""},
        conditions={"HasSweepSchedule": False},
    )

    assert isinstance(parse_event(event), Sweep)
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "aws.events",
        "Scheduled Event",
        {},
    )
    assert sweep["Type"] == "Schedule"
    assert (resolve(sweep["Schedule"], on), resolve(sweep["State"], on)) == (
        "rate(1 hour)",
        "ENABLED",
    )
    assert resolve(sweep["State"], off) == "DISABLED"


@pytest.mark.parametrize("file", sample_events())
def test_each_sample_event_matches_exactly_one_rule(bus: dict[str, str], file: str):
    event = load_event(file)

    rules = matched(bus, event)

    assert isinstance(parse_event(event), Trigger | Ended | SwitchedOver)
    assert len(rules) == 1, rules


def test_put_events_sample_matches_the_manual_rule(bus: dict[str, str]):
    (entry,) = json.loads((ROOT / "events" / "manual-retrigger.put-events.json").read_text())
    event = {
        "source": entry["Source"],
        "detail-type": entry["DetailType"],
        "detail": json.loads(entry["Detail"]),
    }

    assert matched(bus, event, on=(entry["EventBusName"],)) == ["MigrationRequested"]


def test_a_manual_request_on_the_default_bus_matches_no_rule(bus: dict[str, str]):
    """Requests are taken from the requests bus only, which only the listed principals may send
    to: on the default bus, anyone allowed events:PutEvents could order a migration."""
    event = load_event("manual-retrigger.json")

    assert matched(bus, event, on=("default",)) == []


@pytest.mark.parametrize(
    ("file", "change"),
    [
        (
            "rds-instance-created.json",
            {"EventID": "RDS-EVENT-0006", "Message": "DB instance restarted"},
        ),
        (
            "rds-cluster-created.json",
            {"EventID": "RDS-EVENT-0171", "Message": "DB cluster deleted"},
        ),
        # RDS's other Blue/Green deployment events (RDS User Guide, "Amazon RDS event categories
        # and event messages"): none changes which database answers under a name.
        *(
            ("rds-blue-green-switchover-completed.json", {"EventID": f"RDS-EVENT-{n}"})
            for n in ("0244", "0245", "0246", "0247", "0249")
        ),
        ("secret-label-updated.json", {"labelUpdated": "AWSPENDING"}),
        ("secret-label-updated.json", {"labelUpdated": "AWSPREVIOUS"}),
        ("cloudtrail-rotation-succeeded.json", {"eventName": "RotationStarted"}),
        ("cloudtrail-rotation-succeeded.json", {"eventName": "RotationFailed"}),
        ("cloudtrail-rotation-succeeded.json", {"eventName": "PutSecretValue"}),
    ],
)
def test_events_the_code_ignores_match_no_rule(
    bus: dict[str, str], file: str, change: dict[str, str]
):
    event = load_event(file)
    event["detail"].update(change)

    assert isinstance(parse_event(event), Ignored)
    assert matched(bus, event) == []


def label_updated(secret_arn: str) -> dict[str, Any]:
    event = load_event("secret-label-updated.json")
    event["resources"] = [secret_arn]
    event["detail"]["name"] = secret_arn.rsplit(":", 1)[-1]
    return event


SECRETS = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"


def test_label_updates_of_other_secrets_never_invoke_the_function(bus: dict[str, str]):
    """Secret Label Updated fires for every secret whose AWSCURRENT label moves. Measured: of 100
    such events for secrets that are no database's (application keys, API tokens, another
    account's RDS secret), none reaches the function with the default settings."""
    names = [f"app/{i:03d}/api-token-AbCdEf" for i in range(97)]
    others = [SECRETS + n for n in names] + [
        SECRETS + "orders-db-credentials-AbCdEf",
        "arn:aws:secretsmanager:eu-west-1:210987654321:secret:rds!db-0000-AbCdEf",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0000-AbCdEf",
    ]

    reached = [arn for arn in others if matched(bus, label_updated(arn))]

    assert len(others) == 100
    assert reached == []
    assert matched(bus, label_updated(SECRETS + "rds!db-1234-AbCdEf")) == ["SecretRotated"]


def test_self_managed_secrets_reach_the_function_only_under_their_prefix(aws: str):
    bus = rules_on_the_bus(self_managed_secret_prefix="db-credentials/")

    inside = matched(bus, label_updated(SECRETS + "db-credentials/legacy-db-AbCdEf"))
    outside = matched(bus, label_updated(SECRETS + "legacy-db-AbCdEf"))

    assert inside == ["SelfManagedSecretRotated"]
    assert outside == []


@pytest.mark.parametrize(
    ("status", "function"),
    [
        ("RUNNING", "migration-trigger-dev:7"),
        ("SUCCEEDED", "migration-trigger-dev:7"),
        ("FAILED", "migration-trigger-dev-2:7"),  # another function whose name starts alike
        ("FAILED", "orders-api:3"),
    ],
)
def test_only_this_functions_executions_that_ended_unreported_invoke_it(
    bus: dict[str, str], status: str, function: str
):
    event = load_event("durable-execution-timed-out.json")
    event["detail"]["status"] = status
    event["detail"]["functionArn"] = f"arn:aws:lambda:eu-west-1:123456789012:function:{function}"

    assert matched(bus, event) == []


@pytest.mark.parametrize("status", ["FAILED", "STOPPED", "TIMED_OUT"])
def test_this_functions_executions_that_ended_unreported_reach_it(bus: dict[str, str], status: str):
    event = load_event("durable-execution-timed-out.json")
    event["detail"]["status"] = status

    assert matched(bus, event) == ["ExecutionEnded"]
