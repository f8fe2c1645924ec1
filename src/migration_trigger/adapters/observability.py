"""Metrics and logs: EMF through Powertools in Lambda, JSON lines on stderr for the CLI."""

from __future__ import annotations

import json
import sys
from typing import Any

from migration_trigger.domain.result import Result
from migration_trigger.domain.sweep import Summary


class PowertoolsMetrics:
    """EMF metrics through Powertools: a count per status and the migration duration."""

    def __init__(self, namespace: str, environment: str) -> None:
        self._namespace = namespace
        self._environment = environment

    def record(self, result: Result) -> None:
        """`Migrations` (Count) by Environment, Status; `MigrationDuration` (s) by Environment."""
        from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: PLC0415

        dimensions = {"Environment": self._environment}
        with single_metric(
            name="Migrations",
            unit=MetricUnit.Count,
            value=1,
            namespace=self._namespace,
            default_dimensions=dimensions,
        ) as metric:
            metric.add_dimension(name="Status", value=str(result.status))
        if result.duration_seconds is not None and result.job:
            with single_metric(
                name="MigrationDuration",
                unit=MetricUnit.Seconds,
                value=result.duration_seconds,
                namespace=self._namespace,
                default_dimensions=dimensions,
            ):
                pass

    def notification_failed(self) -> None:
        """`NotificationFailed` (Count) by Environment: a result no notification carried."""
        self._count("NotificationFailed")

    def ledger_failed(self) -> None:
        """`LedgerFailed` (Count) by Environment: a result the ledger could not record."""
        self._count("LedgerFailed")

    def swept(self, summary: Summary) -> None:
        """`SweepOptedIn`, `SweepUpToDate`, `SweepBehind`, `SweepStarted`,
        `SweepCannotMigrate`, `SweepFailed` (Count) by Environment: one sweep's findings."""
        for name, value in (
            ("SweepOptedIn", summary.opted_in),
            ("SweepUpToDate", summary.up_to_date),
            ("SweepBehind", summary.behind),
            ("SweepStarted", summary.started),
            ("SweepCannotMigrate", summary.cannot_migrate),
            ("SweepFailed", 1 if summary.error else 0),
        ):
            self._count(name, value)

    def _count(self, name: str, value: float = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: PLC0415

        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=self._namespace,
            default_dimensions={"Environment": self._environment},
        ):
            pass


class PowertoolsLog:
    """Structured JSON logs through the Powertools Logger."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def info(self, message: str, **fields: Any) -> None:
        """Log at info with fields as keys."""
        self._logger.info(message, extra=fields)

    def warning(self, message: str, **fields: Any) -> None:
        """Log at warning with fields as keys."""
        self._logger.warning(message, extra=fields)


class PrintLog:
    """JSON lines on stderr, for the CLI."""

    def info(self, message: str, **fields: Any) -> None:
        """Print at info."""
        self._print("INFO", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        """Print at warning."""
        self._print("WARNING", message, fields)

    @staticmethod
    def _print(level: str, message: str, fields: dict[str, Any]) -> None:
        print(
            json.dumps({"level": level, "message": message, **fields}), file=sys.stderr, flush=True
        )
