"""Budgets, measured: cold import vs bare boto3, peak RSS of an orchestration, bundle size.

Prints figures; asserts nothing (machines are shared and noisy). Budgets: handler import at most
1.5x `import boto3`; a full orchestration's peak RSS at most 128 MB; the bundle at most 60 MB.

Imports are timed from the Lambda artifact itself (`make build-MigrationFunction`, which `sam build`
calls), read as Lambda reads /var/task (nothing is written back): once as built, precompiled, and
once without .pyc files. The artifact is built for arm64; the handler imports no compiled
extension from it, so timing it here is fair. Each round imports every module once, in turn, in
fresh isolated interpreters, so drift in the machine's load touches them all alike; the medians
are printed.
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
ROUNDS = 15
#: What is timed, against the first: the handler, what it cannot do without (the durable execution
#: SDK and Powertools), and the handler with its pause of the garbage collector turned off.
IMPORTS = {
    "import boto3": "import boto3",
    "import the durable SDK + Powertools": "import aws_durable_execution_sdk_python, "
    "aws_lambda_powertools",
    "import migration_trigger.handler": "import migration_trigger.handler",
    "  the same, collecting during imports": "import gc; gc.disable = lambda: None; "
    "import migration_trigger.handler",
}


def build_bundle(target: Path) -> None:
    """The Lambda artifact, built by the make target `sam build` calls."""
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "build-MigrationFunction",
            f"ARTIFACTS_DIR={target}",
        ],
        check=True,
        cwd=ROOT,
    )


def without_bytecode(bundle: Path, target: Path) -> None:
    """A copy of the bundle with no .pyc files: every module is compiled when imported."""
    shutil.copytree(bundle, target, ignore=shutil.ignore_patterns("__pycache__"))


def import_milliseconds(bundle: Path, statement: str) -> float:
    """Wall time (ms) of `statement` in a fresh, isolated interpreter reading the bundle."""
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(bundle)!r})\n"
        "began = time.perf_counter()\n"
        f"{statement}\n"
        "print((time.perf_counter() - began) * 1000)\n"
    )
    env = {"ENVIRONMENT": "bench", "PATH": os.environ["PATH"]}
    # -B: nothing written back, as /var/task is read-only (-I ignores PYTHONDONTWRITEBYTECODE).
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", code],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    return float(done.stdout)


def cold_imports(bundle: Path) -> dict[str, float]:
    """Median import time (ms) of each of IMPORTS, over interleaved rounds."""
    times: dict[str, list[float]] = {label: [] for label in IMPORTS}
    for _ in range(ROUNDS):
        for label, statement in IMPORTS.items():
            times[label].append(import_milliseconds(bundle, statement))
    return {label: statistics.median(values) for label, values in times.items()}


def size_megabytes(path: Path) -> float:
    """Total size of the files under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def orchestration_peak_rss() -> float:
    """Peak RSS (MB, VmHWM) of a process running one full orchestration on the local stack."""
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


def fleet_sweep(count: int = 1000) -> None:
    """One reconciliation sweep over `count` opted-in instances on the local stack (moto), run
    as the function runs it, under template.yaml's policy: its time and the AWS calls it made."""
    from collections import Counter  # noqa: PLC0415

    from local_stack.stack import PROFILE_TAG, LocalStack  # noqa: PLC0415

    # moto keeps an automated snapshot of each new instance and refuses more than its quota.
    os.environ["MOTO_RDS_SNAPSHOT_LIMIT"] = str(count * 2)
    with LocalStack() as stack:
        rds = stack.client("rds")
        for i in range(count):
            rds.create_db_instance(
                DBInstanceIdentifier=f"tenant-{i:04d}",
                Engine="postgres",
                DBInstanceClass="db.t3.micro",
                MasterUsername="app",
                Tags=[{"Key": PROFILE_TAG, "Value": "demo"}],
            )
        stack.iam.calls.clear()
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "migration_trigger.cli", "invoke", "--json",
             "events/scheduled-sweep.json"],
            env={**os.environ, **stack.environment()},
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"the sweep failed: {done.stdout}{done.stderr[-2000:]}")
        summary = json.loads(done.stdout)
        calls = Counter(call.action for call in stack.iam.calls)
    listing = calls["rds:DescribeDBInstances"] + calls["rds:DescribeDBClusters"]
    print(
        f"reconciliation sweep over {count} opted-in instances, one invocation: {seconds:.1f} s "
        f"(budget 60 s), {listing} list calls (budget 12)"
    )
    print(f"  {summary['reason']}")
    print("  calls: " + ", ".join(f"{action} {n}" for action, n in sorted(calls.items())))


