"""What a failed migration looks like to Lambda: a durable execution that ends FAILED.

Checked against the durable SDK's own wrapper (`durable_execution` in execution.py): it catches
the handler's error and returns `{"Status": "FAILED", "Error": ...}` as the invocation's normal
result. The invocation succeeds, so `AWS/Lambda Errors` and EventInvokeConfig's on-failure
destination never see a failed migration; Lambda counts it in `DurableExecutionFailed` and sends
the event to the function's dead-letter queue (tests/functional/deployment/test_failure_plumbing.py
holds the template to that).
"""

from __future__ import annotations

import json

import pytest

from tests.durable import first_invocation, resume
from tests.helpers import load_event


@pytest.fixture(autouse=True)
def misconfigured(offline_aws: pytest.MonkeyPatch) -> None:
    """A deployment whose ENVIRONMENT is missing, with no topic: only logs and metrics report."""
    for name in ("ENVIRONMENT", "TOPIC_ARN", "MIGRATION_PROFILES"):
        offline_aws.delenv(name, raising=False)


def test_a_failed_execution_returns_status_failed_instead_of_raising(
    capsys: pytest.CaptureFixture[str],
):
    output, service = resume(first_invocation(load_event("rds-instance-created.json")))

    assert output["Status"] == "FAILED"
    assert "ENVIRONMENT is not set" in output["Error"]["ErrorMessage"]
    # The result was still reported, in a checkpointed step, before the execution failed.
    reported = [u for u in service.updates if u.name == "report" and u.action.value == "SUCCEED"]
    assert len(reported) == 1
    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert [m["Status"] for m in metrics if "Migrations" in m] == ["failed"]
