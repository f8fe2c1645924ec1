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
from collections.abc import Iterator
from typing import Any

from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore
from aws_durable_execution_sdk_python_testing.web.server import WebServer, WebServiceConfig


def _never(_event: Any, _context: Any) -> None:  # pragma: no cover - nothing is run here
    raise RuntimeError("the durable-execution API serves executions; it runs none")


@contextlib.contextmanager
def durable_execution_api(store: InMemoryExecutionStore, *, region: str) -> Iterator[str]:
    """Serve Lambda's durable-execution API over `store` on loopback; yields its endpoint URL
    (for AWS_ENDPOINT_URL_LAMBDA)."""
    with DurableFunctionTestRunner(handler=_never, store=store, region=region) as runner:
        config = WebServiceConfig(host="127.0.0.1", port=0, log_level=logging.WARNING)
        # The runner's executor reads executions from the store: the one the API answers from.
        server = WebServer(config, runner._executor)  # no public accessor
        thread = threading.Thread(target=server.serve_forever, name="durable-api", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
