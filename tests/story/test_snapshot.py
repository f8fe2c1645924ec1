"""A snapshot before migrating, over the story's fakes and through the durable execution SDK as in
Lambda (tests/durable.py). RDS's side over a real wire (moto, under the template's policy):
tests/functional/orchestrator/test_snapshot.py."""

from __future__ import annotations

from migration_trigger.domain.snapshots import DATABASE_TAG, JOB_TAG, TRIGGER_TAG, Snapshot
from tests.story.world import DB_ARN, RUNNING, PodScript, StoryWorld, approve, exited, reject

SNAPSHOT = {"snapshotBeforeMigration": True}


def test_a_snapshot_is_taken_and_available_before_the_job_starts():
    world = StoryWorld(**SNAPSHOT)

    ended = world.run_durably(world.event("manual-retrigger.json"))

    document = ended.result
    assert document["status"] == "succeeded"
    name = document["snapshot"]
    assert name.startswith(f"migration-trigger-{document['job']}-")
    taken = world.snapshots.snapshots[name]
    assert dict(taken.tags) == {
        DATABASE_TAG: DB_ARN,
        TRIGGER_TAG: "manual",
        JOB_TAG: document["job"],
    }
    (target,) = world.snapshots.taken_for
    assert (target.kind, target.identifier) == ("instance", "orders-db")
    taken_steps = world.steps_taken
    assert taken_steps.index("snapshot") < taken_steps.index("start-job")
    (notified,) = world.recorded.notified
    assert notified.snapshot == name


def test_a_snapshot_still_being_created_is_waited_for_durably():
    world = StoryWorld(**SNAPSHOT)
    world.snapshots.statuses = ["creating", "creating", "available"]

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    taken = world.steps_taken
    assert taken[taken.index("snapshot") + 1 :][:5] == [
        "wait:snapshot-creating-0",
        "snapshot-status-0",
        "wait:snapshot-creating-1",
        "snapshot-status-1",
        "start-job",
    ]
    assert len(world.snapshots.taken_for) == 1, "taken once, whatever the replays"


def test_a_failed_snapshot_fails_the_migration_before_its_job_starts():
    world = StoryWorld(**SNAPSHOT)
    world.snapshots.statuses = ["creating", "failed"]

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED"
    assert "is failed: the Job was deleted and nothing ran" in (ended.error or "")
    assert "start-job" not in world.steps_taken and world.jobs.jobs == {}


def test_a_snapshot_not_available_in_time_fails_the_migration_unstarted():
    world = StoryWorld(**SNAPSHOT, snapshotTimeoutSeconds=120)
    world.snapshots.statuses = ["creating"]
    start = world.clock.now

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED"
    assert "was not available within 120s" in (ended.error or "")
    assert world.jobs.jobs == {}
    waits = [op for op in ended.history if op.get("Name", "").startswith("snapshot-creating-")]
    assert len(waits) == 4, "30 s each, the last ending at the timeout"
    assert world.clock.now - start >= 120


def test_the_same_request_sent_again_takes_a_new_snapshot_not_the_earlier_one():
    world = StoryWorld(**SNAPSHOT)
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (3, exited(1))]))
    event = world.event("manual-retrigger.json")

    first = world.run_durably(event)
    again = world.run_durably(event)

    assert first.status == "FAILED" and again.result["status"] == "succeeded"
    assert len(world.snapshots.snapshots) == 2, "one snapshot per execution"
    assert again.result["snapshot"] in world.snapshots.snapshots


def test_a_window_that_closed_while_the_snapshot_was_taken_fails_the_migration_unstarted():
    window = {"days": ["mon"], "start": "14:00", "end": "14:30", "timeZone": "UTC"}
    world = StoryWorld(**SNAPSHOT, window=window, snapshotTimeoutSeconds=7200)
    world.snapshots.statuses = ["creating"] * 80 + ["available"]  # about 40 minutes

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED"
    assert "closed while the snapshot" in (ended.error or "")
    assert "window-snapshotted" in world.steps_taken
    assert "start-job" not in world.steps_taken and world.jobs.jobs == {}


