"""Results as SNS notifications: a mail-friendly subject, the result as JSON, filter attributes."""

from __future__ import annotations

import json
import shlex
from typing import Any

from migration_trigger.adapters.aws import call
from migration_trigger.domain.approval import ApprovalRequest, approve_payload
from migration_trigger.domain.result import Result, Status, keep_end
from migration_trigger.domain.sweep import Summary

#: SNS takes messages of up to 256 KiB, subject and attributes included: keep a margin for them.
MAX_BODY_BYTES = 256 * 1024 - 4 * 1024
#: SNS subjects are "less than 100 characters long".
MAX_SUBJECT_CHARS = 99

_VERBS = {
    Status.SUCCEEDED: "succeeded",
    Status.FAILED: "FAILED",
    Status.TIMED_OUT: "TIMED OUT",
    Status.SKIPPED: "skipped",
    Status.IGNORED: "ignored",
    Status.REJECTED: "rejected",
    Status.DUPLICATE: "duplicate",
    Status.DECLINED: "declined",
    Status.UP_TO_DATE: "check: up to date",
    Status.PENDING: "check: PENDING",
}


def subject(result: Result, environment: str) -> str:
    """A mail subject: `[prod] Migration FAILED: orders-db (db-created)`, under 100 characters."""
    database = (result.database or "unknown database").rsplit(":", 1)[-1]
    text = f"[{environment}] Migration {_VERBS[result.status]}: {database}"
    if result.trigger:
        text += f" ({result.trigger})"
    # SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and
    # less than 100 characters long" (Amazon SNS API Reference, Publish). ASCII is kept for mail.
    return _ascii_subject(text)


def body(result: Result) -> str:
    """The result document as the message body, within SNS's size limit.

    A result's log tail is capped in bytes, but JSON escaping can grow it (a control character
    becomes six bytes): the tail is cut further until the document fits.
    """
    text = json.dumps(result.to_dict(), indent=2)
    while len(text.encode()) > MAX_BODY_BYTES and result.log_tail:
        result = result._replace(log_tail=keep_end(result.log_tail, len(result.log_tail) // 2))
        text = json.dumps(result.to_dict(), indent=2)
    return text


def attributes(result: Result, environment: str) -> dict[str, str]:
    """Message attributes subscribers filter on: status, environment, database identifier."""
    return {
        "status": str(result.status),
        "environment": environment,
        "database": (result.database or "").rsplit(":", 1)[-1],
    }


def _ascii_subject(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:MAX_SUBJECT_CHARS]


def approval_subject(request: ApprovalRequest, environment: str) -> str:
    """`[prod] Approval needed: orders-db (db-restored)`, under 100 characters."""
    database = request.database.rsplit(":", 1)[-1]
    return _ascii_subject(f"[{environment}] Approval needed: {database} ({request.trigger})")


def approval_body(request: ApprovalRequest) -> str:
    """What will run, and exactly how to answer: this product's CLI, the AWS CLI, the SAM CLI.
    (SendDurableExecutionCallbackSuccess's Result is a blob: the AWS CLI v2 reads it as base64
    unless told `--cli-binary-format raw-in-base64-out`; `sam remote callback succeed --result`
    sends its text as UTF-8: aws-sam-cli, samcli/lib/clients/lambda_client.py.)"""
    # Callback ids are answered in the function's region (the approver's default may differ).
    callback = shlex.quote(request.callback_id) + (
        f" --region {request.region}" if request.region else ""
    )
    payload = shlex.quote(approve_payload(request.fingerprint, "YOUR NAME"))
    digest = (
        f"{request.digest} (the image's ECR tag, resolved when the Job was created)"
        if request.digest
        else "none: the image is not in Amazon ECR, and runs by its reference as written"
    )
    lines = [
        "A migration waits for your approval before it runs.",
        "",
        f"Database:     {request.database}",
        f"Profile:      {request.profile}",
        f"Trigger:      {request.trigger} (event {request.event_id}): {request.detail}",
        f"Job:          {request.namespace}/{request.job} (created suspended: it starts once "
        "approved)",
        f"Fingerprint:  {request.fingerprint}",
        f"Image digest: {digest}",
        f"Answer within {request.timeout_seconds}s; without an answer the Job is deleted and "
        "the result is timed_out.",
    ]
    if request.refused:
        lines += [
            "",
            f"An earlier answer approved {request.refused}, not this Job: it was not started, "
            "and this request asks again.",
        ]
    lines += [
        "",
        "What will run (environment variable names only; the database's credentials reach "
        "the Job in its own Secret):",
        request.runs,
        "",
        "Approve (the fingerprint must be this Job's; your AWS identity is recorded):",
        f"  migration-trigger approve {callback} --fingerprint {request.fingerprint} "
        "[--reason TEXT]",
        "Reject (the result is declined, not failed):",
        f"  migration-trigger reject {callback} --reason TEXT",
        "",
        "Or with the AWS CLI:",
        f"  aws lambda send-durable-execution-callback-success --callback-id {callback} "
        f"--cli-binary-format raw-in-base64-out --result {payload}",
        f"  aws lambda send-durable-execution-callback-failure --callback-id {callback} "
        "--error 'ErrorMessage=WHY,ErrorType=Rejected'",
        "Or with the SAM CLI:",
        f"  sam remote callback succeed {callback} --result {payload}",
        f"  sam remote callback fail {callback} --error-message WHY --error-type Rejected",
    ]
    return "\n".join(lines)


class SnsNotifier:
    """Publishes results to one SNS topic."""

    __slots__ = ("client", "environment", "topic_arn")

    def __init__(self, client: Any, topic_arn: str, *, environment: str) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.environment = environment

    def ask(self, request: ApprovalRequest) -> None:
        """Publish a request for approval, with `status=approval_requested` to filter on."""
        self._publish(
            approval_subject(request, self.environment),
            approval_body(request),
            {
                "status": "approval_requested",
                "environment": self.environment,
                "database": request.database.rsplit(":", 1)[-1],
            },
        )

    def swept(self, summary: Summary) -> None:
        """Publish what a sweep found and started, with `status=swept` to filter on."""
        self._publish(
            _ascii_subject(f"[{self.environment}] Migration sweep: {summary.line()}"),
            json.dumps(summary.to_dict(), indent=2),
            {"status": "swept", "environment": self.environment},
        )

    def notify(self, result: Result) -> None:
        """Publish one result; the body is the result document the function also returns."""
        self._publish(
            subject(result, self.environment),
            body(result),
            attributes(result, self.environment),
        )

    def _publish(self, subject: str, message: str, attributes: dict[str, str]) -> None:
        call(
            f"publish to {self.topic_arn}",
            lambda: self.client.publish(
                TopicArn=self.topic_arn,
                Subject=subject,
                Message=message,
                MessageAttributes={
                    key: {"DataType": "String", "StringValue": value}
                    for key, value in attributes.items()
                    if value
                },
            ),
        )
