"""A check over real wires: the profile's checkCommand runs as a Job on the cluster with the
migration's credentials Secret, under the template's policy; its pod's exit code and log say
pending, and the result and the ledger say so. The story's side: tests/story/test_check.py."""

from __future__ import annotations

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.functional.orchestrator.conftest import CANARY, ON_CHOSEN_CLUSTERS, World, profiles
from tests.functional.orchestrator.test_ledger import ledger

CHECK = {
    "checkCommand": ["dbmate", "status", "--exit-code"],
    "checkPending": {"exitCodes": [1], "logMatches": "^Pending: [1-9]"},
}


@ON_CHOSEN_CLUSTERS
def test_a_check_runs_on_the_cluster_and_finds_migrations_pending(world: World):
    world.set_profiles(profiles(**CHECK))
    world.monkeypatch.setenv("NOTIFY_STATUSES", "succeeded,failed,timed_out,declined,pending")
    world.pods.when(
        PodScript(logs="[ ] 20261201_orders.sql\n\nApplied: 1\nPending: 1\n", exit_code=1)
    )
    event = world.event("manual-retrigger.json", mode="check", requestId="check-now")

    run = world.run(event)

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert run.result["status"] == "pending", run.result
    assert run.result["trigger"] == "check"
    assert "Pending: 1" in run.result["log_tail"]
    (job,) = world.jobs()
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == ["dbmate", "status", "--exit-code"]
    checked = ledger().standing(world.db_arn).checked
    assert checked is not None and checked.status == "pending"
    (message,) = world.notifications()
    assert message["Subject"] == "[test] Migration check: PENDING: orders-db (check)"
    assert CANARY not in str(run.history)
    assert all(c.allowed for c in world.iam.calls)