def test_a_database_just_created_is_not_snapshotted_and_the_result_says_why():
    world = StoryWorld(**SNAPSHOT)

    ended = world.run_durably(world.event())  # db-created

    assert ended.result["status"] == "succeeded"
    assert ended.result["snapshot"].startswith("skipped: a database just created or restored")
    assert world.snapshots.taken_for == []


def test_after_a_success_only_this_products_older_snapshots_of_the_database_are_pruned():
    world = StoryWorld(**SNAPSHOT, keepSnapshots=2)
    ours = ((DATABASE_TAG, DB_ARN),)
    older = {
        "migration-trigger-old-1": Snapshot("migration-trigger-old-1", "available", 100.0, ours),
        "migration-trigger-old-2": Snapshot("migration-trigger-old-2", "available", 200.0, ours),
        "migration-trigger-old-3": Snapshot("migration-trigger-old-3", "available", 300.0, ours),
        # someone else's: named otherwise, or another database's, or not ours by tag
        "nightly-backup": Snapshot("nightly-backup", "available", 50.0, ours),
        "migration-trigger-other": Snapshot(
            "migration-trigger-other", "available", 60.0, ((DATABASE_TAG, "arn:other"),)
        ),
        "migration-trigger-untagged": Snapshot("migration-trigger-untagged", "available", 70.0),
    }
    world.snapshots.snapshots.update(older)

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    assert sorted(world.snapshots.deleted) == ["migration-trigger-old-1", "migration-trigger-old-2"]
    assert set(world.snapshots.snapshots) == {
        ended.result["snapshot"],
        "migration-trigger-old-3",
        "nightly-backup",
        "migration-trigger-other",
        "migration-trigger-untagged",
    }


def test_a_snapshot_that_cannot_be_pruned_is_a_warning_not_a_failure():
    world = StoryWorld(**SNAPSHOT, keepSnapshots=1)
    ours = ((DATABASE_TAG, DB_ARN),)
    world.snapshots.snapshots["migration-trigger-old"] = Snapshot(
        "migration-trigger-old", "available", 100.0, ours
    )
    world.snapshots.refuse_delete.add("migration-trigger-old")

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    assert any(
        message == "pruned older snapshots" and fields["errors"]
        for _, message, fields in world.recorded.log
    )


def test_a_failed_migration_prunes_nothing():
    world = StoryWorld(**SNAPSHOT, keepSnapshots=1)
    world.snapshots.snapshots["migration-trigger-old"] = Snapshot(
        "migration-trigger-old", "available", 100.0, ((DATABASE_TAG, DB_ARN),)
    )
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (3, exited(1))]))

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED"
    assert world.snapshots.deleted == [] and "prune-snapshots" not in world.steps_taken


def test_a_retry_runs_after_the_same_snapshot():
    retry = {"attempts": 2, "delaySeconds": 60, "whenLogMatches": "lock timeout"}
    world = StoryWorld(**SNAPSHOT, retry=retry)
    world.jobs.scripts += [
        PodScript(timeline=[(0, RUNNING), (3, exited(1))], log="ERROR: lock timeout\n"),
        PodScript(),
    ]

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    assert len(world.snapshots.taken_for) == 1
    assert ended.result["snapshot"].startswith("migration-trigger-")


def test_the_snapshot_is_taken_once_approved_and_not_for_a_declined_migration():
    approval = {"required": True, "timeoutSeconds": 3600}
    world = StoryWorld(**SNAPSHOT, approval=approval)
    world.approvers.answers.append(approve(after=120))

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    taken = world.steps_taken
    assert taken.index("approval-answer-0") < taken.index("snapshot") < taken.index("start-job")
    assert ended.result["snapshot"] and ended.result["approved_by"]

    declined = StoryWorld(**SNAPSHOT, approval=approval)
    declined.approvers.answers.append(reject())
    assert declined.run_durably(declined.event("manual-retrigger.json")).result["status"] == (
        "declined"
    )
    assert declined.snapshots.taken_for == []
