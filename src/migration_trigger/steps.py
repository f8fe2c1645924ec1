"""Durability as a small interface: named steps that run once, and waits that cost nothing.

The flow is written against `Steps`. In Lambda, `DurableSteps` maps it onto the durable
execution SDK (checkpointed steps, suspended waits, replay). The CLI uses `InlineSteps`: steps
run directly and waits sleep. Either way a step returns a typed record (records.py), carried
through the checkpoint by the one codec below, so a replay gets back exactly what the step gave.
"""

from __future__ import annotations

import json
import time
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from enum import Enum
from functools import cache, partial
from typing import Any, NamedTuple, Protocol, TypeVar

from migration_trigger.domain.profiles import Profile
from migration_trigger.domain.schedule import Loop
from migration_trigger.errors import AwsError, KubernetesError, MigrationTriggerError
from migration_trigger.records import RECORDS

T = TypeVar("T")
MAX_ATTEMPTS = 5


# -- the checkpoint codec ---------------------------------------------------------------------


class CheckpointError(MigrationTriggerError):
    """A checkpoint this code cannot read back: a record shape changed under an execution."""


def plain(value: Any) -> Any:
    """A record as JSON values: tuples by field name, enums by value, sets sorted."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {name: plain(getattr(value, name)) for name in value._fields}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(plain(item) for item in value)
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def typed(hint: Any, data: Any) -> Any:
    """The inverse of plain, directed by the type the field declares."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return typed(inner, data)
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        return _record(hint, data)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(typed(args[0], item) for item in data)
        return tuple(typed(arg, item) for arg, item in zip(args, data, strict=True))
    if origin is frozenset:
        return frozenset(typed(args[0], item) for item in data)
    if hint is float:
        return float(data)
    return data


def _record(cls: type[tuple[Any, ...]], data: Any) -> Any:
    if not isinstance(data, dict):
        raise CheckpointError(f"a checkpointed {cls.__name__} is not an object")
    hints = _hints(cls)
    unknown = sorted(set(data) - set(hints))
    missing = sorted(set(hints) - set(data) - set(getattr(cls, "_field_defaults", {})))
    if unknown or missing:
        raise CheckpointError(
            f"a checkpointed {cls.__name__} does not fit this code: "
            f"unknown fields {unknown}, missing fields {missing}"
        )
    return cls(**{name: typed(hints[name], value) for name, value in data.items()})


def encode(record: Any) -> str:
    """A step's record as checkpoint text: `{"type": <record>, "value": {...}}`."""
    name = type(record).__name__
    if RECORDS.get(name) is not type(record):
        raise CheckpointError(f"a step returned a {name}, which is not a record (records.py)")
    return json.dumps({"type": name, "value": plain(record)}, separators=(",", ":"))


def decode(text: str) -> Any:
    """The record a checkpoint holds."""
    try:
        document = json.loads(text)
        cls = RECORDS[document["type"]]
        value = document["value"]
    except (ValueError, KeyError, TypeError):
        # Never quote the checkpoint: say what is wrong with its shape, not what is in it.
        raise CheckpointError("a checkpoint holds no record this code knows") from None
    try:
        return _record(cls, value)
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"a checkpointed {cls.__name__} does not fit this code: {type(error).__name__}"
        ) from None


@cache
def record_serdes() -> Any:
    """The codec as the durable SDK's SerDes (the SDK is imported only where it runs)."""
    from aws_durable_execution_sdk_python.serdes import SerDes  # noqa: PLC0415

    class RecordSerDes(SerDes[Any]):
        def serialize(self, value: Any, serdes_context: Any) -> str:
            return encode(value)

        def deserialize(self, data: str, serdes_context: Any) -> Any:
            return decode(data)

    return RecordSerDes()


def retryable(error: BaseException) -> bool:
    """Whether trying a step again may help: throttling, server errors, lost connections."""
    return isinstance(error, AwsError | KubernetesError) and error.retryable


def retry_delay(attempt: int) -> int:
    """Seconds before attempt `attempt + 1`: 5, 10, 20, 40, capped at 60."""
    return int(min(60, 5 * 2 ** (attempt - 1)))


class Reply(NamedTuple):
    """What a durable callback's answer was: `succeeded` with its result (SendDurableExecution-
    CallbackSuccess), `failed` with its error's message and data (…CallbackFailure), or
    `timed_out` (no answer within the callback's timeout)."""

    outcome: str
    result: str | None = None
    message: str | None = None
    data: str | None = None


class Steps(Protocol):
    """Checkpointed steps, durable waits and durable callbacks."""

    @property
    def execution_id(self) -> str:
        """Identity of this execution; stable across replays."""

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """Run `fn` once (its result is replayed afterwards), retrying retryable errors."""

    def wait(self, name: str, seconds: int) -> None:
        """Wait without holding compute."""

    def callback(self, name: str, ask: Callable[[str], T], seconds: int) -> tuple[T, Reply]:
        """Open a callback that takes an answer for `seconds`, run `ask(callback_id)` as the step
        `<name>-request` (once: it sends the request), and wait without holding compute for
        the answer."""


