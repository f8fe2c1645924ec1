"""The queue's rules (domain/queueing.py): which Jobs a migration waits behind, which execution
of a Job ahead Lambda is asked about, when a Job is left behind or may be replaced."""

from __future__ import annotations

from typing import Any

import pytest

from migration_trigger.domain.jobspec import START_BY
from migration_trigger.domain.profiles import parse_profiles
from migration_trigger.domain.queueing import (
    ahead_of,
    execution_ended,
    execution_to_ask,
    is_abandoned,
    left_behind,
    replaceable,
    same_function,
    start_deadline,
    start_window,
)

NOW = 1_794_995_200.0  # 2026-11-18T09:46:40Z


def job(
    name: str = "migrate-a",
    *,
    created: str = "2026-11-18T09:00:00Z",
    suspend: bool = True,
    start_by: str | None = "2026-11-18T09:46:40Z",
    conditions: tuple[str, ...] = (),
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": created, "annotations": {}}
    if start_by is not None:
        meta["annotations"][START_BY] = start_by
    if deleting:
        meta["deletionTimestamp"] = "2026-11-18T09:01:00Z"
    return {
        "metadata": meta,
        "spec": {"suspend": suspend},
        "status": {"conditions": [{"type": c, "status": "True"} for c in conditions]},
    }


def test_a_job_waits_behind_the_earlier_unfinished_jobs_of_its_database_only():
    ours = job("migrate-c", created="2026-11-18T09:00:05Z")
    earlier = job("migrate-b", created="2026-11-18T09:00:01Z", suspend=False)
    same_second_name_first = job("migrate-a", created="2026-11-18T09:00:05Z")
    done = job("migrate-0", created="2026-11-18T08:00:00Z", conditions=("Complete",))
    going = job("migrate-1", created="2026-11-18T08:00:00Z", deleting=True)
    later = job("migrate-d", created="2026-11-18T09:00:09Z")

    behind = ahead_of([later, going, done, same_second_name_first, ours, earlier], ours)

    assert [j["metadata"]["name"] for j in behind] == ["migrate-a", "migrate-b"]


def test_the_start_by_time_is_read_from_the_jobs_annotation():
    assert start_deadline(job(start_by="2026-11-18T09:46:40Z")) == NOW
    assert start_deadline(job(start_by=None)) is None
    assert start_deadline(job(start_by="soon")) is None


def test_the_start_window_covers_the_queue_timeout_and_the_starts_retries():
    (profile,) = parse_profiles(
        '{"profiles": {"p": {"cluster": {"eksClusterName": "c"}, "namespace": "n", '
        '"image": "i:1", "queueTimeoutSeconds": 3600}}}'
    ).values()

    assert start_window(profile) == 2 + 3600 + 900


def test_lambdas_answer_decides_whether_a_suspended_job_is_left_behind():
    overdue = job(start_by="2026-11-18T09:00:00Z")

    assert left_behind(overdue, NOW, "RUNNING") is None, "a running execution may still start it"
    assert left_behind(job(), NOW, "STOPPED") == "its durable execution has ended (STOPPED)"
    assert left_behind(job(suspend=False), NOW, "STOPPED") is None, "a started Job is waited for"


def test_without_lambdas_answer_only_the_start_by_time_decides():
    overdue = job(start_by="2026-11-18T09:00:00Z")

    assert is_abandoned(overdue, NOW)
    assert not is_abandoned(job(start_by="2026-11-18T10:00:00Z"), NOW)
    assert not is_abandoned(job(start_by=None), NOW)
    assert left_behind(overdue, NOW, None) == (
        "still suspended past its start-by time, and Lambda could not say its execution ended"
    )
    assert left_behind(job(start_by="2026-11-18T10:00:00Z"), NOW, None) is None


@pytest.mark.parametrize(
    ("existing", "may_be_replaced"),
    [
        (job(conditions=("Failed",), suspend=False), True),
        (job(), True),
        (job(conditions=("Complete",), suspend=False), False),
        (job(suspend=False), False),
    ],
    ids=["failed", "never-started", "completed", "running"],
)
def test_only_a_failed_or_never_started_job_may_be_replaced(
    existing: dict[str, Any], may_be_replaced: bool
):
    assert replaceable(existing) is may_be_replaced


FN = "arn:aws:lambda:eu-west-1:123456789012:function:migration-trigger-prod"
OURS = f"{FN}:7/durable-execution/ours/1111"


@pytest.mark.parametrize(
    ("theirs", "ours", "asked"),
    [
        # another execution of this function, any version: asked about
        (f"{FN}:6/durable-execution/theirs/2222", OURS, f"{FN}:6/durable-execution/theirs/2222"),
        (f"{FN}:$LATEST/durable-execution/t/3", OURS, f"{FN}:$LATEST/durable-execution/t/3"),
        # an event of a batch: the execution is what precedes `#`
        (
            f"{FN}:6/durable-execution/theirs/2222#event-1/",
            OURS,
            f"{FN}:6/durable-execution/theirs/2222",
        ),
        # our own execution, or another event of our own batch: running, never asked about
        (OURS, OURS, None),
        (f"{OURS}#event-0/", f"{OURS}#event-1/", None),
        # another function's, a CLI run's, or nothing like an execution ARN: not asked about
        (f"{FN}-other:6/durable-execution/t/2", OURS, None),
        ("cli-5f0c6d8e-0000-4000-8000-000000000000", OURS, None),
        (f"{FN}:live/durable-execution/t/2", OURS, None),
        ("", OURS, None),
        # local runs (the testing runner's bare ids): another bare id only
        ("0f1e2d3c-aaaa", "9a8b7c6d-bbbb", "0f1e2d3c-aaaa"),
        (f"{FN}:6/durable-execution/theirs/2222", "9a8b7c6d-bbbb", None),
    ],
)
def test_which_execution_of_a_job_ahead_is_asked_about(theirs: str, ours: str, asked: str | None):
    assert execution_to_ask(theirs, ours) == asked


@pytest.mark.parametrize(
    ("status", "ended"),
    [
        ("SUCCEEDED", True),
        ("FAILED", True),
        ("TIMED_OUT", True),
        ("STOPPED", True),
        ("DELETING", True),
        ("RUNNING", False),
        ("PAUSING", False),
        ("PAUSED", False),
        ("", False),
    ],
)
def test_an_execution_has_ended_only_in_a_final_status(status: str, ended: bool):
    assert execution_ended(status) is ended


@pytest.mark.parametrize(
    ("theirs", "same"),
    [
        ("arn:aws:lambda:eu-west-1:123456789012:function:mt:7/durable-execution/a/b", True),
        ("arn:aws:lambda:eu-west-1:123456789012:function:mt:$LATEST/durable-execution/c/d", True),
        ("arn:aws:lambda:eu-west-1:123456789012:function:other:7/durable-execution/a/b", False),
        ("cli-6b1f", True),
        ("", False),
        (None, False),
    ],
)
def test_an_execution_annotation_of_this_function_in_any_version(theirs: str | None, same: bool):
    ours = "arn:aws:lambda:eu-west-1:123456789012:function:mt:8/durable-execution/x/y"

    assert same_function(theirs, ours) is same
