"""An event about a database in another account, region or partition never runs the database of
the same name here, through the whole flow."""

from __future__ import annotations

import json

import pytest

from tests.fixtures import ACCOUNT, REGION
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World

OTHER_ACCOUNT = "210987654321"
#: orders-db, elsewhere: the world's own orders-db is in aws / eu-west-1 / 123456789012.
ELSEWHERE = {
    "region": f"arn:aws:rds:us-east-1:{ACCOUNT}:db:orders-db",
    "account": f"arn:aws:rds:{REGION}:{OTHER_ACCOUNT}:db:orders-db",
    "partition": f"arn:aws-cn:rds:{REGION}:{ACCOUNT}:db:orders-db",
}

pytestmark = ON_CHOSEN_CLUSTERS


@pytest.mark.parametrize("where", ELSEWHERE, ids=ELSEWHERE.keys())
def test_a_manual_request_naming_orders_db_elsewhere_is_rejected_and_runs_nothing(
    world: World, where: str
):
    run = world.run(world.event("manual-retrigger.json", database=ELSEWHERE[where]))

    assert run.result["status"] == "rejected"
    assert run.result["reason"].startswith(f"{ELSEWHERE[where]} is not in this function's ")
    assert world.jobs() == []
    (message,) = world.notifications()
    assert json.loads(message["Message"])["status"] == "rejected"


def test_an_rds_event_from_an_account_not_served_runs_nothing_and_is_rejected(world: World):
    # Given another account's creation of its own orders-db, delivered to this bus (only a rule
    # someone set up brings it here; spokes are listed: test_spokes.py)
    event = world.event("rds-instance-created.json", SourceArn=ELSEWHERE["account"])
    event["account"] = OTHER_ACCOUNT

    run = world.run(event)

    assert run.result["status"] == "rejected"
    assert f"the event comes from account {OTHER_ACCOUNT}, which is neither" in run.result["reason"]
    assert world.jobs() == []


def test_an_rds_event_naming_a_namesake_elsewhere_makes_no_second_job(world: World):
    # Given orders-db here, migrated once for its creation
    first = world.run(world.event("rds-instance-created.json"), name="here")
    assert first.result["status"] == "succeeded"

    # When an event names another account's orders-db (a key of its own: not a duplicate)
    run = world.run(
        world.event("rds-instance-created.json", SourceArn=ELSEWHERE["account"]), name="there"
    )

    # Then it is refused, and the database here is not migrated again
    assert run.result["status"] == "rejected"
    assert len(world.jobs()) == 1
