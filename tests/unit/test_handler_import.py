"""Importing the handler leaves the garbage collector as it found it, even when an import fails."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, sys
{arrange}
try:
    import migration_trigger.handler
except ImportError as error:
    print("import failed:", error)
print("enabled", gc.isenabled(), "frozen", gc.get_freeze_count() > 0)
"""


def _import_handler(arrange: str = "") -> str:
    """Import the handler in a fresh interpreter (nothing else imported first); its report."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(arrange=arrange)],
        capture_output=True,
        text=True,
        check=True,
        env={"ENVIRONMENT": "test", "PATH": ""},
    )
    return done.stdout


def test_collector_runs_again_after_the_import_and_imported_objects_are_frozen():
    report = _import_handler()

    assert report == "enabled True frozen True\n"


def test_collector_runs_again_when_an_import_fails():
    # Given a dependency that cannot be imported
    report = _import_handler("sys.modules['aws_lambda_powertools'] = None")

    assert report.startswith("import failed:")
    assert report.endswith("enabled True frozen True\n")


def test_a_collector_disabled_by_the_host_stays_disabled():
    report = _import_handler("gc.disable()")

    assert report == "enabled False frozen True\n"
