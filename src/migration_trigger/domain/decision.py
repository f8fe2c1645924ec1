"""Routing, decided from the database itself: its opt-in tag selects a profile, or nothing runs."""

from __future__ import annotations

from typing import Any, NamedTuple

from migration_trigger.domain.events import Trigger
from migration_trigger.domain.jobspec import Endpoint
from migration_trigger.domain.profiles import Profile

AVAILABLE = "available"


class DatabaseFacts(NamedTuple):
    """What RDS says about the database: status, endpoint, owner secret and tags."""

    arn: str
    identifier: str
    kind: str  # instance | cluster
    status: str
    engine: str
    host: str
    port: int
    name: str
    master_username: str
    tags: dict[str, str]
    managed_secret_arn: str | None = None

    @property
    def endpoint(self) -> Endpoint:
        """Where to connect."""
        return Endpoint(engine=self.engine, host=self.host, port=self.port, name=self.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for step results."""
        return self._asdict()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatabaseFacts:
        """Inverse of to_dict."""
        return cls(**data)


class Route(NamedTuple):
    """Run this profile."""

    profile: Profile


class Skip(NamedTuple):
    """Relevant event, but this database does not want a migration for it."""

    reason: str


class Reject(NamedTuple):
    """The database asks for something the deployment does not allow."""

    reason: str


def route(
    trigger: Trigger, facts: DatabaseFacts, profiles: dict[str, Profile], *, tag_key: str
) -> Route | Skip | Reject:
    """Pick the profile the database's tag names, if the profile runs on this trigger."""
    chosen = facts.tags.get(tag_key)
    if chosen is None:
        return Skip(f"{facts.identifier} has no '{tag_key}' tag: not opted in to migrations")
    profile = profiles.get(chosen.strip())
    if profile is None:
        known = ", ".join(sorted(profiles)) or "none"
        return Reject(
            f"{facts.identifier} is tagged {tag_key}={chosen}, which names no profile "
            f"(defined: {known})"
        )
    if trigger.kind not in profile.triggers:
        runs_on = ", ".join(sorted(str(t) for t in profile.triggers))
        return Skip(f"profile '{profile.name}' does not run on {trigger.kind} (runs on: {runs_on})")
    return Route(profile)


def credentials_secret(facts: DatabaseFacts, *, secret_tag_key: str) -> str | None:
    """The secret holding the database's credentials: RDS-managed, else the one its tag names."""
    return facts.managed_secret_arn or facts.tags.get(secret_tag_key)
