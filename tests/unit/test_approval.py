"""A profile's approval, its pieces alone: the key, the fingerprint of what runs, ECR references,
the answers, the request a person reads, the cost of waiting for it."""

from __future__ import annotations

import copy
import json
import shlex

import pytest

from migration_trigger import cli
from migration_trigger.adapters.sns import approval_body, approval_subject
from migration_trigger.domain.approval import (
    ApprovalRequest,
    Next,
    Outcome,
    approve_payload,
    ecr_image,
    fingerprint,
    parse_approval,
    read_approval,
    read_rejection,
    reject_data,
    time_left,
    verdict,
    what_runs,
)
from migration_trigger.domain.events import TriggerKind
from migration_trigger.domain.queueing import start_window
from migration_trigger.domain.schedule import worst_case
from tests.helpers import sample_profile

JOB = {
    "metadata": {"name": "migrate-orders-db-1"},
    "spec": {
        "suspend": True,
        "template": {
            "spec": {
                "serviceAccountName": "migrator",
                "containers": [
                    {
                        "name": "migrate",
                        "image": "ghcr.io/example/orders:1.0",
                        "command": ["dbmate", "up"],
                        "env": [{"name": "MIGRATION_TRIGGER", "value": "manual"}],
                        "envFrom": [{"secretRef": {"name": "migrate-orders-db-1-db"}}],
                        "resources": {"limits": {"memory": "256Mi"}},
                    }
                ],
            }
        },
    },
}


def changed(path: list[str | int], value: object) -> dict:
    job = copy.deepcopy(JOB)
    target = job
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    return job


CONTAINER = ["spec", "template", "spec", "containers", 0]


@pytest.mark.parametrize(
    ("what", "job"),
    [
        ("the image", changed([*CONTAINER, "image"], "ghcr.io/example/orders:1.1")),
        ("the command", changed([*CONTAINER, "command"], ["sh", "-c", "drop"])),
        ("the args", changed([*CONTAINER, "args"], ["--force"])),
        ("an env name", changed([*CONTAINER, "env"], [{"name": "EXTRA", "value": "x"}])),
        ("the resources", changed([*CONTAINER, "resources"], {})),
        ("the service account", changed(["spec", "template", "spec", "serviceAccountName"], "x")),
    ],
)
def test_the_fingerprint_changes_with_what_runs(what: str, job: dict):
    assert fingerprint(job) != fingerprint(JOB), what


def test_the_fingerprint_ignores_what_is_not_run_and_env_values():
    other = changed([*CONTAINER, "env"], [{"name": "MIGRATION_TRIGGER", "value": "db-created"}])
    other["metadata"]["name"] = "migrate-orders-db-2"
    other["spec"]["suspend"] = False
    other["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"secretRef": {"name": "migrate-orders-db-2-db"}}
    ]
    assert fingerprint(other) == fingerprint(JOB)
    assert fingerprint(JOB).startswith("sha256:") and len(fingerprint(JOB)) == 71
    assert "manual" not in json.dumps(what_runs(JOB)), "env values are never shown"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/orders:1.4",
            ("123456789012", "eu-west-1", "team/orders", "1.4"),
        ),
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/orders",
            ("123456789012", "cn-north-1", "orders", "latest"),
        ),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders@sha256:" + "a" * 64, None),
        ("ghcr.io/example/orders:1.0", None),
        ("public.ecr.aws/example/orders:1.0", None),
    ],
)
def test_ecr_images_are_recognised_by_their_registry(image: str, expected: tuple | None):
    found = ecr_image(image)
    assert (found and (found.account, found.region, found.repository, found.tag)) == expected


def test_a_pinned_image_names_its_digest_instead_of_its_tag():
    image = ecr_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders:1.4")
    assert image is not None
    assert image.pinned("sha256:" + "b" * 64) == (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders@sha256:" + "b" * 64
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("yes", "must be an object"),
        ({"required": True, "timeout": 60}, "unknown keys ['timeout']"),
        ({"required": "yes"}, "required must be true or false"),
        ({"required": True, "timeoutSeconds": 10}, "timeoutSeconds must be an integer"),
        ({"required": True, "timeoutSeconds": 8 * 86400}, "timeoutSeconds must be an integer"),
        ({"required": True, "triggers": ["db-deleted"]}, "triggers must be a non-empty list"),
        ({"required": True, "triggers": []}, "triggers must be a non-empty list"),
    ],
)
def test_an_approval_key_that_cannot_be_meant_is_refused_saying_why(raw: object, message: str):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_approval(raw)


def test_an_approval_names_the_trigger_kinds_it_applies_to():
    approval = parse_approval({"required": True, "triggers": ["manual"]})
    assert approval is not None and approval.timeout_seconds == 86400
    assert approval.applies(TriggerKind.MANUAL)
    assert not approval.applies(TriggerKind.DB_CREATED)
    assert parse_approval({"required": False}) is None


