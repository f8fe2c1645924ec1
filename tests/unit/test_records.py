"""The checkpoint codec: every step record survives a checkpoint, and a shape that changed fails loudly."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import pytest

from migration_trigger.domain.events import Trigger, TriggerKind
from migration_trigger.domain.jobstate import JobPhase, JobState
from migration_trigger.domain.profiles import parse_profiles
from migration_trigger.domain.result import Result, Status
from migration_trigger.records import (
    RECORDS,
    Declined,
    Launched,
    Logs,
    Observation,
    Queue,
    Refused,
    Resolved,
    Started,
    Stopped,
    WindowCheck,
)
from migration_trigger.steps import CheckpointError, InlineSteps, decode, encode
from tests.helpers import ROOT, sample_facts

PROFILE = parse_profiles((ROOT / "k8s" / "profiles" / "examples.json").read_text())["prisma"]
TRIGGER = Trigger(
    TriggerKind.SECRET_ROTATED,
    "event-1",
    "aws.secretsmanager",
    "AWSCURRENT",
    "eu-west-1",
    "123456789012",
    secret_id="arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf",
    rotation_version="v2",
    dedup_key="rotation|v2",
)
FACTS = sample_facts(
    managed_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf"
)
SAMPLES = [
    Resolved(TRIGGER, FACTS, PROFILE, FACTS.managed_secret_arn or "", "migrate-orders-db-1"),
    Declined(Status.SKIPPED, "not opted in", TRIGGER, None),
    Launched("0b3c-uid"),
    Refused(Status.DUPLICATE, "a redelivery"),
    Queue(ahead=("migrate-orders-db-0",)),
    Queue(ahead=(), missing=True),
    Started(at=1764201600.25),
    Observation(JobState(JobPhase.STUCK, "ImagePullBackOff", "pod-1"), at=1764201601.0),
    Logs(tail="Applied 1 migration", at=1764201602.5),
    Logs(tail=None, at=1764201602.0),
    Stopped("migrate-orders-db-1"),
    WindowCheck(opens_in=0, at=1764201600.0),
    WindowCheck(opens_in=86400, at=1764201600.0),
    FACTS,
    Result(Status.SUCCEEDED, "done", job="migrate-orders-db-1", duration_seconds=12.5),
]


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_every_record_comes_back_from_its_checkpoint_as_it_went_in(record: Any):
    text = encode(record)

    back = decode(json.loads(json.dumps(text)))

    assert back == record
    assert type(back) is type(record)


def test_enums_and_sets_come_back_typed_not_as_strings():
    back = decode(encode(SAMPLES[0]))

    assert back.trigger.kind is TriggerKind.SECRET_ROTATED
    assert back.profile.triggers == PROFILE.triggers
    assert all(isinstance(kind, TriggerKind) for kind in back.profile.triggers)
    assert isinstance(back.profile.env, tuple)


def stages() -> list[Any]:
    """Every module of stages/."""
    import importlib
    import pkgutil

    from migration_trigger import stages as package

    return [
        importlib.import_module(f"{package.__name__}.{module.name}")
        for module in pkgutil.iter_modules(package.__path__)
    ]


def test_every_step_body_returns_only_records_the_codec_knows():
    assert {stage.__name__.rsplit(".", 1)[1] for stage in stages()} >= {
        "resolve",
        "queue",
        "guard",
        "launch",
        "watch",
        "report",
    }
    bodies = [fn for stage in stages() for fn in stage.STEP_BODIES]
    assert len(bodies) >= 12
    for fn in bodies:
        returned = typing.get_type_hints(fn)["return"]
        kinds = typing.get_args(returned) if isinstance(returned, types.UnionType) else (returned,)
        for kind in kinds:
            assert RECORDS.get(kind.__name__) is kind, f"{fn.__name__} returns {kind}"


def test_a_step_that_returns_a_plain_dict_fails_before_anything_is_checkpointed():
    with pytest.raises(CheckpointError, match="not a record"):
        InlineSteps().step("resolve", lambda: {"outcome": "route"})


def test_a_checkpoint_of_an_unknown_record_type_fails_naming_no_content():
    with pytest.raises(CheckpointError, match="no record this code knows"):
        decode(json.dumps({"type": "Resolution", "value": {"password": "x"}}))


def test_a_checkpoint_missing_a_field_without_default_fails_naming_it():
    text = json.dumps({"type": "Started", "value": {}})

    with pytest.raises(CheckpointError, match=r"missing fields \['at'\]"):
        decode(text)


def test_a_checkpoint_with_a_field_this_code_dropped_fails_naming_it():
    text = json.dumps({"type": "Launched", "value": {"uid": "u", "secret": "s"}})

    with pytest.raises(CheckpointError, match=r"unknown fields \['secret'\]"):
        decode(text)


def test_a_checkpoint_written_before_a_defaulted_field_existed_still_reads():
    # Queue.missing has a default: a record written without it replays.
    assert decode(json.dumps({"type": "Queue", "value": {"ahead": []}})) == Queue(ahead=())


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"type": "Started"}),
        json.dumps(
            {
                "type": "Observation",
                "value": {"state": {"phase": "exploded", "reason": ""}, "at": 1},
            }
        ),
    ],
    ids=["no value", "unknown enum member"],
)
def test_any_checkpoint_that_does_not_fit_is_a_checkpoint_error(text: str):
    with pytest.raises(CheckpointError):
        decode(text)
