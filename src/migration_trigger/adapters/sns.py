"""Results as SNS notifications: a mail-friendly subject, the result as JSON, filter attributes."""

from __future__ import annotations

import json
from typing import Any

from migration_trigger.adapters.aws import call
from migration_trigger.domain.result import Result, Status

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
    """A mail subject: `[prod] Migration FAILED: orders-db (db-created)`, at most 100 characters."""
    database = (result.database or "unknown database").rsplit(":", 1)[-1]
    text = f"[{environment}] Migration {_VERBS[result.status]}: {database}"
    if result.trigger:
        text += f" ({result.trigger})"
    # SNS subjects: ASCII without control characters, 100 characters at most.
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return clean[:100]


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
                Message=json.dumps(result.to_dict(), indent=2),
                MessageAttributes={
                    key: {"DataType": "String", "StringValue": value}
                    for key, value in attributes(result, self.environment).items()
                    if value
                },
            ),
        )
