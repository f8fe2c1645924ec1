"""The durable execution service as a Lambda invocation sees it, for tests that invoke the handler
the way Lambda does: with a payload of checkpointed operations and a service to checkpoint to.

`run_to_end` plays the whole service for one execution on a virtual clock: it applies each
invocation's checkpoints as the service does (the testing SDK's own STEP, WAIT and CALLBACK
processors), and invokes the handler again, with every operation so far, when its earliest wait,
step retry or callback answer is due (a callback nobody answers times out as Lambda's does, at
its CallbackOptions.TimeoutSeconds: status TIMED_OUT). No thread, no socket, no real time: a
history recorded so is the same every run.
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

#: A durable execution ARN ends with the id of its EXECUTION operation (the SDK finds the input so);
#: its qualifier is the version that runs it, never an alias (Lambda API reference, Execution:
#: DurableExecutionArn's pattern takes `$LATEST` or digits there).
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:migration-trigger:7/durable-execution/x/{id}"


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


#: How a test answers a durable callback: given its id, (seconds after it opened, and either
#: ("SUCCEEDED", result) or ("FAILED", (ErrorMessage, ErrorData))); None: nobody answers.
Answerer = Callable[[str], tuple[float, str, Any] | None]


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

    def __init__(
        self,
        operations: dict[str, Any],
        clock: Callable[[], float],
        timeouts: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.operations = operations
        self._clock = clock
        #: Each callback's CallbackOptions.TimeoutSeconds, by operation id.
        self.timeouts = {} if timeouts is None else timeouts

    def notify_callback_created(
        self, *, execution_arn: str, operation_id: str, callback_options: Any, callback_token: Any
    ) -> None:
        """The CALLBACK processor's word that a callback opened: keep its timeout."""
        self.timeouts[operation_id] = callback_options.timeout_seconds if callback_options else 0

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
        from aws_durable_execution_sdk_python_testing.checkpoint.processors.callback import (
            CallbackProcessor,
        )
        from aws_durable_execution_sdk_python_testing.checkpoint.processors.step import (
            StepProcessor,
        )
        from aws_durable_execution_sdk_python_testing.checkpoint.processors.wait import (
            WaitProcessor,
        )

        processors = {
            OperationType.STEP: StepProcessor(),
            OperationType.WAIT: WaitProcessor(),
            OperationType.CALLBACK: CallbackProcessor(),
        }
        changed = []
        for update in updates:
            processor = processors.get(update.operation_type)
            if processor is None:
                raise AssertionError(f"the story checkpointed a {update.operation_type}")
            current = self.operations.get(update.operation_id)
            changed.append(
                processor.process(update, current, self, durable_execution_arn, self.now())
            )
            self.operations[update.operation_id] = changed[-1]
        self.updates.extend(updates)
        # The service answers with the operations the checkpoint changed, as the SDK expects.
        return CheckpointOutput("next-token", CheckpointUpdatedExecutionState(operations=changed))


def _answer_of(
    op: Any, timeouts: dict[str, int], answer: Answerer | None
) -> tuple[datetime.datetime, Any, Any]:
    """When and how an open callback ends: as answered, or timed out if the answer comes later
    than its timeout (or never)."""
    from aws_durable_execution_sdk_python.lambda_service import OperationStatus

    timeout = timeouts.get(op.operation_id) or 0
    said = answer(op.callback_details.callback_id) if answer else None
    if said is None or (timeout and said[0] >= timeout):
        if not timeout:
            raise AssertionError("a callback nobody answers, without a timeout, waits forever")
        return (
            op.start_timestamp + datetime.timedelta(seconds=timeout),
            OperationStatus.TIMED_OUT,
            None,
        )
    after, status, payload = said
    return op.start_timestamp + datetime.timedelta(seconds=after), OperationStatus(status), payload


def _due(
    operations: dict[str, Any],
    answers: dict[str, Any],
    timeouts: dict[str, int],
    answer: Answerer | None,
) -> list[tuple[datetime.datetime, str]]:
    """When each operation the execution waits on is due: waits, step retries, callbacks."""
    from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType

    due: list[tuple[datetime.datetime, str]] = []
    for op in operations.values():
        if op.operation_type is OperationType.WAIT and op.status is OperationStatus.STARTED:
            due.append((op.wait_details.scheduled_end_timestamp, op.operation_id))
        if op.operation_type is OperationType.STEP and op.status is OperationStatus.PENDING:
            due.append((op.step_details.next_attempt_timestamp, op.operation_id))
        if op.operation_type is OperationType.CALLBACK and op.status is OperationStatus.STARTED:
            if op.operation_id not in answers:
                answers[op.operation_id] = _answer_of(op, timeouts, answer)
            due.append((answers[op.operation_id][0], op.operation_id))
    return due


def _ended(op: Any, at: datetime.datetime, answers: dict[str, Any]) -> Any:
    """The operation once it is due: a wait over, a step ready for its retry, a callback
    answered (or timed out)."""
    from aws_durable_execution_sdk_python.lambda_service import (
        ErrorObject,
        OperationStatus,
        OperationType,
    )

    if op.operation_type is OperationType.WAIT:
        return replace(op, status=OperationStatus.SUCCEEDED, end_timestamp=at)
    if op.operation_type is OperationType.CALLBACK:
        _, status, said = answers[op.operation_id]
        error = None
        if status is OperationStatus.FAILED:
            error = ErrorObject(said[0], "Rejected", said[1], None)
        elif status is OperationStatus.TIMED_OUT:
            error = ErrorObject("Callback timed out", "CallbackTimeout", None, None)
        details = replace(
            op.callback_details,
            result=said if status is OperationStatus.SUCCEEDED else None,
            error=error,
        )
        return replace(op, status=status, end_timestamp=at, callback_details=details)
    details = replace(op.step_details, next_attempt_timestamp=None)
    return replace(op, status=OperationStatus.READY, step_details=details)


def run_to_end(
    handler: Callable[..., dict[str, Any]],
    event: Any,
    *,
    clock: Callable[[], float],
    advance: Callable[[float], None],
    max_invocations: int = 2000,
    answer: Answerer | None = None,
) -> Ended:
    """Run one durable execution of `handler` on `event` to its end, as Lambda would: invoked
    again whenever it suspends, once its earliest wait, step retry or callback answer (from
    `answer`) is due (the clock advanced to that moment)."""
    from aws_durable_execution_sdk_python.lambda_service import Operation, OperationStatus

    (execution,) = first_invocation(event)
    execution["Id"] = f"inv-{next(_EXECUTIONS):08d}-0000-0000-0000-000000000000"
    execution["StartTimestamp"] = int(clock() * 1000)
    operations: dict[str, Any] = {execution["Id"]: Operation.from_json_dict(execution)}
    timeouts: dict[str, int] = {}
    answers: dict[str, tuple[datetime.datetime, OperationStatus, Any]] = {}
    for invocation in range(1, max_invocations + 1):
        sent = [op.to_json_dict() for op in operations.values()]
        output, _ = resume(sent, handler, VirtualService(operations, clock, timeouts))
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
        due = _due(operations, answers, timeouts, answer)
        if not due:
            raise AssertionError(f"the execution suspended with nothing to wait for: {output}")
        at, operation_id = min(due)
        advance(max(0.0, at.timestamp() - clock()))
        operations[operation_id] = _ended(operations[operation_id], at, answers)
    raise AssertionError(f"the execution did not end within {max_invocations} invocations")
