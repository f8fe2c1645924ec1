"""Budgets, measured: cold import vs bare boto3, peak RSS of an orchestration, bundle size.

Prints figures; asserts nothing (machines are shared and noisy). Budgets: handler import at most
1.5x `import boto3`; a full orchestration's peak RSS at most 128 MB; the bundle at most 60 MB.

Imports are timed from the Lambda artifact itself (`make build-MigrationFunction`, which `sam build`
calls), read as Lambda reads /var/task (nothing is written back): once as built, precompiled, and
once without .pyc files, as a plain `sam build` would leave it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7


def build_bundle(target: Path) -> None:
    """pip install the package and its runtime dependencies into `target`, without .pyc files."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
    )
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def compile_bundle(bundle: Path) -> None:
    """Precompile every module, as the Lambda build does (the runtime then skips compiling)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(bundle)], check=True)


def cold_import(bundle: Path, module: str) -> float:
    """Median wall time (ms) of a fresh, isolated interpreter importing `module` from the bundle."""
    code = f"import sys; sys.path.insert(0, {str(bundle)!r}); import {module}"
    env = {
        "PYTHONDONTWRITEBYTECODE": "1",
        "ENVIRONMENT": "bench",
        "PATH": os.environ.get("PATH", ""),
    }
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", code], check=True, env=env)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def size_megabytes(path: Path) -> float:
    """Total size of the files under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def orchestration_peak_rss() -> float:
    """Peak RSS (MB, VmHWM) of a process running one full orchestration on the local stack."""
    sys.path.insert(0, str(ROOT / "src"))
    from local_stack.stack import LocalStack  # noqa: PLC0415 - development tooling, loaded late

    with LocalStack() as stack:
        stack.create_database("orders-db", profile="demo", sample_secret=True)
        probe = (
            "import sys\n"
            "from migration_trigger.cli import main\n"
            "code = main(['invoke', '--json', 'events/rds-instance-created.json'])\n"
            "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print('PEAK', peak.split()[1], file=sys.stderr)\n"
            "sys.exit(code)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, **stack.environment()},
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"the orchestration failed: {done.stdout}{done.stderr[-2000:]}")
        print(f"  orchestration result: {json.loads(done.stdout)['status']}")
        return int(re.findall(r"PEAK (\d+)", done.stderr)[-1]) / 1024


def main() -> None:
    """Print every figure with its budget."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        build_bundle(bundle)
        packages = sorted(p.name.split("-")[0] for p in bundle.glob("*.dist-info"))
        size = size_megabytes(bundle)
        print(f"bundle: {size:.1f} MB unzipped (budget 60 MB): {', '.join(packages)}")
        for label in (
            "without .pyc (as sam build leaves it)",
            "precompiled (as make build ships it)",
        ):
            if label.startswith("precompiled"):
                compile_bundle(bundle)
            print(f"cold import from the bundle, {label}, median of {RUNS} runs:")
            bare = cold_import(bundle, "boto3")
            handler = cold_import(bundle, "migration_trigger.handler")
            print(f"  import boto3                      {bare:7.0f} ms")
            ratio = handler / bare
            print(
                f"  import migration_trigger.handler  {handler:7.0f} ms = {ratio:.2f}x (max 1.5x)"
            )
    rss = orchestration_peak_rss()
    print(f"peak RSS of a full orchestration: {rss:.0f} MB (budget 128 MB)")


if __name__ == "__main__":
    main()
