"""Blue/Green deployments in the story (domain/bluegreen.py), through the durable execution SDK
as in Lambda: the green copy RDS creates (with the blue database's tags) is not a new database to
migrate; a migration of the blue database waits until the deployment switched over (then runs on
the database now under the name) or was deleted (then on blue), at most waitForBlueGreenSeconds;
a switchover is noted in the ledger, so the database now under the name is never taken for a new
one. Over moto's Blue/Green deployments, under the template's policy:
tests/functional/orchestrator/test_blue_green.py."""

from __future__ import annotations

from migration_trigger.domain.bluegreen import Deployment
from migration_trigger.domain.sweep import Finding
from migration_trigger.stages.sweep import survey
from tests.helpers import load_event
from tests.story.test_check import CHECK, check_event
from tests.story.test_sweep import SWEEP, another, recorded, world_of
from tests.story.world import DB_ARN, StoryWorld

GREEN = DB_ARN.replace("orders-db", "orders-db-green-abcdef")
OLD = DB_ARN.replace("orders-db", "orders-db-old1")
BGD = "bgd-0123456789abcdef"
#: The deployment before its switchover, and after it (RDS names the renamed blue its Source
#: and the database now under the name its Target).
AVAILABLE = Deployment(BGD, "AVAILABLE", DB_ARN, GREEN)
SWITCHED = Deployment(BGD, "SWITCHOVER_COMPLETED", OLD, DB_ARN)
#: The green copy's creation, after the blue database's.
GREEN_CREATED = "2026-11-20T10:00:00+00:00"


def last(world: StoryWorld) -> dict[str, object]:
    """The last result the story reported (a failed execution has no output to read it from)."""
    return world.recorded.metrics[-1].to_dict()


def deleted_at(world: StoryWorld, ask: int) -> None:
    """The deployments are deleted before RDS answers the `ask`-th look at them."""

    def delete(asks: int) -> None:
        if asks == ask:
            world.rds.deployments = []

    world.rds.moving = delete


def waited(world: StoryWorld) -> list[str]:
    return [s for s in world.steps_taken if s.startswith("blue-green-")]


def test_the_creation_of_a_green_database_is_ignored_naming_its_deployment():
    world = StoryWorld()
    world.rds.facts = world.rds.facts._replace(arn=GREEN, identifier="orders-db-green-abcdef")
    world.rds.deployments = [AVAILABLE]

    document, _ = world.run(world.event(SourceArn=GREEN))

    assert document is not None and document["status"] == "ignored"
    assert f"green database of Blue/Green deployment {BGD}" in document["reason"]
    assert world.jobs.jobs == {}


def test_a_manual_request_for_a_green_database_waits_as_one_for_blue_does():
    """Only a creation or restore is ignored as no new database; a migration of green while it
    replicates could break the replication as well as one of blue: it waits, then runs on the
    database under the name once the deployment is deleted."""
    world = StoryWorld()
    world.rds.deployments = [Deployment(BGD, "AVAILABLE", OLD, DB_ARN)]
    deleted_at(world, 3)

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded", ended.result
    assert waited(world) == ["blue-green-1", "blue-green-2"]


def test_the_awaited_deployment_holds_even_when_a_switchover_renames_the_databases():
    """RDS renames both sides while the switchover runs: the name may belong to neither side
    until SWITCHOVER_COMPLETED, and the wait goes on for the deployment it awaits."""
    world = StoryWorld()
    world.rds.deployments = [AVAILABLE]
    renaming = Deployment(BGD, "SWITCHOVER_IN_PROGRESS", OLD, GREEN)

    def switch_over(asks: int) -> None:
        if asks == 2:
            world.rds.deployments = [renaming]
        if asks == 4:
            world.rds.deployments = [SWITCHED]

    world.rds.moving = switch_over

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded", ended.result
    assert waited(world) == ["blue-green-1", "blue-green-2", "blue-green-3"]


