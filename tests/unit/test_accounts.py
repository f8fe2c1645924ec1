"""Hub and spokes, the pure part (domain/accounts.py) and its settings: which account a trigger is
about, the role and session the hub takes there, and SPOKE_ACCOUNTS / SPOKE_ROLE_NAME."""

from __future__ import annotations

import json
import re

import pytest

from migration_trigger.domain.accounts import owner, role_arn, session_name
from migration_trigger.domain.events import Home, Trigger, TriggerKind
from migration_trigger.errors import ConfigurationError
from migration_trigger.settings import Settings
from tests.unit.test_settings_and_result import PROFILES as PROFILES_JSON

HUB = Home("aws", "eu-west-1", "123456789012", frozenset({"210987654321"}))


def trigger(**fields: str) -> Trigger:
    base = {"event_id": "e", "source": "aws.rds", "detail": "d", "region": "eu-west-1"}
    return Trigger(TriggerKind.MANUAL, **{**base, "account": "", **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "account"),
    [
        ({"database": "arn:aws:rds:eu-west-1:210987654321:db:orders-db"}, "210987654321"),
        (
            {"secret_id": "arn:aws:secretsmanager:eu-west-1:210987654321:secret:rds!db-1-AbCdEf"},
            "210987654321",
        ),
        # A CloudTrail rotation may name its secret by name: the event's own account.
        ({"secret_id": "orders-creds", "account": "210987654321"}, "210987654321"),
        # `db:<identifier>` in a manual request (source migration-trigger): the hub's own.
        (
            {"database": "db:orders-db", "source": "migration-trigger", "account": "210987654321"},
            "123456789012",
        ),
    ],
)
def test_a_triggers_database_lives_in_the_account_its_arn_or_event_says(
    fields: dict[str, str], account: str
):
    assert owner(trigger(**fields), HUB) == account


def test_the_role_is_named_in_the_hubs_partition():
    china = HUB._replace(partition="aws-cn")

    assert (
        role_arn(china, "210987654321", "mt-spoke") == "arn:aws-cn:iam::210987654321:role/mt-spoke"
    )


@pytest.mark.parametrize(
    "execution",
    [
        "arn:aws:lambda:eu-west-1:123456789012:function:migration-trigger-prod:7/durable-execution/"
        "6a7e8feb-b491-4cf7-a9f1-bf3703467718/4f0e9c3d",
        "arn:aws:lambda:eu-west-1:123456789012:function:f:7/durable-execution/x/" + "a" * 80,
        "local-run#event-1/",
    ],
)
def test_the_session_is_named_after_the_execution_as_sts_allows(execution: str):
    """RoleSessionName: 2 to 64 of [\\w+=,.@-] (STS API Reference, AssumeRole)."""
    name = session_name(execution)

    assert re.fullmatch(r"[\w+=,.@-]{2,64}", name), name
    assert name.startswith("migration-trigger-")


def test_spoke_accounts_are_read_and_checked():
    env = {"ENVIRONMENT": "prod", "MIGRATION_PROFILES": PROFILES_JSON}

    settings = Settings.from_env({**env, "SPOKE_ACCOUNTS": " 210987654321, 111122223333 "})
    default = Settings.from_env(env)

    assert {"210987654321", "111122223333"} == settings.SPOKE_ACCOUNTS
    assert (
        frozenset(),
        "migration-trigger-spoke",
    ) == (default.SPOKE_ACCOUNTS, default.SPOKE_ROLE_NAME)
    with pytest.raises(ConfigurationError, match="SPOKE_ACCOUNTS: 2109876543 is not an AWS"):
        Settings.from_env({**env, "SPOKE_ACCOUNTS": "2109876543"})
    with pytest.raises(ConfigurationError, match="SPOKE_ROLE_NAME: 'a/b' is not an IAM role"):
        Settings.from_env({**env, "SPOKE_ROLE_NAME": "a/b"})


def test_profiles_that_leave_the_blue_green_wait_unset_fit_a_tight_execution_timeout():
    """Upgrading keeps a deployment whose profiles fitted its ExecutionTimeoutSeconds running:
    the default wait shrinks to fit; a wait a profile names itself is held to, and refused."""
    env = {"ENVIRONMENT": "prod", "MIGRATION_PROFILES": PROFILES_JSON}
    tight = {**env, "EXECUTION_TIMEOUT_SECONDS": "12000"}
    document = json.loads(PROFILES_JSON)
    for raw in document["profiles"].values():
        raw["waitForBlueGreenSeconds"] = 21600
    named = {**tight, "MIGRATION_PROFILES": json.dumps(document)}

    fitted = Settings.from_env(tight).profiles
    refused = Settings.from_env(named)

    assert all(0 < p.wait_for_blue_green_seconds < 21600 for p in fitted.values())
    assert "waitForBlueGreenSeconds 21600" in refused.PROFILES_ERROR
