"""Results as SNS notifications: a mail-friendly subject, the result as JSON, filter attributes."""

from __future__ import annotations

import json
from typing import Any

from migration_trigger.adapters.aws import call
from migration_trigger.domain.result import Result, Status, keep_end

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
}


def subject(result: Result, environment: str) -> str:
    """A mail subject: `[prod] Migration FAILED: orders-db (db-created)`, under 100 characters."""
    database = (result.database or "unknown database").rsplit(":", 1)[-1]
    text = f"[{environment}] Migration {_VERBS[result.status]}: {database}"
    if result.trigger:
        text += f" ({result.trigger})"
    # SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and
    # less than 100 characters long" (Amazon SNS API Reference, Publish). ASCII is kept for mail.
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return clean[:MAX_SUBJECT_CHARS]


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


class SnsNotifier:
    """Publishes results to one SNS topic."""

    __slots__ = ("client", "environment", "topic_arn")

    def __init__(self, client: Any, topic_arn: str, *, environment: str) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.environment = environment

    def notify(self, result: Result) -> None:
        """Publish one result; the body is the result document the function also returns."""
        call(
            f"publish to {self.topic_arn}",
            lambda: self.client.publish(
                TopicArn=self.topic_arn,
                Subject=subject(result, self.environment),
                Message=body(result),
                MessageAttributes={
                    key: {"DataType": "String", "StringValue": value}
                    for key, value in attributes(result, self.environment).items()
                    if value
                },
            ),
        )
