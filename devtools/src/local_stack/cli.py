"""The `migration-trigger-local` command: the local stack, and the demo that tells its story.

migration-trigger-local up [--pod-runner R] [--cluster C]   start the local stack, until Ctrl-C
                                                or SIGTERM
migration-trigger-local demo [--skip-failure] [--pod-runner R] [--cluster C]   the end-to-end
                                                story on the local stack
migration-trigger-local sam-local [--architecture A] [--base-image I]   `sam local invoke` of
                                                the function in a container, on the local stack

Job pods run as containers when a Docker engine runs or can be started here, as local processes
otherwise (--pod-runner, or MIGRATION_TRIGGER_POD_RUNNER: auto, container or process).
Kubernetes is the emulator, or the real control plane that `make setup-kubernetes` builds
(--cluster, or MIGRATION_TRIGGER_CLUSTER: emulator or real).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
from typing import Any

from local_stack.stack import CLUSTERS, POD_RUNNERS, LocalStack, sweep_schedule

OUT = sys.__stdout__ or sys.stdout
#: The environment variable that chooses the pod runner when --pod-runner is not given.
POD_RUNNER_VARIABLE = "MIGRATION_TRIGGER_POD_RUNNER"
#: The environment variable that chooses the cluster when --cluster is not given (the test
#: suite reads it too).
CLUSTER_VARIABLE = "MIGRATION_TRIGGER_CLUSTER"


def up(*, pod_runner: str = "auto", cluster: str = "emulator") -> int:
    """Start the stack with a tagged `orders-db`, print the shell environment, wait for a signal."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with LocalStack(
        on_pod_output=lambda pod, line: print(
            f"| {pod['metadata']['name']}: {line.rstrip()}", file=OUT, flush=True
        ),
        pod_runner=pod_runner,
        cluster=cluster,
        on_status=lambda text: print(f"# {text}", file=OUT, flush=True),
    ) as stack:
        print(
            f"# Kubernetes: the {cluster} cluster at {stack.kubernetes.url}", file=OUT, flush=True
        )
        print(f"# Job pods run as {stack.pod_runner_choice}", file=OUT, flush=True)
        stack.create_database("orders-db", profile="demo", sample_secret=True)
        # The function runs here, on the events the template's rules deliver, as the function.
        os.environ.update(stack.environment())
        from migration_trigger.wiring import reset_caches

        reset_caches()
        entries = stack.requests_entries()
        print("# The local stack is up. In another shell, paste these exports:", file=OUT)
        for key, value in stack.environment().items():
            print(f"export {key}={shlex.quote(value)}", file=OUT)
        print(
            "# then, for example:\n"
            "#   migration-trigger invoke events/rds-instance-created.json\n"
            "#   kubectl get jobs -n migrations\n"
            "# Events put on the buses reach the function through template.yaml's rules, each\n"
            "# as its own durable execution, as EventBridge delivers them; a manual request:\n"
            f"#   aws --profile local-admin events put-events --entries file://{entries}\n"
            f"# The sweep runs on template.yaml's SweepSchedule ({sweep_schedule()[0]}); to sweep\n"
            "# now: migration-trigger invoke events/scheduled-sweep.json; to see the fleet:\n"
            "#   migration-trigger status\n"
            "# The shell acts as the function, under template.yaml's policy; as the account's\n"
            "# administrator: aws --profile local-admin rds create-db-instance ...\n"
            "# Ctrl-C stops everything.",
            file=OUT,
            flush=True,
        )
        # Databases created meanwhile with the AWS CLI or boto3 get a PostgreSQL database too.
        while not done.wait(0.5):
            for database in stack.adopt_databases():
                print(
                    f"# rds: {database.identifier} is served by the local PostgreSQL",
                    file=OUT,
                    flush=True,
                )
            if stack.sweep_if_due():
                print("# the sweep's schedule fired", file=OUT, flush=True)
            for name in stack.deliver(_delivered):
                print(f"# delivered to the function: execution {name}", file=OUT, flush=True)
    print("local stack stopped", file=OUT)
    return 0


def _delivered(event: dict[str, Any], outcome: Any) -> None:
    """One delivered event's execution ended: say how."""
    result = json.loads(outcome.result) if outcome.result else None
    said = (
        f"{result['status']}: {result['reason']}"
        if isinstance(result, dict)
        else (outcome.error.message if outcome.error else str(outcome.status))
    )
    print(
        f"# function, for {event.get('detail-type')} from {event.get('source')}: {said}",
        file=OUT,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(
        prog="migration-trigger-local", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up_command = commands.add_parser("up", help="start the local stack in the foreground")
    demo = commands.add_parser("demo", help="the end-to-end story on the local stack")
    demo.add_argument("--skip-failure", action="store_true", help="leave out the failure path")
    for command in (up_command, demo):
        command.add_argument(
            "--pod-runner",
            choices=POD_RUNNERS,
            default=os.environ.get(POD_RUNNER_VARIABLE) or "auto",
            help="how Job pods run: containers when Docker can run them here (auto, the "
            "default), always containers, or local processes; also "
            f"{POD_RUNNER_VARIABLE}",
        )
        command.add_argument(
            "--cluster",
            choices=CLUSTERS,
            default=_cluster_default(),
            help="the Kubernetes emulator (the default: it starts at once) or the real control "
            f"plane `make setup-kubernetes` builds; also {CLUSTER_VARIABLE}",
        )
    sam_local = commands.add_parser(
        "sam-local", help="sam build + sam local invoke in a container, on the local stack"
    )
    sam_local.add_argument(
        "--architecture",
        choices=("x86_64", "arm64"),
        help="the function's architecture for this run (default: this machine's)",
    )
    sam_local.add_argument(
        "--base-image",
        help="a base image instead of the stand-in built here, e.g. the real "
        "public.ecr.aws/lambda/python:3.13-x86_64 where a registry serves it",
    )
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(pod_runner=args.pod_runner, cluster=args.cluster)
    if args.command == "sam-local":
        from local_stack.sam_local import run as sam_local_run

        return sam_local_run(architecture=args.architecture, base_image=args.base_image)
    from local_stack.demo import run  # the demo pulls in the handler: load it only when asked

    return run(skip_failure=args.skip_failure, pod_runner=args.pod_runner, cluster=args.cluster)


def _cluster_default() -> str:
    """MIGRATION_TRIGGER_CLUSTER when it names one cluster; the emulator otherwise (`both`
    means something to the test suite only)."""
    chosen = os.environ.get(CLUSTER_VARIABLE, "")
    return chosen if chosen in CLUSTERS else "emulator"