class InlineSteps:
    """Steps run in-process, in order; for the CLI and local runs."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_step: Callable[[str], None] | None = None,
        answer: Callable[[str], Reply] | None = None,
    ) -> None:
        self._id = f"cli-{uuid.uuid4()}"
        self._sleep = sleep
        self._on_step = on_step
        self._answer = answer

    @property
    def execution_id(self) -> str:
        """A fresh id per run."""
        return self._id

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """Run now; retry retryable errors with the same backoff as in Lambda."""
        if self._on_step:
            self._on_step(name)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                # Through the codec, as in Lambda: the same record comes back either way.
                result: T = decode(encode(fn()))
                return result
            except MigrationTriggerError as error:
                if not retryable(error) or attempt == MAX_ATTEMPTS:
                    raise
                self._sleep(retry_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def wait(self, name: str, seconds: int) -> None:
        """Sleep."""
        self._sleep(seconds)

    def callback(self, name: str, ask: Callable[[str], T], seconds: int) -> tuple[T, Reply]:
        """Ask, and take the answer from `answer`: a run outside Lambda has no callback to be
        answered through, so without one it fails saying so."""
        if self._answer is None:
            raise MigrationTriggerError(
                "this migration needs a person's approval, which only the deployed function "
                "can wait for (a durable callback): trigger it with a manual event instead"
            )
        callback_id = f"{self._id}/{name}"
        asked = self.step(f"{name}-request", lambda: ask(callback_id))
        return asked, self._answer(callback_id)


class DurableSteps:
    """Steps on the Lambda durable execution SDK."""

    def __init__(self, context: Any) -> None:
        self._context = context

    @property
    def execution_id(self) -> str:
        """The durable execution ARN."""
        return str(self._context.state.durable_execution_arn)

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """A checkpointed step; its failure after retries surfaces as MigrationTriggerError."""
        from aws_durable_execution_sdk_python.config import Duration, StepConfig  # noqa: PLC0415
        from aws_durable_execution_sdk_python.exceptions import StepError  # noqa: PLC0415
        from aws_durable_execution_sdk_python.retries import RetryDecision  # noqa: PLC0415

        def decide(error: Exception, attempts: int) -> RetryDecision:
            if retryable(error) and attempts < MAX_ATTEMPTS:
                return RetryDecision.retry(Duration.from_seconds(retry_delay(attempts)))
            return RetryDecision.no_retry()

        try:
            result: T = self._context.step(
                lambda _ctx: fn(),
                name=name,
                config=StepConfig(retry_strategy=decide, serdes=record_serdes()),
            )
        except StepError as error:
            raise MigrationTriggerError(str(error)) from None
        return result

    def wait(self, name: str, seconds: int) -> None:
        """A durable wait: the invocation suspends and nothing is billed."""
        from aws_durable_execution_sdk_python.config import Duration  # noqa: PLC0415

        self._context.wait(Duration.from_seconds(max(1, int(seconds))), name=name)

    def callback(self, name: str, ask: Callable[[str], T], seconds: int) -> tuple[T, Reply]:
        """A durable callback (the SDK's create_callback, then a step that sends its id, then
        its result: what the SDK's wait_for_callback does, without its child context). Lambda
        times it out after `seconds` (CallbackOptions.TimeoutSeconds)."""
        from aws_durable_execution_sdk_python.config import (  # noqa: PLC0415
            CallbackConfig,
            Duration,
        )
        from aws_durable_execution_sdk_python.exceptions import (  # noqa: PLC0415
            CallbackError,
            CallbackExternalError,
            CallbackTimeoutError,
        )

        config = CallbackConfig(timeout=Duration.from_seconds(max(1, int(seconds))))
        callback = self._context.create_callback(name=name, config=config)
        asked = self.step(f"{name}-request", lambda: ask(callback.callback_id))
        try:
            result = callback.result()
        except CallbackTimeoutError:
            return asked, Reply("timed_out")
        except CallbackExternalError as error:
            # SendDurableExecutionCallbackFailure; a cancelled or stopped callback too.
            return asked, Reply("failed", message=error.message, data=error.data)
        except CallbackError as error:
            # The SDK's own failure (a callback missing from its checkpoint): no one's answer.
            raise MigrationTriggerError(f"the callback {name} failed: {error.message}") from None
        return asked, Reply("succeeded", result=None if result is None else str(result))


class PrefixedSteps:
    """Steps whose names carry a prefix, for several events in one execution (batching)."""

    def __init__(self, inner: Steps, prefix: str) -> None:
        self._inner = inner
        self._prefix = prefix

    @property
    def execution_id(self) -> str:
        """The inner execution's id plus the prefix."""
        return f"{self._inner.execution_id}#{self._prefix}"

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """Inner step, prefixed."""
        return self._inner.step(f"{self._prefix}{name}", fn)

    def wait(self, name: str, seconds: int) -> None:
        """Inner wait, prefixed."""
        self._inner.wait(f"{self._prefix}{name}", seconds)

    def callback(self, name: str, ask: Callable[[str], T], seconds: int) -> tuple[T, Reply]:
        """Inner callback, prefixed."""
        return self._inner.callback(f"{self._prefix}{name}", ask, seconds)


class Poll:
    """What the story's three loops share (waiting for the database, for its turn, for the Job
    to end): durable waits named `<wait>-0`, `<wait>-1`, …, each `pause_for(waited)` seconds,
    `waited` being the sum of the waits so far. The names are part of the checkpoint history:
    they never change for executions in flight."""

    def __init__(self, steps: Steps, wait: str, pause_for: Callable[[int], int]) -> None:
        self._steps = steps
        self._wait = wait
        self._pause_for = pause_for
        #: Seconds waited so far.
        self.waited = 0
        #: Waits made so far (the next one's number).
        self.waits = 0

    @classmethod
    def along(cls, steps: Steps, loop: Loop, profile: Profile) -> Poll:
        """The waits of one of the story's loops (domain/schedule.py), on its schedule for
        this profile."""
        return cls(steps, loop.wait, partial(loop.pause, profile))

    def pause(self) -> int:
        """Wait durably for the next pause; return its seconds."""
        seconds = self._pause_for(self.waited)
        self._steps.wait(f"{self._wait}-{self.waits}", seconds)
        self.waited += seconds
        self.waits += 1
        return seconds
