"""The local stack end to end: real PostgreSQL, real dbmate, the CLI as a user runs it, on the
Kubernetes MIGRATION_TRIGGER_CLUSTER chooses (the real control plane in `make test`)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests.fixtures import clusters_under_test
from tests.helpers import ROOT, eventually

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).parent / "migration-trigger")
LOCAL = str(Path(sys.executable).parent / "migration-trigger-local")
#: The cluster the local stack runs here: the real control plane unless only the emulator is
#: chosen (the stack's own default is the emulator, for `make demo`).
CLUSTER = "real" if "real" in clusters_under_test() else "emulator"
#: The demo runs on the emulator too, always: that is what `make demo` runs.
DEMO_CLUSTERS = sorted({"emulator", CLUSTER})


@pytest.mark.parametrize("cluster", DEMO_CLUSTERS)
def test_demo_tells_the_whole_story_and_exits_0(cluster: str):
    done = subprocess.run(
        [LOCAL, "demo", "--cluster", cluster],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    for expected in (
        "Applying: 20261101090000_create_customers.sql",
        'ok  SNS: "[local] Migration succeeded: orders-db (db-created)"',
        "ok  PostgreSQL orders_db has tables: customers, orders, schema_migrations",
        "ok  status duplicate",
        "ok  the migration re-ran with the new password",
        'relation "orders" does not exist',
        'ok  SNS: "[local] Migration FAILED: broken-db (db-created)"',
        "ok  the first attempt gave up on lock_timeout (its Job failed)",
        "ok  the second attempt, after a durable pause, succeeded",
        "ok  PostgreSQL ledger_db: entries has its new column, amount",
        'SNS: "[local] Approval needed: orders-db (manual)" (status=approval_requested)',
        "ok  approved by arn:aws:sts::123456789012:assumed-role/platform-approver/alex",
        "ok  RDS (moto) holds the snapshot taken before it ran: migration-trigger-migrate-orders-db-",
        'ok  SNS: "[local] Migration succeeded: orders-db (manual)", with the approver and the snapshot',
        "ok  status declined, not failed",
        "ok  the sweep found invoices-db never migrated and put a request on the requests bus",
        "ok  migrated as its creation would have been: status succeeded",
        "ok  status shows invoices-db migrated and up to date",
        "Every step did what it says",
    ):
        assert expected in out


def put_the_manual_request_up_prints(admin: Any, env: dict[str, str], lines: list[str]) -> None:
    """A manual request put on the requests bus with the entries file `up` names: template.yaml's
    rule delivers it, and it runs as a durable execution of its own, to success."""
    (entries,) = [
        line.split("file://", 1)[1].strip() for line in lines if "put-events --entries" in line
    ]
    sent = admin.client("events", endpoint_url=env["AWS_ENDPOINT_URL"]).put_events(
        Entries=json.loads(Path(entries).read_text())
    )
    assert sent["FailedEntryCount"] == 0
    eventually(
        lambda: any(
            "for Migration Requested from migration-trigger: succeeded" in line for line in lines
        ),
        timeout=120,
    )


def requested_then_swept(admin: Any, env: dict[str, str], lines: list[str]) -> None:
    """A manual request through the bus, then a sweep and `status`."""
    put_the_manual_request_up_prints(admin, env, lines)
    sweep_and_status(env, lines)


def sweep_and_status(env: dict[str, str], lines: list[str]) -> None:
    """The sweep, run from the shell as its schedule would run it (`up` names the schedule),
    finds every database migrated; `status` shows them; a check agrees."""
    assert any("SweepSchedule (rate(1 hour))" in line for line in lines)
    swept = cli(env, "invoke", "--json", "events/scheduled-sweep.json")
    assert json.loads(swept.stdout)["status"] == "swept", swept.stderr[-3000:]
    assert json.loads(swept.stdout)["started"] == 0, swept.stdout
    status = cli(env, "status")
    assert status.returncode == 0, status.stderr[-3000:]
    (inventory,) = [x for x in status.stdout.splitlines() if x.startswith("inventory-db ")]
    assert "up_to_date" in inventory and "succeeded" in inventory
    # A check: the profile's checkCommand (dbmate status --exit-code) as a Job, nothing applied
    check = cli(env, "check", "--json", "inventory-db")
    assert check.returncode == 0, check.stdout + check.stderr[-3000:]
    assert json.loads(check.stdout)["status"] == "up_to_date"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `migration-trigger` as a user would, from the repository, with this environment."""
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=env, timeout=120, check=False, cwd=ROOT
    )


