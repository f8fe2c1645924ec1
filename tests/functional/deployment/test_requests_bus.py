"""Who may request a migration: only the principals ManualRequestPrincipals names.

In one account, a request passes if the caller's identity policy or the resource's policy allows
it, unless either denies it explicitly (IAM User Guide, "Policy evaluation logic"). The requests
bus's policy denies events:PutEvents to every principal not listed: a role whose own policy
grants events:PutEvents on `*` still cannot send there. (moto does not evaluate bus policies;
local_stack/iam.py evaluates the template's statements as IAM does.)
"""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.iam import resource_policy_decision
from local_stack.template import deployed, load, resolve

ACCOUNT = "123456789012"
PLATFORM = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
ANYONE = f"arn:aws:iam::{ACCOUNT}:role/app-deployer"
OTHER_ACCOUNT = "arn:aws:iam::210987654321:role/platform-admin"
FUNCTION = f"arn:aws:iam::{ACCOUNT}:role/migration-trigger-dev-MigrationFunctionRole-1AB2C3"


def bus_policy(principals: list[str]) -> list[dict[str, Any]]:
    """The requests bus's statements, as deployed with these ManualRequestPrincipals."""
    context = deployed(
        region="eu-west-1",
        account=ACCOUNT,
        refs={
            "ManualRequestPrincipals": principals,
            "RequestsBus": "migration-trigger-dev-requests",
            "RequestsBus.Arn": f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/requests",
            "MigrationFunctionRole.Arn": FUNCTION,
            "SpokesBus": "migration-trigger-dev-spokes",
        },
        conditions={"HasManualRequestPrincipals": bool(principals), "HasSpokes": False},
    )
    resources = load()["Resources"]
    statements = []
    for resource in resources.values():
        if resource["Type"] != "AWS::Events::EventBusPolicy":
            continue
        if (
            resolve(resource["Properties"]["EventBusName"], context)
            != "migration-trigger-dev-requests"
        ):
            continue  # another bus's (the spokes bus: tests/functional/deployment/test_spokes.py)
        condition = resource.get("Condition")
        if condition and not context.conditions[condition]:
            continue
        statements.append(resolve(resource["Properties"]["Statement"], context))
    return statements


@pytest.mark.parametrize(
    ("principal", "decision"),
    [(PLATFORM, "Allow"), (ANYONE, "Deny"), (OTHER_ACCOUNT, "Deny")],
)
def test_only_the_listed_principals_may_put_requests(principal: str, decision: str):
    statements = bus_policy([PLATFORM])

    assert resource_policy_decision(statements, "events:PutEvents", principal) == decision


def test_with_no_principal_listed_nobody_may_put_requests():
    statements = bus_policy([])

    assert resource_policy_decision(statements, "events:PutEvents", PLATFORM) == "Deny"
    assert resource_policy_decision(statements, "events:PutEvents", ANYONE) == "Deny"


def test_the_manual_rule_listens_on_the_requests_bus_only():
    events = load()["Resources"]["MigrationFunction"]["Properties"]["Events"]
    rule = events["MigrationRequested"]["Properties"]

    assert str(rule["EventBusName"].value) == "RequestsBus"
    others = [name for name, spec in events.items() if "EventBusName" in spec["Properties"]]
    # The AWS events stay on the default bus; a spoke's are forwarded to the spokes bus.
    spokes = [name for name in others if name.startswith("FromSpokes")]
    assert sorted(set(others) - set(spokes)) == ["MigrationRequested"]
    assert {str(events[n]["Properties"]["EventBusName"].value) for n in spokes} == {"SpokesBus"}


def test_a_role_of_another_account_is_refused_even_when_listed():
    """What docs/events-and-results.md says: manual requests come from this account only. The
    Allow names this account's principals, so a listed ARN of another account matches no Allow
    (and a cross-account request needs the resource policy's allow)."""
    statements = bus_policy([PLATFORM, OTHER_ACCOUNT])

    assert resource_policy_decision(statements, "events:PutEvents", OTHER_ACCOUNT) != "Allow"
    assert resource_policy_decision(statements, "events:PutEvents", PLATFORM) == "Allow"


@pytest.mark.parametrize("principals", [[], [PLATFORM]])
def test_the_functions_own_role_may_put_the_sweeps_requests(principals: list[str]):
    """The sweep sends its requests to this bus, as its role (whose policy grants
    events:PutEvents on it: RequestMissedMigrations); the bus denies it nothing."""
    statements = bus_policy(principals)

    assert resource_policy_decision(statements, "events:PutEvents", FUNCTION) != "Deny"
