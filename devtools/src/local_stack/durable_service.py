"""Lambda's durable-execution API, answering for the executions the local stack runs.

The local stack runs the function durably in-process, on the durable execution SDK's testing
runner (aws-durable-execution-sdk-python-testing). Its executions live in the runner's store, and
the same package serves them over Lambda's REST API (`web/server.py`: GET
/2025-12-01/durable-executions/{arn} is GetDurableExecution, with the service's statuses; an
execution it does not know is a 404 without the error-type header Lambda sends, which botocore
reports as code `404` rather than ResourceNotFoundException: the function takes neither for an
ended execution). Serving the store the runs share lets the function ask about an earlier
execution as it asks Lambda in AWS; moto does not model durable executions.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from aws_durable_execution_sdk_python.lambda_service import OperationStatus
from aws_durable_execution_sdk_python_testing.exceptions import AwsApiException
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore
from aws_durable_execution_sdk_python_testing.token import CallbackToken
from aws_durable_execution_sdk_python_testing.web.server import WebServer, WebServiceConfig


class CallbackClosed(AwsApiException):
    """Lambda's answer to a callback that was already answered or timed out: 400
    CallbackTimeoutException, "The callback ID token has either expired or the callback
    associated with the token has already been closed" (Lambda API reference,
    SendDurableExecutionCallbackSuccess, Errors). The testing SDK answers it 404, without an
    error type."""

    http_status_code = 400

    def __init__(self) -> None:
        self.message = (
            "The callback ID token has either expired or the callback associated with the token "
            "has already been closed."
        )
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """As a REST-JSON error botocore reads the code of."""
        return {"__type": "CallbackTimeoutException", "message": self.message}


class LambdaCallbacks:
    """The runner's executor, its callback answers refused as Lambda refuses them once the
    callback is closed; everything else as the executor does it."""

    def __init__(self, executor: Any) -> None:
        self._executor = executor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._executor, name)

    def _open(self, callback_id: str) -> None:
        try:
            token = CallbackToken.from_str(callback_id)
            execution = self._executor.get_execution(token.execution_arn)
            _, operation = execution.find_callback_operation(callback_id)
        except Exception:
            return
        if operation.status is not OperationStatus.STARTED:
            raise CallbackClosed

    def send_callback_success(self, callback_id: str, result: bytes | None = None) -> Any:
        """SendDurableExecutionCallbackSuccess."""
        self._open(callback_id)
        return self._executor.send_callback_success(callback_id=callback_id, result=result)

    def send_callback_failure(self, callback_id: str, error: Any = None) -> Any:
        """SendDurableExecutionCallbackFailure."""
        self._open(callback_id)
        return self._executor.send_callback_failure(callback_id=callback_id, error=error)


def _never(_event: Any, _context: Any) -> None:  # pragma: no cover - nothing is run here
    raise RuntimeError("the durable-execution API serves executions; it runs none")


@contextlib.contextmanager
def durable_execution_api(store: InMemoryExecutionStore, *, region: str) -> Iterator[str]:
    """Serve Lambda's durable-execution API over `store` on loopback; yields its endpoint URL
    (for AWS_ENDPOINT_URL_LAMBDA)."""
    with durable_function(_never, store, region=region) as (url, _runner):
        yield url


@contextlib.contextmanager
def durable_function(
    handler: Callable[[Any, Any], Any],
    store: InMemoryExecutionStore,
    *,
    region: str,
    skip_time: bool = True,
) -> Iterator[tuple[str, DurableFunctionTestRunner]]:
    """A durable function run by the testing SDK's runner, and Lambda's durable-execution API
    over the same runner on loopback: GetDurableExecution from its store, and the callback
    operations (POST /2025-12-01/durable-execution-callbacks/{id}/succeed|fail|heartbeat, the
    paths of Lambda's SendDurableExecutionCallbackSuccess/Failure/Heartbeat) answered to the
    executions it runs, which then resume. Yields the endpoint URL and the runner."""
    with DurableFunctionTestRunner(
        handler=handler, store=store, region=region, skip_time=skip_time
    ) as runner:
        config = WebServiceConfig(host="127.0.0.1", port=0, log_level=logging.WARNING)
        # The runner's executor reads executions from the store: the one the API answers from.
        # The runner's executor (no public accessor), its callback answers as Lambda's.
        executor: Any = LambdaCallbacks(runner._executor)
        server = WebServer(config, executor)
        thread = threading.Thread(target=server.serve_forever, name="durable-api", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}", runner
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