def durable_operations() -> None:
    """Operations and notice delay of migrations of several lengths, default profile schedule,
    computed from the story's own schedule (migration_trigger.domain.schedule.STORY)."""
    from migration_trigger.domain.profiles import parse_profiles  # noqa: PLC0415
    from migration_trigger.domain.schedule import poll_pause, usual_case  # noqa: PLC0415

    document = {
        "profiles": {
            "p": {
                "cluster": {"eksClusterName": "c"},
                "namespace": "migrations",
                "image": "i",
                "activeDeadlineSeconds": 13 * 3600,
            }
        }
    }
    profile = parse_profiles(json.dumps(document))["p"]
    print(f"durable operations of one migration (pollSeconds {profile.poll_seconds}; quota 3,000):")
    for label, seconds in (("5 min", 300), ("1 h", 3600), ("12 h", 12 * 3600)):
        operations = usual_case(profile, runs_for=seconds).operations
        worst = poll_pause(profile, seconds)
        print(
            f"  a {label:5} Job: {operations:5} operations, noticed at most {worst} s after it ends"
        )
    print("  (goal: noticed within 15 s in the first 10 minutes, 60 s after; 12 h under 2,000)")


def control_plane_start() -> None:
    """Start and stop the real control plane and the emulator a few times, each ready for the
    function (k8s/ installed, its admission policies enforced); print the median of each."""
    from control_plane import ControlPlane, available  # noqa: PLC0415 - development tooling
    from kube_emulator import Emulator  # noqa: PLC0415
    from local_stack.stack import emulator_manifests  # noqa: PLC0415
    from local_stack.world import FUNCTION_GROUP  # noqa: PLC0415

    why = available()
    if why is not None:
        print(f"real control plane: not measured ({why})")
    else:
        starts, ready, stops = [], [], []
        for _ in range(3):
            plane = ControlPlane().start()
            began = time.perf_counter()
            plane.install(ROOT / "k8s", group=FUNCTION_GROUP)
            ready.append(plane.started_seconds + time.perf_counter() - began)
            began = time.perf_counter()
            plane.stop()
            starts.append(plane.started_seconds)
            stops.append(time.perf_counter() - began)
        print(
            "real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler): "
            f"start {statistics.median(starts):.1f} s, ready with k8s/ enforced "
            f"{statistics.median(ready):.1f} s, stop {statistics.median(stops):.1f} s "
            "(median of 3)"
        )
    starts, stops = [], []
    for _ in range(3):
        began = time.perf_counter()
        emulator = Emulator().start()
        emulator.apply_all(emulator_manifests())
        starts.append(time.perf_counter() - began)
        began = time.perf_counter()
        emulator.stop()
        stops.append(time.perf_counter() - began)
    print(
        f"Kubernetes emulator: ready with k8s/ {statistics.median(starts):.2f} s, "
        f"stop {statistics.median(stops):.2f} s (median of 3)"
    )


def main() -> None:
    """Print every figure with its budget."""
    durable_operations()
    fleet_sweep()
    import fleet_cost  # noqa: PLC0415 - scripts/, beside this one

    fleet_cost.main()
    control_plane_start()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        build_bundle(bundle)
        plain = Path(tmp) / "plain"
        without_bytecode(bundle, plain)
        packages = ", ".join(sorted(p.name.split("-")[0] for p in bundle.glob("*.dist-info")))
        print(
            f"bundle: {size_megabytes(bundle):.1f} MB unzipped as built, "
            f"{size_megabytes(plain):.1f} MB without .pyc (budget 60 MB): {packages}"
        )
        for label, path in (("precompiled, as built", bundle), ("without .pyc", plain)):
            print(f"cold import from the bundle, {label}, median of {ROUNDS} rounds:")
            figures = cold_imports(path)
            bare = figures["import boto3"]
            for what, milliseconds in figures.items():
                print(f"  {what:40} {milliseconds:6.0f} ms = {milliseconds / bare:.2f}x")
            print("  (budget: the handler at most 1.5x import boto3)")
    rss = orchestration_peak_rss()
    print(f"peak RSS of a full orchestration: {rss:.0f} MB (budget 128 MB)")


if __name__ == "__main__":
    main()
