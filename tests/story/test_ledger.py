"""The ledger in the story: each result about a database is recorded once, inside the report step,
through the durable execution SDK as in Lambda (tests/durable.py), whatever the replays. The
DynamoDB table itself, over a real wire under the template's policy:
tests/functional/orchestrator/test_ledger.py."""

from __future__ import annotations

import json

from tests.story.world import DB_ARN, PASSWORD, RUNNING, PodScript, StoryWorld, exited


def test_a_migration_is_recorded_once_with_the_image_it_ran_whatever_the_replays():
    world = StoryWorld()
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (300, exited(0))]))

    ended = world.run_durably(world.event())

    assert ended.result["status"] == "succeeded"
    assert ended.invocations > 1, "the execution suspended and replayed"
    (write,) = world.ledger.writes
    assert write.database == DB_ARN
    assert write.trigger == "db-created"
    assert write.job == ended.result["job"]
    image = world.settings.profiles["orders"].image
    assert write.image == ended.result["image"] == image
    assert write.document == ended.result
    standing = world.ledger.standings([DB_ARN])[DB_ARN]
    assert standing.success is not None
    assert standing.success.image == image
    assert standing.latest["db-created"].status == "succeeded"


def test_a_failed_migration_is_recorded_as_the_latest_and_the_last_success_stays():
    world = StoryWorld()
    world.run_durably(world.event())
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (60, exited(1))]))

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED"
    standing = world.ledger.standings([DB_ARN])[DB_ARN]
    assert standing.latest["manual"].status == "failed"
    assert standing.success is not None and standing.success.trigger == "db-created"
    last = standing.last_migration()
    assert last is not None and last.trigger == "manual"


def test_the_ledger_holds_no_credential():
    world = StoryWorld()
    world.jobs.scripts.append(
        PodScript(timeline=[(0, RUNNING), (30, exited(1))], log=f"connecting with {PASSWORD}\n")
    )

    world.run_durably(world.event())

    (write,) = world.ledger.writes
    assert "connecting with" in write.document["log_tail"], "the masked log is recorded"
    assert PASSWORD not in json.dumps(write._asdict())
    assert PASSWORD not in json.dumps(write.summary())


def test_a_ledger_that_cannot_be_written_is_logged_and_counted_and_the_result_stands():
    world = StoryWorld()
    world.ledger.unavailable = True

    ended = world.run_durably(world.event())

    assert ended.result["status"] == "succeeded"
    assert [r.status for r in world.recorded.notified] == ["succeeded"]
    assert world.recorded.failed_ledger_writes == 1
    warnings = [m for level, m, _ in world.recorded.log if level == "warning"]
    assert "the result could not be recorded in the ledger" in warnings


def test_a_result_about_no_database_is_not_recorded():
    world = StoryWorld()

    document, _ = world.run({"id": "1", "source": "aws.s3", "detail-type": "x", "detail": {}})

    assert document is not None and document["status"] == "ignored"
    assert world.ledger.writes == []


def test_a_skipped_database_is_history_only():
    world = StoryWorld(triggers=["manual"])

    document, _ = world.run(world.event())

    assert document is not None and document["status"] == "skipped"
    (write,) = world.ledger.writes
    assert write.job is None and write.status == "skipped" and not write.decided
    standing = world.ledger.standings([DB_ARN])[DB_ARN]
    assert standing.latest == {} and not standing.migrated_since(0)


def running_waits(world: StoryWorld) -> list[str]:
    return [s for s in world.steps_taken if s.startswith("wait:running-")]


def test_a_watch_that_knows_the_usual_duration_checks_less_and_still_sees_the_end_in_time():
    # Given a database whose last migration ran an hour, and a profile that asks the ledger
    world = StoryWorld(watchFromLedger=True, activeDeadlineSeconds=7200)
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (3600, exited(0))]))
    world.run(world.event())
    usual = len(running_waits(world))
    world.steps_taken.clear()
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (3600, exited(0))]))

    # When it is migrated again, for as long
    document, _ = world.run(world.event("manual-retrigger.json"))

    # Then the watch checked as usual for ten minutes, then every 15 minutes until 48, and the
    # end was still seen within a minute
    assert document is not None and document["status"] == "succeeded"
    # (the usual watch: 50 checks a minute apart after the first ten minutes; this one: three
    # pauses of at most 15 minutes to minute 48, then 12 a minute apart)
    informed = len(running_waits(world))
    assert usual - informed == 50 - (3 + 12), (usual, informed)
    assert document["duration_seconds"] <= 3600 + 60


def test_a_watch_without_the_profiles_key_or_a_known_duration_checks_as_usual():
    world = StoryWorld(activeDeadlineSeconds=7200)
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (3600, exited(0))]))
    world.run(world.event())
    first = len(running_waits(world))
    world.steps_taken.clear()
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (3600, exited(0))]))

    world.run(world.event("manual-retrigger.json"))

    assert len(running_waits(world)) == first
