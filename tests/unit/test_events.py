"""Parsing EventBridge events into triggers, ignored or rejected results."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from migration_trigger.domain.events import Ignored, Rejected, Trigger, TriggerKind, parse_event
from migration_trigger.steps import plain, typed
from tests.helpers import load_event

ORDERS = "arn:aws:rds:eu-west-1:123456789012:db:orders-db"
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-3f1c9a2e-7d4b-4e1a-9c8f-0a1b2c3d4e5f-AbCdEf"


@pytest.mark.parametrize(
    ("file", "kind", "database", "secret"),
    [
        ("rds-instance-created.json", TriggerKind.DB_CREATED, ORDERS, None),
        (
            "rds-cluster-created.json",
            TriggerKind.DB_CREATED,
            "arn:aws:rds:eu-west-1:123456789012:cluster:billing-cluster",
            None,
        ),
        ("rds-instance-restored-point-in-time.json", TriggerKind.DB_RESTORED, ORDERS, None),
        ("rds-restored-from-snapshot.json", TriggerKind.DB_RESTORED, ORDERS, None),
        ("secret-label-updated.json", TriggerKind.SECRET_ROTATED, None, SECRET),
        ("cloudtrail-rotation-succeeded.json", TriggerKind.SECRET_ROTATED, None, SECRET),
        ("manual-retrigger.json", TriggerKind.MANUAL, ORDERS, None),
    ],
)
def test_each_sample_event_parses_to_its_trigger(
    file: str, kind: TriggerKind, database: str | None, secret: str | None
):
    parsed = parse_event(load_event(file))

    assert isinstance(parsed, Trigger)
    assert parsed.kind is kind
    assert parsed.database == database
    assert parsed.secret_id == secret
    assert parsed.event_id == load_event(file)["id"]


def test_rds_event_matches_on_event_id_whatever_the_detail_type():
    event = load_event("rds-restored-from-snapshot.json")
    event["detail-type"] = "RDS DB Cluster Snapshot Event"
    event["detail"]["SourceType"] = "SNAPSHOT"

    parsed = parse_event(event)

    assert isinstance(parsed, Trigger)
    assert parsed.kind is TriggerKind.DB_RESTORED


def test_rds_event_keys_off_source_arn_not_source_identifier():
    event = load_event("rds-cluster-created.json")

    parsed = parse_event(event)

    assert event["detail"]["SourceIdentifier"] == "rds:billing-cluster"
    assert isinstance(parsed, Trigger)
    assert parsed.database.endswith(":cluster:billing-cluster")


def test_duplicate_rds_deliveries_share_a_dedup_key_across_envelope_ids():
    first = load_event("rds-instance-created.json")
    second = copy.deepcopy(first)
    second["id"] = "another-envelope-id"

    a, b = parse_event(first), parse_event(second)

    assert isinstance(a, Trigger) and isinstance(b, Trigger)
    assert a.dedup_key == b.dedup_key


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda e: e["detail"].update(EventID="RDS-EVENT-0006", Message="DB instance restarted"),
            "RDS-EVENT-0006 (DB instance restarted) is not a creation or restore",
        ),
        (
            lambda e: e.update(
                {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}
            ),
            "source 'aws.ec2' and detail-type 'EC2 Instance State-change Notification' are not handled",
        ),
    ],
)
def test_well_formed_events_we_do_not_act_on_are_ignored_with_the_reason(change: Any, reason: str):
    event = load_event("rds-instance-created.json")
    change(event)

    parsed = parse_event(event)

    assert isinstance(parsed, Ignored)
    assert reason in parsed.reason


@pytest.mark.parametrize(
    "source_arn",
    ["arn:aws:rds:eu-west-1:123456789012:snapshot:nightly", "orders-db", "arn:aws:s3:::bucket"],
)
def test_creation_naming_no_database_is_rejected_loudly(source_arn: str):
    # A creation or restore we act on, whose database cannot be named: a migration may be missed.
    event = load_event("rds-instance-created.json")
    event["detail"]["SourceArn"] = source_arn

    parsed = parse_event(event)

    assert isinstance(parsed, Rejected)
    assert f"names {source_arn}, which is not a DB instance or cluster ARN" in parsed.reason


@pytest.mark.parametrize(
    "where",
    [
        {"serviceEventDetails": {"secretId": SECRET}},
        {"responseElements": {"arn": SECRET}},
        {"envelope": [SECRET]},
    ],
    ids=["serviceEventDetails", "responseElements", "envelope-resources"],
)
def test_cloudtrail_rotation_secret_found_in_every_published_shape(where: dict[str, Any]):
    event = load_event("cloudtrail-rotation-succeeded.json")
    del event["detail"]["additionalEventData"]
    event["detail"]["resources"] = []
    if "envelope" in where:
        event["resources"] = where["envelope"]
    else:
        event["detail"].update(where)

    parsed = parse_event(event)

    assert isinstance(parsed, Trigger)
    assert parsed.secret_id == SECRET


@pytest.mark.parametrize("resources", [5, True, 1.5, {"ARN": SECRET}, "arn"])
def test_cloudtrail_rotation_whose_detail_resources_is_not_a_list_is_rejected(resources: Any):
    event = load_event("cloudtrail-rotation-succeeded.json")
    del event["detail"]["additionalEventData"]
    event["detail"]["resources"] = resources

    parsed = parse_event(event)

    assert isinstance(parsed, Rejected)
    assert parsed.reason == "the RotationSucceeded event names no secret"


def test_label_other_than_awscurrent_is_ignored():
    event = load_event("secret-label-updated.json")
    event["detail"]["labelUpdated"] = "AWSPENDING"

    parsed = parse_event(event)

    assert isinstance(parsed, Ignored)
    assert "AWSPENDING" in parsed.reason


@pytest.mark.parametrize("name", ["RotationStarted", "RotationFailed", "RotationAbandoned"])
def test_cloudtrail_rotation_events_other_than_succeeded_are_ignored(name: str):
    event = load_event("cloudtrail-rotation-succeeded.json")
    event["detail"]["eventName"] = name

    assert isinstance(parse_event(event), Ignored)


@pytest.mark.parametrize("key", ["arn", "ARN", "aRN"])
def test_cloudtrail_secret_found_under_any_spelling_of_the_arn_key(key: str):
    event = load_event("cloudtrail-rotation-succeeded.json")
    del event["detail"]["additionalEventData"]
    event["detail"]["resources"] = [{"type": "AWS::SecretsManager::Secret", key: SECRET}]

    parsed = parse_event(event)

    assert isinstance(parsed, Trigger)
    assert parsed.secret_id == SECRET


def test_manual_request_naming_an_identifier_refers_to_the_functions_account():
    event = load_event("manual-retrigger.json")
    event["detail"] = {"database": "orders-db", "kind": "instance", "reason": "hotfix"}

    parsed = parse_event(event)

    assert isinstance(parsed, Trigger)
    assert parsed.database == "db:orders-db"
    assert parsed.dedup_key == f"manual|{event['id']}"


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ([], "the event is a JSON list, not an object"),
        ("text", "the event is a JSON str, not an object"),
        ({"id": "x", "detail-type": "RDS DB Instance Event", "detail": {}}, "no 'source' string"),
        ({"id": "x", "source": "aws.rds", "detail": {}}, "no 'detail-type' string"),
        (
            {"id": "x", "source": "aws.rds", "detail-type": "RDS DB Instance Event"},
            "no 'detail' object",
        ),
        ({"source": "aws.rds", "detail-type": "RDS DB Instance Event", "detail": {}}, "no 'id'"),
    ],
)
def test_malformed_envelopes_are_rejected_with_a_specific_reason(event: Any, reason: str):
    parsed = parse_event(event)

    assert isinstance(parsed, Rejected)
    assert reason in parsed.reason


@pytest.mark.parametrize(
    ("file", "drop", "reason"),
    [
        ("rds-instance-created.json", "EventID", "has no detail.EventID"),
        ("rds-instance-created.json", "SourceArn", "has no detail.SourceArn"),
        ("secret-label-updated.json", "labelUpdated", "has no detail.labelUpdated"),
        ("secret-label-updated.json", "versionId", "names no secret or no versionId"),
        ("manual-retrigger.json", "database", "needs detail.database"),
        ("manual-retrigger.json", "reason", "needs detail.reason"),
    ],
)
def test_removing_a_required_field_rejects_the_event(file: str, drop: str, reason: str):
    event = load_event(file)
    del event["detail"][drop]

    parsed = parse_event(event)

    assert isinstance(parsed, Rejected)
    assert reason in parsed.reason


def test_manual_request_with_unusable_database_is_rejected():
    event = load_event("manual-retrigger.json")
    event["detail"]["database"] = "not an identifier!"

    parsed = parse_event(event)

    assert isinstance(parsed, Rejected)
    assert "must be an RDS instance/cluster ARN" in parsed.reason


def test_cloudtrail_rotation_without_a_secret_is_rejected():
    event = load_event("cloudtrail-rotation-succeeded.json")
    del event["detail"]["additionalEventData"]
    event["detail"]["resources"] = []

    parsed = parse_event(event)

    assert isinstance(parsed, Rejected)
    assert "names no secret" in parsed.reason


def test_trigger_round_trips_through_the_checkpoint_codec():
    parsed = parse_event(load_event("secret-label-updated.json"))
    assert isinstance(parsed, Trigger)

    assert typed(Trigger, json.loads(json.dumps(plain(parsed)))) == parsed


def test_lambdas_word_that_an_execution_ended_unreported_is_an_end_to_account_for():
    from migration_trigger.domain.events import Ended

    parsed = parse_event(load_event("durable-execution-timed-out.json"))

    assert isinstance(parsed, Ended)
    assert parsed.status == "TIMED_OUT"
    assert parsed.execution.endswith("/9f7d84c9-2b1e-4c3a-9d8f-7e6a5b4c3d2e")


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED"])
def test_an_execution_that_runs_or_succeeded_needs_no_report(status: str):
    event = load_event("durable-execution-timed-out.json")
    event["detail"]["status"] = status

    parsed = parse_event(event)

    assert isinstance(parsed, Ignored) and status in parsed.reason


def test_an_execution_event_without_its_arn_is_rejected():
    event = load_event("durable-execution-timed-out.json")
    del event["detail"]["durableExecutionArn"]

    assert isinstance(parse_event(event), Rejected)
