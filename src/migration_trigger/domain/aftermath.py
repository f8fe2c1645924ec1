"""An execution that ended without reporting: what to say about it. Pure.

Every execution reports its migration's result itself, before it fails for a failed migration.
What it cannot report is its own end when Lambda ends it: past the template's ExecutionTimeout
(TIMED_OUT), stopped through StopDurableExecution (STOPPED), or failed by something other than
the migration (FAILED with another error than the one the story raises after reporting).
Lambda announces each end on EventBridge (events.Ended); the function, invoked by the template's
rule, asks Lambda about the execution (GetDurableExecution: its status, error and input) and
reports it, naming the database and trigger its input event named.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from migration_trigger.domain.events import Ended, Trigger, parse_event

#: The error a durable execution ends with after it reported a failed migration (flow.py's
#: MigrationFailedError, as the SDK records its type: its fully qualified class name).
REPORTED_ERROR = "MigrationFailedError"


class ExecutionInfo(NamedTuple):
    """What Lambda's GetDurableExecution says of an ended execution."""

    name: str
    status: str
    error_type: str | None
    error: str | None
    #: Its input event (IncludeExecutionData), if Lambda gave it.
    input: str | None


def triggers_of(input_payload: str | None) -> tuple[Trigger, ...] | None:
    """The triggers the execution's input named (a batch's each); None if its input was itself
    an execution's end (a report on a report is never reported on) or cannot be read."""
    try:
        event = json.loads(input_payload or "")
    except ValueError:
        return ()
    events = event if isinstance(event, list) else [event]
    parsed = [parse_event(item) for item in events]
    if any(isinstance(p, Ended) for p in parsed):
        return None
    return tuple(p for p in parsed if isinstance(p, Trigger))


class Account(NamedTuple):
    """What to report of an ended execution: nothing (`reason` says why), or a failure."""

    report: bool
    timed_out: bool
    reason: str


def account(ended: Ended, info: ExecutionInfo, triggers: tuple[Trigger, ...] | None) -> Account:
    """Whether the execution left its migration unreported, and what to say."""
    if triggers is None:
        return Account(False, False, "the execution reported another execution's end")
    if info.error_type and info.error_type.rsplit(".", 1)[-1] == REPORTED_ERROR:
        return Account(False, False, "the execution reported its migration's result itself")
    if not triggers:
        return Account(False, False, "the execution's input named no migration")
    why = {
        "TIMED_OUT": "ran past the function's ExecutionTimeout and was ended by Lambda",
        "STOPPED": "was stopped (StopDurableExecution)",
    }.get(ended.status, f"failed before it could report ({info.error_type}: {info.error})")
    more = f" (and {len(triggers) - 1} more events of its batch)" if len(triggers) > 1 else ""
    return Account(
        True,
        ended.status == "TIMED_OUT",
        f"the durable execution {info.name} {why}: its migration{more} may not have run, or "
        "may have stopped part-way, and was not reported. Its Job, if one is left, is deleted "
        "by the database's next migration; check the database and send a manual request",
    )
