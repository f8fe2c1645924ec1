"""Tagging a secret must not be as good as reading it.

Whoever may tag a secret `migration-trigger:database=<their database>` and tag their database
`migration-trigger:secret=<that secret>` would bind someone else's password to a Job pointed at
their host. Two guards: a secret that names its database (Secrets Manager's RDS credentials JSON,
`dbInstanceIdentifier` / `dbClusterIdentifier`) binds to that database only; and with
SelfManagedSecretPrefix set, the policy lets the function read tagged secrets under it only.
"""

from __future__ import annotations

import json

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.conftest import admin_client
from tests.functional.orchestrator.conftest import World, self_managed_instance

VICTIM_PASSWORD = "victim-password-never-given"


def attacker_database() -> str:
    return self_managed_instance("attacker-db")


def secret(name: str, *, tagged_for: str, identifier: str | None) -> str:
    value = {"username": "payments", "password": VICTIM_PASSWORD, "engine": "postgres"}
    if identifier:
        value["dbInstanceIdentifier"] = identifier
    return str(
        admin_client("secretsmanager").create_secret(
            Name=name,
            SecretString=json.dumps(value),
            Tags=[{"Key": "migration-trigger:database", "Value": tagged_for}],
        )["ARN"]
    )


def bind(database: str, secret_arn: str) -> None:
    admin_client("rds").add_tags_to_resource(
        ResourceName=database, Tags=[{"Key": "migration-trigger:secret", "Value": secret_arn}]
    )


def secrets_in_cluster(world: World) -> list[dict[str, object]]:
    items, _ = world.emulator.store.select(world.emulator.store_types["secrets"], "migrations")
    return items


def test_a_secret_naming_another_database_is_never_given_to_a_job(world: World):
    # Given the payments database's secret, re-tagged for the attacker's database
    attacker = attacker_database()
    victim = secret("payments-db-creds", tagged_for=attacker, identifier="payments-db")
    bind(attacker, victim)

    run = world.run(world.event("manual-retrigger.json", database=attacker))

    assert run.status is InvocationStatus.FAILED
    assert f"secret {victim} is for another database (payments-db), not {attacker}" in (
        run.error or ""
    )
    assert secrets_in_cluster(world) == [], "no credentials Secret was created"
    assert world.jobs() == []


def test_a_secret_naming_its_own_database_binds(world: World):
    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    database = attacker_database()
    own = secret("attacker-db-creds", tagged_for=database, identifier="attacker-db")
    bind(database, own)

    run = world.run(world.event("manual-retrigger.json", database=database))

    assert run.result["status"] == "succeeded", run.error


def test_with_a_prefix_only_tagged_secrets_under_it_can_be_read(world: World):
    world.deploy_with({}, SelfManagedSecretPrefix="db-credentials/")
    database = attacker_database()
    outside = secret("payments-db-creds", tagged_for=database, identifier=None)
    bind(database, outside)

    run = world.run(world.event("manual-retrigger.json", database=database))

    assert run.result["status"] == "rejected"
    assert "cannot be read (AccessDeniedException)" in run.result["reason"]
    assert world.jobs() == []


def test_a_secret_bound_by_tags_alone_must_hold_the_master_user(world: World):
    """No identifier in the secret, no prefix deployed: only the database's own master user may
    bind (the victim's `payments` user is not `attacker-db`'s master user `app`)."""
    attacker = attacker_database()
    victim = secret("payments-creds", tagged_for=attacker, identifier=None)
    bind(attacker, victim)

    run = world.run(world.event("manual-retrigger.json", database=attacker))

    assert run.status is InvocationStatus.FAILED
    assert f"secret {victim} names no database and its user is not the master user" in (
        run.error or ""
    )
    assert secrets_in_cluster(world) == []


def test_under_a_deployed_prefix_a_tagged_secret_binds_whatever_its_user(world: World):
    world.monkeypatch.setenv("SELF_MANAGED_SECRET_PREFIX", "db-credentials/")
    world.deploy_with({}, SelfManagedSecretPrefix="db-credentials/")
    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    database = attacker_database()
    migrator = secret("db-credentials/attacker-migrator", tagged_for=database, identifier=None)
    bind(database, migrator)

    run = world.run(world.event("manual-retrigger.json", database=database))

    assert run.result["status"] == "succeeded", run.error
