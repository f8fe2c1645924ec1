"""What an ended execution left unreported (domain/aftermath.py), alone."""

from __future__ import annotations

import json

import pytest

from migration_trigger.domain.aftermath import ExecutionInfo, account, origin_of
from migration_trigger.domain.events import Ended
from tests.helpers import load_event

ENDED = Ended("e-1", "arn:aws:lambda:eu-west-1:1:function:f:7/durable-execution/n/i", "FAILED", "f")
CREATED = load_event("rds-instance-created.json")


def info(error_type: str | None = None, payload: object = CREATED) -> ExecutionInfo:
    return ExecutionInfo("n", "FAILED", error_type, "text", json.dumps(payload))


@pytest.mark.parametrize(
    ("payload", "triggers", "an_end", "unreadable"),
    [
        (json.dumps(CREATED), 1, False, False),
        (json.dumps([CREATED, load_event("manual-retrigger.json")]), 2, False, False),
        (json.dumps(load_event("durable-execution-timed-out.json")), 0, True, False),
        (None, 0, False, True),
        ("not json", 0, False, True),
    ],
)
def test_what_an_execution_was_started_for(
    payload: str | None, triggers: int, an_end: bool, unreadable: bool
):
    origin = origin_of(payload)
    assert (len(origin.triggers), origin.an_end, origin.unreadable) == (
        triggers,
        an_end,
        unreadable,
    )


@pytest.mark.parametrize(
    ("error_type", "reported"),
    [
        ("migration_trigger.flow.MigrationFailedError", False),
        ("MigrationFailedError", False),
        ("RuntimeError", True),
        (None, True),
    ],
)
def test_only_an_execution_that_did_not_report_itself_is_reported(
    error_type: str | None, reported: bool
):
    told = account(ENDED, info(error_type), origin_of(json.dumps(CREATED)))
    assert told.report is reported


def test_a_report_on_a_report_is_never_reported():
    end = load_event("durable-execution-timed-out.json")
    assert account(ENDED, info("RuntimeError", end), origin_of(json.dumps(end))).report is False


def test_the_report_names_the_error_type_never_its_text():
    told = account(ENDED, info("RuntimeError"), origin_of(json.dumps(CREATED)))
    assert "(RuntimeError)" in told.reason and "text" not in told.reason
