"""The password's only home is the ephemeral Secret; results reach logs, metrics and SNS."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import Fault, PodScript
from kube_emulator.faults import RecordedRequest
from tests.functional.orchestrator.conftest import CANARY, ON_CHOSEN_CLUSTERS, World, profiles
from tests.helpers import eventually


@ON_CHOSEN_CLUSTERS
def test_canary_password_is_found_nowhere_but_the_ephemeral_secret(
    world: World, capfd: pytest.CaptureFixture[str]
):
    # A careless migration tool prints its connection URL and the password.
    world.pods.when(
        PodScript(
            exit_code=1,
            logs=[
                "connecting to postgresql://app:canary-Pa55%3Aw%2Frd%40%23%25-do-not-leak@orders-db:5432/orders",
                f"password rejected: {CANARY}",
            ],
        )
    )

    # The Secret as it was while the Job ran (it is deleted once the Job has finished).
    while_running = secrets_when_started(world)

    run = world.run(world.event("rds-instance-created.json"))

    (secret,) = while_running
    # The function sends stringData; the API server stores it as base64 data, as a real one does.
    stored = base64.b64decode(secret["data"]["DB_PASSWORD"]).decode()
    assert stored == CANARY, "the one place it must be"
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "Job"
    out, err = capfd.readouterr()
    elsewhere = {
        "function output": out + err,
        "result": json.dumps(run.result) + (run.error or ""),
        "step results": json.dumps(
            [getattr(op, "result", None) for op in run.operations], default=str
        ),
        "notifications": json.dumps(world.notifications()),
        "jobs": json.dumps(world.jobs()),
        "requests": repr(world.requests.all()),
    }
    for where, text in elsewhere.items():
        for form in (
            CANARY,
            "canary-Pa55%3Aw%2Frd%40%23%25",
            base64.b64encode(CANARY.encode()).decode(),
        ):
            assert form not in text, f"password found in {where}"
    assert "password rejected: ****" in out


@ON_CHOSEN_CLUSTERS
def test_secret_arn_mode_never_reads_the_password(world: World):
    world.set_profiles({"profiles": {"orders": {**profiles()["profiles"]["arn-mode"]}}})

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded"
    secrets = world.select("secrets")
    assert secrets == []
    (job,) = world.jobs()
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["DB_SECRET_ARN"] == world.secret_arn
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "migration-runner"


def secrets_when_started(world: World) -> list[dict[str, Any]]:
    """The namespace's Secrets as they are when the function un-suspends its Job (filled in then)."""
    seen: list[dict[str, Any]] = []

    def snapshot(request: RecordedRequest) -> None:
        if request.method == "PATCH" and "/jobs/" in request.path and not seen:
            items = world.select("secrets")
            seen.extend(items)

    world.requests.on_request(snapshot)
    return seen


@ON_CHOSEN_CLUSTERS
@pytest.mark.parametrize(
    ("script", "status"),
    [(PodScript(logs="Applied 1 migration\n"), "succeeded"), (PodScript(exit_code=1), "failed")],
    ids=["succeeded", "failed"],
)
def test_the_credentials_secret_is_deleted_once_the_job_has_finished_and_the_job_stays(
    world: World, script: PodScript, status: str
):
    world.pods.when(script)
    while_running = secrets_when_started(world)

    run = world.run(world.event("rds-instance-created.json"))

    assert outcome(run) == status
    assert len(while_running) == 1, "the Job had its credentials while it ran"
    secrets = world.select("secrets")
    assert secrets == [], "no credentials outlive the migration"
    (job,) = world.jobs()  # kept, with its pod, for its log and status
    assert {c["type"] for c in job["status"]["conditions"]} & {"Complete", "Failed"}
    deletes = [r for r in world.requests.all() if r.method == "DELETE" and "/secrets/" in r.path]
    assert len(deletes) == 1


def outcome(run: Any) -> str:
    return run.result["status"] if run.result else (run.error or "").split(":", 1)[0]


@ON_CHOSEN_CLUSTERS
def test_ephemeral_secret_is_deleted_with_its_job(world: World):
    """Whatever the function could not delete, the garbage collector does with the Job (the
    Secret is owned by it)."""
    world.fault(Fault(path="/secrets/migrate-", method="DELETE", status=403, times=50))
    world.run(world.event("rds-instance-created.json"))
    (job,) = world.jobs()
    assert len(world.secrets()) == 1, "its delete was refused"

    world.delete("jobs", job["metadata"]["name"])

    eventually(lambda: world.secrets() == [], timeout=30)


def emf(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


@ON_CHOSEN_CLUSTERS
def test_metrics_count_each_outcome_and_time_the_migration(
    world: World, capfd: pytest.CaptureFixture[str]
):
    world.pods.when(PodScript(duration=0.3))

    world.run(world.event("rds-instance-created.json"))
    world.run(world.event("rds-instance-created.json", EventID="RDS-EVENT-0006"), name="ignored")

    metrics = emf(capfd.readouterr().out)
    counts = [(m["Status"], m["Migrations"]) for m in metrics if "Migrations" in m]
    assert counts == [("succeeded", [1.0]), ("ignored", [1.0])]
    (duration,) = [m for m in metrics if "MigrationDuration" in m]
    assert duration["Environment"] == "test"
    assert duration["MigrationDuration"][0] > 0
    definition = duration["_aws"]["CloudWatchMetrics"][0]
    assert definition["Namespace"] == "MigrationTrigger"
    assert definition["Metrics"] == [{"Name": "MigrationDuration", "Unit": "Seconds"}]


@ON_CHOSEN_CLUSTERS
def test_notification_has_readable_subject_json_body_and_filterable_attributes(world: World):
    world.pods.when(PodScript(logs="Applied 20261101_init.sql\n"))

    run = world.run(world.event("rds-instance-created.json"))

    (message,) = world.notifications()
    assert message["Subject"] == "[test] Migration succeeded: orders-db (db-created)"
    body = json.loads(message["Message"])
    assert body == run.result
    assert set(body) >= {
        "status",
        "reason",
        "trigger",
        "database",
        "cluster",
        "namespace",
        "job",
        "event_id",
        "duration_seconds",
        "log_tail",
    }
    attributes = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {"status": "succeeded", "environment": "test", "database": "orders-db"}


@ON_CHOSEN_CLUSTERS
def test_a_further_target_the_role_may_not_publish_to_is_a_counted_failed_notification(
    world: World,
):
    """NOTIFY_TARGETS adds notifiers after the results topic, each in a step of its own; the
    template grants `sns:Publish` on the results topic only, so another topic is refused (as
    IAM refuses it) and that notification fails alone: the result stands and reaches the
    results topic."""
    from tests.fixtures import admin_client

    team = admin_client("sns").create_topic(Name="team-migrations")["TopicArn"]
    world.monkeypatch.setenv("NOTIFY_TARGETS", team)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded", run.error
    names = [op.name for op in run.operations]
    assert names[-3:] == ["notify-0", "notify-1", "notify-1-failed"]
    (message,) = world.notifications()
    assert json.loads(message["Message"])["status"] == "succeeded"
    refused = [c for c in world.iam.calls if c.action == "sns:Publish" and not c.allowed]
    assert refused and all(team in c.resource for c in refused)


@ON_CHOSEN_CLUSTERS
def test_a_further_target_the_template_grants_is_notified_after_the_results_topic(world: World):
    """The NotifyTargets parameter: its topics reach the function as NOTIFY_TARGETS, and the
    template's policy lets it publish to them (PublishToNotifyTargets)."""
    from tests.fixtures import admin_client

    sns, sqs = admin_client("sns"), admin_client("sqs")
    team = sns.create_topic(Name="team-migrations")["TopicArn"]
    queue = sqs.create_queue(QueueName="team-inbox")["QueueUrl"]
    inbox = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=team, Protocol="sqs", Endpoint=inbox["Attributes"]["QueueArn"])
    world.deploy_with({"HasNotifyTargets": True}, NotifyTargets=team)
    world.monkeypatch.setenv("NOTIFY_TARGETS", team)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded", run.error
    assert [op.name for op in run.operations][-2:] == ["notify-0", "notify-1"]
    (message,) = world.notifications()
    (team_message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert json.loads(json.loads(team_message["Body"])["Message"]) == json.loads(message["Message"])
    published = [c for c in world.iam.calls if c.action == "sns:Publish"]
    assert len(published) == 2 and all(c.allowed for c in published)


@ON_CHOSEN_CLUSTERS
def test_only_configured_statuses_notify(world: World):
    world.monkeypatch.setenv("NOTIFY_STATUSES", "failed,timed_out")

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded"
    assert world.notifications() == []


@ON_CHOSEN_CLUSTERS
def test_invalid_notify_statuses_fail_with_the_valid_list(world: World):
    world.monkeypatch.setenv("NOTIFY_STATUSES", "succeeded,exploded")

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert "NOTIFY_STATUSES: use a comma-separated list of: succeeded, failed" in (run.error or "")


@ON_CHOSEN_CLUSTERS
def test_result_is_logged_as_structured_json(world: World, capfd: pytest.CaptureFixture[str]):
    world.run(world.event("rds-instance-created.json"))

    lines = [
        json.loads(line)
        for line in capfd.readouterr().out.splitlines()
        if line.startswith('{"level"')
    ]
    (result,) = [line for line in lines if line["message"] == "migration result"]
    assert result["service"] == "migration-trigger"
    assert result["result"]["status"] == "succeeded"
    assert any(line["message"] == "migration log" for line in lines)


@ON_CHOSEN_CLUSTERS
def test_a_huge_migration_log_is_cut_to_fit_checkpoints_and_the_notification(world: World):
    # Given a tool that prints 1,000 lines of 500 bytes, all kept by LOG_TAIL_LINES
    world.monkeypatch.setenv("LOG_TAIL_LINES", "1000")
    lines = [f"{i:04d} " + "y" * 495 for i in range(1000)]
    world.pods.when(PodScript(logs="\n".join(lines) + "\n", duration=0.1))

    # When it runs
    run = world.run(world.event("rds-instance-created.json"))

    # Then the tail is its last lines within 64 KiB, and the notification carries it
    tail = run.result["log_tail"]
    assert len(tail.encode()) <= 64 * 1024
    assert "earlier bytes cut]" in tail.split("\n")[0]
    assert tail.endswith(lines[-1])
    (message,) = world.notifications()
    assert len(message["Message"].encode()) < 256 * 1024
    assert json.loads(message["Message"])["log_tail"] == tail
