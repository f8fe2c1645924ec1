"""template.yaml routes a failed migration where AWS actually sends it.

A failed or timed-out migration ends its durable execution FAILED while its invocation succeeds
(tests/unit/test_durable_failure.py): AWS's "Monitoring durable functions" page says to alarm on
`DurableExecutionFailed` for execution-level failures, and "Best practices for Lambda durable
functions" that an execution ending FAILED, STOPPED or TIMED_OUT after an asynchronous
invocation sends the original event to the function's dead-letter queue. The quotas are 3,000
operations and 100 MB written per execution.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.helpers import ROOT


def _plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return {"!": loader.construct_scalar(node)}  # type: ignore[arg-type]


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", _plain)
TEMPLATE = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTION = RESOURCES["MigrationFunction"]


def alarms_on(metric: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["MetricName"] == metric
    ]


def test_the_function_has_a_dead_letter_queue_for_failed_executions():
    dlq = FUNCTION["Properties"]["DeadLetterQueue"]

    assert dlq["Type"] == "SQS"
    queue = dlq["TargetArn"]["!"].split(".")[0]
    assert RESOURCES[queue]["Type"] == "AWS::SQS::Queue"
    assert any(
        alarm["Dimensions"][0]["Value"] == {"!": f"{queue}.QueueName"}
        for alarm in alarms_on("ApproximateNumberOfMessagesVisible")
    )


@pytest.mark.parametrize("metric", ["DurableExecutionFailed", "DurableExecutionTimedOut"])
def test_failed_and_timed_out_executions_raise_an_alarm_to_the_topic(metric: str):
    (alarm,) = alarms_on(metric)

    assert alarm["Namespace"] == "AWS/Lambda"
    assert alarm["Threshold"] == 1
    assert alarm["AlarmActions"] == [{"!": "ResultsTopic"}]


@pytest.mark.parametrize(
    ("metric", "quota"),
    [("DurableExecutionOperations", 3000), ("DurableExecutionStorageWrittenBytes", 100_000_000)],
)
def test_an_execution_nearing_a_durable_quota_raises_an_alarm_before_it_is_hit(
    metric: str, quota: int
):
    (alarm,) = alarms_on(metric)

    assert alarm["Statistic"] == "Maximum"
    assert 0.5 * quota <= alarm["Threshold"] < quota


def test_no_alarm_claims_to_see_failed_migrations_through_invocation_errors():
    (errors,) = alarms_on("Errors")

    assert "Failed migrations do not count here" in errors["AlarmDescription"]


def test_no_checkov_suppression_claims_a_destination_replaces_the_dead_letter_queue():
    skipped = {s["id"] for s in FUNCTION["Metadata"]["checkov"]["skip"]}

    assert "CKV_AWS_116" not in skipped


def test_the_function_knows_the_execution_timeout_it_runs_under():
    """The profiles' waits are checked against the same value Lambda enforces: one parameter."""
    properties = FUNCTION["Properties"]

    timeout = properties["DurableConfig"]["ExecutionTimeout"]

    assert timeout == {"!": "ExecutionTimeoutSeconds"}
    assert properties["Environment"]["Variables"]["EXECUTION_TIMEOUT_SECONDS"] == timeout


def emitted_metrics() -> set[str]:
    """The metric names adapters/observability.py emits (each a string literal there)."""
    import re

    source = (ROOT / "src" / "migration_trigger" / "adapters" / "observability.py").read_text()
    return set(re.findall(r'"((?:Migration|Sweep|Ledger|Notification)[A-Za-z]*)"', source))


def dashboard_metrics() -> set[str]:
    """The MigrationTrigger metrics the dashboard shows (its body with the Sub's names filled)."""
    import json
    import re

    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["!"]
    document = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    shown = set()
    for widget in document["widgets"]:
        namespace = None
        for metric in widget["properties"]["metrics"]:
            names = [m for m in metric if isinstance(m, str)]
            namespace = names[0] if names[0] != "." else namespace
            if namespace == "MigrationTrigger" and names[0] not in ("...",):
                shown.add(names[1])
    return shown


def test_the_dashboard_shows_every_metric_the_function_emits():
    assert emitted_metrics() >= {"Migrations", "SweepOptedIn", "SweepFailed", "LedgerFailed"}
    assert emitted_metrics() <= dashboard_metrics(), emitted_metrics() - dashboard_metrics()


@pytest.mark.parametrize("metric", ["LedgerFailed", "SweepFailed", "NotificationFailed"])
def test_a_failure_the_function_only_counts_raises_an_alarm_to_the_topic(metric: str):
    (alarm,) = alarms_on(metric)

    assert alarm["Namespace"] == "MigrationTrigger"
    assert alarm["Threshold"] == 1
    assert alarm["AlarmActions"] == [{"!": "ResultsTopic"}]
