"""A broken edit of the profiles fails new events, never a migration already under way.

Every durable wait ends an invocation, and the next one reads the settings again; the profile a
migration runs with is the one its `resolve` step checkpointed.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World

BROKEN = '{"profiles": {"orders": {"namespace": "Not A Label"}}}'


@ON_CHOSEN_CLUSTERS
def test_a_broken_profiles_edit_during_a_migration_does_not_fail_it(world: World):
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.5))

    def break_profiles_once_started(request: Any) -> None:
        if request.method == "PATCH" and "/jobs/" in request.path:
            world.monkeypatch.setenv("MIGRATION_PROFILES", BROKEN)

    world.requests.on_request(break_profiles_once_started)
    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert run.result["status"] == "succeeded"

    # and the next event, which needs the profiles, is failed naming the problem
    after = world.run(world.event("manual-retrigger.json"), name="next")

    assert after.status is InvocationStatus.FAILED
    assert "the function's configuration is invalid: MIGRATION_PROFILES: profile 'orders'" in (
        after.error or ""
    )


@ON_CHOSEN_CLUSTERS
def test_broken_profiles_do_not_turn_ignored_events_into_failures(world: World):
    world.monkeypatch.setenv("MIGRATION_PROFILES", BROKEN)

    run = world.run(world.event("rds-instance-created.json", EventID="RDS-EVENT-0006"))

    assert run.status is InvocationStatus.SUCCEEDED
    assert run.result["status"] == "ignored"
