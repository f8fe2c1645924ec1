"""EKS authentication for a real kube-apiserver: its token webhook asks this server.

kube-apiserver's `--authentication-token-webhook-config-file` names a kubeconfig whose cluster is
this server; for each bearer token it does not know, it POSTs a `TokenReview`
(authentication.k8s.io/v1) and takes the user and groups of the answer (k8s.io/apiserver
plugin/pkg/authenticator/token/webhook). EKS answers those reviews with aws-iam-authenticator,
mapping the token's IAM principal through access entries; here the emulator's EksAuthenticator
(kube_emulator/auth.py) does the same checks against moto's STS. The apiserver adds
`system:authenticated` itself, so the answer leaves it out.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from control_plane.pki import Authority
from control_plane.serving import LoopbackTlsServer
from kube_emulator.auth import EksAuthenticator
from kube_emulator.errors import ApiError


class TokenReviewServer:
    """Answers TokenReviews on a loopback HTTPS port with an EksAuthenticator's verdict."""

    def __init__(self, authenticator: EksAuthenticator, authority: Authority) -> None:
        self.authenticator = authenticator
        self._server = LoopbackTlsServer(authority, "token-webhook", _handler(authenticator))
        self.url = f"{self._server.url}/tokenreview"

    def start(self) -> TokenReviewServer:
        """Serve in a thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        self._server.stop()


def _handler(authenticator: EksAuthenticator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the apiserver asks once per token and cache period."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            review = json.loads(self.rfile.read(length) or b"{}")
            token = ((review.get("spec") or {}).get("token")) or ""
            status: dict[str, Any]
            try:
                identity = authenticator.authenticate(f"Bearer {token}")
            except ApiError as error:
                status = {"authenticated": False, "error": str(error)}
            else:
                groups = [g for g in identity.groups if g != "system:authenticated"]
                user: dict[str, Any] = {"username": identity.username, "groups": groups}
                if identity.arn:
                    # EKS puts the principal in the extra fields (aws-iam-authenticator).
                    user["extra"] = {"arn": [identity.arn]}
                status = {"authenticated": True, "user": user}
            body = json.dumps(
                {
                    "apiVersion": review.get("apiVersion") or "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "status": status,
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
