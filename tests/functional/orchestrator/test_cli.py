"""The `migration-trigger` command against the current environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kube_emulator import PodScript
from migration_trigger.cli import main
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World, profiles


def write(tmp_path: Path, event: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return str(path)


@ON_CHOSEN_CLUSTERS
def test_invoke_runs_the_migration_and_prints_the_result(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    world.pods.when(PodScript(logs="Applied 1 migration\n"))

    code = main(["invoke", write(tmp_path, world.event("rds-instance-created.json"))])

    out = capsys.readouterr().out
    assert code == 0
    assert "status:   succeeded" in out
    assert "  | Applied 1 migration" in out
    assert len(world.jobs()) == 1


@ON_CHOSEN_CLUSTERS
def test_invoke_json_prints_the_result_document(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code = main(["invoke", "--json", write(tmp_path, world.event("rds-instance-created.json"))])

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["status"] == "succeeded"
    assert document["database"] == world.db_arn


@ON_CHOSEN_CLUSTERS
def test_invoke_exits_1_when_the_migration_fails(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    world.pods.when(PodScript(exit_code=2, logs="boom\n"))

    code = main(["invoke", write(tmp_path, world.event("rds-instance-created.json"))])

    assert code == 1
    assert "status:   failed" in capsys.readouterr().out


@ON_CHOSEN_CLUSTERS
def test_plan_prints_the_target_and_job_and_creates_nothing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code = main(["plan", write(tmp_path, world.event("rds-instance-created.json"))])

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["decision"] == "run"
    assert document["cluster"] == "platform-dev"
    assert document["job"]["kind"] == "Job"
    assert (
        document["job"]["spec"]["template"]["spec"]["containers"][0]["image"]
        == "ghcr.io/example/orders-migrations:1.0.0"
    )
    assert world.jobs() == []
    assert world.requests.all() == []


@ON_CHOSEN_CLUSTERS
def test_plan_shows_the_guards_that_would_apply_without_waiting(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    # Each attempt may wait a week and an hour for the window: two attempts need more than that.
    # And the approval, a day, and the window again after it.
    world.monkeypatch.setenv("EXECUTION_TIMEOUT_SECONDS", str(30 * 86400))
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    world.set_profiles(
        profiles(
            window={"days": every_day, "start": "00:00", "end": "23:59", "timeZone": "UTC"},
            retry={"attempts": 2, "whenLogMatches": "55P03"},
            approval={"required": True, "triggers": ["secret-rotated", "manual"]},
            snapshotBeforeMigration=True,
            pollSeconds=10,
        )
    )

    code = main(["plan", write(tmp_path, world.event("rds-instance-created.json"))])

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    window = document["window"]
    assert window["window"] == "mon,tue,wed,thu,fri,sat,sun 00:00-23:59 UTC"
    assert window["open_now"] is (window["opens_in_seconds"] == 0)
    assert 0 <= window["opens_in_seconds"] <= 60
    assert document["retry"] == {"attempts": 2, "delay_seconds": 600, "when_log_matches": "55P03"}
    assert document["approval"] == {
        "approval": "required for manual, secret-rotated; an answer within 86400s",
        "asked_for_this_event": False,
        "image": "runs by its reference as written (not in Amazon ECR, or not approved)",
    }
    assert document["snapshot"] == {
        "taken_for_this_event": False,
        "snapshot": "skipped: a database just created or restored (db-created) holds no data",
    }
    assert world.jobs() == []


@ON_CHOSEN_CLUSTERS
def test_plan_of_an_ignored_event_says_why(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code = main(
        [
            "plan",
            write(tmp_path, world.event("rds-instance-created.json", EventID="RDS-EVENT-0006")),
        ]
    )

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["decision"] == "ignored"


@ON_CHOSEN_CLUSTERS
def test_configuration_errors_exit_2_with_the_message(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    world.monkeypatch.delenv("ENVIRONMENT")

    code = main(["invoke", write(tmp_path, world.event("rds-instance-created.json"))])

    assert code == 2
    assert "ENVIRONMENT is not set" in capsys.readouterr().err


def test_unreadable_event_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SystemExit, match="cannot read"):
        main(["invoke", str(tmp_path / "missing.json")])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SystemExit, match="is not JSON"):
        main(["plan", str(tmp_path / "bad.json")])
