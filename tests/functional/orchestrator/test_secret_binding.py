"""Tagging a secret must not be as good as reading it.

Whoever may tag a secret `migration-trigger:database=<their database>` and tag their database
`migration-trigger:secret=<that secret>` would bind someone else's password to a Job pointed at
their host. Binding is decided once, in the resolve step, before anything is created, by facts a
tag cannot forge:
- an RDS-managed secret binds only to the database RDS says owns it (its `MasterUserSecret`,
  and the `aws:rds:` tags RDS sets: keys under `aws:` are reserved, no user can set them);
- a self-managed secret that names a database (Secrets Manager's RDS credentials JSON,
  `dbInstanceIdentifier` / `dbClusterIdentifier`) binds to that database only, kind and
  identifier compared together;
- one that names none binds only under a deployed SelfManagedSecretPrefix (the master user name
  proves nothing: whoever creates a database chooses it, and `postgres`/`admin` are common).
"""

from __future__ import annotations

import json

from kube_emulator import PodScript
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World, self_managed_instance

VICTIM_PASSWORD = "victim-password-never-given"

pytestmark = ON_CHOSEN_CLUSTERS


def attacker_database() -> str:
    return self_managed_instance("attacker-db")


def secret(
    name: str, *, tagged_for: str, identifier: str | None, key: str = "dbInstanceIdentifier"
) -> str:
    value = {"username": "payments", "password": VICTIM_PASSWORD, "engine": "postgres"}
    if identifier:
        value[key] = identifier
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
    return world.secrets()


def test_a_secret_naming_another_database_is_never_given_to_a_job(world: World):
    # Given the payments database's secret, re-tagged for the attacker's database
    attacker = attacker_database()
    victim = secret("payments-db-creds", tagged_for=attacker, identifier="payments-db")
    bind(attacker, victim)

    run = world.run(world.event("manual-retrigger.json", database=attacker))

    assert run.result["status"] == "rejected", run.error
    assert (
        f"secret {victim} is for another database (instance payments-db), not {attacker}"
        in run.result["reason"]
    )
    assert secrets_in_cluster(world) == [], "no credentials Secret was created"
    assert world.jobs() == []
    assert VICTIM_PASSWORD not in json.dumps(run.history)


def test_a_cluster_secret_is_never_given_to_an_instance_of_the_same_name(world: World):
    """Kind and identifier are compared together: `dbClusterIdentifier: attacker-db` names the
    cluster attacker-db, not the instance attacker-db."""
    attacker = attacker_database()
    victim = secret(
        "attacker-db-cluster-creds",
        tagged_for=attacker,
        identifier="attacker-db",
        key="dbClusterIdentifier",
    )
    bind(attacker, victim)

    run = world.run(world.event("manual-retrigger.json", database=attacker))

    assert run.result["status"] == "rejected", run.error
    assert (
        f"is for another database (cluster attacker-db), not {attacker}" in (run.result["reason"])
    )
    assert world.jobs() == []


def test_an_rds_managed_secret_binds_only_to_the_database_rds_says_owns_it(world: World):
    """orders-db's RDS-managed secret, re-tagged for the attacker's database (whose master user,
    `app`, is the same): RDS says orders-db owns it, so no other database's Job gets it."""
    attacker = attacker_database()
    admin_client("secretsmanager").tag_resource(
        SecretId=world.secret_arn,
        Tags=[{"Key": "migration-trigger:database", "Value": attacker}],
    )
    bind(attacker, world.secret_arn)

    run = world.run(world.event("manual-retrigger.json", database=attacker))

    assert run.result["status"] == "rejected", run.error
    assert (
        f"secret {world.secret_arn} is managed by RDS for {world.db_arn}: it is given only to "
        "that database's migrations"
    ) in run.result["reason"]
    assert secrets_in_cluster(world) == []
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


def test_a_secret_bound_by_tags_alone_is_rejected_even_with_the_master_user(world: World):
    """No identifier in the secret, no prefix deployed: tags alone never bind, even when the
    secret holds the database's master user (`app` here: anyone creating a database picks it)."""
    attacker = attacker_database()
    value = {"username": "app", "password": VICTIM_PASSWORD}
    victim = admin_client("secretsmanager").create_secret(
        Name="payments-creds",
        SecretString=json.dumps(value),
        Tags=[{"Key": "migration-trigger:database", "Value": attacker}],
    )["ARN"]
    bind(attacker, victim)

    run = world.run(world.event("manual-retrigger.json", database=attacker))

    assert run.result["status"] == "rejected", run.error
    assert f"secret {victim} names no database" in run.result["reason"]
    assert (
        "add dbInstanceIdentifier (or dbClusterIdentifier) to the secret's JSON"
        in (run.result["reason"])
    )
    assert "SelfManagedSecretPrefix" in run.result["reason"]
    assert secrets_in_cluster(world) == []
    assert world.jobs() == []


def test_under_a_deployed_prefix_a_secret_naming_another_database_is_rejected(world: World):
    world.monkeypatch.setenv("SELF_MANAGED_SECRET_PREFIX", "db-credentials/")
    world.deploy_with({}, SelfManagedSecretPrefix="db-credentials/")
    attacker = attacker_database()
    victim = secret("db-credentials/payments", tagged_for=attacker, identifier="payments-db")
    bind(attacker, victim)

    run = world.run(world.event("manual-retrigger.json", database=attacker))

    assert run.result["status"] == "rejected", run.error
    assert "is for another database (instance payments-db)" in run.result["reason"]
    assert world.jobs() == []


def test_under_a_deployed_prefix_a_tagged_secret_binds_whatever_its_user(world: World):
    world.monkeypatch.setenv("SELF_MANAGED_SECRET_PREFIX", "db-credentials/")
    world.deploy_with({}, SelfManagedSecretPrefix="db-credentials/")
    world.pods.when(PodScript(logs="Applied 1 migration\n"))
    database = attacker_database()
    migrator = secret("db-credentials/attacker-migrator", tagged_for=database, identifier=None)
    bind(database, migrator)

    run = world.run(world.event("manual-retrigger.json", database=database))

    assert run.result["status"] == "succeeded", run.error
