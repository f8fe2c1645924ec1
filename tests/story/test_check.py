"""The pending-migration check in the story: a manual request with `"mode": "check"` runs the
profile's checkCommand as a Job with the migration's image and credentials, applies nothing,
asks no approval, and reports up_to_date, pending (with the tool's output) or a failed check;
the sweep checks databases that look up to date, and migrates one a check found behind when
its profile says so. The real dbmate against real PostgreSQL: tests/e2e/test_check.py."""

from __future__ import annotations

from typing import Any

from tests.story.test_sweep import SWEEP, recorded, world_of
from tests.story.world import DB_ARN, RUNNING, PodScript, StoryWorld, exited

CHECK: dict[str, Any] = {
    "checkCommand": ["dbmate", "status", "--exit-code"],
    "checkPending": {"exitCodes": [1], "logMatches": "^Pending: [1-9]"},
}
PENDING_LOG = (
    "[X] 20261101090000_create_customers.sql\n[ ] 20261201_orders.sql\n\nApplied: 1\nPending: 1\n"
)


def check_event(world: StoryWorld, request: str = "check-1") -> dict[str, Any]:
    return world.event("manual-retrigger.json", mode="check", requestId=request)


def container(world: StoryWorld) -> dict[str, Any]:
    (job,) = world.jobs.jobs.values()
    return dict(job["spec"]["template"]["spec"]["containers"][0])  # type: ignore[index]


def test_a_check_runs_the_check_command_and_says_up_to_date():
    world = StoryWorld(**CHECK)
    world.jobs.scripts.append(
        PodScript(timeline=[(0, RUNNING), (5, exited(0))], log="Applied: 2\nPending: 0\n")
    )

    ended = world.run_durably(check_event(world))

    assert ended.status == "SUCCEEDED"
    assert ended.result["status"] == "up_to_date"
    assert ended.result["trigger"] == "check"
    assert container(world)["command"] == ["dbmate", "status", "--exit-code"]
    assert container(world)["envFrom"], "the migration's credentials, from its Secret"
    assert [r.status for r in world.recorded.notified] == []  # up_to_date does not notify


def test_a_check_that_finds_migrations_pending_says_so_with_the_tools_output():
    world = StoryWorld(**CHECK)
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (5, exited(1))], log=PENDING_LOG))

    ended = world.run_durably(check_event(world))

    assert ended.status == "SUCCEEDED", "pending is no failure of the check"
    assert ended.result["status"] == "pending"
    assert "Pending: 1" in ended.result["log_tail"]
    assert [r.status for r in world.recorded.notified] == ["pending"]
    standing = world.ledger.standings([DB_ARN])[DB_ARN]
    assert standing.checked is not None and standing.checked.status == "pending"
    assert standing.last_migration() is None, "a check is no migration"


def test_a_check_whose_tool_fails_is_a_failed_check():
    world = StoryWorld(**CHECK)
    world.jobs.scripts.append(
        PodScript(timeline=[(0, RUNNING), (5, exited(2))], log="Error: connection refused\n")
    )

    ended = world.run_durably(check_event(world))

    assert ended.status == "FAILED"
    assert "the check command failed (exit code 2)" in (ended.error or "")


def test_a_check_of_a_guarded_profile_asks_no_approval_and_takes_no_snapshot():
    world = StoryWorld(
        **CHECK,
        approval={"required": True, "timeoutSeconds": 600},
        snapshotBeforeMigration=True,
        window={"days": ["sun"], "start": "02:00", "end": "03:00", "timeZone": "UTC"},
    )
    world.jobs.scripts.append(
        PodScript(timeline=[(0, RUNNING), (5, exited(0))], log="Pending: 0\n")
    )

    ended = world.run_durably(check_event(world))

    assert ended.result["status"] == "up_to_date"
    assert world.approvers.requests == []
    assert world.snapshots.taken_for == []
    assert not any(s.startswith("wait:window") for s in world.steps_taken)


def test_a_profile_without_a_check_command_skips_a_check():
    world = StoryWorld()

    document, _ = world.run(check_event(world))

    assert document is not None and document["status"] == "skipped"
    assert "has no checkCommand" in document["reason"]
    assert world.jobs.jobs == {}


def test_a_request_of_an_unknown_mode_is_rejected():
    world = StoryWorld(**CHECK)

    document, _ = world.run(world.event("manual-retrigger.json", mode="dry-run"))

    assert document is not None and document["status"] == "rejected"
    assert "detail.mode" in document["reason"]


def test_the_sweep_checks_databases_that_look_up_to_date_once_a_day():
    world = world_of(**CHECK, sweep={"check": True})
    world.run_durably(world.event())

    swept = world.run_durably(SWEEP)

    (request,) = world.requests.sent
    assert request.mode == "check" and request.detail()["mode"] == "check"
    assert swept.result["checks"] == 1 and swept.result["started"] == 0
    assert "1 checks requested" in swept.result["reason"]
    # The check runs and finds it up to date: no other check that day
    world.jobs.scripts.append(
        PodScript(timeline=[(0, RUNNING), (5, exited(0))], log="Pending: 0\n")
    )
    assert world.run_durably(world.requests.event(request)).result["status"] == "up_to_date"
    again = world.run_durably(SWEEP)
    assert again.result["checks"] == 0 and len(world.requests.sent) == 1, "one check a day"
    world.clock.advance(86400)
    tomorrow = world.run_durably(SWEEP)
    assert tomorrow.result["checks"] == 1


def test_a_database_a_check_found_behind_is_migrated_when_the_profile_says():
    world = world_of(**CHECK, sweep={"onImageChange": "migrate"})
    world.run_durably(world.event())
    world.clock.advance(60)
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (5, exited(1))], log=PENDING_LOG))
    world.run_durably(check_event(world))
    world.clock.advance(60)

    swept = world.run_durably(SWEEP)

    (request,) = world.requests.sent
    assert swept.result["started"] == 1 and request.mode == "migrate"
    assert "found migrations pending" in request.reason
    reported = world_of(**CHECK)
    reported.run_durably(reported.event())
    recorded(reported, "pending", image="x", trigger="check")
    quiet = reported.run_durably(SWEEP)
    assert quiet.result["behind"] == 1 and quiet.result["started"] == 0


def test_migrations_go_before_checks_when_a_sweep_cannot_send_all():
    from tests.story.test_sweep import another

    world = world_of(**CHECK, sweep={"check": True})
    world.run_durably(world.event())
    world.rds.others = [another(f"tenant-{i}") for i in range(3)]
    world.services.settings = world.settings._replace(SWEEP_MAX_STARTS=3)

    swept = world.run_durably(SWEEP)

    assert [r.mode for r in world.requests.sent] == ["migrate"] * 3
    assert swept.result["started"] == 3 and swept.result["checks"] == 0


def test_a_check_whose_output_could_not_be_read_fails_rather_than_guess():
    world = StoryWorld(**{**CHECK, "checkPending": {"exitCodes": [0, 1], "logMatches": "PENDING"}})
    world.jobs.scripts.append(PodScript(timeline=[(0, RUNNING), (5, exited(0))]))
    world.jobs.failing["log"] = [
        __import__("migration_trigger.errors", fromlist=["KubernetesError"]).KubernetesError(
            "forbidden", status=403
        )
    ]

    ended = world.run_durably(check_event(world))

    assert ended.status == "FAILED"
    assert "its verdict is not known" in (ended.error or "")
