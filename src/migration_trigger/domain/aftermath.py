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


class Origin(NamedTuple):
    """What an ended execution was started for, from its input event."""

    #: The triggers it named (a batch's each).
    triggers: tuple[Trigger, ...]
    #: It was itself started for an execution's end: a report on a report is never reported on.
    an_end: bool = False
    #: Its input could not be read (Lambda gave none, or not JSON).
    unreadable: bool = False


def origin_of(input_payload: str | None) -> Origin:
    """The triggers the execution's input named."""
    try:
        event = json.loads(input_payload or "")
    except ValueError:
        return Origin((), unreadable=True)
    events = event if isinstance(event, list) else [event]
    parsed = [parse_event(item) for item in events]
    return Origin(
        tuple(p for p in parsed if isinstance(p, Trigger)),
        an_end=any(isinstance(p, Ended) for p in parsed),
    )


class Account(NamedTuple):
    """What to report of an ended execution: nothing (`reason` says why), or a failure."""

    report: bool
    timed_out: bool
    reason: str


def account(ended: Ended, info: ExecutionInfo, origin: Origin) -> Account:
    """Whether the execution left its migration unreported, and what to say. The error's type
    only, never its message: an exception's text may hold what the function read (a password in
    a connection string), and nothing here can mask it."""
    if origin.an_end:
        return Account(False, False, "the execution reported another execution's end")
    if info.error_type and info.error_type.rsplit(".", 1)[-1] == REPORTED_ERROR:
        return Account(False, False, "the execution reported its migration's result itself")
    if not origin.triggers and not origin.unreadable:
        return Account(False, False, "the execution's input named no migration")
    why = {
        "TIMED_OUT": "ran past the function's ExecutionTimeout and was ended by Lambda",
        "STOPPED": "was stopped (StopDurableExecution)",
    }.get(ended.status, f"failed before it could report ({info.error_type or 'no error type'})")
    if origin.unreadable:
        named = "its input could not be read, so which migration it ran is not known"
    else:
        named = "it was started for " + "; ".join(
            f"{t.kind} of {t.database or f'the database of secret {t.secret_id}'} (event "
            f"{t.event_id})"
            for t in origin.triggers
        )
    return Account(
        True,
        ended.status == "TIMED_OUT",
        f"the durable execution {ended.execution} {why}: {named}. Its migration may not have "
        "run, or may have stopped part-way, and was not reported (in a batch, events before "
        "the end may have reported theirs). A Job left behind is deleted by the database's next "
        "migration; check the database and send a manual request",
    )
