"""Hub and spokes over moto with three accounts: the hub (the world's account, where the function
runs) and two spokes, each with the role spoke/template.yaml creates, its trust policy and its
policy read from that template. moto keeps each account's resources apart and gives an assumed
role's session the role's account (moto's STS: "The ARN can point to another account"); it checks
neither policies nor trust, so here:
- the function's own calls, sts:AssumeRole included, pass template.yaml's policy, and AssumeRole
  also the role's trust policy as moto's IAM holds it (local_stack/iam.py: Enforcer.trusts);
- every call made with a spoke role's session passes that role's policy from spoke/template.yaml,
  whichever client makes it (local_stack/iam.py: assumed_role_gate).
The spokes' rules and the hub's bus policy: tests/functional/deployment/test_spokes.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local_stack.iam import (
    Enforcer,
    spoke_enforcer,
    spoke_trust,
    trusted_by_roles_in_moto,
)
from local_stack.template import SPOKE_TEMPLATE, deployed
from local_stack.world import assume_role
from migration_trigger.domain.jobspec import LABEL_PREFIX
from tests.fixtures import ACCOUNT, FUNCTION_ROLE, REGION, admin_client, gated
from tests.functional.orchestrator.conftest import (
    CANARY,
    ON_CHOSEN_CLUSTERS,
    PROFILE_TAG,
    World,
    left_by,
    profiles,
    running_execution,
)

SPOKE_A, SPOKE_B, OUTSIDER = "222222222222", "333333333333", "444444444444"
ORGANIZATION = "o-exampleorg01"
ROLE = "migration-trigger-spoke"
SPOKE_CONDITIONS = {
    "InOrganization": True,
    "HasSelfManagedSecretPrefix": False,
    "HasSecretKmsKeys": False,
    "TakesSnapshots": False,
}


def admin_in(account: str, service: str) -> Any:
    """A client as an administrator of `account` (moto: a session of a role there)."""
    credentials = assume_role(
        sts=admin_client("sts"), role_arn=f"arn:aws:iam::{account}:role/admin", session_name="admin"
    )
    return boto3.client(service, region_name=REGION, **credentials)  # type: ignore[call-overload]


def spoke_refs() -> dict[str, str]:
    return {
        "HubBusArn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/migration-trigger-test-spokes",
        "HubFunctionRoleArn": FUNCTION_ROLE,
        "OrganizationId": ORGANIZATION,
    }


def rolled_out(account: str, **conditions: bool) -> Enforcer:
    """spoke/template.yaml in `account`: its HubRole, with its trust policy, in moto's IAM; the
    role's policy, to hold its sessions to."""
    context = deployed(
        region=REGION,
        account=account,
        refs=spoke_refs(),
        conditions={**SPOKE_CONDITIONS, **conditions},
        path=SPOKE_TEMPLATE,
    )
    admin_in(account, "iam").create_role(
        RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(spoke_trust(context))
    )
    role = f"arn:aws:iam::{account}:role/{ROLE}"
    return spoke_enforcer(
        account=account,
        region=REGION,
        role_arn=role,
        refs=spoke_refs(),
        conditions={**SPOKE_CONDITIONS, **conditions},
    )


@pytest.fixture
def spokes(world: World) -> Iterator[dict[str, Enforcer]]:
    """The hub deployed with SpokeAccounts A and B, each spoke with its role; the spoke roles'
    calls checked against spoke/template.yaml. Yields each role's enforcer by role ARN."""
    world.monkeypatch.setenv("SPOKE_ACCOUNTS", f"{SPOKE_A},{SPOKE_B}")
    world.deploy_with({"HasSpokes": True}, SpokeAccounts=[SPOKE_A, SPOKE_B])  # type: ignore[arg-type]
    world.iam.trusts = trusted_by_roles_in_moto(FUNCTION_ROLE, org=ORGANIZATION)
    enforcers = {f"arn:aws:iam::{a}:role/{ROLE}": rolled_out(a) for a in (SPOKE_A, SPOKE_B)}
    with gated(enforcers):
        yield enforcers


