"""EKS-token authentication and RBAC authorization, as the API server applies them."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

import boto3
import pytest
import urllib3

from kube_emulator import Emulator
from kube_emulator.auth import canonical_principal
from migration_trigger.adapters.eks_auth import eks_token
from migration_trigger.errors import KubernetesError
from tests.fixtures import CLUSTER, FUNCTION_ROLE, assume_function_role
from tests.helpers import kube_client, manifests, sts_for_tokens

JOBS = "/apis/batch/v1/namespaces/migrations/jobs"


def raw_get(emulator: Emulator, path: str, token: str | None) -> tuple[int, dict[str, Any]]:
    pool = urllib3.PoolManager(ca_cert_data=emulator.ca_pem.decode(), retries=False)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = pool.request("GET", emulator.url + path, headers=headers)
    return response.status, response.json()


def token_for(credentials: dict[str, Any], cluster: str = CLUSTER) -> str:
    return eks_token(sts_for_tokens("eu-west-1", credentials), cluster)


def tamper(token: str, change: Any) -> str:
    url = base64.urlsafe_b64decode(token.removeprefix("k8s-aws-v1.") + "==").decode()
    changed = change(url)
    return "k8s-aws-v1." + base64.urlsafe_b64encode(changed.encode()).decode().rstrip("=")


def test_token_of_mapped_role_is_accepted_with_the_mapped_identity(emulator: Emulator):
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))
    token = token_for(assume_function_role("run-42"))

    status, _ = raw_get(emulator, JOBS, token)

    assert status == 200
    user = emulator.requests.find("GET", "/jobs$")[-1].user
    assert user == "arn:aws:sts::123456789012:assumed-role/migration-trigger-function/run-42"


def test_authorization_header_is_never_recorded(emulator: Emulator):
    token = token_for(assume_function_role())

    raw_get(emulator, JOBS, token)

    recorded = emulator.requests.all()[-1]
    assert "Authorization" not in recorded.headers
    assert token not in repr(recorded)


def test_role_session_maps_to_role_principal():
    assert canonical_principal("arn:aws:sts::123456789012:assumed-role/r/s") == (
        "arn:aws:iam::123456789012:role/r",
        "s",
    )
    assert canonical_principal(FUNCTION_ROLE) == (FUNCTION_ROLE, None)


@pytest.mark.parametrize(
    ("name", "make_token"),
    [
        ("no token", lambda creds: None),
        ("not an EKS token", lambda creds: "abc.def"),
        ("undecodable", lambda creds: "k8s-aws-v1.%%%"),
        ("wrong cluster", lambda creds: token_for(creds, cluster="someone-elses-cluster")),
        (
            "http scheme",
            lambda creds: tamper(token_for(creds), lambda u: u.replace("https://", "http://")),
        ),
        (
            "non-STS host",
            lambda creds: tamper(
                token_for(creds),
                lambda u: u.replace("sts.eu-west-1.amazonaws.com", "evil.example.com"),
            ),
        ),
        (
            "other path",
            lambda creds: tamper(token_for(creds), lambda u: u.replace(".com/?", ".com/x?")),
        ),
        (
            "other action",
            lambda creds: tamper(
                token_for(creds), lambda u: u.replace("GetCallerIdentity", "GetSessionToken")
            ),
        ),
        ("extra parameter", lambda creds: tamper(token_for(creds), lambda u: u + "&X-Extra=1")),
        (
            "cluster header unsigned",
            lambda creds: tamper(token_for(creds), lambda u: u.replace("%3Bx-k8s-aws-id", "")),
        ),
        (
            "expires too long",
            lambda creds: tamper(
                token_for(creds), lambda u: u.replace("X-Amz-Expires=60", "X-Amz-Expires=3600")
            ),
        ),
        ("forged signature", lambda creds: tamper(token_for(creds), lambda u: u[:-4] + "0000")),
    ],
)
def test_bad_tokens_are_refused_with_401(emulator: Emulator, name: str, make_token: Any):
    token = make_token(assume_function_role())

    status, body = raw_get(emulator, JOBS, token)

    assert status == 401, name
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Unauthorized", 401)


def test_token_older_than_15_minutes_is_refused(emulator: Emulator):
    token = token_for(assume_function_role())
    assert raw_get(emulator, JOBS, token)[0] != 401

    emulator.advance_clock(15 * 60 + 1)

    assert raw_get(emulator, JOBS, token)[0] == 401


def test_identity_without_access_entry_is_refused(emulator: Emulator):
    other = boto3.client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/somebody-else", RoleSessionName="other"
    )["Credentials"]
    token = token_for(
        {
            "aws_access_key_id": other["AccessKeyId"],
            "aws_secret_access_key": other["SecretAccessKey"],
            "aws_session_token": other["SessionToken"],
        }
    )

    assert raw_get(emulator, JOBS, token)[0] == 401


def test_static_admin_token_is_off_unless_configured(emulator: Emulator):
    assert raw_get(emulator, JOBS, "admin")[0] == 401


def test_project_rbac_allows_what_the_function_does(emulator: Emulator):
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))
    client = kube_client(emulator, assume_function_role())

    created = client.create(
        JOBS,
        {
            "metadata": {"name": "m1"},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "x"}]}
                }
            },
        },
    )
    client.get(f"{JOBS}/m1")
    client.get("/api/v1/namespaces/migrations/pods", labelSelector="job-name=m1")
    client.delete(f"{JOBS}/m1")

    assert created["metadata"]["name"] == "m1"


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        (
            "POST",
            "/apis/batch/v1/namespaces/default/jobs",
            'jobs.batch is forbidden: User "arn:aws:sts::123456789012:assumed-role/migration-trigger-function/migration-trigger" cannot create resource "jobs" in API group "batch" in the namespace "default"',
        ),
        (
            "GET",
            "/api/v1/namespaces/migrations/secrets",
            'secrets is forbidden: User "arn:aws:sts::123456789012:assumed-role/migration-trigger-function/migration-trigger" cannot list resource "secrets" in API group "" in the namespace "migrations"',
        ),
        (
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            'clusterroles.rbac.authorization.k8s.io is forbidden: User "arn:aws:sts::123456789012:assumed-role/migration-trigger-function/migration-trigger" cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope',
        ),
    ],
)
def test_what_rbac_does_not_grant_is_403_with_the_api_message(
    emulator: Emulator, method: str, path: str, message: str
):
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))
    client = kube_client(emulator, assume_function_role())

    with pytest.raises(KubernetesError) as caught:
        client._json(method, path, body={"metadata": {"name": "x"}} if method == "POST" else None)

    assert (caught.value.status, caught.value.reason) == (403, "Forbidden")
    assert message in str(caught.value)


def test_role_without_create_on_jobs_makes_creation_403(emulator: Emulator):
    rbac = manifests("namespace.yaml", "rbac.yaml")
    role = next(d for d in rbac if d["kind"] == "Role")
    role["rules"][0]["verbs"].remove("create")
    emulator.apply_all(rbac)
    client = kube_client(emulator, assume_function_role())

    with pytest.raises(KubernetesError) as caught:
        client.create(JOBS, {"metadata": {"name": "m1"}})

    assert caught.value.status == 403
    assert 'cannot create resource "jobs"' in str(caught.value)


def test_pods_log_subresource_needs_its_own_grant(emulator: Emulator):
    rbac = manifests("namespace.yaml", "rbac.yaml")
    role = next(d for d in rbac if d["kind"] == "Role")
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["pods/log"]]
    emulator.apply_all(rbac)
    client = kube_client(emulator, assume_function_role())

    with pytest.raises(KubernetesError) as caught:
        client.text("/api/v1/namespaces/migrations/pods/p/log")

    assert caught.value.status == 403
    assert 'cannot get resource "pods/log"' in str(caught.value)


def test_token_presigns_for_the_regional_sts_endpoint():
    token = token_for({"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "x"})

    url = urllib.parse.urlsplit(base64.urlsafe_b64decode(token[11:] + "==").decode())
    query = dict(urllib.parse.parse_qsl(url.query))
    assert (url.scheme, url.hostname, url.path) == ("https", "sts.eu-west-1.amazonaws.com", "/")
    assert query["Action"] == "GetCallerIdentity"
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"].split(";")
    assert "=" not in token


def test_client_mints_a_new_token_after_14_minutes_without_waiting_for_a_401(emulator: Emulator):
    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml"))
    client = kube_client(emulator, assume_function_role())
    minted: list[float] = []
    source = client.credentials

    def counting() -> Any:
        minted.append(emulator.clock())
        return source()

    client.credentials = counting
    client.get(JOBS)
    client.get(JOBS)
    emulator.advance_clock(14 * 60 + 1)
    client.get(JOBS)

    assert len(minted) == 2
    assert 401 not in [r.status for r in emulator.requests.all()]
