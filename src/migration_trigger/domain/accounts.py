"""Hub and spokes: one deployment (the hub) migrating the databases of other accounts (its
spokes). Pure: which account a trigger is about, and how the hub names the role and the session
it takes there; adapters/accounts.py assumes the role.

Each spoke runs `spoke/template.yaml` (one stack, or a StackSet across an AWS Organization): a
rule forwarding its RDS and Secrets Manager events to the hub's spokes bus, and a role only the
hub function's role may assume. An AWS service's event keeps the account it happened in when a
rule forwards it to another account's bus (EventBridge User Guide, "Sending and receiving events
between AWS accounts in Amazon EventBridge"; "AWS service event metadata": `account`), so the
hub knows where to look. The hub keys every database by its ARN, which holds its account and
region: the same identifier in two accounts is two databases, two Job names and two queues.
"""

from __future__ import annotations

import re

from migration_trigger.domain.events import Home, Trigger, parse_rds_arn

#: RoleSessionName: 2 to 64 of letters, digits and +=,.@_- (STS API Reference, AssumeRole).
_SESSION_CHARACTERS = re.compile(r"[^\w+=,.@-]", flags=re.ASCII)
SESSION_PREFIX = "migration-trigger-"


def owner(trigger: Trigger, home: Home) -> str:
    """The account the trigger's database lives in: its ARN's (or its secret's), else the
    account an AWS service's event happened in, else the function's own (`db:<identifier>` in a
    manual request means a database of the function's account)."""
    if trigger.database and (parsed := parse_rds_arn(trigger.database)):
        return parsed[1]
    if trigger.secret_id and (secret := Home.of(trigger.secret_id)):
        return secret.account
    if trigger.source.startswith("aws.") and trigger.account:
        return trigger.account
    return home.account


def role_arn(home: Home, account: str, role_name: str) -> str:
    """The spoke role's ARN in `account`, in the hub's partition."""
    return f"arn:{home.partition}:iam::{account}:role/{role_name}"


def session_name(execution: str) -> str:
    """The role session's name for a durable execution, which CloudTrail shows for every call
    the hub makes in the spoke: `migration-trigger-<execution id>`, its tail kept to fit 64."""
    tail = execution.rsplit("/", 1)[-1] or "execution"
    name = SESSION_PREFIX + _SESSION_CHARACTERS.sub("-", tail)
    return name if len(name) <= 64 else SESSION_PREFIX + name[-(64 - len(SESSION_PREFIX)) :]
