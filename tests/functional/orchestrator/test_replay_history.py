"""The recorded checkpoint histories under tests/replay/ are what this code writes.

tests/unit/test_replay.py replays every history there against the current code, as Lambda replays
an in-flight execution after a deploy. This test keeps one of them true to today's flow: when the
flow's steps change on purpose, record a new history beside the old ones (never over them, while
executions of the old version can still be in flight):

    MIGRATION_TRIGGER_RECORD_HISTORY=<name> .venv/bin/pytest tests/functional/orchestrator/test_replay_history.py
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.functional.orchestrator.conftest import CANARY, World
from tests.helpers import ROOT

HISTORIES = ROOT / "tests" / "replay"


def shape(operations: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    """Each operation's type and name, and the record type its checkpoint holds."""
    return [
        (
            op["Type"],
            op.get("Name"),
            json.loads(op["StepDetails"]["Result"])["type"] if "StepDetails" in op else None,
        )
        for op in operations
    ]


def test_a_full_migration_writes_a_history_that_is_recorded(world: World):
    """On the emulator only: the history's shape counts the checks made before the pod ran,
    which the emulator's pods make the same every run and a real scheduler and node do not."""
    # Given a migration that runs to success
    world.pods.when(
        PodScript(logs="Applying: 20261101_init.sql\nApplied 1 migration\n", duration=0.2)
    )

    # When it runs durably
    run = world.run(world.event("rds-instance-created.json"), name="replay-recording")

    # Then its checkpoints have the shape of a history kept under tests/replay/
    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert CANARY not in json.dumps(run.history)
    if name := os.environ.get("MIGRATION_TRIGGER_RECORD_HISTORY"):
        document = {"result": run.result, "operations": run.history}
        (HISTORIES / f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
    recorded = [
        shape(json.loads(path.read_text())["operations"]) for path in HISTORIES.glob("*.json")
    ]
    assert shape(run.history) in recorded, (
        "the flow's checkpoints changed: executions in flight replay the old ones. "
        "Check tests/unit/test_replay.py still passes, then record a new history (see this "
        "module's docstring)"
    )
