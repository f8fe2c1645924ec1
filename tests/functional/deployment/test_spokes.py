"""Hub and spokes, the deployment's side: spoke/template.yaml's rules forward exactly what the
hub's own rules take (and nothing the code ignores), the hub's SpokesBus admits only the listed
accounts, and its FromSpokes rule takes only their events. The function's side, over moto with
three accounts: tests/functional/orchestrator/test_spokes.py.

moto forwards an event to another account's bus as an event of that account (its
`put_events` stamps the receiving account), where EventBridge keeps the account the event
happened in ("Sending and receiving events between AWS accounts in Amazon EventBridge"); so the
hub's rule is tried here on events each account puts on a bus of its own, which moto stamps with
that account, as EventBridge would."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local_stack.iam import resource_policy_decision
from local_stack.template import SPOKE_TEMPLATE, deployed, function_events, load, resolve
from local_stack.world import assume_role
from migration_trigger.domain.events import Ignored, parse_event
from tests.fixtures import ACCOUNT, REGION, admin_client
from tests.helpers import load_event

SPOKE_A, SPOKE_B, OUTSIDER = "222222222222", "333333333333", "444444444444"
HUB_BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/migration-trigger-dev-spokes"
#: The samples a spoke forwards (the rest are the hub's own: the sweep, manual requests, ends).
FORWARDED = (
    "rds-instance-created.json",
    "rds-cluster-created.json",
    "rds-instance-restored-point-in-time.json",
    "rds-restored-from-snapshot.json",
    "rds-blue-green-switchover-completed.json",
    "secret-label-updated.json",
    "cloudtrail-rotation-succeeded.json",
)


def as_account(account: str, service: str) -> Any:
    credentials = assume_role(
        sts=admin_client("sts"), role_arn=f"arn:aws:iam::{account}:role/admin", session_name="admin"
    )
    return boto3.client(service, region_name=REGION, **credentials)  # type: ignore[call-overload]


def in_account(event: dict[str, Any], account: str) -> dict[str, Any]:
    """A sample event as it happens in `account`: its ARNs name that account."""
    return json.loads(json.dumps(event).replace(ACCOUNT, account))


def queue_rules(account: str, rules: dict[str, dict[str, Any]]) -> dict[str, str]:
    """`rules` (name -> pattern) on `account`'s default bus, each delivering to a queue."""
    events, sqs = as_account(account, "events"), as_account(account, "sqs")
    queues = {}
    for name, pattern in rules.items():
        url = sqs.create_queue(QueueName=f"{account}-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        queues[name] = url
    return queues


def delivered(account: str, queues: dict[str, str], event: dict[str, Any]) -> list[str]:
    """The rules of `queues` an event put in `account` matches."""
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event.get("resources", []),
    }
    assert as_account(account, "events").put_events(Entries=[entry])["FailedEntryCount"] == 0
    sqs = as_account(account, "sqs")
    hit = []
    for name, url in queues.items():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if messages:
            hit.append(name)
    return hit


def spoke_rules(account: str) -> dict[str, dict[str, Any]]:
    """spoke/template.yaml's rules in `account`: name -> pattern, each targeting the hub's bus
    with the forwarding role."""
    forwarding = f"arn:aws:iam::{account}:role/forwarding"
    context = deployed(
        region=REGION,
        account=account,
        refs={
            "HubBusArn": HUB_BUS,
            "ForwardingRole.Arn": forwarding,
            "UndeliveredToHub.Arn": f"arn:aws:sqs:{REGION}:{account}:undelivered",
        },
        conditions={"HasSelfManagedSecretPrefix": False},
        path=SPOKE_TEMPLATE,
    )
    resources = load(SPOKE_TEMPLATE)["Resources"]
    rules = {}
    for name, spec in resources.items():
        if spec["Type"] != "AWS::Events::Rule":
            continue
        properties = resolve(spec["Properties"], context)
        (target,) = properties["Targets"]
        assert (target["Arn"], target["RoleArn"]) == (HUB_BUS, forwarding)
        # Retried for a day, then kept in the spoke's own queue: never lost silently.
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": 185,
            "MaximumEventAgeInSeconds": 86400,
        }
        assert target["DeadLetterConfig"]["Arn"].endswith(":undelivered")
        rules[name] = properties["EventPattern"]
    return rules


@pytest.mark.parametrize("file", FORWARDED)
def test_a_spoke_forwards_each_event_the_hub_takes_exactly_once(aws: str, file: str):
    queues = queue_rules(SPOKE_A, spoke_rules(SPOKE_A))

    hit = delivered(SPOKE_A, queues, in_account(load_event(file), SPOKE_A))

    assert len(hit) == 1, hit


