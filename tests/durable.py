"""The durable execution service as a Lambda invocation sees it, for tests that invoke the handler
the way Lambda does: with a payload of checkpointed operations and a service to checkpoint to."""

from __future__ import annotations

import json
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


def resume(operations: list[dict[str, Any]]) -> tuple[dict[str, Any], RecordingService]:
    """Invoke the handler as Lambda does, with these checkpointed operations (a start or a resume)."""
    from migration_trigger.handler import lambda_handler

    payload = {
        "DurableExecutionArn": ARN.format(id=operations[0]["Id"]),
        "CheckpointToken": "token-1",
        "InitialExecutionState": {"Operations": operations, "NextMarker": ""},
    }
    service = RecordingService()
    invocation = DurableExecutionInvocationInputWithClient.from_durable_execution_invocation_input(
        DurableExecutionInvocationInput.from_json_dict(payload), service
    )
    return lambda_handler(invocation, LambdaContext()), service
