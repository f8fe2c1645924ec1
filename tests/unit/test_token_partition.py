"""The EKS token is presigned for the STS host of the cluster's partition, never a local override."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from migration_trigger import wiring
from migration_trigger.adapters.eks_auth import TokenSource


@pytest.fixture(autouse=True)
def local_endpoint(offline_aws: pytest.MonkeyPatch) -> None:
    # A local AWS emulator's endpoint must not reach the token: EKS accepts only STS hosts.
    offline_aws.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "sts.eu-west-1.amazonaws.com"),
        ("cn-north-1", "sts.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", "sts.us-gov-west-1.amazonaws.com"),
    ],
)
def test_the_token_names_the_sts_host_of_the_region_partition(region: str, host: str):
    token = TokenSource(wiring.token_sts_client(region), "platform")().token

    encoded = token.removeprefix("k8s-aws-v1.")
    url = urllib.parse.urlsplit(
        base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    )
    assert (url.scheme, url.hostname, url.path) == ("https", host, "/")
    assert "Action=GetCallerIdentity" in url.query
