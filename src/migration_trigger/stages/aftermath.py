"""Aftermath: an execution of this function that ended FAILED, TIMED_OUT or STOPPED, as Lambda
announces it on EventBridge, reported if it could not report itself (domain/aftermath.py)."""

from __future__ import annotations

from migration_trigger.domain.aftermath import account, origin_of
from migration_trigger.domain.events import Ended
from migration_trigger.domain.queueing import same_function
from migration_trigger.domain.result import Result, Status
from migration_trigger.domain.schedule import ENDED
from migration_trigger.errors import AwsError, ConfigurationError, MigrationTriggerError
from migration_trigger.ports import Services
from migration_trigger.records import Accounted
from migration_trigger.steps import Steps


def account_for(ended: Ended, services: Services, reporter: str = "") -> Accounted:
    """What the ended execution left to report (step `ended-execution`). EventBridge may deliver
    Lambda's event twice (at least once: "Amazon EventBridge events"), and each delivery is an
    execution of its own: the first to claim the end in the ledger reports it, any other says
    so (without a ledger, each reports it)."""
    if services.executions is None:
        raise ConfigurationError("nothing here can ask Lambda about durable executions")
    info = services.executions.details(ended.execution)
    origin = origin_of(info.input)
    accounted = account(ended, info, origin)
    if accounted.report and services.ledger is not None and reporter:
        holder = _claimed(ended, reporter, services)
        if holder != reporter:
            accounted = accounted._replace(
                report=False,
                reason=f"the end of {ended.execution} is reported by {holder} (Lambda's event "
                "was delivered more than once)",
            )
    services.log.info(
        "an execution of this function ended", execution=ended.execution, status=ended.status,
        reported=not accounted.report,
    )  # fmt: skip
    return Accounted(accounted.report, accounted.timed_out, accounted.reason, origin.triggers)


def _claimed(ended: Ended, reporter: str, services: Services) -> str:
    """Who reports the end: the first execution to claim it in the ledger. A ledger that cannot
    be written to leaves it to this one: reported twice rather than never."""
    assert services.ledger is not None
    try:
        return services.ledger.claim(f"ended#{ended.execution}", reporter, at=services.clock())
    except AwsError as error:
        services.log.warning("could not claim the end's report; reporting it", error=str(error))
        return reporter


def report_ended(ended: Ended, steps: Steps, services: Services) -> Result:
    """The result to report for an execution's end: a failure for one that ended unreported,
    `ignored` otherwise."""
    if not same_function(ended.function, steps.execution_id):
        return Result(Status.IGNORED, "an execution of another function", event_id=ended.event_id)
    try:
        reporter = steps.execution_id
        accounted = steps.step(ENDED.name, lambda: account_for(ended, services, reporter))
    except MigrationTriggerError as error:
        # Reported, never raised: this execution must not end failed for it (Lambda would
        # announce that end, and the next execution ask the same Lambda again).
        return Result(
            Status.FAILED,
            f"the durable execution {ended.execution} ended {ended.status}, and Lambda could "
            f"not be asked whether it reported its migration ({error}): check its history",
            event_id=ended.event_id,
        )
    if not accounted.report:
        return Result(Status.IGNORED, accounted.reason, event_id=ended.event_id)
    only = accounted.triggers[0] if len(accounted.triggers) == 1 else None
    return Result(
        Status.TIMED_OUT if accounted.timed_out else Status.FAILED,
        accounted.reason,
        trigger=str(only.kind) if only else None,
        event_id=ended.event_id,
        database=only.database if only else None,
    )


#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (account_for,)
