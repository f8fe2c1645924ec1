"""Events about another account, region or partition never stand for a database here."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from migration_trigger.domain.accounts import owner
from migration_trigger.domain.database import DatabaseFacts
from migration_trigger.domain.decision import Reject, Route, route
from migration_trigger.domain.events import (
    Ended,
    Home,
    Ignored,
    Rejected,
    Sweep,
    SwitchedOver,
    Trigger,
    TriggerKind,
    outside,
    parse_event,
)
from migration_trigger.domain.profiles import parse_profiles
from tests.durable import LambdaContext
from tests.helpers import ROOT, event_files, load_event, sample_facts

HOME = Home(partition="aws", region="eu-west-1", account="123456789012")
ORDERS = "arn:aws:rds:eu-west-1:123456789012:db:orders-db"
#: The same database name, elsewhere: another region, another account, another partition.
ELSEWHERE = {
    "region": "arn:aws:rds:us-east-1:123456789012:db:orders-db",
    "account": "arn:aws:rds:eu-west-1:210987654321:db:orders-db",
    "partition": "arn:aws-cn:rds:eu-west-1:123456789012:db:orders-db",
}
PROFILES = parse_profiles((ROOT / "k8s" / "profiles" / "examples.json").read_text())


def envelopes() -> list[str]:
    """The samples in events/ that are EventBridge events (not put-events entries)."""
    return [f for f in event_files() if isinstance(load_event(f), dict)]


def test_the_functions_home_is_read_from_any_arn():
    assert Home.of("arn:aws:lambda:eu-west-1:123456789012:function:migration-trigger:live") == HOME
    assert Home.of(ORDERS) == HOME
    assert Home.of("arn:aws:s3:::bucket") is None
    assert Home.of("orders-db") is None


def test_the_handler_takes_its_home_from_the_arn_it_was_invoked_by():
    from migration_trigger.handler import home_of

    invoked: Any = SimpleNamespace(lambda_context=LambdaContext())
    without: Any = SimpleNamespace(lambda_context=None)

    assert home_of(invoked, {}) == HOME
    assert home_of(without, {}) is None


def test_under_sam_local_the_home_is_the_one_sam_declares():
    """The Runtime Interface Emulator invokes with a fixed ARN (us-east-1, 012345678912); SAM
    sets AWS_SAM_LOCAL, AWS_REGION and AWS_ACCOUNT_ID (samcli/local/lambdafn/env_vars.py)."""
    from migration_trigger.handler import home_of

    rie: Any = SimpleNamespace(
        lambda_context=SimpleNamespace(
            invoked_function_arn="arn:aws:lambda:us-east-1:012345678912:function:MigrationFunction"
        )
    )
    sam = {"AWS_SAM_LOCAL": "true", "AWS_REGION": "eu-west-1", "AWS_ACCOUNT_ID": "123456789012"}

    assert home_of(rie, sam) == HOME
    assert home_of(rie, {}) == Home("aws", "us-east-1", "012345678912"), "only under SAM"


@pytest.mark.parametrize("file", envelopes())
def test_every_sample_event_is_a_trigger_at_home(file: str):
    """Or, for Lambda's word that an execution ended, that end (checked as this function's by
    the aftermath stage, against its own execution's ARN); or the sweep's schedule; or a Blue/Green
    switchover to note."""
    parsed = parse_event(load_event(file), home=HOME)
    assert isinstance(parsed, Trigger | Ended | Sweep | SwitchedOver)


@pytest.mark.parametrize("where", ELSEWHERE, ids=ELSEWHERE.keys())
def test_a_manual_request_naming_a_database_elsewhere_is_rejected(where: str):
    event = load_event("manual-retrigger.json")
    event["detail"]["database"] = ELSEWHERE[where]

    parsed = parse_event(event, home=HOME)

    assert isinstance(parsed, Rejected)
    assert parsed.reason.startswith(f"{ELSEWHERE[where]} is not in this function's ")
    assert "account 123456789012, region eu-west-1, partition aws" in parsed.reason


def test_a_manual_request_from_another_account_may_name_a_database_here():
    # Its envelope names the sender, which a bus may admit; what it names must be ours.
    event = load_event("manual-retrigger.json")
    event["account"] = "210987654321"

    assert isinstance(parse_event(event, home=HOME), Trigger)


def test_an_rds_event_from_another_account_is_rejected_loudly():
    """Only a rule someone set up forwards another account's events here: nothing of it runs,
    and it is counted and alarmed as rejected, not passed over."""
    event = load_event("rds-instance-created.json")
    event["account"] = "210987654321"

    parsed = parse_event(event, home=HOME)

    assert isinstance(parsed, Rejected)
    assert parsed.reason.startswith(
        "the event comes from account 210987654321, which is neither this function's nor one "
        "of its spoke accounts (SpokeAccounts)"
    )


def test_an_rds_event_from_another_region_is_ignored():
    event = load_event("rds-instance-created.json")
    event["region"] = "us-east-1"

    parsed = parse_event(event, home=HOME)

    assert isinstance(parsed, Ignored)
    assert "comes from region us-east-1" in parsed.reason


SPOKE = "210987654321"
HUB = HOME._replace(spokes=frozenset({SPOKE}))


def in_spoke(file: str) -> dict[str, object]:
    event = load_event(file)
    return dict(json.loads(json.dumps(event).replace(HOME.account, SPOKE)))


@pytest.mark.parametrize(
    "file",
    [
        "rds-instance-created.json",
        "rds-cluster-created.json",
        "secret-label-updated.json",
        "cloudtrail-rotation-succeeded.json",
    ],
)
def test_a_spokes_events_are_triggers_of_the_hub_about_the_spokes_databases(file: str):
    parsed = parse_event(in_spoke(file), home=HUB)

    assert isinstance(parsed, Trigger)
    assert owner(parsed, HUB) == SPOKE


def test_a_spokes_switchover_is_the_hubs_to_note_and_an_unlisted_ones_is_rejected():
    switched = parse_event(in_spoke("rds-blue-green-switchover-completed.json"), home=HUB)
    unlisted = parse_event(in_spoke("rds-blue-green-switchover-completed.json"), home=HOME)

    assert isinstance(switched, SwitchedOver) and switched.account == SPOKE
    assert isinstance(unlisted, Rejected)


def test_a_manual_request_may_name_a_spokes_database_and_runs_in_that_account():
    event = load_event("manual-retrigger.json")
    event["detail"]["database"] = f"arn:aws:rds:eu-west-1:{SPOKE}:db:orders-db"

    parsed = parse_event(event, home=HUB)

    assert isinstance(parsed, Trigger) and owner(parsed, HUB) == SPOKE
    assert isinstance(parse_event(event, home=HOME), Rejected)


def test_a_manual_request_by_identifier_means_the_hubs_own_database():
    event = load_event("manual-retrigger.json")
    event["detail"] |= {"database": "orders-db", "kind": "instance"}
    event["account"] = SPOKE

    parsed = parse_event(event, home=HUB)

    assert isinstance(parsed, Trigger) and owner(parsed, HUB) == HOME.account


@pytest.mark.parametrize("where", ELSEWHERE, ids=ELSEWHERE.keys())
def test_an_rds_event_at_home_naming_a_database_elsewhere_is_rejected(where: str):
    event = load_event("rds-instance-created.json")
    event["detail"]["SourceArn"] = ELSEWHERE[where]

    parsed = parse_event(event, home=HOME)

    assert isinstance(parsed, Rejected)
    assert ELSEWHERE[where] in parsed.reason


def test_a_rotation_of_a_secret_elsewhere_is_rejected():
    event = load_event("secret-label-updated.json")
    event["resources"] = ["arn:aws:secretsmanager:eu-west-1:210987654321:secret:rds!db-0000-AbCdEf"]

    parsed = parse_event(event, home=HOME)

    assert isinstance(parsed, Rejected)
    assert "never stands for the secret of the same name here" in parsed.reason


def test_without_a_home_parsing_is_as_before():
    event = load_event("manual-retrigger.json")
    event["detail"]["database"] = ELSEWHERE["account"]

    assert isinstance(parse_event(event), Trigger)


def facts(arn: str = ORDERS) -> DatabaseFacts:
    built: DatabaseFacts = sample_facts(arn=arn)
    return built


def trigger(database: str, *, source: str = "aws.rds", account: str = HOME.account) -> Trigger:
    return Trigger(
        TriggerKind.DB_CREATED, "event-1", source, "RDS-EVENT-0005", HOME.region, account, database
    )


@pytest.mark.parametrize("where", ELSEWHERE, ids=ELSEWHERE.keys())
def test_routing_refuses_a_database_found_here_for_an_arn_elsewhere(where: str):
    # The identifier alone was looked up: the namesake found here is not the database named.
    decision = route(
        trigger(ELSEWHERE[where]), facts(), PROFILES, tag_key="migration-trigger:profile"
    )

    assert isinstance(decision, Reject)
    assert "never stands for the database of the same name here" in decision.reason


def test_routing_refuses_another_accounts_event_about_a_database_found_here():
    decision = route(
        trigger(ORDERS, account="210987654321"),
        facts(),
        PROFILES,
        tag_key="migration-trigger:profile",
    )

    assert isinstance(decision, Reject)
    assert "comes from account 210987654321" in decision.reason


def test_routing_at_home_is_unchanged():
    decision = route(trigger(ORDERS), facts(), PROFILES, tag_key="migration-trigger:profile")

    assert isinstance(decision, Route)


def test_outside_names_nothing_for_a_reference_by_identifier():
    assert outside(trigger("db:orders-db", source="migration-trigger"), HOME) is None


OTHER_SPOKE = "111122223333"


def test_a_spokes_event_naming_another_accounts_database_is_rejected():
    """An AWS service's event is about its own account: one naming another account's database
    was forwarded by someone's rule, and would make the hub act there."""
    hub = HOME._replace(spokes=frozenset({SPOKE, OTHER_SPOKE}))
    event = in_spoke("rds-instance-created.json")
    event["detail"]["SourceArn"] = f"arn:aws:rds:eu-west-1:{OTHER_SPOKE}:db:orders-db"  # type: ignore[index]

    parsed = parse_event(event, home=hub)

    assert isinstance(parsed, Rejected)
    assert f"comes from account {SPOKE} but names" in parsed.reason


def test_a_switchover_naming_another_accounts_deployment_is_rejected():
    event = in_spoke("rds-blue-green-switchover-completed.json")
    event["detail"]["SourceArn"] = (  # type: ignore[index]
        f"arn:aws:rds:eu-west-1:{HOME.account}:deployment:bgd-0123456789abcdef"
    )

    parsed = parse_event(event, home=HUB)

    assert isinstance(parsed, Rejected)
    assert "names a Blue/Green deployment of account 123456789012" in parsed.reason
