"""API errors rendered as `Status` objects, in the shapes the real API server uses."""

from __future__ import annotations

from typing import Any

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """An API failure that the server answers with a `Status` body."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # "" is StatusReasonUnknown: what a plain Go error reaching the API server's error writer
        # gets (ErrorToAPIStatus), and the Status then carries no reason at all.
        self.reason = reason if reason is not None else _REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> dict[str, Any]:
        """The `Status` object for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            **({"reason": self.reason} if self.reason else {}),
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(qualified: str, name: str, *, group: str, resource: str) -> ApiError:
    """404 for a missing object: `jobs.batch "x" not found`."""
    return ApiError(
        404,
        f'{qualified} "{name}" not found',
        details={"name": name, "group": group, "kind": resource},
    )


def already_exists(qualified: str, name: str, *, group: str, resource: str) -> ApiError:
    """409 AlreadyExists for a create of an existing name."""
    return ApiError(
        409,
        f'{qualified} "{name}" already exists',
        details={"name": name, "group": group, "kind": resource},
    )


def conflict(qualified: str, name: str, *, group: str, resource: str) -> ApiError:
    """409 Conflict for an update against a stale resourceVersion."""
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        reason="Conflict",
        details={"name": name, "group": group, "kind": resource},
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid with one cause per (field, cause reason, message)."""
    qualified = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{field}: {message}" for field, _, message in causes)
    if len(causes) > 1:
        summary = f"[{summary}]"
    return ApiError(
        422,
        f'{qualified} "{name}" is invalid: {summary}',
        details={
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": reason, "message": message, "field": field}
                for field, reason, message in causes
            ],
        },
    )
