"""The ledger over a real wire: moto's DynamoDB, the table as template.yaml defines it, the
function's calls held to the template's policy. The story's side (once per result, whatever the
replays): tests/story/test_ledger.py."""

from __future__ import annotations

import json
from typing import Any

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from migration_trigger.adapters.ledger import DynamoLedger
from migration_trigger.domain.ledger import Entry
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import CANARY, LEDGER, ON_CHOSEN_CLUSTERS, World


def table_items() -> list[dict[str, Any]]:
    return admin_client("dynamodb").scan(TableName=LEDGER)["Items"]


def ledger() -> DynamoLedger:
    """The ledger as an administrator reads it."""
    return DynamoLedger(lambda: admin_client("dynamodb"), LEDGER, history_days=90)


@ON_CHOSEN_CLUSTERS
def test_a_migration_is_recorded_under_the_templates_policy_without_its_password(world: World):
    world.pods.when(PodScript(logs=f"Applied 1 migration\nconnected as {CANARY}\n"))

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.SUCCEEDED
    items = table_items()
    assert {item["entry"]["S"].split("#")[0] for item in items} == {"standing", "run"}
    standing = ledger().standing(world.db_arn)
    assert standing.success is not None
    assert standing.success.image == "ghcr.io/example/orders-migrations:1.0.0"
    assert standing.success.job == run.result["job"]
    assert standing.latest["db-created"].status == "succeeded"
    (history,) = ledger().history(world.db_arn)
    assert history["job"] == run.result["job"] and history["status"] == "succeeded"
    (item,) = [i for i in items if i["entry"]["S"].startswith("run#")]
    assert int(item["expires_at"]["N"]) - int(float(item["at"]["N"])) == 90 * 86400
    assert CANARY not in json.dumps(items)
    wrote = [c for c in world.iam.calls if c.action.startswith("dynamodb:")]
    assert {c.action for c in wrote} == {"dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert all(c.allowed and c.resource.endswith(f":table/{LEDGER}") for c in wrote)


def test_a_result_without_the_grant_stands_and_says_the_ledger_was_not_written(world: World):
    world.iam.statements = [s for s in world.iam.statements if s.sid != "RecordResults"]
    world.pods.when(PodScript(logs="Applied 1 migration\n"))

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.SUCCEEDED
    assert run.result["status"] == "succeeded"
    assert table_items() == []
    assert [m["Subject"] for m in world.notifications()] == [
        "[test] Migration succeeded: orders-db (db-created)"
    ]


def entry(at: float, status: str, *, execution: str, trigger: str = "manual") -> Entry:
    document = {"status": status, "reason": status, "trigger": trigger, "job": f"job-{at}"}
    return Entry(
        database="arn:aws:rds:eu-west-1:123456789012:db:orders-db",
        trigger=trigger,
        at=at,
        execution=execution,
        status=status,
        job=f"job-{at}",
        image=f"ghcr.io/example/orders-migrations:{int(at)}",
        document=document,
    )


def test_a_late_older_result_is_history_and_a_repeated_write_changes_nothing(world: World):
    # Given a newer failure and an older success of the same trigger, recorded in that order
    ledger().record(entry(200, "failed", execution="newer"))
    ledger().record(entry(100, "succeeded", execution="older"))
    # and the newer one recorded again (its report step run twice)
    ledger().record(entry(200, "failed", execution="newer"))

    standing = ledger().standing("arn:aws:rds:eu-west-1:123456789012:db:orders-db")

    assert standing.latest["manual"].status == "failed", "the newest of the kind stands"
    assert standing.success is not None and standing.success.at == 100
    history = ledger().history("arn:aws:rds:eu-west-1:123456789012:db:orders-db")
    assert [h["status"] for h in history] == ["failed", "succeeded"]


def test_standings_are_read_a_hundred_at_a_time(world: World):
    databases = [f"arn:aws:rds:eu-west-1:123456789012:db:tenant-{i}" for i in range(250)]
    for index, database in enumerate(databases[:3]):
        ledger().record(
            entry(100 + index, "succeeded", execution=f"e{index}")._replace(database=database)
        )

    standings = ledger().standings(databases)

    assert len(standings) == 250
    assert [d for d, s in standings.items() if s.success is not None] == databases[:3]


def test_a_claim_is_the_first_claimants_and_claiming_again_is_harmless(world: World):
    """A step claiming an execution's end may run twice (its checkpoint lost): the same claimant
    holds it still; another does not (stages/aftermath.py)."""
    key = "ended#arn:aws:lambda:eu-west-1:123456789012:function:f:7/durable-execution/a/b"

    first = ledger().claim(key, "reporter-1", at=1_790_000_000.0)
    again = ledger().claim(key, "reporter-1", at=1_790_000_060.0)
    other = ledger().claim(key, "reporter-2", at=1_790_000_120.0)

    assert (first, again, other) == ("reporter-1", "reporter-1", "another execution")
    (item,) = [i for i in table_items() if i["database"]["S"] == key]
    assert (item["entry"]["S"], item["claimant"]["S"]) == ("claim", "reporter-1")
    assert int(item["expires_at"]["N"]) == 1_790_000_060 + 90 * 86400
