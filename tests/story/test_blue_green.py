"""Blue/Green deployments in the story: the green copy RDS creates (with the blue database's
tags) is not a new database to migrate, neither when its creation is announced nor when the sweep
lists it. Over moto's Blue/Green deployments, under the template's policy:
tests/functional/orchestrator/test_blue_green.py."""

from __future__ import annotations

from tests.story.test_sweep import SWEEP, another, world_of
from tests.story.world import DB_ARN, StoryWorld

GREEN = DB_ARN.replace("orders-db", "orders-db-green-abcdef")


def test_the_creation_of_a_green_database_is_ignored_naming_its_deployment():
    world = StoryWorld()
    world.rds.facts = world.rds.facts._replace(arn=GREEN, identifier="orders-db-green-abcdef")
    world.rds.green = {GREEN: "bgd-0123456789abcdef"}

    document, _ = world.run(world.event(SourceArn=GREEN))

    assert document is not None and document["status"] == "ignored"
    assert "green database of Blue/Green deployment bgd-0123456789abcdef" in document["reason"]
    assert world.jobs.jobs == {}


def test_a_manual_request_for_a_green_database_is_not_refused_for_being_green():
    """Only a creation or restore is taken for a new database; a person may still ask."""
    world = StoryWorld()
    world.rds.green = {DB_ARN: "bgd-0123456789abcdef"}

    document, _ = world.run(world.event("manual-retrigger.json"))

    assert document is not None and document["status"] == "succeeded"


def test_the_sweep_does_not_take_a_green_database_for_a_missed_creation():
    world = world_of()
    world.run_durably(world.event())
    green = another("orders-db-green-abcdef")
    world.rds.others = [green]
    world.rds.green = {green.arn: "bgd-0123456789abcdef"}

    swept = world.run_durably(SWEEP)

    assert swept.result["opted_in"] == 1
    assert world.requests.sent == []
