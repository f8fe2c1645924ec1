"""The reference EKS token minter, `eks-token` (awscli v1's `aws eks get-token`), against ours.

`eks-token` cannot ship (it wraps awscli v1: 291 MB with its botocore, past Lambda's 250 MB), so
`make setup-validators` installs it in a virtual environment of its own, and it runs here as a
subprocess. The emulator authenticates its tokens as it does ours, against moto's STS.
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.parse
from typing import Any

import pytest
import urllib3

from kube_emulator import Emulator
from migration_trigger.adapters.eks_auth import eks_token
from tests.fixtures import CLUSTER, REGION, assume_function_role
from tests.helpers import ROOT, manifests, sts_for_tokens

PYTHON = ROOT / ".venv-tools" / "eks-token" / "bin" / "python"
JOBS = "/apis/batch/v1/namespaces/migrations/jobs"
# awscli 1.4x carries its own botocore and makes `import botocore` find it only once something of
# awscli is imported (awscli/__init__.py, TopLevelImportAliasFinder); eks-token 0.3.0 imports
# botocore first, so awscli is imported before it.
MINT = (
    "import sys; import awscli; from eks_token import get_token; "
    "print(get_token(sys.argv[1], region_name=sys.argv[2])['status']['token'])"
)

pytestmark = pytest.mark.skipif(
    not PYTHON.exists(), reason="eks-token is installed by `make setup-validators`"
)


def reference_token(credentials: dict[str, Any], cluster: str = CLUSTER) -> str:
    """A token minted by eks-token with these credentials, as `aws eks get-token` would."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": credentials["aws_session_token"],
        # No endpoint, no profile: it presigns for the regional STS host, as on a laptop.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    done = subprocess.run(
        [str(PYTHON), "-c", MINT, cluster, REGION],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def our_token(credentials: dict[str, Any], cluster: str = CLUSTER) -> str:
    """Ours, presigned as the function presigns it."""
    return eks_token(sts_for_tokens(REGION, credentials), cluster)


def presigned(token: str) -> urllib.parse.SplitResult:
    encoded = token.removeprefix("k8s-aws-v1.")
    return urllib.parse.urlsplit(
        base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    )


def get_jobs(emulator: Emulator, token: str) -> tuple[int, dict[str, Any]]:
    pool = urllib3.PoolManager(ca_cert_data=emulator.ca_pem.decode(), retries=False)
    response = pool.request(
        "GET", emulator.url + JOBS, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status, response.json()


def test_reference_token_has_the_shape_of_ours(aws: str):
    credentials = assume_function_role()

    reference, ours = presigned(reference_token(credentials)), presigned(our_token(credentials))

    assert (reference.scheme, reference.netloc, reference.path) == (
        ours.scheme,
        ours.netloc,
        ours.path,
    )
    theirs = dict(urllib.parse.parse_qsl(reference.query))
    mine = dict(urllib.parse.parse_qsl(ours.query))
    assert set(theirs) == set(mine)
    for same in ("Action", "Version", "X-Amz-Algorithm", "X-Amz-SignedHeaders", "X-Amz-Expires"):
        assert theirs[same] == mine[same], same
    assert "x-k8s-aws-id" in theirs["X-Amz-SignedHeaders"].split(";")


def test_reference_token_is_accepted_exactly_like_ours(emulator: Emulator):
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))
    credentials = assume_function_role("reference")

    theirs = get_jobs(emulator, reference_token(credentials))
    users = [emulator.requests.find("GET", "/jobs$")[-1].user]
    ours = get_jobs(emulator, our_token(credentials))
    users.append(emulator.requests.find("GET", "/jobs$")[-1].user)

    assert theirs[0] == ours[0] == 200
    assert theirs[1]["items"] == ours[1]["items"]
    assert (
        users[0]
        == users[1]
        == ("arn:aws:sts::123456789012:assumed-role/migration-trigger-function/reference")
    )


def test_reference_token_for_another_cluster_is_refused_like_ours(emulator: Emulator):
    credentials = assume_function_role()

    theirs = get_jobs(emulator, reference_token(credentials, cluster="someone-elses-cluster"))
    ours = get_jobs(emulator, our_token(credentials, cluster="someone-elses-cluster"))

    assert theirs[0] == ours[0] == 401
    assert theirs[1]["reason"] == ours[1]["reason"] == "Unauthorized"
