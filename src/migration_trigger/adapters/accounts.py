"""The spoke accounts, through the role the hub function assumes in each (domain/accounts.py).

One boto3 session per spoke account and durable execution, cached per warm container: its role
session is named after the execution (CloudTrail in the spoke says which execution made each
call), and its credentials are refreshed by botocore before they expire (a migration may wait for
hours). The first call in the spoke assumes the role (STS AssumeRole, one hour): a role the hub
may not assume fails that call with STS's AccessDenied, naming the role.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from migration_trigger.adapters.aws import Rds, RdsSnapshots, Secrets
from migration_trigger.domain.accounts import role_arn
from migration_trigger.domain.events import Home

#: Seconds each role session lasts (AssumeRole's DurationSeconds; botocore refreshes it early).
SESSION_SECONDS = 3600


class AssumedAccounts:
    """RDS, Secrets Manager and snapshots of a spoke account, as the hub's role session there."""

    __slots__ = ("_home", "_region", "_role_name", "_sts")

    def __init__(self, sts: Callable[[], Any], *, home: Home, region: str, role_name: str) -> None:
        self._sts = sts
        self._home = home
        self._region = region
        self._role_name = role_name

    def within(self, account: str, session: str) -> tuple[Rds, Secrets, RdsSnapshots]:
        """The account's clients, a role session named `session` (domain/accounts.session_name)."""
        arn = role_arn(self._home, account, self._role_name)
        boto = assumed_session(arn, session, self._region, self._sts())
        rds = boto.client("rds", region_name=self._region)
        return (
            Rds(rds),
            Secrets(boto.client("secretsmanager", region_name=self._region)),
            RdsSnapshots(rds),
        )


@lru_cache(maxsize=256)
def assumed_session(role: str, name: str, region: str, sts: Any) -> Any:
    """A boto3 session as `role`, its role session named `name`, its credentials assumed (with
    the function's own STS client `sts`) on first use and refreshed before they expire; one per
    role and name per warm container."""
    import boto3  # noqa: PLC0415 - paid once, when a spoke is first asked
    import botocore.session  # noqa: PLC0415
    from botocore.credentials import DeferredRefreshableCredentials  # noqa: PLC0415

    def assume() -> dict[str, str]:
        credentials = sts.assume_role(
            RoleArn=role, RoleSessionName=name, DurationSeconds=SESSION_SECONDS
        )["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    core = botocore.session.get_session()
    # botocore's own assume-role providers do the same: refreshable credentials on the session.
    core._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
        refresh_using=assume, method="sts-assume-role"
    )
    core.set_config_variable("region", region)
    return boto3.session.Session(botocore_session=core)
