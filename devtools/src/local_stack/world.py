"""How the local world is wired: moto as AWS, the Kubernetes emulator as the EKS cluster behind it.

The local stack and the test fixtures build the same world from these functions, each with its own
names (account, region, roles): a moto server on loopback, an emulator that authenticates EKS
tokens against moto's STS and maps the function's role to the group k8s/rbac.yaml binds, an EKS
cluster in moto that reports the emulator as its API server, the function's role assumed through
moto's STS, and a results topic with a queue subscribed to it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from moto.server import ThreadedMotoServer

from kube_emulator import AccessEntry, EmulatorConfig, StaticToken
from kube_emulator.auth import EksAuthenticator
from kube_emulator.moto_credentials import moto_secret_lookup

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient

#: The Kubernetes group the function's role is mapped to (template.yaml's access entry); the
#: project's k8s/rbac.yaml grants it what the function may do.
FUNCTION_GROUP = "migration-trigger"


def start_moto_server() -> tuple[ThreadedMotoServer, str]:
    """Start a moto server on a free loopback port; return it (to stop) and its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def emulator_config(
    *,
    cluster: str,
    sts_endpoint: str,
    static_key: str,
    static_secret: str,
    function_role: str,
    other_entries: Sequence[AccessEntry] = (),
    **settings: Any,
) -> EmulatorConfig:
    """The emulator's config for `cluster`: EKS tokens checked against moto, the function mapped."""
    return EmulatorConfig(
        cluster_name=cluster,
        sts_endpoint=sts_endpoint,
        secret_for_access_key=moto_secret_lookup({static_key: static_secret}),
        access_entries=(AccessEntry(function_role, groups=(FUNCTION_GROUP,)), *other_entries),
        **settings,
    )


def eks_authenticator(
    *,
    cluster: str,
    sts_endpoint: str,
    static_key: str,
    static_secret: str,
    function_role: str,
    other_entries: Sequence[AccessEntry] = (),
    static_tokens: Sequence[StaticToken] = (),
) -> EksAuthenticator:
    """The same EKS authentication for the real control plane's token webhook, on the real clock."""
    return EksAuthenticator(
        cluster_name=cluster,
        sts_endpoint=sts_endpoint,
        secret_for_access_key=moto_secret_lookup({static_key: static_secret}),
        access_entries=(AccessEntry(function_role, groups=(FUNCTION_GROUP,)), *other_entries),
        static_tokens=static_tokens,
        clock=time.time,
    )


class ClusterEndpoint(Protocol):
    """Where a Kubernetes API server listens and the CA it presents (the emulator, or the real
    control plane)."""

    @property
    def url(self) -> str:
        """The API server's URL."""

    @property
    def ca_data(self) -> str:
        """Its CA, base64 of the PEM, as EKS's DescribeCluster gives it."""


def create_eks_cluster(
    *, eks: EKSClient, name: str, role_arn: str, subnet_id: str, emulator: ClusterEndpoint
) -> None:
    """Create an EKS cluster in moto that reports the API server's endpoint and CA, as EKS would."""
    from moto.eks.models import eks_backends

    arn = eks.create_cluster(
        name=name, roleArn=role_arn, resourcesVpcConfig={"subnetIds": [subnet_id]}
    )["cluster"]["arn"]
    region, account = arn.split(":")[3:5]
    cluster = eks_backends[account][region].clusters[name]
    cluster.endpoint = emulator.url
    cluster.certificate_authority = {"data": emulator.ca_data}


def assume_role(*, sts: STSClient, role_arn: str, session_name: str) -> dict[str, str]:
    """Assume `role_arn`; return its credentials as boto3 client keyword arguments."""
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def queue_arn(*, sqs: SQSClient, queue_url: str) -> str:
    """The ARN of the queue at `queue_url`."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def topic_with_queue(
    *, sns: SNSClient, sqs: SQSClient, topic_name: str, queue_name: str
) -> tuple[str, str]:
    """Create a topic and a queue subscribed to it; return (topic_arn, queue_url)."""
    topic_arn = sns.create_topic(Name=topic_name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(sqs=sqs, queue_url=queue_url)
    )
    return topic_arn, queue_url


def create_ledger(*, dynamodb: DynamoDBClient, name: str) -> str:
    """template.yaml's Ledger table (its keys, billing and TTL as the template defines them),
    in moto; returns its ARN. moto does not model the table's KMS key."""
    from local_stack.template import load

    properties = load()["Resources"]["Ledger"]["Properties"]
    table = dynamodb.create_table(
        TableName=name,
        BillingMode=properties["BillingMode"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
    )["TableDescription"]
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"]
    )
    return table["TableArn"]
