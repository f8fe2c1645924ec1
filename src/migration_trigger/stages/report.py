"""Report: log the result and emit its metrics, then notify each notifier in a step of its
own; a notification that cannot be sent is counted, and the result stands."""

from __future__ import annotations

from functools import partial

from migration_trigger.domain.result import Result
from migration_trigger.errors import MigrationTriggerError
from migration_trigger.ports import Services
from migration_trigger.records import (
    Notified,
    Recorded,
)
from migration_trigger.steps import Steps


def record(result: Result, services: Services) -> Recorded:
    """The report step: log the result and emit its metrics. Both go to the function's output
    (EMF), so nothing here can fail on the network and the step runs once."""
    services.log.info("migration result", result=result.to_dict())
    services.metrics.record(result)
    return Recorded(result)


def notify(result: Result, notifier: int, services: Services) -> Notified:
    """Publish the result through one notifier (its own step: a retry never repeats another)."""
    services.notifiers[notifier].notify(result)
    return Notified(delivered=True)


def notification_failed(result: Result, error: str, services: Services) -> Notified:
    """A notification could not be delivered after its retries: log it and count it
    (`NotificationFailed`); the migration's result stands."""
    services.log.warning(
        "the result could not be notified", status=str(result.status), job=result.job, error=error
    )
    services.metrics.notification_failed()
    return Notified(delivered=False, error=error)


def report(result: Result, steps: Steps, services: Services) -> Result:
    """Log the result and emit its metrics (a step that cannot fail on the network), then notify
    if its status is one that notifies: each notifier in a step of its own, with retries. A
    notification that still fails is logged and counted; the result stands."""
    capped = result.capped()
    checkpoint = steps.step("report", lambda: record(capped, services))
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
