"""Durability as a small interface: named steps that run once, and waits that cost nothing.

The workflow is written against `Steps`. In Lambda, `DurableSteps` maps it onto the durable
execution SDK (checkpointed steps, suspended waits, replay). The CLI uses `InlineSteps`: steps
run directly and waits sleep. Step results must be JSON values.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from migration_trigger.errors import AwsError, KubernetesError, MigrationTriggerError

T = TypeVar("T")
MAX_ATTEMPTS = 5


def retryable(error: BaseException) -> bool:
    """Whether trying a step again may help: throttling, server errors, lost connections."""
    return isinstance(error, AwsError | KubernetesError) and error.retryable


def retry_delay(attempt: int) -> int:
    """Seconds before attempt `attempt + 1`: 5, 10, 20, 40, capped at 60."""
    return int(min(60, 5 * 2 ** (attempt - 1)))


class Steps(Protocol):
    """Checkpointed steps and durable waits."""

    @property
    def execution_id(self) -> str:
        """Identity of this execution; stable across replays."""

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """Run `fn` once (its result is replayed afterwards), retrying retryable errors."""

    def wait(self, name: str, seconds: int) -> None:
        """Wait without holding compute."""


class InlineSteps:
    """Steps run in-process, in order; for the CLI and local runs."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self._id = f"cli-{uuid.uuid4()}"
        self._sleep = sleep
        self._on_step = on_step

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
                return fn()
            except MigrationTriggerError as error:
                if not retryable(error) or attempt == MAX_ATTEMPTS:
                    raise
                self._sleep(retry_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def wait(self, name: str, seconds: int) -> None:
        """Sleep."""
        self._sleep(seconds)


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
                lambda _ctx: fn(), name=name, config=StepConfig(retry_strategy=decide)
            )
        except StepError as error:
            raise MigrationTriggerError(str(error)) from None
        return result

    def wait(self, name: str, seconds: int) -> None:
        """A durable wait: the invocation suspends and nothing is billed."""
        from aws_durable_execution_sdk_python.config import Duration  # noqa: PLC0415

        self._context.wait(Duration.from_seconds(max(1, int(seconds))), name=name)


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
