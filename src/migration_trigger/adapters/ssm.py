"""The profiles document from SSM Parameter Store, for documents over Lambda's 4 KB of environment.

Read through Powertools Parameters with the function's own cached client, and cached per warm
container for PROFILES_MAX_AGE_SECONDS: a changed document applies within that time, without a
deploy.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from migration_trigger.errors import ConfigurationError

#: Seconds a read document is reused before Parameter Store is asked again.
PROFILES_MAX_AGE_SECONDS = 300


@cache
def _provider(client: Any) -> Any:
    from aws_lambda_powertools.utilities.parameters import SSMProvider  # noqa: PLC0415

    return SSMProvider(boto3_client=client)


def read_profiles_parameter(name: str, *, client: Any) -> str:
    """The parameter's value; a ConfigurationError names the variable and the parameter."""
    from aws_lambda_powertools.utilities.parameters.exceptions import (  # noqa: PLC0415
        GetParameterError,
    )

    try:
        value = _provider(client).get(name, max_age=PROFILES_MAX_AGE_SECONDS)
    except GetParameterError as error:
        raise ConfigurationError(
            f"MIGRATION_PROFILES_PARAMETER: cannot read {name}: {error}"
        ) from None
    return str(value)


def forget() -> None:
    """Drop the cached providers (and their cached values)."""
    _provider.cache_clear()
