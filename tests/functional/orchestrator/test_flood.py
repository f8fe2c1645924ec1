"""A flood of rejected events is counted, not notified one by one (by default)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from tests.functional.deployment.test_failure_plumbing import alarms_on
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World

pytestmark = ON_CHOSEN_CLUSTERS


def test_a_burst_of_rejected_events_sends_no_message_and_is_counted(
    world: World, capfd: pytest.CaptureFixture[str]
):
    # Given the default notification settings
    world.monkeypatch.delenv("NOTIFY_STATUSES")
    junk: list[Any] = [{"id": f"junk-{i}", "source": "x"} for i in range(60)]

    # When 60 malformed events arrive (one EventBridge batch)
    run = world.run(junk)

    # Then each is rejected and counted, and nobody is paged
    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert [r["status"] for r in run.result] == ["rejected"] * 60
    assert world.notifications() == []
    out = capfd.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    rejected = [m for m in metrics if m.get("Status") == "rejected"]
    assert sum(m["Migrations"][0] for m in rejected) == 60
    # and the template alarms on that count, once per burst
    (alarm,) = [
        a
        for a in alarms_on("Migrations")
        if {"Name": "Status", "Value": "rejected"} in a["Dimensions"]
    ]
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"] == [{"!": "ResultsTopic"}]
