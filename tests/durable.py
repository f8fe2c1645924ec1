"""The durable execution service as a Lambda invocation sees it, for tests that invoke the handler
the way Lambda does: with a payload of checkpointed operations and a service to checkpoint to.

`run_to_end` plays the whole service for one execution on a virtual clock: it applies each
invocation's checkpoints as the service does (the testing SDK's own STEP and WAIT processors),
and invokes the handler again, with every operation so far, when its earliest wait or step retry
is due. No thread, no socket, no real time: a history recorded so is the same every run.
"""

from __future__ import annotations

import datetime
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aws_durable_execution_sdk_python.execution import (
    DurableExecutionInvocationInput,
    DurableExecutionInvocationInputWithClient,
)
from aws_durable_execution_sdk_python.lambda_service import (
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    OperationUpdate,
    StateOutput,
)

#: A durable execution ARN ends with the id of its EXECUTION operation (the SDK finds the input so).
ARN = (
    "arn:aws:lambda:eu-west-1:123456789012:function:migration-trigger:live/durable-execution/x/{id}"
)


class RecordingService:
    """The durable execution service, as far as a replay needs it: it keeps what is checkpointed."""

    def __init__(self) -> None:
        self.updates: list[OperationUpdate] = []

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: list[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        self.updates.extend(updates)
        return CheckpointOutput("next-token", CheckpointUpdatedExecutionState())

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> StateOutput:
        return StateOutput()


class LambdaContext:
    """What the Lambda runtime passes as the context object."""

    function_name = "migration-trigger"
    function_version = "7"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:migration-trigger:live"
    memory_limit_in_mb = 256
    aws_request_id = "replay-request"
    log_group_name = "/aws/lambda/migration-trigger"
    log_stream_name = "replay"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def first_invocation(event: Any) -> list[dict[str, Any]]:
    """The operations Lambda sends when it starts an execution: the EXECUTION, with the event."""
    return [
        {
            "Id": "inv-00000000-0000-0000-0000-000000000001",
            "Type": "EXECUTION",
            "Status": "STARTED",
            "StartTimestamp": 1795800000000,
            "ExecutionDetails": {"InputPayload": json.dumps(event)},
        }
    ]


def resume(
    operations: list[dict[str, Any]],
    handler: Callable[..., dict[str, Any]] | None = None,
    service: RecordingService | None = None,
) -> tuple[dict[str, Any], RecordingService]:
    """Invoke the handler (the function's, unless another is given) as Lambda does, with these
    checkpointed operations (a start or a resume)."""
    if handler is None:
        from migration_trigger.handler import lambda_handler as handler

    payload = {
        "DurableExecutionArn": ARN.format(id=operations[0]["Id"]),
        "CheckpointToken": "token-1",
        "InitialExecutionState": {"Operations": operations, "NextMarker": ""},
    }
    service = service or RecordingService()
    invocation = DurableExecutionInvocationInputWithClient.from_durable_execution_invocation_input(
        DurableExecutionInvocationInput.from_json_dict(payload), service
    )
    return handler(invocation, LambdaContext()), service


_EXECUTIONS = itertools.count(1)


@dataclass
class Ended:
    """A durable execution run to its end: its output as Lambda records it, and its history."""

    status: str  # SUCCEEDED | FAILED
    result: Any
    error: str | None
    #: Every operation, in the wire form Lambda sends on replay (`InitialExecutionState`).
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Invocations it took (the first, and one per resume).
    invocations: int = 0


class VirtualService(RecordingService):
    """The durable execution service for one execution, its time read from `clock` (epoch
    seconds): what each checkpoint makes of its operations, as the testing SDK's processors do."""

    def __init__(self, operations: dict[str, Any], clock: Callable[[], float]) -> None:
        super().__init__()
        self.operations = operations
        self._clock = clock

    def now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: list[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        from aws_durable_execution_sdk_python.lambda_service import OperationType
        from aws_durable_execution_sdk_python_testing.checkpoint.processors.step import (
            StepProcessor,
        )
        from aws_durable_execution_sdk_python_testing.checkpoint.processors.wait import (
            WaitProcessor,
        )

        processors = {OperationType.STEP: StepProcessor(), OperationType.WAIT: WaitProcessor()}
        changed = []
        for update in updates:
            processor = processors.get(update.operation_type)
            if processor is None:
                raise AssertionError(f"the story checkpointed a {update.operation_type}")
            current = self.operations.get(update.operation_id)
            changed.append(
                processor.process(update, current, None, durable_execution_arn, self.now())
            )
            self.operations[update.operation_id] = changed[-1]
        self.updates.extend(updates)
        # The service answers with the operations the checkpoint changed, as the SDK expects.
        return CheckpointOutput("next-token", CheckpointUpdatedExecutionState(operations=changed))


def run_to_end(
    handler: Callable[..., dict[str, Any]],
    event: Any,
    *,
    clock: Callable[[], float],
    advance: Callable[[float], None],
    max_invocations: int = 2000,
) -> Ended:
    """Run one durable execution of `handler` on `event` to its end, as Lambda would: invoked
    again whenever it suspends, once its earliest wait or step retry is due (the clock advanced
    to that moment)."""
    from aws_durable_execution_sdk_python.lambda_service import (
        Operation,
        OperationStatus,
        OperationType,
    )

    (execution,) = first_invocation(event)
    execution["Id"] = f"inv-{next(_EXECUTIONS):08d}-0000-0000-0000-000000000000"
    execution["StartTimestamp"] = int(clock() * 1000)
    operations: dict[str, Any] = {execution["Id"]: Operation.from_json_dict(execution)}
    for invocation in range(1, max_invocations + 1):
        sent = [op.to_json_dict() for op in operations.values()]
        output, _ = resume(sent, handler, VirtualService(operations, clock))
        if output["Status"] != "PENDING":
            ended = operations[execution["Id"]]
            operations[execution["Id"]] = replace(ended, status=OperationStatus(output["Status"]))
            history = [op.to_json_dict() for op in operations.values()]
            history[0]["EndTimestamp"] = int(clock() * 1000)
            error = output.get("Error")
            return Ended(
                output["Status"],
                json.loads(output["Result"]) if output.get("Result") else None,
                error.get("ErrorMessage") if error else None,
                history,
                invocation,
            )
        due: list[tuple[datetime.datetime, str]] = []
        for op in operations.values():
            if op.operation_type is OperationType.WAIT and op.status is OperationStatus.STARTED:
                due.append((op.wait_details.scheduled_end_timestamp, op.operation_id))
            if op.operation_type is OperationType.STEP and op.status is OperationStatus.PENDING:
                due.append((op.step_details.next_attempt_timestamp, op.operation_id))
        if not due:
            raise AssertionError(f"the execution suspended with nothing to wait for: {output}")
        at, operation_id = min(due)
        advance(max(0.0, at.timestamp() - clock()))
        op = operations[operation_id]
        if op.operation_type is OperationType.WAIT:
            operations[operation_id] = replace(
                op, status=OperationStatus.SUCCEEDED, end_timestamp=at
            )
        else:
            details = replace(op.step_details, next_attempt_timestamp=None)
            operations[operation_id] = replace(
                op, status=OperationStatus.READY, step_details=details
            )
    raise AssertionError(f"the execution did not end within {max_invocations} invocations")
