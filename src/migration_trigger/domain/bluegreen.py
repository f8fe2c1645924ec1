"""RDS Blue/Green deployments, as the function meets them. Pure: the RDS adapter lists them
(DescribeBlueGreenDeployments), the stages act.

What is relied on, and where it is said:
- A deployment names its `Source` (blue) and `Target` (green) database by ARN, and in
  `SwitchoverDetails` each `SourceMember` and `TargetMember` (RDS API Reference,
  "BlueGreenDeployment", "SwitchoverDetail").
- Its `Status` is one of PROVISIONING, AVAILABLE, SWITCHOVER_IN_PROGRESS, SWITCHOVER_COMPLETED,
  INVALID_CONFIGURATION, SWITCHOVER_FAILED, DELETING (same page). Only SWITCHOVER_COMPLETED ends
  it for the blue database; a deleted deployment is no longer listed.
- RDS creates the green database as a copy of the blue one, with its tags, and keeps it in step by
  replication; schema changes on either side while they replicate logically can break the
  replication (RDS User Guide, "Overview of Amazon RDS Blue/Green Deployments" and its
  limitations). So a migration of a database on either side waits while the deployment stands
  (holding, below), and looks again just before its Job starts (stages/launch.py).
- At switchover the green database takes the blue one's name, endpoint and so its ARN; the blue
  one is renamed with `-old1` appended. After it, the deployment names the renamed blue database
  as its Source and the database now under the name as its Target (RDS User Guide, "Switching a
  blue/green deployment"; moto's `BlueGreenDeployment.switchover` does the same).
- RDS announces it as `RDS Blue Green Deployment Event`s whose SourceArn is the deployment's ARN
  (`arn:<partition>:rds:<region>:<account>:deployment:<identifier>`): RDS-EVENT-0244 green ready,
  0245 creation failed, 0246 deleted, 0247 switchover started, 0248 switchover completed, 0249
  switchover canceled (RDS User Guide, "Amazon RDS event categories and event messages", "Blue/green
  deployment events"). The function listens to 0248 only: every other one leaves the database
  under its name as it was, and a waiting migration asks RDS itself. RDS renames both sides
  during a switchover (SWITCHOVER_IN_PROGRESS), so a migration waits for the deployment it
  awaits by its identifier, whatever the names say meanwhile.

So the database's name (and ARN) is what survives a switchover, and what the ledger and the queue
key a database by: the database answering under the name after a switchover is the same database
to them. Its creation time is the green copy's; the ledger keeps it as the switchover's
(domain/ledger.Standing.switched), so it is never taken for a new database.
"""

from __future__ import annotations

import re
from typing import NamedTuple

#: The deployment status after which the green database answers under the blue one's name.
SWITCHOVER_COMPLETED = "SWITCHOVER_COMPLETED"
#: The detail-type of RDS's Blue/Green deployment events, and the one the function acts on.
EVENT_DETAIL_TYPE = "RDS Blue Green Deployment Event"
SWITCHOVER_COMPLETED_EVENT = "RDS-EVENT-0248"
_DEPLOYMENT_ARN = re.compile(r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:deployment:(bgd-[a-z0-9]+)$")


def deployment_of(arn: str) -> str | None:
    """The identifier (`bgd-…`) a deployment ARN names; None if it is not one."""
    matched = _DEPLOYMENT_ARN.match(arn)
    return matched.group(1) if matched else None


class Deployment(NamedTuple):
    """One Blue/Green deployment as DescribeBlueGreenDeployments gives it."""

    identifier: str
    status: str
    source: str
    target: str
    #: (SourceMember, TargetMember) pairs of its SwitchoverDetails.
    members: tuple[tuple[str, str], ...] = ()

    @property
    def switched(self) -> bool:
        """Whether it switched over: the green database answers under the blue one's name."""
        return self.status == SWITCHOVER_COMPLETED

    def blues(self) -> set[str]:
        """The ARNs of its blue side (its source and the source's members)."""
        return {a for a in (self.source, *(s for s, _ in self.members)) if a}

    def greens(self) -> set[str]:
        """The ARNs of its green side (its target and the target's members)."""
        return {a for a in (self.target, *(t for _, t in self.members)) if a}


class Roles(NamedTuple):
    """What the account's Blue/Green deployments make of its databases, by ARN -> the
    deployment's identifier."""

    #: Green copies of deployments not switched over: never migrated as new databases.
    green: dict[str, str]
    #: Blue databases of deployments not switched over: migrations wait (stages/bluegreen.py), as
    #: they do for a green one (holding, below).
    blue: dict[str, str]
    #: Blue databases renamed by a switchover (`…-old1`): retired, no longer swept.
    retired: dict[str, str]
    #: Databases that took their name by a switchover: the same database to the ledger.
    switched: dict[str, str]


def roles(deployments: tuple[Deployment, ...] | list[Deployment]) -> Roles:
    """The roles the deployments give the account's databases."""
    found = Roles({}, {}, {}, {})
    for deployment in deployments:
        if deployment.switched:
            greens = deployment.greens()
            for arn in deployment.blues() - greens:
                found.retired[arn] = deployment.identifier
            for arn in greens:
                found.switched[arn] = deployment.identifier
        else:
            for arn in deployment.greens():
                found.green[arn] = deployment.identifier
            for arn in deployment.blues():
                found.blue[arn] = deployment.identifier
    return found


def holding(
    deployments: tuple[Deployment, ...] | list[Deployment],
    database: str,
    awaited: str | None = None,
) -> Deployment | None:
    """The deployment, not switched over, that holds the database's migration: one whose blue or
    green side it is (schema changes on either can break the replication between them), or the
    one it already waits for, whatever the names (RDS renames both sides during a switchover)."""
    for deployment in deployments:
        if deployment.switched:
            continue
        if deployment.identifier == awaited or database in deployment.blues() | deployment.greens():
            return deployment
    return None