def test_a_deployment_begun_while_the_migration_waited_its_turn_keeps_the_job_from_starting():
    """Hours may pass between resolve and the start (the queue, the run window, an approval):
    the start looks again, and a Job whose database a deployment now holds never runs."""
    world = StoryWorld()

    def begin(asks: int) -> None:
        if asks == 2:  # the start's look, after the resolve's
            world.rds.deployments = [AVAILABLE]

    world.rds.moving = begin

    world.run_durably(world.event("manual-retrigger.json"))

    assert last(world)["status"] == "failed"
    assert f"Blue/Green deployment {BGD} (AVAILABLE) began to hold the database" in str(
        last(world)["reason"]
    )
    assert "stop-job" in world.steps_taken
    assert world.jobs.jobs == {}


def test_a_migration_of_a_blue_database_waits_for_the_switchover_then_runs_on_the_new_one():
    """RDS User Guide, "Switching a blue/green deployment": the green database takes the blue
    one's name and endpoint; the migration is resolved again and runs there."""
    world = StoryWorld()
    world.rds.deployments = [AVAILABLE]
    blue = world.rds.facts

    def switch_over(asks: int) -> None:
        if asks == 4:  # the resolve's, then three looks: switched over before the third
            world.rds.deployments = [SWITCHED]
            world.rds.facts = blue._replace(created=GREEN_CREATED, status="available")

    world.rds.moving = switch_over

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded", ended.result
    assert waited(world) == ["blue-green-1", "blue-green-2", "blue-green-3"]
    assert "resolve-after-blue-green" in world.steps_taken
    assert world.steps_taken.count("wait:blue-green-in-progress-0") == 1
    assert len(world.jobs.jobs) == 1
    assert ended.result["database"] == DB_ARN


def test_a_migration_of_a_blue_database_runs_on_blue_once_the_deployment_is_deleted():
    world = StoryWorld()
    world.rds.deployments = [AVAILABLE]
    deleted_at(world, 3)

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded", ended.result
    assert waited(world) == ["blue-green-1", "blue-green-2"]


def test_a_deployment_that_outlasts_the_wait_times_the_migration_out_unrun():
    world = StoryWorld(waitForBlueGreenSeconds=900)
    world.rds.deployments = [AVAILABLE]

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED" and last(world)["status"] == "timed_out"
    reason = str(last(world)["reason"])
    assert f"held by Blue/Green deployment {BGD} (not switched over, AVAILABLE)" in reason
    assert "(waitForBlueGreenSeconds 900): nothing was run" in reason
    assert waited(world) == ["blue-green-1", "blue-green-2", "blue-green-3"]
    assert world.jobs.jobs == {}


def test_with_no_wait_a_blue_databases_migration_times_out_at_once():
    world = StoryWorld(waitForBlueGreenSeconds=0)
    world.rds.deployments = [AVAILABLE]

    world.run_durably(world.event("manual-retrigger.json"))

    assert last(world)["status"] == "timed_out"
    assert waited(world) == [] and world.jobs.jobs == {}


def test_a_check_of_a_blue_database_does_not_wait_it_applies_nothing():
    world = StoryWorld(**CHECK)
    world.rds.deployments = [AVAILABLE]

    ended = world.run_durably(check_event(world))

    assert ended.result["status"] == "up_to_date", ended.result
    assert waited(world) == []


def test_a_new_deployment_begun_as_the_awaited_one_ended_times_out_saying_so():
    world = StoryWorld()
    world.rds.deployments = [AVAILABLE]

    def begin_again(asks: int) -> None:
        if asks == 2:
            world.rds.deployments = []
        if asks == 3:
            world.rds.deployments = [AVAILABLE._replace(identifier="bgd-fedcba9876543210")]

    world.rds.moving = begin_again

    world.run_durably(world.event("manual-retrigger.json"))

    assert last(world)["status"] == "timed_out"
    assert "bgd-fedcba9876543210, begun as deployment" in str(last(world)["reason"])
    assert world.jobs.jobs == {}


