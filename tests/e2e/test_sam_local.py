"""`sam local invoke` of the function in a container, on the local stack (`make sam-local`).

Cost, measured on 2 cores: about 2 minutes on a fresh machine (the stand-in image is built from
Debian packages in about a minute, `sam build` takes about 20 s, the invocation about 15 s), about
50 s once the engine keeps the image. Needs root (dockerd, debootstrap) unless a Docker engine
already runs; skipped, saying why, only when no engine runs and none can be started.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e
LOCAL = str(Path(sys.executable).parent / "migration-trigger-local")
#: `migration-trigger-local sam-local` exits 3 when no Docker engine runs and none can start.
NO_DOCKER = 3


def _leftovers() -> set[str]:
    """What a run of ours could leave behind: runtime directories, mounts, daemons."""
    found = {p.name for p in Path(tempfile.gettempdir()).glob("migration-trigger-do*")}
    found |= {
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if "migration-trigger-dockerd-" in line
    }
    daemons = subprocess.run(
        ["pgrep", "-f", "migration-trigger-dockerd-"], capture_output=True, text=True, check=False
    )
    return found | {f"pid {pid}" for pid in daemons.stdout.split()}


def test_sam_local_invoke_runs_a_real_migration_in_a_container():
    before = _leftovers()

    done = subprocess.run(
        [LOCAL, "sam-local"], capture_output=True, text=True, timeout=1500, check=False, cwd=ROOT
    )

    out = done.stdout
    if done.returncode == NO_DOCKER:
        pytest.skip(f"no Docker engine here: {out.strip().splitlines()[-2:]}")
    assert done.returncode == 0, out[-6000:] + done.stderr[-3000:]
    for expected in (
        "ok  sam build",
        "ok  the function ran in a Lambda container on the host's network",
        "SUCCEEDED",
        "Applied: 20261101090100_create_orders.sql",
        "ok  dbmate applied the migrations (the Job's log tail)",
        "ok  PostgreSQL orders_db has tables: customers, orders, schema_migrations",
        'ok  SNS: "[local] Migration succeeded: orders-db (manual)"',
        "ok  EMF in the container's output: Migrations = [[1.0]], Status = ['succeeded']",
        "every check passed",
    ):
        assert expected in out, out[-6000:]
    assert _leftovers() <= before, "sam-local left a daemon, a mount or a directory behind"
