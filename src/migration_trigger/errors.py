"""The product's one exception family. Adapters translate library errors into it.

Messages are written for the person reading the result: what failed and what to do about it. They
never contain a credential.
"""

from __future__ import annotations


class MigrationTriggerError(Exception):
    """Base of every error the product raises on purpose."""


class ConfigurationError(MigrationTriggerError):
    """The deployment's settings or profiles document are invalid."""


class AwsError(MigrationTriggerError):
    """An AWS call failed; `retryable` tells whether trying again may help."""

    def __init__(self, message: str, *, code: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


#: KubernetesError.reason when the API server's certificate did not verify: no retry helps.
CERTIFICATE_ERROR = "CertificateError"


class KubernetesError(MigrationTriggerError):
    """The Kubernetes API refused or failed a request."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason

    @property
    def retryable(self) -> bool:
        """Throttling, server errors and lost connections may pass; the rest will not."""
        if self.reason == CERTIFICATE_ERROR:
            return False
        return self.status in (0, 429, 500, 502, 503, 504)