def test_a_switchover_is_noted_and_the_database_now_under_the_name_is_not_a_missed_creation():
    """After the switchover the name (and so the ARN the ledger keys by) is the green copy's,
    created later than the blue database's last migration: the sweep would otherwise take it
    for a creation with no migration since."""
    world = world_of()
    world.run_durably(world.event())
    world.rds.deployments = [SWITCHED]
    world.rds.facts = world.rds.facts._replace(created=GREEN_CREATED)
    world.rds.others = [another("orders-db-old1")]

    noted, _ = world.run(load_event("rds-blue-green-switchover-completed.json"))
    swept = world.run_durably(SWEEP)

    assert noted is not None and noted["status"] == "ignored"
    assert f"Blue/Green deployment {BGD} switched over: orders-db" in noted["reason"]
    assert world.ledger.switches == {DB_ARN: GREEN_CREATED}
    # The renamed blue database is retired: not swept; the one under the name is up to date.
    assert swept.result["opted_in"] == 1
    assert swept.result["up_to_date"] == 1, swept.result
    assert world.requests.sent == []
    assert len(world.jobs.jobs) == 1


def test_the_sweep_notes_a_switchover_whose_event_was_lost_and_starts_nothing_for_it():
    world = world_of()
    world.run_durably(world.event())
    world.rds.deployments = [SWITCHED]
    world.rds.facts = world.rds.facts._replace(created=GREEN_CREATED)

    looked = survey(world.services)  # what `migration-trigger status` reads: it writes nothing
    assert world.ledger.switches == {}
    assert [s.assessed.finding for s in looked] == [Finding.UP_TO_DATE]
    swept = world.run_durably(SWEEP)
    # The deployment is deleted afterwards: nothing in RDS tells the switchover any longer.
    world.rds.deployments = []
    again = world.run_durably(SWEEP)

    assert world.ledger.switches == {DB_ARN: GREEN_CREATED}
    assert swept.result["up_to_date"] == again.result["up_to_date"] == 1
    assert world.requests.sent == []


def test_a_database_switched_over_still_gets_the_sweeps_findings():
    """A completed deployment's target is the database in use: not passed by as a green copy."""
    world = world_of(sweep={"retryFailed": True})
    world.run_durably(world.event())
    recorded(world, "failed", image="ghcr.io/example/orders-migrations:1.0.0")
    world.rds.deployments = [SWITCHED]

    swept = world.run_durably(SWEEP)

    assert swept.result["opted_in"] == 1
    assert [r.reason for r in world.requests.sent] == [
        "reconciliation sweep: its latest migration (m-failed) failed"
    ]


def test_the_sweep_does_not_take_a_green_database_for_a_missed_creation():
    world = world_of()
    world.run_durably(world.event())
    green = another("orders-db-green-abcdef")
    world.rds.others = [green]
    world.rds.deployments = [AVAILABLE._replace(target=green.arn)]

    swept = world.run_durably(SWEEP)

    assert swept.result["opted_in"] == 1
    assert world.requests.sent == []


def test_a_switchover_of_a_database_not_opted_in_or_no_longer_listed_notes_nothing():
    world = StoryWorld()
    world.rds.facts = world.rds.facts._replace(tags={})
    world.rds.deployments = [SWITCHED]

    untagged, _ = world.run(load_event("rds-blue-green-switchover-completed.json"))
    world.rds.deployments = []
    gone, _ = world.run(load_event("rds-blue-green-switchover-completed.json"))

    assert untagged is not None and "is not opted in: nothing noted" in untagged["reason"]
    assert gone is not None and f"{BGD} is no longer listed: nothing noted" in gone["reason"]
    assert world.ledger.switches == {}


def test_a_job_the_start_step_already_started_is_never_stopped_for_a_deployment():
    """A step may run twice (it succeeded, then its checkpoint was lost): a Job already started
    is not refused for a deployment that began since, which would delete it mid-migration."""
    from migration_trigger.records import Started
    from migration_trigger.stages import launch
    from tests.helpers import sample_plan

    world = StoryWorld()
    world.run_durably(world.event("manual-retrigger.json"))
    ((name, job),) = world.jobs.jobs.items()
    world.rds.deployments = [AVAILABLE]
    profile = world.services.settings.profiles["orders"]
    plan = sample_plan(profile)._replace(name=name, database_arn=DB_ARN)

    again = launch.start_job(plan, job["metadata"]["uid"], world.services)

    assert isinstance(again, Started)