def database_in(account: str, identifier: str = "orders-db") -> tuple[str, str]:
    """An opted-in instance in `account` whose RDS-managed secret holds the canary password; its
    ARN and its secret's."""
    db = admin_in(account, "rds").create_db_instance(
        DBInstanceIdentifier=identifier,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="app",
        ManageMasterUserPassword=True,
        DBName="orders",
        Tags=[{"Key": PROFILE_TAG, "Value": "orders"}],
    )["DBInstance"]
    secret = db["MasterUserSecret"]["SecretArn"]
    admin_in(account, "secretsmanager").put_secret_value(
        SecretId=secret, SecretString=json.dumps({"username": "app", "password": CANARY})
    )
    return str(db["DBInstanceArn"]), str(secret)


def created_in(world: World, account: str, database: str) -> dict[str, Any]:
    """RDS's creation event of `database`, as the spoke's rule forwards it to the hub's bus: it
    keeps the account it happened in."""
    event = world.event("rds-instance-created.json", SourceArn=database)
    event["account"] = account
    event["resources"] = [database]
    event["id"] = f"created-in-{account}"
    return event


def calls_in(enforcers: dict[str, Enforcer], account: str) -> list[Any]:
    return enforcers[f"arn:aws:iam::{account}:role/{ROLE}"].calls


@ON_CHOSEN_CLUSTERS
def test_a_spokes_database_is_migrated_through_its_role(world: World, spokes: dict[str, Enforcer]):
    database, _ = database_in(SPOKE_A)

    run = world.run(created_in(world, SPOKE_A, database))

    assert run.result["status"] == "succeeded", run.result
    assert run.result["database"] == database
    assert len(world.jobs()) == 1
    assumed = [c for c in world.iam.calls if c.action == "sts:AssumeRole"]
    assert assumed and all(c.allowed for c in assumed)
    assert {c.resource for c in assumed} == {f"arn:aws:iam::{SPOKE_A}:role/{ROLE}"}
    made = calls_in(spokes, SPOKE_A)
    assert {c.action for c in made} >= {
        "rds:DescribeDBInstances",
        "rds:DescribeBlueGreenDeployments",
        "secretsmanager:GetSecretValue",
    }
    assert all(c.allowed for c in made), [c for c in made if not c.allowed]
    assert calls_in(spokes, SPOKE_B) == []
    # The role session is named after the execution, for CloudTrail in the spoke.
    from moto.sts.models import sts_backends

    role = f"arn:aws:iam::{SPOKE_A}:role/{ROLE}"
    sessions = [
        r.session_name for r in sts_backends[SPOKE_A]["aws"].assumed_roles if r.role_arn == role
    ]
    assert len(sessions) == 1 and sessions[0].startswith("migration-trigger-"), sessions
    assert CANARY not in json.dumps(run.result)


@ON_CHOSEN_CLUSTERS
def test_an_event_from_an_account_not_listed_is_rejected_and_nothing_is_assumed(
    world: World, spokes: dict[str, Enforcer]
):
    database = f"arn:aws:rds:{REGION}:{OUTSIDER}:db:orders-db"

    run = world.run(created_in(world, OUTSIDER, database))

    assert run.result["status"] == "rejected", run.result
    assert f"account {OUTSIDER}, which is neither this function's" in run.result["reason"]
    assert [c for c in world.iam.calls if c.action == "sts:AssumeRole"] == []
    assert world.jobs() == []


def test_a_spokes_role_cannot_read_another_spokes_secret(world: World, spokes: dict[str, Enforcer]):
    """The role's policy names its own account's secrets only; moto would hand any account's
    secret to anyone, so this is the spoke template's word, held by the gate."""
    _, secret_b = database_in(SPOKE_B)
    credentials = assume_role(
        sts=boto3.client("sts"),  # the function's own identity, as the hub assumes it
        role_arn=f"arn:aws:iam::{SPOKE_A}:role/{ROLE}",
        session_name="migration-trigger-probe",
    )
    as_spoke_a = boto3.client("secretsmanager", region_name=REGION, **credentials)

    with pytest.raises(as_spoke_a.exceptions.ClientError) as refused:
        as_spoke_a.get_secret_value(SecretId=secret_b)

    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    (call,) = calls_in(spokes, SPOKE_A)
    assert (call.action, call.resource, call.allowed) == (
        "secretsmanager:GetSecretValue",
        secret_b,
        False,
    )


def test_the_role_trusts_the_hubs_function_role_only_and_only_in_its_organization(
    world: World, spokes: dict[str, Enforcer]
):
    role = f"arn:aws:iam::{SPOKE_A}:role/{ROLE}"
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-else"

    assert trusted_by_roles_in_moto(FUNCTION_ROLE, org=ORGANIZATION)(role)
    assert not trusted_by_roles_in_moto(other, org=ORGANIZATION)(role)
    assert not trusted_by_roles_in_moto(FUNCTION_ROLE, org="o-anotherorg01")(role)


@ON_CHOSEN_CLUSTERS
def test_the_same_identifier_in_two_accounts_is_two_databases_queued_apart(
    world: World, spokes: dict[str, Enforcer]
):
    """Job names and the queue key databases by ARN, which holds the account: a Job of A's
    orders-db that has not run yet holds up A's next migration, never B's."""
    in_a, _ = database_in(SPOKE_A)
    in_b, _ = database_in(SPOKE_B)
    world.set_profiles(profiles(queueTimeoutSeconds=60))
    with running_execution(world) as execution:
        _, manifest = left_by(
            world, execution, created_in(world, SPOKE_A, in_a), start_by=time.time() + 3600
        )
        assert world.cluster is not None
        world.cluster.apply_all([manifest])

        b = world.run(created_in(world, SPOKE_B, in_b), name="b")
        a = world.run(world.event("manual-retrigger.json", database=in_a), name="a")

    assert b.result["status"] == "succeeded", b.result
    assert not any(op.name.startswith("queued-") for op in b.operations)
    assert a.status.name == "FAILED" and (a.error or "").startswith("timed_out"), a.error
    assert any(op.name.startswith("queued-") for op in a.operations)
    key = f"{LABEL_PREFIX}/database-key"
    by_name = {j["metadata"]["name"]: j["metadata"]["labels"][key] for j in world.jobs()}
    assert by_name[b.result["job"]] != manifest["metadata"]["labels"][key]
    assert b.result["job"] != manifest["metadata"]["name"]


@ON_CHOSEN_CLUSTERS
def test_a_spoke_whose_role_does_not_let_the_hub_in_fails_the_event_naming_the_role(
    world: World, spokes: dict[str, Enforcer]
):
    """A spoke rolled out with another OrganizationId (or another hub's role): AssumeRole is
    refused, and the event fails loudly before anything is created."""
    database, _ = database_in(SPOKE_A)
    world.iam.trusts = trusted_by_roles_in_moto(FUNCTION_ROLE, org="o-anotherorg01")

    run = world.run(created_in(world, SPOKE_A, database))

    assert run.status.name == "FAILED"
    assert "sts:AssumeRole" in (run.error or ""), run.error
    assert f"arn:aws:iam::{SPOKE_A}:role/{ROLE}" in (run.error or "")
    assert world.jobs() == []
    assert calls_in(spokes, SPOKE_A) == []


def test_the_sweep_looks_in_every_spoke_and_requests_a_spokes_missed_creation(
    world: World, spokes: dict[str, Enforcer]
):
    from tests.functional.orchestrator.test_sweep import SWEEP, delivered, requests_bus_to_queue

    queue = requests_bus_to_queue()
    missed, _ = database_in(SPOKE_B, "billing-db")

    swept = world.run(SWEEP, name="sweep")

    assert swept.result["status"] == "swept", swept.result
    assert any(name.startswith("billing-db: created") for name in swept.result["started_names"])
    (request,) = [e for e in delivered(queue) if e["detail"]["database"] == missed]
    assert request["detail"]["missedCreation"]["trigger"] == "db-created"
    listed = {c.action for c in calls_in(spokes, SPOKE_B)} | {
        c.action for c in calls_in(spokes, SPOKE_A)
    }
    assert {"rds:DescribeDBInstances", "rds:DescribeBlueGreenDeployments"} <= listed
    assert all(c.allowed for e in spokes.values() for c in e.calls)


