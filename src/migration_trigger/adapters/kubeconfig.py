"""Kubeconfig contexts as cluster targets, for non-EKS clusters and the local stack."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from migration_trigger.adapters.kube import Credentials
from migration_trigger.errors import ConfigurationError

_FOREVER = float("inf")


class KubeconfigTarget:
    """Server, CA and bearer token of one kubeconfig context."""

    __slots__ = ("ca_pem", "insecure", "server", "token")

    def __init__(self, *, server: str, ca_pem: bytes | None, token: str, insecure: bool) -> None:
        self.server = server
        self.ca_pem = ca_pem
        self.token = token
        self.insecure = insecure

    def credentials(self) -> Credentials:
        """The context's static token."""
        return Credentials(self.token, refresh_at=_FOREVER)

    def __repr__(self) -> str:
        return f"KubeconfigTarget(server={self.server!r}, token=<redacted>)"


def _named(items: Any, name: str, what: str, path: Path) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(what.rstrip("s"), {})
            return value if isinstance(value, dict) else {}
    raise ConfigurationError(f"kubeconfig {path}: no {what[:-1]} named '{name}'")


def load_context(path: Path, context: str) -> KubeconfigTarget:
    """Read `context` from a kubeconfig file (YAML or JSON); bearer-token users only."""
    import yaml  # noqa: PLC0415 - only kubeconfig targets need a YAML parser

    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigurationError(f"cannot read kubeconfig {path}: {error}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"kubeconfig {path} is not a mapping")
    ctx = _named(document.get("contexts"), context, "contexts", path)
    cluster = _named(document.get("clusters"), ctx.get("cluster", ""), "clusters", path)
    user = _named(document.get("users"), ctx.get("user", ""), "users", path)
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
    if not token:
        raise ConfigurationError(
            f"kubeconfig {path}: user of context '{context}' has no bearer token"
        )
    ca: bytes | None = None
    if cluster.get("certificate-authority-data"):
        ca = base64.b64decode(cluster["certificate-authority-data"])
    elif cluster.get("certificate-authority"):
        ca = Path(cluster["certificate-authority"]).read_bytes()
    return KubeconfigTarget(
        server=str(cluster.get("server", "")),
        ca_pem=ca,
        token=str(token),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )
