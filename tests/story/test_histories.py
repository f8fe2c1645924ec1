"""Every shape the story can take has a recorded history, and today's code still writes it.

Each path below runs the story as Lambda runs it (through the durable execution SDK, a new
invocation at every suspension, tests/durable.py) on the story's fakes and virtual clock, so the
history it checkpoints is the same on every run. tests/unit/test_replay.py replays each recorded
history against the function at every point it can be suspended at, and checks its operations
against the cost model.

When the story's steps change on purpose, record the new histories beside the old ones, never
over them (executions of the old version may still be in flight after a deploy):

    MIGRATION_TRIGGER_RECORD_HISTORIES=<version> .venv/bin/pytest tests/story/test_histories.py

writes tests/replay/<path>-<version>.json for each path whose shape is not recorded yet.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Callable
from typing import Any

import pytest

from migration_trigger.domain.snapshots import DATABASE_TAG, Snapshot
from migration_trigger.errors import AwsError, KubernetesError
from tests.durable import Ended
from tests.helpers import ROOT
from tests.story.world import (
    DB_ARN,
    PASSWORD,
    RUNNING,
    PodScript,
    StoryWorld,
    approve,
    exited,
    reject,
    waiting,
)

HISTORIES = ROOT / "tests" / "replay"


def created() -> Ended:
    world = StoryWorld()
    return world.run_durably(world.event())


def rotation_settled() -> Ended:
    world = StoryWorld(rotationSettleSeconds=120)
    return world.run_durably(world.event("secret-label-updated.json"))


def database_waited() -> Ended:
    world = StoryWorld()
    world.rds.facts = world.rds.facts._replace(status="creating")
    world.rds.statuses = ["creating", "creating", "backing-up", "available"]
    return world.run_durably(world.event())


def queued() -> Ended:
    world = StoryWorld()
    world.job_ahead(PodScript(timeline=[(0, RUNNING), (20, exited(0))]))
    return world.run_durably(world.event("manual-retrigger.json"))


def stuck_stopped() -> Ended:
    world = StoryWorld()
    world.jobs.scripts.append(
        PodScript(timeline=[(0, waiting("InvalidImageName", "couldn't parse image name"))])
    )
    return world.run_durably(world.event())


def start_failed_cleaned_up() -> Ended:
    world = StoryWorld()
    world.jobs.failing["resume"] = [
        KubernetesError("service unavailable", status=503) for _ in range(5)
    ]
    return world.run_durably(world.event())


def declined() -> Ended:
    world = StoryWorld()
    world.rds.facts = world.rds.facts._replace(tags={})  # not opted in
    return world.run_durably(world.event())


def duplicate() -> Ended:
    world = StoryWorld()
    world.run_durably(world.event())
    return world.run_durably(world.event())


def notification_failed() -> Ended:
    world = StoryWorld()
    world.recorded.refuse = [
        AwsError("Rate exceeded", code="Throttling", retryable=True) for _ in range(5)
    ]
    return world.run_durably(world.event())


def window_waited() -> Ended:
    world = StoryWorld(
        window={"days": ["mon"], "start": "16:00", "end": "17:00", "timeZone": "UTC"}
    )
    return world.run_durably(world.event())


def retried() -> Ended:
    world = StoryWorld(retry={"attempts": 2, "delaySeconds": 60, "whenLogMatches": "lock timeout"})
    world.jobs.scripts += [
        PodScript(
            timeline=[(0, RUNNING), (3, exited(1))], log="canceling statement due to lock timeout\n"
        ),
        PodScript(),
    ]
    return world.run_durably(world.event())


APPROVAL = {"required": True, "timeoutSeconds": 3600}
ECR_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders-migrations:1.4.0"


def approved() -> Ended:
    world = StoryWorld(approval=APPROVAL, image=ECR_IMAGE)
    world.images.digests[ECR_IMAGE] = "sha256:" + "ab" * 32
    world.approvers.answers.append(approve(after=900))
    return world.run_durably(world.event("manual-retrigger.json"))


def approval_asked_again() -> Ended:
    world = StoryWorld(approval=APPROVAL)
    world.approvers.answers += [approve(after=60, fingerprint="sha256:" + "00" * 32), approve()]
    return world.run_durably(world.event("manual-retrigger.json"))


def approval_rejected() -> Ended:
    world = StoryWorld(approval=APPROVAL)
    world.approvers.answers.append(reject())
    return world.run_durably(world.event("manual-retrigger.json"))


def approval_timed_out() -> Ended:
    world = StoryWorld(approval=APPROVAL)
    return world.run_durably(world.event("manual-retrigger.json"))


def snapshot_taken() -> Ended:
    world = StoryWorld(snapshotBeforeMigration=True, keepSnapshots=1)
    world.snapshots.statuses = ["creating", "available"]
    world.snapshots.snapshots["migration-trigger-old"] = Snapshot(
        "migration-trigger-old", "available", 1.0, ((DATABASE_TAG, DB_ARN),)
    )
    return world.run_durably(world.event("manual-retrigger.json"))


def snapshot_failed() -> Ended:
    world = StoryWorld(snapshotBeforeMigration=True)
    world.snapshots.statuses = ["failed"]
    return world.run_durably(world.event("manual-retrigger.json"))


def execution_ended() -> Ended:
    from migration_trigger.domain.aftermath import ExecutionInfo
    from tests.story.test_aftermath import ENDED, ended

    world = StoryWorld()
    world.executions.infos[ENDED] = ExecutionInfo(
        "a", "TIMED_OUT", None, None, json.dumps(world.event())
    )
    return world.run_durably(ended())


def batch_of_two() -> Ended:
    world = StoryWorld()
    return world.run_durably([world.event(), world.event("manual-retrigger.json")])


def swept() -> Ended:
    from tests.story.test_sweep import SWEEP, world_of

    world = world_of()
    return world.run_durably(SWEEP)


def blue_green_waited() -> Ended:
    from tests.story.test_blue_green import AVAILABLE, GREEN_CREATED, SWITCHED

    world = StoryWorld()
    world.rds.deployments = [AVAILABLE]

    def switch_over(asks: int) -> None:
        if asks == 3:
            world.rds.deployments = [SWITCHED]
            world.rds.facts = world.rds.facts._replace(created=GREEN_CREATED)

    world.rds.moving = switch_over
    return world.run_durably(world.event("manual-retrigger.json"))


def switchover_noted() -> Ended:
    from tests.helpers import load_event
    from tests.story.test_blue_green import GREEN_CREATED, SWITCHED

    world = StoryWorld()
    world.rds.deployments = [SWITCHED]
    world.rds.facts = world.rds.facts._replace(created=GREEN_CREATED)
    return world.run_durably(load_event("rds-blue-green-switchover-completed.json"))


PATHS: dict[str, Callable[[], Ended]] = {
    "created": created,
    "rotation-settled": rotation_settled,
    "database-waited": database_waited,
    "queued": queued,
    "stuck-stopped": stuck_stopped,
    "start-failed-cleaned-up": start_failed_cleaned_up,
    "declined": declined,
    "duplicate": duplicate,
    "notification-failed": notification_failed,
    "batch-of-two": batch_of_two,
    "window-waited": window_waited,
    "retried": retried,
    "approved": approved,
    "approval-asked-again": approval_asked_again,
    "approval-rejected": approval_rejected,
    "approval-timed-out": approval_timed_out,
    "snapshot-taken": snapshot_taken,
    "snapshot-failed": snapshot_failed,
    "execution-ended": execution_ended,
    "swept": swept,
    "blue-green-waited": blue_green_waited,
    "switchover-noted": switchover_noted,
}

#: What distinguishes each path: operations its history holds (batch steps unprefixed).
MARKS = {
    "created": {"start-job", "check-0", "notify-0"},
    "rotation-settled": {"rotation-settle"},
    "database-waited": {"database-available-0", "database-status-1"},
    "queued": {"queued-0", "queue-1"},
    "stuck-stopped": {"stop-job"},
    "start-failed-cleaned-up": {"clean-up"},
    "declined": {"resolve", "report"},
    "duplicate": {"create-job", "report"},
    "notification-failed": {"notify-0-failed"},
    "batch-of-two": {"start-job"},
    "window-waited": {"window-0", "window-closed-0", "window-1", "start-job"},
    "retried": {"retry-1", "attempt-2/create-job", "attempt-2/start-job"},
    "approved": {"pin-image", "approval-0", "approval-0-request", "approval-answer-0", "start-job"},
    "approval-asked-again": {"approval-answer-0", "approval-1", "approval-answer-1", "start-job"},
    "approval-rejected": {"approval-answer-0", "stop-job"},
    "approval-timed-out": {"approval-answer-0", "stop-job"},
    "snapshot-taken": {"snapshot", "snapshot-creating-0", "snapshot-status-0", "prune-snapshots"},
    "snapshot-failed": {"snapshot", "stop-job"},
    "execution-ended": {"ended-execution", "report", "notify-0"},
    "swept": {"sweep", "sweep-report", "sweep-notify"},
    "blue-green-waited": {"blue-green-in-progress-0", "blue-green-2", "resolve-after-blue-green"},
    "switchover-noted": {"switchover", "report"},
}
STATUSES = {
    "stuck-stopped": "failed",
    "start-failed-cleaned-up": "failed",
    "declined": "skipped",
    "duplicate": "duplicate",
    "approval-rejected": "declined",
    "approval-timed-out": "timed_out",
    "snapshot-failed": "failed",
    "execution-ended": "timed_out",
    "swept": "swept",
    "switchover-noted": "ignored",
}


def shape(operations: list[dict[str, Any]]) -> list[tuple[str, str | None, Any]]:
    """Each operation's type and name, and the shape of the record its checkpoint holds: its type
    and the fields it was written with, nested records' too (a field added with a default is a
    new shape: an older version cannot read it back)."""
    from migration_trigger.records import RECORDS

    def fields(hint: Any, data: Any) -> Any:
        hint = next((h for h in typing.get_args(hint) if h is not type(None)), hint)
        if isinstance(hint, type) and hasattr(hint, "_fields") and isinstance(data, dict):
            hints = typing.get_type_hints(hint)
            return tuple(
                sorted((name, fields(hints.get(name), value)) for name, value in data.items())
            )
        return None

    shapes = []
    for op in operations:
        result = op.get("StepDetails", {}).get("Result")
        document = json.loads(result) if result else None
        record = (
            (document["type"], fields(RECORDS[document["type"]], document["value"]))
            if document
            else None
        )
        shapes.append((op["Type"], op.get("Name"), record))
    return shapes


def recorded(path: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(HISTORIES.glob(f"{path}-v*.json"))]


def document(ended: Ended) -> dict[str, Any]:
    return {
        "status": ended.status,
        "result": ended.result,
        "error": ended.error,
        "operations": ended.history,
    }


@pytest.mark.parametrize("path", PATHS)
def test_each_path_of_the_story_writes_a_recorded_history(path: str):
    ended = PATHS[path]()

    full = {op.get("Name", "") for op in ended.history}
    names = full | {name.rpartition("/")[2] for name in full}
    assert MARKS[path] <= names, f"the scenario no longer takes the {path} path: {names}"
    results = ended.result if isinstance(ended.result, list) else [ended.result]
    status = STATUSES.get(path, "succeeded")
    if ended.error is None:
        assert [r["status"] for r in results] == [status] * len(results)
    else:
        assert ended.error.startswith(f"{status}:"), ended.error
    assert PASSWORD not in json.dumps(ended.history)
    known = [shape(h["operations"]) for h in recorded(path)]
    version = os.environ.get("MIGRATION_TRIGGER_RECORD_HISTORIES")
    if version and shape(ended.history) not in known:
        target = HISTORIES / f"{path}-{version}.json"
        assert not target.exists(), f"{target.name} exists: record under a new version"
        target.write_text(json.dumps(document(ended), indent=1) + "\n")
        known.append(shape(ended.history))
    assert shape(ended.history) in known, (
        "the story's checkpoints on this path changed: executions in flight replay the old "
        "ones. Check tests/unit/test_replay.py still passes, then record the new history (see "
        "this module's docstring)"
    )
