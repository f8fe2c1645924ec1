"""EKS authentication without kubectl, awscli or a kubeconfig: a presigned STS token.

The token is `k8s-aws-v1.` + base64url(presigned GetCallerIdentity URL) with
`x-k8s-aws-id: <cluster>` signed; EKS accepts it for 15 minutes, so it is refreshed after 14.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from migration_trigger.adapters.kube import Credentials

TOKEN_PREFIX = "k8s-aws-v1."
PRESIGN_SECONDS = 60
REFRESH_AFTER_SECONDS = 14 * 60
_CLUSTER_HEADER = "x-k8s-aws-id"


def eks_token(sts_client: Any, cluster_name: str) -> str:
    """A bearer token for `cluster_name`, presigned by the STS client's credentials."""

    def add_cluster_header(request: Any, **_: Any) -> None:
        request.headers[_CLUSTER_HEADER] = cluster_name

    events = sts_client.meta.events
    events.register_first("before-sign.sts.GetCallerIdentity", add_cluster_header)
    try:
        url = sts_client.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=PRESIGN_SECONDS, HttpMethod="GET"
        )
    finally:
        events.unregister("before-sign.sts.GetCallerIdentity", add_cluster_header)
    encoded = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    return TOKEN_PREFIX + encoded


class TokenSource:
    """Mints EKS tokens on demand, each valid for REFRESH_AFTER_SECONDS of the client's use."""

    __slots__ = ("clock", "cluster_name", "sts_client")

    def __init__(
        self, sts_client: Any, cluster_name: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.sts_client = sts_client
        self.cluster_name = cluster_name
        self.clock = clock

    def __call__(self) -> Credentials:
        token = eks_token(self.sts_client, self.cluster_name)
        return Credentials(token=token, refresh_at=self.clock() + REFRESH_AFTER_SECONDS)
