"""The profiles document from SSM Parameter Store, for documents over Lambda's 4 KB of environment.

Read through Powertools Parameters with the function's own cached client, and cached per warm
container for PROFILES_MAX_AGE_SECONDS: a changed document applies within that time, without a
deploy.
"""

from __future__ import annotations

from functools import cache
from time import sleep
from typing import Any

from migration_trigger.errors import ConfigurationError

#: Seconds a read document is reused before Parameter Store is asked again.
PROFILES_MAX_AGE_SECONDS = 300
#: Reads of the parameter before a throttled or unreachable Parameter Store counts as a failure.
ATTEMPTS = 3


@cache
def _provider(client: Any) -> Any:
    from aws_lambda_powertools.utilities.parameters import SSMProvider  # noqa: PLC0415

    return SSMProvider(boto3_client=client)


def read_profiles_parameter(name: str, *, client: Any) -> str:
    """The parameter's value; a ConfigurationError names the variable and the parameter."""
    from aws_lambda_powertools.utilities.parameters.exceptions import (  # noqa: PLC0415
        GetParameterError,
    )

    for attempt in range(1, ATTEMPTS + 1):
        try:
            return str(_provider(client).get(name, max_age=PROFILES_MAX_AGE_SECONDS))
        except GetParameterError as error:
            # Throttling or a network blip must not read as a broken configuration: an execution
            # resumed mid-migration reads its settings again on every invocation.
            if attempt < ATTEMPTS and _transient(error):
                sleep(0.5 * 2**attempt)
                continue
            raise ConfigurationError(
                f"MIGRATION_PROFILES_PARAMETER: cannot read {name}: {error}"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _transient(error: Exception) -> bool:
    cause = error.__cause__ or error.__context__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code", "")
    return code in ("ThrottlingException", "InternalServerError") or (
        cause is not None and type(cause).__module__.startswith("botocore.exceptions") and not code
    )


def forget() -> None:
    """Drop the cached providers (and their cached values)."""
    _provider.cache_clear()
