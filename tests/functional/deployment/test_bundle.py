"""`sam build` makes a Lambda bundle within budget, complete, and free of development tooling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

SAM = ROOT / ".venv-tools" / "sam" / "bin" / "sam"
BUDGET_MB = 60


def test_sam_build_bundle_is_within_budget_and_ships_only_the_product(tmp_path: Path):
    assert SAM.exists(), "the SAM CLI is installed by `make setup-validators` (part of `make test`)"
    done = subprocess.run(
        [str(SAM), "build", "--build-dir", str(tmp_path / "build")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    bundle = tmp_path / "build" / "MigrationFunction"

    size_mb = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file()) / 1e6
    assert size_mb <= BUDGET_MB, f"bundle is {size_mb:.1f} MB"
    assert not (bundle / "kube_emulator").exists()
    assert not (bundle / "local_stack").exists()
    assert not (bundle / "moto").exists()
    assert (bundle / "migration_trigger" / "templates" / "migration-job.yaml").is_file()
    assert list((bundle / "migration_trigger" / "__pycache__").glob("*.cpython-313.pyc")), (
        "precompiled"
    )

    # Everything the handler imports is in the bundle (an isolated interpreter sees nothing else).
    imported = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(bundle)!r}); import migration_trigger.handler",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert imported.returncode == 0, imported.stderr
