"""template.yaml deploys into real accounts: small concurrency quotas, CMK-encrypted secrets, VPCs."""

from __future__ import annotations

from typing import Any

from local_stack.iam import DEFAULT_CONDITIONS, function_policy
from local_stack.template import NO_VALUE, Context, load, resolve

TEMPLATE = load()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
REFS = {
    # Parameters not given take their defaults, as in CloudFormation.
    **{name: str(spec["Default"]) for name, spec in PARAMETERS.items() if "Default" in spec},
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "ClusterName": "platform-dev",
    "ResultsTopic": "arn:aws:sns:eu-west-1:123456789012:results",
    "DataKey.Arn": "arn:aws:kms:eu-west-1:123456789012:key/data",
    "Ledger": "migration-trigger-dev-ledger",
    "Ledger.Arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/migration-trigger-dev-ledger",
    "RequestsBus": "migration-trigger-dev-requests",
    "RequestsBus.Arn": "arn:aws:events:eu-west-1:123456789012:event-bus/migration-trigger-dev-requests",
}


def test_concurrency_is_unreserved_unless_asked():
    """Reserving concurrency fails a deployment whose account would keep under 100 unreserved."""
    reserved = RESOURCES["MigrationFunction"]["Properties"]["ReservedConcurrentExecutions"]

    assert PARAMETERS["ReservedConcurrency"]["Default"] == 0
    assert resolve(reserved, Context(REFS, {"HasReservedConcurrency": False})) is NO_VALUE
    assert (
        resolve(
            reserved,
            Context({**REFS, "ReservedConcurrency": "5"}, {"HasReservedConcurrency": True}),
        )
        == "5"
    )


def test_listed_keys_of_rds_managed_secrets_may_decrypt_through_secrets_manager_only():
    keys = ["arn:aws:kms:eu-west-1:123456789012:key/rds-secrets"]

    without = function_policy(Context(REFS, DEFAULT_CONDITIONS))
    with_keys = function_policy(
        Context(
            {**REFS, "SecretKmsKeyArns": keys},  # type: ignore[dict-item]
            {**DEFAULT_CONDITIONS, "HasSecretKmsKeys": True},
        )
    )

    assert not [s for s in without if s.sid == "DecryptRdsManagedSecrets"]
    (decrypt,) = [s for s in with_keys if s.sid == "DecryptRdsManagedSecrets"]
    assert decrypt.actions == ("kms:Decrypt",)
    assert list(decrypt.resources) == keys
    assert decrypt.conditions == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }


def test_a_function_in_a_vpc_can_have_the_endpoints_it_calls():
    endpoints = [r for r in RESOURCES.values() if r["Type"] == "AWS::EC2::VPCEndpoint"]
    services = {
        resolve(r["Properties"]["ServiceName"], Context(REFS)).rsplit(".", 1)[-1] for r in endpoints
    }

    assert services == {"lambda", "rds", "secretsmanager", "sns", "eks", "ssm"}
    # SSM only when the profiles come from a parameter.
    assert {r["Condition"] for r in endpoints} == {"WithVpcEndpoints", "WithSsmEndpoint"}


def test_the_endpoints_admit_https_from_the_function_through_a_group_of_their_own():
    """An interface endpoint admits only what its security groups admit: the function's own
    groups need not admit anything inbound, so the endpoints get a group that takes 443 from
    them (a rule naming a group admits every interface carrying it)."""
    endpoints = [r for r in RESOURCES.values() if r["Type"] == "AWS::EC2::VPCEndpoint"]
    group = RESOURCES["EndpointSecurityGroup"]
    refs = {**REFS, "SecurityGroupIds": ["sg-function", "sg-other"], "VpcId": "vpc-1"}

    refs["EndpointSecurityGroup"] = "sg-endpoints"
    assert {
        str(resolve(r["Properties"]["SecurityGroupIds"], Context(refs))) for r in endpoints
    } == {"['sg-endpoints']"}
    assert group["Condition"] == "WithVpcEndpoints"
    (ingress,) = group["Properties"]["SecurityGroupIngress"]
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 443, 443)
    assert resolve(ingress["SourceSecurityGroupId"], Context(refs)) == "sg-function"


def test_two_environments_in_one_account_have_distinct_bus_policy_statement_ids():
    """CloudFormation treats an EventBusPolicy's StatementId as unique per account and Region:
    dev and prod, as samconfig.toml deploys them, must not collide."""
    policies = [r for r in RESOURCES.values() if r["Type"] == "AWS::Events::EventBusPolicy"]

    def ids(environment: str) -> set[str]:
        context = Context({**REFS, "Environment": environment})
        return {resolve(p["Properties"]["StatementId"], context) for p in policies}

    assert len(ids("dev")) == len(policies)
    assert ids("dev").isdisjoint(ids("prod"))


def test_migrated_databases_accepts_only_lowercase_patterns_as_rds_stores_identifiers():
    import re

    pattern = re.compile(PARAMETERS["MigratedDatabases"]["AllowedPattern"])

    assert pattern.fullmatch("orders-*") and pattern.fullmatch("*")
    assert not pattern.fullmatch("Orders-*")


def test_samconfig_does_not_notify_rejected_events_one_by_one():
    """Rejected events are counted and alarmed on; per-event messages would flood the topic."""
    import tomllib

    from tests.helpers import ROOT

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for environment in ("dev", "prod"):
        overrides = config[environment]["deploy"]["parameters"]["parameter_overrides"]
        statuses = [o for o in overrides if o.startswith("NotifyStatuses=")]
        assert all("rejected" not in o for o in statuses), environment
