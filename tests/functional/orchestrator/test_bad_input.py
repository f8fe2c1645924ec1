"""Input no event or profile document may crash on: text that is not valid Unicode, parameters
AWS refuses before sending, duplicate keys, nesting without end. Each gets a clear answer."""

from __future__ import annotations

import json

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World

LONE = "\ud800"

pytestmark = ON_CHOSEN_CLUSTERS


@pytest.mark.parametrize(
    ("field", "where"),
    [("versionId", "detail.versionId"), ("requestId", "detail.requestId"), ("Date", "detail.Date")],
)
def test_a_lone_surrogate_in_any_field_is_rejected_without_a_job(
    world: World, field: str, where: str
):
    """Valid JSON ("\\ud800" escapes are allowed) that is not valid Unicode: it cannot name a Job,
    go into a label, a log line or an SNS message. Rejected, naming the field, never its text."""
    event = world.event("manual-retrigger.json")
    event["detail"][field] = f"x{LONE}y"

    run = world.run(json.loads(json.dumps(event)))

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert run.result["status"] == "rejected"
    assert run.result["reason"] == (
        f"the event's {where} is not valid Unicode (it holds a lone surrogate)"
    )
    assert world.jobs() == []
    (message,) = world.notifications()
    assert json.loads(message["Message"])["status"] == "rejected"


def test_parameters_aws_refuses_before_sending_are_not_retried(world: World):
    """botocore validates parameters client-side (ParamValidationError: here an empty SecretId,
    below its minimum length of 1): not transient, so not retried, and it says what was refused."""
    from migration_trigger.adapters.aws import Secrets
    from migration_trigger.errors import AwsError
    from migration_trigger.wiring import boto3_client

    with pytest.raises(AwsError) as caught:
        Secrets(boto3_client("secretsmanager", "eu-west-1")).describe("")

    assert caught.value.retryable is False
    assert "ParamValidationError" in str(caught.value)
    assert "SecretId" in str(caught.value)


def test_a_profiles_document_with_a_duplicate_key_is_refused_naming_it(world: World):
    document = '{"profiles": {"orders": {"namespace": "a", "namespace": "b"}}}'
    world.monkeypatch.setenv("MIGRATION_PROFILES", document)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert "duplicate key 'namespace'" in (run.error or "")
    assert world.jobs() == []


def test_a_profiles_document_nested_without_end_is_refused_clearly(world: World):
    document = '{"profiles": {"orders": ' + "[" * 5000 + "]" * 5000 + "}}"
    world.monkeypatch.setenv("MIGRATION_PROFILES", document)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert "nested deeper than" in (run.error or "")
    assert "RecursionError" not in (run.error or "")
