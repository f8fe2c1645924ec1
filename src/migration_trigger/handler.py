"""Lambda entry point: a durable function. Thin on purpose: the story lives in flow.py."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Mapping
from typing import Any

# Cold start: boto3, the durable execution SDK and Powertools create some 70,000 objects that live
# as long as the container. Collecting while they are imported costs about a tenth of the import
# time and frees almost nothing, so the collector pauses for the imports, and what they created is
# frozen: never scanned again. `make bench` prints the import time with and without the pause.
_collecting = gc.isenabled()
gc.disable()
try:
    from aws_durable_execution_sdk_python import DurableContext, durable_execution
    from aws_lambda_powertools import Logger

    from migration_trigger.adapters.observability import PowertoolsLog
    from migration_trigger.domain.events import Home
    from migration_trigger.errors import ConfigurationError
    from migration_trigger.flow import report_misconfiguration, run_invocation
    from migration_trigger.settings import Settings
    from migration_trigger.steps import DurableSteps
    from migration_trigger.wiring import build_services, read_parameter, reporting_services
finally:
    gc.freeze()
    if _collecting:
        gc.enable()


class _Stdout:
    """Standard output looked up at each write, so a replaced sys.stdout is honoured."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(service="migration-trigger", stream=_Stdout())  # type: ignore[arg-type]


def home_of(context: DurableContext, env: Mapping[str, str] = os.environ) -> Home | None:
    """The function's partition, region and account, from the ARN it was invoked by.

    `invoked_function_arn` is the ARN used to invoke the function, with its version or alias
    (Lambda Developer Guide, "Using the Lambda context object to retrieve Python function
    information"). Under `sam local invoke` that ARN is a fixed one of the Runtime Interface
    Emulator's; SAM says so with AWS_SAM_LOCAL=true and sets the session's region and its own
    account id in AWS_REGION and AWS_ACCOUNT_ID (samcli/local/lambdafn/env_vars.py).
    """
    arn = context.lambda_context.invoked_function_arn if context.lambda_context else None
    home = Home.of(arn or "")
    if home is not None and env.get("AWS_SAM_LOCAL") == "true":
        region, account = env.get("AWS_REGION"), env.get("AWS_ACCOUNT_ID")
        if region and account:
            return home._replace(region=region, account=account)
    return home


@logger.inject_lambda_context(clear_state=True)
@durable_execution
def lambda_handler(event: Any, context: DurableContext) -> dict[str, Any] | list[dict[str, Any]]:
    """Handle one EventBridge event (or a batch): settings, adapters, then the flow."""
    steps, log = DurableSteps(context), PowertoolsLog(logger)
    try:
        settings = Settings.from_env(os.environ, read_parameter=read_parameter)
        services = build_services(settings, log=log, home=home_of(context))
    except ConfigurationError as error:
        return report_misconfiguration(event, error, steps, reporting_services(os.environ, log=log))
    return run_invocation(event, steps, services)