@ON_CHOSEN_CLUSTERS
def test_a_spokes_database_is_snapshotted_in_its_own_account_where_the_spoke_allows(
    world: World, spokes: dict[str, Enforcer]
):
    from local_stack.iam import spoke_policy

    role = f"arn:aws:iam::{SPOKE_A}:role/{ROLE}"
    spokes[role].statements = spoke_policy(
        deployed(
            region=REGION,
            account=SPOKE_A,
            refs=spoke_refs(),
            conditions={**SPOKE_CONDITIONS, "TakesSnapshots": True},
            path=SPOKE_TEMPLATE,
        )
    )
    world.deploy_with({"HasSpokes": True, "TakesSnapshots": True}, SpokeAccounts=[SPOKE_A, SPOKE_B])  # type: ignore[arg-type]
    world.set_profiles(profiles(snapshotBeforeMigration=True))
    database, _ = database_in(SPOKE_A)

    run = world.run(world.event("manual-retrigger.json", database=database))

    assert run.result["status"] == "succeeded", run.result
    taken = admin_in(SPOKE_A, "rds").describe_db_snapshots(
        DBInstanceIdentifier="orders-db", SnapshotType="manual"
    )["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in taken] == [run.result["snapshot"]]
    made = {c.action for c in calls_in(spokes, SPOKE_A)}
    assert {"rds:CreateDBSnapshot", "rds:AddTagsToResource"} <= made
    assert all(c.allowed for c in calls_in(spokes, SPOKE_A))


def test_a_spoke_that_cannot_be_looked_at_is_reported_and_the_others_are_swept(
    world: World, spokes: dict[str, Enforcer]
):
    """B's role not rolled out yet (or its trust changed): the sweep reports B, and sweeps the
    hub and A as ever."""
    from tests.functional.orchestrator.test_sweep import SWEEP, requests_bus_to_queue

    requests_bus_to_queue()
    admin_in(SPOKE_B, "iam").delete_role(RoleName=ROLE)
    database_in(SPOKE_A, "billing-db")

    swept = world.run(SWEEP, name="sweep")

    assert swept.result["status"] == "swept", swept.result
    (unswept,) = swept.result["cannot_names"]
    assert unswept.startswith(f"account {SPOKE_B}: could not be swept: ")
    assert "sts:AssumeRole" in unswept
    assert any(n.startswith("billing-db: created") for n in swept.result["started_names"])


def test_a_secret_in_one_spoke_naming_anothers_database_runs_nothing(
    world: World, spokes: dict[str, Enforcer]
):
    """RDS is asked in the account the secret is in: B's orders-db named by a secret of A finds
    A's namesake at most, which is never run for it."""
    database_in(SPOKE_A)
    in_b, _ = database_in(SPOKE_B)
    secret = admin_in(SPOKE_A, "secretsmanager").create_secret(
        Name="orders-creds",
        SecretString=json.dumps({"username": "app", "password": CANARY}),
        Tags=[{"Key": "migration-trigger:database", "Value": in_b}],
    )
    event = world.event("secret-label-updated.json")
    event |= {"account": SPOKE_A, "resources": [secret["ARN"]], "id": "rotated-in-a"}
    event["detail"] |= {"name": "orders-creds", "versionId": secret["VersionId"]}

    run = world.run(event)

    assert run.result["status"] == "rejected", run.result
    assert f"{in_b} is of account {SPOKE_B}" in run.result["reason"]
    assert world.jobs() == []
    assert calls_in(spokes, SPOKE_B) == []