@pytest.mark.parametrize(
    ("file", "change"),
    [
        ("rds-instance-created.json", {"EventID": "RDS-EVENT-0006"}),
        ("rds-blue-green-switchover-completed.json", {"EventID": "RDS-EVENT-0247"}),
        ("secret-label-updated.json", {"labelUpdated": "AWSPENDING"}),
        ("cloudtrail-rotation-succeeded.json", {"eventName": "RotationStarted"}),
    ],
)
def test_a_spoke_forwards_nothing_the_code_ignores(aws: str, file: str, change: dict[str, str]):
    queues = queue_rules(SPOKE_A, spoke_rules(SPOKE_A))
    event = in_account(load_event(file), SPOKE_A)
    event["detail"].update(change)

    assert isinstance(parse_event(event), Ignored)
    assert delivered(SPOKE_A, queues, event) == []


def test_a_spoke_forwards_no_other_secrets_label_updates(aws: str):
    queues = queue_rules(SPOKE_A, spoke_rules(SPOKE_A))
    event = in_account(load_event("secret-label-updated.json"), SPOKE_A)
    other = f"arn:aws:secretsmanager:{REGION}:{SPOKE_A}:secret:app/api-token-AbCdEf"
    event["resources"] = [other]

    assert delivered(SPOKE_A, queues, event) == []


def hub_spoke_rules(*, spokes: list[str]) -> dict[str, dict[str, Any]]:
    """template.yaml's rules on the SpokesBus, as deployed with SpokeAccounts `spokes`: name ->
    (state, pattern)."""
    context = deployed(
        region=REGION,
        account=ACCOUNT,
        refs={
            "SpokeAccounts": spokes or [""],
            "SpokesBus": "migration-trigger-dev-spokes",
            "SelfManagedSecretPrefix": "",
        },
        conditions={"HasSpokes": bool(spokes), "HasSelfManagedSecretPrefix": False},
    )
    rules = {}
    for name, rule in function_events().items():
        if name.startswith("FromSpokes"):
            assert resolve(rule["EventBusName"], context) == "migration-trigger-dev-spokes"
            state = resolve(rule["State"], context)
            rules[name] = {"State": state, "Pattern": resolve(rule["Pattern"], context)}
    return rules


@pytest.mark.parametrize("file", FORWARDED)
def test_the_hubs_spokes_rules_take_what_a_listed_spoke_forwards_exactly_once(aws: str, file: str):
    rules = hub_spoke_rules(spokes=[SPOKE_A, SPOKE_B])
    assert {r["State"] for r in rules.values()} == {"ENABLED"}
    patterns = {name: rule["Pattern"] for name, rule in rules.items()}

    hits = {
        account: delivered(
            account,
            queue_rules(account, patterns),
            in_account(load_event(file), account),
        )
        for account in (SPOKE_A, OUTSIDER)
    }

    assert len(hits[SPOKE_A]) == 1, hits
    assert hits[OUTSIDER] == []


def test_the_hubs_spokes_rules_take_nothing_else_a_spoke_may_send(aws: str):
    """Whatever a spoke's administrator forwards besides its template's rules invokes nothing:
    another secret's label, an RDS event the code ignores."""
    patterns = {n: r["Pattern"] for n, r in hub_spoke_rules(spokes=[SPOKE_A]).items()}
    queues = queue_rules(SPOKE_A, patterns)
    label = in_account(load_event("secret-label-updated.json"), SPOKE_A)
    label["resources"] = [f"arn:aws:secretsmanager:{REGION}:{SPOKE_A}:secret:app/token-AbCdEf"]
    restarted = in_account(load_event("rds-instance-created.json"), SPOKE_A)
    restarted["detail"]["EventID"] = "RDS-EVENT-0006"

    assert delivered(SPOKE_A, queues, label) == []
    assert delivered(SPOKE_A, queues, restarted) == []


def test_without_spokes_the_spokes_rules_are_off():
    assert {r["State"] for r in hub_spoke_rules(spokes=[]).values()} == {"DISABLED"}


def test_the_spokes_bus_admits_the_listed_accounts_forwarding_roles_only():
    """EventBridge lets another account put events on a bus only where the bus's policy allows
    it (EventBridge User Guide, "Permissions for Amazon EventBridge event buses"); a spoke's
    rule puts them as its ForwardingRole (<SpokeRoleName>-forwarding)."""
    policy = load()["Resources"]["SpokesBusAllowListed"]
    context = deployed(
        region=REGION,
        account=ACCOUNT,
        refs={"SpokeAccounts": [SPOKE_A, SPOKE_B], "SpokesBus.Arn": HUB_BUS},
        conditions={"HasSpokes": True},
    )
    statement = resolve(policy["Properties"]["Statement"], context)

    def decision(account: str, role: str = "migration-trigger-spoke-forwarding") -> str | None:
        principal = f"arn:aws:iam::{account}:role/{role}"
        return resource_policy_decision([statement], "events:PutEvents", principal)

    assert policy["Condition"] == "HasSpokes"
    assert statement["Resource"] == HUB_BUS
    assert (decision(SPOKE_A), decision(SPOKE_B), decision(OUTSIDER)) == ("Allow", "Allow", None)
    assert decision(SPOKE_A, "developer") is None
