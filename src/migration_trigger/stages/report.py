"""Report: log the result and emit its metrics, then notify each notifier in a step of its
own; a notification that cannot be sent is counted, and the result stands."""

from __future__ import annotations

from functools import partial
from typing import Any

from migration_trigger.domain.ledger import entry
from migration_trigger.domain.result import Result
from migration_trigger.errors import MigrationTriggerError
from migration_trigger.ports import Services
from migration_trigger.records import (
    Notified,
    Recorded,
)
from migration_trigger.steps import Steps


def record(result: Result, services: Services, execution: str = "") -> Recorded:
    """The report step: record the result in the ledger, log it and emit its metrics. The log
    and metrics go to the function's output (EMF); a ledger that cannot be written is logged
    and counted (`LedgerFailed`), and the result stands. So the step does not fail, and runs
    once; were it run again (a crash before its checkpoint), the ledger's writes are
    idempotent."""
    write_ledger(result, services, execution)
    services.log.info("migration result", result=result.to_dict())
    services.metrics.record(result)
    return Recorded(result)


def write_ledger(result: Result, services: Services, execution: str) -> None:
    """Record a result about a database in the ledger, if the deployment has one."""
    found = entry(result, at=services.clock(), execution=execution)
    if services.ledger is None or found is None:
        return
    try:
        services.ledger.record(found)
    except MigrationTriggerError as error:
        services.log.warning(
            "the result could not be recorded in the ledger",
            database=found.database,
            job=result.job,
            error=str(error),
        )
        services.metrics.ledger_failed()


def notify(result: Result, notifier: int, services: Services) -> Notified:
    """Publish the result through one notifier (its own step: a retry never repeats another)."""
    services.notifiers[notifier].notify(result)
    return Notified(delivered=True)


def notification_failed(result: Result, error: str, services: Services) -> Notified:
    """A notification could not be delivered after its retries: log it and count it
    (`NotificationFailed`); the migration's result stands."""
    return undelivered(
        "the result could not be notified",
        error,
        services,
        status=str(result.status),
        job=result.job,
    )


def undelivered(message: str, error: str, services: Services, **fields: Any) -> Notified:
    """Something to notify that could not be delivered after its retries: logged with `message`
    and `fields`, and counted (`NotificationFailed`, alarmed); what it told stands."""
    services.log.warning(message, **fields, error=error)
    services.metrics.notification_failed()
    return Notified(delivered=False, error=error)


def report(result: Result, steps: Steps, services: Services) -> Result:
    """Log the result and emit its metrics (a step that cannot fail on the network), then notify
    if its status is one that notifies: each notifier in a step of its own, with retries. A
    notification that still fails is logged and counted; the result stands."""
    capped = result.capped()
    checkpoint = steps.step("report", lambda: record(capped, services, steps.execution_id))
    if isinstance(checkpoint, Result):
        return checkpoint  # checkpointed by a version whose report step also notified
    recorded = checkpoint.result
    if recorded.status not in services.settings.NOTIFY_STATUSES:
        return recorded
    for index in range(len(services.notifiers)):
        try:
            steps.step(f"notify-{index}", partial(notify, recorded, index, services))
        except MigrationTriggerError as error:
            failure = partial(notification_failed, recorded, str(error), services)
            steps.step(f"notify-{index}-failed", failure)
    return recorded


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (
    record,
    notify,
    notification_failed,
)
