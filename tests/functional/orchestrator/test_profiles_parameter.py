"""Profiles from SSM Parameter Store: for documents larger than Lambda's 4 KB of environment."""

from __future__ import annotations

import json

from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World, profiles

NAME = "/migration-trigger/test/profiles"

pytestmark = ON_CHOSEN_CLUSTERS


def test_profiles_in_a_parameter_run_a_migration_under_the_templates_grant(world: World):
    # Given the profiles in an SSM parameter, and none inline, deployed with ProfilesParameterName
    admin_client("ssm").put_parameter(Name=NAME, Type="String", Value=json.dumps(profiles()))
    world.monkeypatch.setenv("MIGRATION_PROFILES", "")
    world.monkeypatch.setenv("MIGRATION_PROFILES_PARAMETER", NAME)
    world.deploy_with({"HasProfilesParameter": True}, ProfilesParameterName=NAME)
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.1))

    # When an event arrives
    run = world.run(world.event("rds-instance-created.json"))

    # Then the migration ran with them, and reading them was allowed by the template's statement
    assert run.status is InvocationStatus.SUCCEEDED, run.error
    assert run.result["profile"] == "orders"
    reads = [c for c in world.iam.calls if c.action == "ssm:GetParameter"]
    assert reads
    assert all(c.allowed for c in reads)


def test_a_parameter_the_function_may_not_read_is_a_reported_configuration_failure(world: World):
    # Given a parameter the deployment does not grant (ProfilesParameterName left empty)
    admin_client("ssm").put_parameter(Name=NAME, Type="String", Value=json.dumps(profiles()))
    world.monkeypatch.setenv("MIGRATION_PROFILES", "")
    world.monkeypatch.setenv("MIGRATION_PROFILES_PARAMETER", NAME)

    run = world.run(world.event("rds-instance-created.json"))

    assert run.status is InvocationStatus.FAILED
    assert f"MIGRATION_PROFILES_PARAMETER: cannot read {NAME}" in (run.error or "")
    (message,) = world.notifications()
    assert json.loads(message["Message"])["status"] == "failed"
    assert world.jobs() == []


def test_a_profile_breaking_the_schema_fails_the_invocation_naming_profile_and_key(world: World):
    # Given a profile in the parameter whose env would send the password elsewhere: libpq
    # connects to PGHOSTADDR, not PGHOST, when both are set
    document = profiles(env={"PGHOSTADDR": "203.0.113.9"})
    admin_client("ssm").put_parameter(Name=NAME, Type="String", Value=json.dumps(document))
    world.monkeypatch.setenv("MIGRATION_PROFILES", "")
    world.monkeypatch.setenv("MIGRATION_PROFILES_PARAMETER", NAME)
    world.deploy_with({"HasProfilesParameter": True}, ProfilesParameterName=NAME)

    # When an event arrives
    run = world.run(world.event("rds-instance-created.json"))

    # Then the invocation fails before any Job, saying which profile and which key is at fault
    assert run.status is InvocationStatus.FAILED
    assert (
        "MIGRATION_PROFILES_PARAMETER: profile 'orders': 'env' name 'PGHOSTADDR' is reserved"
        in (run.error or "")
    )
    (message,) = world.notifications()
    assert json.loads(message["Message"])["status"] == "failed"
    assert world.jobs() == []
