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