def test_answers_are_read_as_the_cli_writes_them():
    fp = "sha256:" + "c" * 64
    approved = read_approval(approve_payload(fp, "arn:aws:sts::1:assumed-role/a/alex", "ok"))
    assert approved.outcome == "approved" and approved.fingerprint == fp
    assert approved.approver == "arn:aws:sts::1:assumed-role/a/alex" and approved.reason == "ok"
    assert read_approval('{"approved": true}').outcome == "unreadable"
    assert read_approval(None).outcome == "unreadable"
    rejected = read_rejection("freeze week", reject_data("arn:aws:sts::1:assumed-role/a/kim"))
    assert (rejected.outcome, rejected.reason) == ("rejected", "freeze week")
    assert rejected.approver == "arn:aws:sts::1:assumed-role/a/kim"
    assert read_rejection(None, "not json").approver == "unnamed"


REQUEST = ApprovalRequest(
    callback_id="eyJhcm4iOiJ4In0=",
    database="arn:aws:rds:eu-west-1:123456789012:db:orders-db",
    profile="prod",
    trigger="db-restored",
    event_id="e-1",
    detail="Restored from snapshot",
    job="migrate-orders-db-1",
    namespace="migrations",
    fingerprint="sha256:" + "d" * 64,
    runs=json.dumps(what_runs(JOB), indent=2),
    digest="sha256:" + "e" * 64,
    timeout_seconds=86400,
)


def test_the_request_reads_as_the_issue_asks_and_says_exactly_how_to_answer():
    assert approval_subject(REQUEST, "prod") == "[prod] Approval needed: orders-db (db-restored)"
    body = approval_body(REQUEST)
    for line in (
        f"migration-trigger approve {REQUEST.callback_id} --fingerprint {REQUEST.fingerprint}",
        f"migration-trigger reject {REQUEST.callback_id} --reason TEXT",
        "aws lambda send-durable-execution-callback-success --callback-id",
        "--cli-binary-format raw-in-base64-out",
        "aws lambda send-durable-execution-callback-failure --callback-id",
        f"sam remote callback succeed {REQUEST.callback_id} --result",
        f"sam remote callback fail {REQUEST.callback_id} --error-message WHY",
        REQUEST.digest or "",
        "migrate-orders-db-1",
        "dbmate",
    ):
        assert line in body, line
    (aws,) = [line for line in body.splitlines() if "callback-success" in line]
    payload = json.loads(shlex.split(aws)[-1])
    assert payload["fingerprint"] == REQUEST.fingerprint, "the AWS CLI line approves this Job"


def test_every_way_to_answer_names_the_functions_region():
    """Callback ids are answered in the function's region; an approver's default may differ."""
    body = approval_body(REQUEST._replace(region="eu-west-1"))
    answers = [line for line in body.splitlines() if REQUEST.callback_id in line]
    assert len(answers) == 6
    assert all(f"{REQUEST.callback_id} --region eu-west-1" in line for line in answers)


def test_a_request_asked_again_says_what_the_earlier_answer_approved():
    body = approval_body(REQUEST._replace(refused="sha256:" + "0" * 64, digest=None))
    assert "An earlier answer approved sha256:" + "0" * 64 in body
    assert "not in Amazon ECR" in body


def test_waiting_for_approval_is_in_the_cost_and_the_start_by_time():
    plain = sample_profile()
    guarded = sample_profile(approval={"required": True, "timeoutSeconds": 7200})
    assert worst_case(guarded).seconds - worst_case(plain).seconds == 7200
    assert worst_case(guarded).operations - worst_case(plain).operations == 1 + 3 * 3
    assert start_window(guarded) - start_window(plain) == 7200


def test_approve_refuses_a_fingerprint_that_is_not_one(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["approve", "abc", "--fingerprint", "yes"]) == cli.EXIT_USAGE
    assert "sha256:<64 hex digits>" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("outcome", "approved", "left", "expected"),
    [
        (Outcome.APPROVED, "sha256:a", 100, Next.START),
        (Outcome.APPROVED, "sha256:a", 0, Next.START),  # in time: the callback took it
        (Outcome.APPROVED, "sha256:b", 100, Next.ASK_AGAIN),
        (Outcome.APPROVED, "sha256:b", 0, Next.TIME_OUT),
        (Outcome.UNREADABLE, None, 100, Next.ASK_AGAIN),
        (Outcome.REJECTED, None, 0, Next.DECLINE),
        (Outcome.TIMED_OUT, None, 100, Next.TIME_OUT),
    ],
)
def test_what_an_answer_means_for_the_job(
    outcome: Outcome, approved: str | None, left: int, expected: Next
):
    assert verdict(outcome, approved, "sha256:a", left) is expected


def test_one_timeout_spans_every_request():
    assert time_left(3600, first_asked=1000.0, now=1060.5) == 3540
    assert time_left(3600, first_asked=1000.0, now=4700.0) == -100