def _temp_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("migration-trigger-*")}


def test_local_up_serves_the_cli_and_stops_cleanly_on_sigterm():
    before = _temp_dirs()
    stack = subprocess.Popen(
        [LOCAL, "up", "--cluster", CLUSTER],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    lines: list[str] = []
    try:
        env = dict(os.environ)
        assert stack.stdout is not None
        for line in stack.stdout:
            lines.append(line)
            if m := re.match(r"export (\w+)=(.*)$", line.strip()):
                env[m[1]] = m[2].strip("'")
            if "Ctrl-C stops everything" in line:
                break
        assert "AWS_ENDPOINT_URL" in env
        assert "KUBECONFIG" in env
        threading.Thread(target=lambda: lines.extend(stack.stdout or []), daemon=True).start()

        # The shell acts as the function, under template.yaml's policy, as in AWS.
        function = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
            region_name=env["AWS_REGION"],
        )
        with pytest.raises(ClientError) as denied:
            function.client("secretsmanager", endpoint_url=env["AWS_ENDPOINT_URL"]).describe_secret(
                SecretId="someone-elses-api-key"
            )
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "not authorized to perform: secretsmanager:DescribeSecret" in str(denied.value)

        # Another database, created the way a user would (as the admin), tagged for migrations.
        botocore_session = botocore.session.Session()
        botocore_session.set_config_variable("credentials_file", env["AWS_SHARED_CREDENTIALS_FILE"])
        admin = boto3.session.Session(
            botocore_session=botocore_session,
            profile_name="local-admin",
            region_name=env["AWS_REGION"],
        )
        rds = admin.client("rds", endpoint_url=env["AWS_ENDPOINT_URL"])
        created = rds.create_db_instance(
            DBInstanceIdentifier="inventory-db",
            Engine="postgres",
            DBInstanceClass="db.t4g.micro",
            MasterUsername="app",
            ManageMasterUserPassword=True,
            Tags=[{"Key": "migration-trigger:profile", "Value": "demo"}],
        )["DBInstance"]
        eventually(
            lambda: any("inventory-db is served by the local PostgreSQL" in line for line in lines),
            timeout=30,
        )
        event = json.loads((ROOT / "events" / "manual-retrigger.json").read_text())
        event["detail"]["database"] = created["DBInstanceArn"]
        event_file = Path(tempfile.mkdtemp()) / "event.json"
        event_file.write_text(json.dumps(event))

        inventory = cli(env, "invoke", "--json", str(event_file))
        sample = cli(env, "invoke", "--json", "events/rds-instance-created.json")
        rotation = cli(env, "invoke", "--json", "events/secret-label-updated.json")
        plan = cli(env, "plan", "events/rds-cluster-created.json")
        jobs = subprocess.run(
            ["kubectl", "get", "jobs", "-n", "migrations", "-o", "name"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

        assert json.loads(inventory.stdout)["status"] == "succeeded", inventory.stderr[-3000:]
        assert (
            "Applied: 20261101090100_create_orders.sql" in json.loads(inventory.stdout)["log_tail"]
        )
        assert json.loads(sample.stdout)["status"] == "succeeded", sample.stderr[-3000:]
        assert json.loads(rotation.stdout)["status"] == "succeeded", rotation.stderr[-3000:]
        assert json.loads(plan.stdout)["decision"] == "skip", plan.stdout + plan.stderr
        assert jobs.stdout.count("job.batch/migrate-orders-db-") == 2, jobs.stderr
        assert jobs.stdout.count("job.batch/migrate-inventory-db-") == 1, jobs.stderr

        requested_then_swept(admin, env, lines)
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=60)
    assert stack.returncode == 0
    assert _temp_dirs() <= before, "the stack left temporary directories behind"
    leftover = subprocess.run(
        ["pgrep", "-f", "migration-trigger-pg-"], capture_output=True, text=True, check=False
    )
    assert leftover.stdout.strip() == "", "PostgreSQL is still running"
