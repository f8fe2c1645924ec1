"""The local stack's policy gate reads each request as the AWS protocol it uses."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.iam import _CREDENTIAL, _operation


@pytest.mark.parametrize(
    ("environ", "body", "expected"),
    [
        (
            {"HTTP_X_AMZ_TARGET": "secretsmanager.DescribeSecret", "REQUEST_METHOD": "POST"},
            b'{"SecretId": "s"}',
            ("json", "DescribeSecret", {"SecretId": "s"}),
        ),
        (
            {"REQUEST_METHOD": "POST"},
            b"Action=DescribeDBInstances&DBInstanceIdentifier=db",
            (
                "query",
                "DescribeDBInstances",
                {"Action": "DescribeDBInstances", "DBInstanceIdentifier": "db"},
            ),
        ),
        (
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/clusters/platform-dev"},
            b"",
            ("rest-json", "DescribeCluster", {"name": "platform-dev"}),
        ),
        # DeleteCluster is not DescribeCluster: it stays unknown, and so is denied.
        (
            {"REQUEST_METHOD": "DELETE", "PATH_INFO": "/clusters/platform-dev"},
            b"",
            ("rest-json", "", {}),
        ),
    ],
)
def test_requests_are_read_as_their_protocol(
    environ: dict[str, Any], body: bytes, expected: tuple[str, str, dict[str, Any]]
):
    assert _operation(environ, body) == expected


def test_a_presigned_request_names_its_signer_in_the_query():
    query = "X-Amz-Credential=AKIAFUNCTION000001/20261127/eu-west-1/sts/aws4_request&X-Amz-Date=x"

    signer = _CREDENTIAL.search(query)

    assert signer is not None
    assert (signer[1], signer[2]) == ("AKIAFUNCTION000001", "sts")
