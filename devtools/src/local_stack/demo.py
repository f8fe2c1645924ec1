"""`migration-trigger-local demo`: the end-to-end story on the local stack, checked at every step.

Exits 0 only if every step did what it says.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from local_stack.stack import (
    ACCOUNT,
    APPROVER_PROFILE,
    PROFILE_TAG,
    REGION,
    SAMPLE_SECRET,
    SAMPLE_SECRET_ARN,
    Database,
    LocalStack,
    requests_bus,
)
from local_stack.template import ROOT

OUT = sys.__stdout__ or sys.stdout
CLUSTER_NAMES = {"emulator": "the Kubernetes emulator", "real": "the real Kubernetes control plane"}


class DemoError(Exception):
    """A step did not do what it says."""


def say(text: str = "") -> None:
    """Print one line of the story."""
    print(text, file=OUT, flush=True)


def stage(number: int, title: str) -> None:
    """A numbered heading."""
    say()
    say(f"[{number}] {title}")


def check(condition: bool, what: str) -> None:
    """A verified fact, or the end of the demo."""
    if not condition:
        raise DemoError(what)
    say(f"    ok  {what}")


def pod_output(pod: dict[str, Any], line: str) -> None:
    """The Job's log, streamed as the container writes it."""
    say(f"    | {pod['metadata']['name']}: {line.rstrip()}")


_NARRATED: dict[str, Callable[[dict[str, Any]], str]] = {
    "routed": lambda line: (
        f"routed {line['database'].rsplit(':', 1)[-1]} ({line['status']}) to profile "
        f"{line['profile']} on {line['cluster']}, credentials {line['credentials']}"
    ),
    "created migration Job (suspended)": lambda line: f"created Job {line['job']}, suspended",
    "asked for approval": lambda line: (
        f"asked for approval of Job {line['job']} ({line['fingerprint'][:19]}…) on the topic"
    ),
    "the request for approval was answered": lambda line: (
        f"the request was answered: {line['outcome']} by {line['approver']}"
    ),
    "took a snapshot before migrating": lambda line: (
        f"RDS took snapshot {line['snapshot']} ({line['status']})"
    ),
    "started migration Job": lambda line: "its turn: credentials Secret created, Job un-suspended",
    "deleted migration Job": lambda line: f"deleted Job {line['job']}",
}


class Narrator(io.StringIO):
    """Captures the function's output, telling the story's key log lines as they are written."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith('{"level"'):
                record = json.loads(line)
                tell = _NARRATED.get(record.get("message", ""))
                if tell:
                    say(f"    function: {tell(record)}")
        return super().write(text)


class Function:
    """The Lambda function, run durably in-process on the durable execution SDK's local runner."""

    def __init__(self, stack: LocalStack) -> None:
        from migration_trigger import wiring

        self.stack = stack
        os.environ.update(stack.environment())
        wiring.reset_caches()
        # The stack's moto answers the function under template.yaml's policy (local_stack/iam.py).
        self.iam = stack.iam
        self.runs = 0

    def invoke(self, event: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run one execution; its result document and the EMF metric lines it printed."""
        return self.run(event, lambda: None)

    def sweep(self) -> dict[str, Any]:
        """Run the sweep's schedule event as one execution; its summary."""
        self.runs += 1
        runner = self.stack.runner
        with contextlib.redirect_stdout(Narrator()):
            arn = runner.run_async(
                input=json.dumps(_sweep_event()),
                execution_timeout=600,
                execution_name=f"demo-{self.runs}",
            )
            outcome = runner.wait_for_result(arn, timeout=600)
        if not outcome.result:
            raise DemoError(f"the sweep ended {outcome.status.value}: {outcome.error}")
        return dict(json.loads(outcome.result))

    def run(
        self, event: dict[str, Any], meanwhile: Callable[[], None]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Start one execution, do `meanwhile` while it runs (answer its request for approval),
        and wait for its end; its result document and the EMF metric lines it printed.

        A failed or timed-out migration must end the execution as failed, as in Lambda.
        """
        self.runs += 1
        captured = Narrator()
        runner = self.stack.runner  # served as Lambda's durable-execution API
        with contextlib.redirect_stdout(captured):
            arn = runner.run_async(
                input=json.dumps(event), execution_timeout=600, execution_name=f"demo-{self.runs}"
            )
            meanwhile()
            outcome = runner.wait_for_result(arn, timeout=600)
        lines = [
            json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")
        ]
        results = [line["result"] for line in lines if line.get("message") == "migration result"]
        if not results:
            raise DemoError(
                "the function produced no result: "
                f"{outcome.error.message if outcome.error else outcome.status}"
            )
        metrics = [line for line in lines if "_aws" in line]
        failed = outcome.status.value == "FAILED"
        if failed != (results[-1]["status"] in ("failed", "timed_out")):
            raise DemoError(
                f"execution {outcome.status.value} for a {results[-1]['status']} migration"
            )
        return results[-1], metrics


def _sweep_event() -> dict[str, Any]:
    return dict(json.loads((ROOT / "events" / "scheduled-sweep.json").read_text()))


def public_tables(stack: LocalStack, database: str = "orders_db") -> str:
    """The tables of a database's public schema, comma-separated: what the migrations made."""
    return stack.postgres.sql(
        "SELECT string_agg(table_name, ', ' ORDER BY table_name) "
        "FROM information_schema.tables WHERE table_schema = 'public'",
        database=database,
    )


def put_and_deliver(stack: LocalStack, entry: dict[str, Any]) -> dict[str, Any]:
    """Put an event on the local bus; return it as the rule delivers it to the function."""
    sent = stack.client("events").put_events(Entries=[entry])
    if sent["FailedEntryCount"]:
        raise DemoError(f"EventBridge refused the event: {sent['Entries']}")
    return delivered(stack)


def notifications(stack: LocalStack) -> list[dict[str, Any]]:
    """SNS notifications delivered to the queue subscribed to the results topic (drained)."""
    sqs, found = stack.client("sqs"), list[dict[str, Any]]()
    while True:
        batch = sqs.receive_message(QueueUrl=stack.notifications_queue, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(
                QueueUrl=stack.notifications_queue, ReceiptHandle=message["ReceiptHandle"]
            )


def show_result(result: dict[str, Any]) -> None:
    """The result document, briefly."""
    say(f"    result: {result['status']}: {result['reason']}")
    if result.get("job"):
        took = (
            f", ran {result['duration_seconds']}s"
            if result.get("duration_seconds") is not None
            else ""
        )
        say(f"    job: {result['namespace']}/{result['job']} on {result['cluster']}{took}")
    if result.get("approved_by"):
        say(f"    approved: by {result['approved_by']} at {result['approved_at']}")
    if result.get("snapshot"):
        say(f"    snapshot: {result['snapshot']}")


def rds_event(stack: LocalStack, identifier: str) -> dict[str, Any]:
    """An RDS-EVENT-0005 as RDS puts it on the default bus."""
    arn = stack.databases[identifier].arn
    return {
        "Source": "aws.rds",
        "DetailType": "RDS DB Instance Event",
        "Resources": [arn],
        "Detail": json.dumps(
            {
                "EventCategories": ["creation"],
                "SourceType": "DB_INSTANCE",
                "SourceArn": arn,
                "Date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "Message": "DB instance created",
                "SourceIdentifier": identifier,
                "EventID": "RDS-EVENT-0005",
            }
        ),
    }


def story(stack: LocalStack, *, failure: bool) -> None:
    """Every stage of the demo."""
    function = Function(stack)
    say(
        f"local stack up: AWS (moto) {stack.aws_url}, "
        f"EKS ({CLUSTER_NAMES[stack.cluster]}) {stack.kubernetes.url}, "
        f"PostgreSQL 127.0.0.1:{stack.postgres.port}"
    )
    say(f"Job pods run as {stack.pod_runner_choice}")

    stage(1, "An RDS-managed database `orders-db` exists, tagged migration-trigger:profile=demo")
    db = stack.create_database("orders-db", profile="demo", sample_secret=True)
    check(db.secret_arn == SAMPLE_SECRET_ARN, f"its master secret is {SAMPLE_SECRET} (RDS-managed)")

    stage(2, "RDS announces it: RDS-EVENT-0005 on the default bus, matched by template.yaml's rule")
    delivered = put_and_deliver(stack, rds_event(stack, "orders-db"))
    check(
        delivered["detail"]["EventID"] == "RDS-EVENT-0005",
        "the DatabaseCreatedOrRestored rule delivered it",
    )

    stage(3, "The function authenticates to EKS with a presigned token and runs the Job: dbmate")
    say("    against PostgreSQL, waiting durably between checks (the Job's log, as it runs)")
    result, metrics = function.invoke(delivered)
    applied = show_first_result(stack, result, metrics)
    actions = sorted({call.action for call in function.iam.calls})
    check(
        all(call.allowed for call in function.iam.calls),
        f"IAM: every call the function made ({', '.join(actions)}) is allowed by template.yaml",
    )
    redeliver_and_rotate(stack, function, db, delivered, applied)
    if failure:
        fail_on_purpose(stack, function)
    guarded(stack, function)
    approved(stack, function)
    missed(stack, function)


def show_first_result(
    stack: LocalStack, result: dict[str, Any], metrics: list[dict[str, Any]]
) -> str:
    """Stage 4: the result, the notification, the metrics and the database's tables."""
    stage(4, "The result")
    show_result(result)
    check(result["status"] == "succeeded", "status succeeded")
    for line in (result.get("log_tail") or "").splitlines()[-3:]:
        say(f"    log tail | {line}")
    sent = notifications(stack)
    check(
        len(sent) == 1 and sent[0]["MessageAttributes"]["status"]["Value"] == "succeeded",
        f'SNS: "{sent[0]["Subject"] if sent else ""}"',
    )
    counted = [(m["Status"], m["Migrations"][0]) for m in metrics if "Migrations" in m]
    check(
        counted == [("succeeded", 1.0)],
        "EMF metric Migrations{Environment=local,Status=succeeded} = 1",
    )
    duration = [m["MigrationDuration"][0] for m in metrics if "MigrationDuration" in m]
    check(len(duration) == 1, f"EMF metric MigrationDuration = {duration[0] if duration else '?'}s")
    tables = public_tables(stack)
    check(
        tables == "customers, orders, schema_migrations",
        f"PostgreSQL orders_db has tables: {tables}",
    )
    applied = stack.postgres.sql(
        "SELECT string_agg(version, ', ' ORDER BY version) FROM schema_migrations",
        database="orders_db",
    )
    check(applied == "20261101090000, 20261101090100", f"dbmate's history: {applied}")

    return applied


def redeliver_and_rotate(
    stack: LocalStack, function: Function, db: Database, delivered: dict[str, Any], applied: str
) -> None:
    """Stage 5: the same event again (a duplicate), then a rotation that re-runs the migration."""
    stage(5, "At-least-once delivery: the same event again; then a rotation")
    again, _ = function.invoke(delivered)
    show_result(again)
    check(again["status"] == "duplicate", "status duplicate")
    check(len(stack.jobs()) == 1, "still exactly one Job")
    check(notifications(stack) == [], "no second notification")

    say()
    say("    rotation: a new password in PostgreSQL and the secret, then Secrets Manager's event")
    version = stack.set_password("orders-db", db.secret_arn, db.username, secrets.token_urlsafe(18))
    rotated = put_and_deliver(
        stack,
        {
            "Source": "aws.secretsmanager",
            "DetailType": "Secret Label Updated",
            "Resources": [db.secret_arn],
            "Detail": json.dumps(
                {"name": SAMPLE_SECRET, "labelUpdated": "AWSCURRENT", "versionId": version}
            ),
        },
    )
    rotation, _ = function.invoke(rotated)
    show_result(rotation)
    check(
        rotation["status"] == "succeeded" and rotation["trigger"] == "secret-rotated",
        "the migration re-ran with the new password",
    )
    check(
        applied
        == stack.postgres.sql(
            "SELECT string_agg(version, ', ' ORDER BY version) FROM schema_migrations",
            database="orders_db",
        ),
        "nothing was pending",
    )
    check(len(notifications(stack)) == 1, "one notification for the rotation")


def fail_on_purpose(stack: LocalStack, function: Function) -> None:
    """Stage 6: a migration that cannot apply, reported as failed."""
    stage(
        6, "The failure path: `broken-db` (profile demo-broken) has a migration that cannot apply"
    )
    stack.create_database("broken-db", profile="demo-broken")
    broken, metrics = function.invoke(put_and_deliver(stack, rds_event(stack, "broken-db")))
    show_result(broken)
    check(broken["status"] == "failed", "status failed, and the durable execution ended as failed")
    check(
        'relation "orders" does not exist' in (broken.get("log_tail") or ""),
        "the error is in the log tail",
    )
    sent = notifications(stack)
    check(
        len(sent) == 1 and sent[0]["Subject"].startswith("[local] Migration FAILED: broken-db"),
        f'SNS: "{sent[0]["Subject"] if sent else ""}"',
    )
    check(
        any(m.get("Status") == "failed" for m in metrics),
        "EMF metric Migrations{Status=failed} = 1",
    )


def guarded(stack: LocalStack, function: Function) -> None:
    """Stage 7: a guarded production profile meets a held lock, gives up, and succeeds on retry."""
    stage(7, "Production, guarded: `ledger-db` (profile demo-guarded, lock_timeout 2s, one retry)")
    say("    meets the lock a long report holds on its table, gives up, and succeeds on a retry")
    db = stack.create_database("ledger-db", profile="demo-guarded")
    owner = f'ALTER TABLE entries OWNER TO "{db.username}"'
    stack.postgres.sql(f"CREATE TABLE entries (id bigint); {owner}", database="ledger_db")

    def failed_attempts() -> list[str]:
        return [
            job["metadata"]["name"]
            for job in stack.jobs()
            if "ledger-db" in job["metadata"]["name"] and (job.get("status") or {}).get("failed")
        ]

    with stack.postgres.holding_lock("entries", database="ledger_db") as release:

        def release_once_an_attempt_gave_up() -> None:
            deadline = time.monotonic() + 120
            while not failed_attempts() and time.monotonic() < deadline:
                time.sleep(0.2)
            say("    (the report ends: its lock is released)")
            release()

        releaser = threading.Thread(target=release_once_an_attempt_gave_up, daemon=True)
        releaser.start()
        result, _ = function.invoke(put_and_deliver(stack, rds_event(stack, "ledger-db")))
        releaser.join(timeout=130)
    show_result(result)
    check(len(failed_attempts()) == 1, "the first attempt gave up on lock_timeout (its Job failed)")
    check(
        result["status"] == "succeeded" and result["reason"].endswith("(attempt 2 of 2)"),
        "the second attempt, after a durable pause, succeeded",
    )
    column = stack.postgres.sql(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'entries' AND column_name = 'amount'",
        database="ledger_db",
    )
    check(column == "amount", "PostgreSQL ledger_db: entries has its new column, amount")


def approved(stack: LocalStack, function: Function) -> None:
    """Stage 8: production asks a person's yes on exactly what will run, after a snapshot."""
    stage(8, "Production: `orders-db` moves to profile demo-prod (approval, a snapshot first)")
    db_arn = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders-db"
    stack.client("rds").add_tags_to_resource(
        ResourceName=db_arn, Tags=[{"Key": PROFILE_TAG, "Value": "demo-prod"}]
    )
    answers: list[str] = []

    def answer(verb: str, *more: str) -> Callable[[], None]:
        def person() -> None:
            request = approval_request(stack)
            say(f'    SNS: "{request["Subject"]}" (status=approval_requested)')
            line = next(
                line.strip()
                for line in request["Message"].splitlines()
                if line.strip().startswith(f"migration-trigger {verb} ")
            )
            words = shlex.split(line)
            argv = words[1:3]  # the verb and the request's callback id
            for option in ("--region", "--fingerprint"):
                if option in words:
                    argv += words[words.index(option) : words.index(option) + 2]
            argv += [*more, "--profile", APPROVER_PROFILE]
            say(f"    $ migration-trigger {verb} {argv[1][:16]}… {' '.join(argv[2:])}")
            done = subprocess.run(
                [sys.executable, "-m", "migration_trigger.cli", *argv],
                env={**os.environ, **stack.environment()},
                capture_output=True,
                text=True,
                check=False,
            )
            for printed in (done.stdout + done.stderr).splitlines():
                say(f"    > {printed}")
            answers.append(done.stdout)
            if done.returncode:
                raise DemoError(f"migration-trigger {verb} failed")

        return person

    manual = manual_request(stack, db_arn, "release-2026-12")
    result, _ = function.run(manual, answer("approve", "--reason", "release 2026.12"))
    show_result(result)
    check(result["status"] == "succeeded", "approved, then run: status succeeded")
    check(
        result.get("approved_by", "").endswith(":assumed-role/platform-approver/alex"),
        f"approved by {result.get('approved_by')} (the approver's AWS identity)",
    )
    check(
        result.get("fingerprint", "") in answers[0],
        f"the approval named the Job's fingerprint {result.get('fingerprint', '')[:19]}…",
    )
    snapshots = stack.client("rds").describe_db_snapshots(
        DBInstanceIdentifier="orders-db", SnapshotType="manual"
    )["DBSnapshots"]
    check(
        [s["DBSnapshotIdentifier"] for s in snapshots] == [result.get("snapshot")],
        f"RDS (moto) holds the snapshot taken before it ran: {result.get('snapshot')}",
    )
    sent = [
        m
        for m in notifications(stack)
        if m["MessageAttributes"]["status"]["Value"] != ("approval_requested")
    ]
    check(
        len(sent) == 1 and result.get("snapshot", "?") in sent[0]["Message"],
        f'SNS: "{sent[0]["Subject"] if sent else ""}", with the approver and the snapshot',
    )

    say()
    say("    a second request, during a freeze: rejected")
    manual = manual_request(stack, db_arn, "release-2026-12-b")
    declined, _ = function.run(manual, answer("reject", "--reason", "change freeze"))
    show_result(declined)
    check(declined["status"] == "declined", "status declined, not failed")
    check(
        not any("release-2026-12-b" in str(job["metadata"]) for job in stack.jobs()),
        "its Job was deleted: nothing ran",
    )
    sent = notifications(stack)
    check(
        any(m["Subject"].startswith("[local] Migration declined: orders-db") for m in sent),
        "SNS: [local] Migration declined: orders-db (manual)",
    )


def missed(stack: LocalStack, function: Function) -> None:
    """Stage 9: a database whose creation no event announced is found by the sweep."""
    stage(9, "A database created while no event is delivered: the reconciliation sweep finds it")
    stack.create_database("invoices-db", profile="demo")
    say("    (no RDS event is put on the bus: as if EventBridge lost it, or the function was down)")
    swept = function.sweep()
    say(f"    sweep: {swept['reason']}")
    for line in swept["started_names"] + swept["behind_names"]:
        say(f"      {line}")
    check(
        any(line.startswith("invoices-db:") for line in swept["started_names"]),
        "the sweep found invoices-db never migrated and put a request on the requests bus",
    )
    request = delivered(stack)
    check(
        request["detail"].get("missedCreation", {}).get("trigger") == "db-created",
        "the MigrationRequested rule delivered it: a missed creation, keyed as its own events",
    )
    result, _ = function.invoke(request)
    show_result(result)
    check(
        result["status"] == "succeeded" and result["trigger"] == "db-created",
        "migrated as its creation would have been: status succeeded",
    )
    tables = public_tables(stack, "invoices_db")
    check(tables == "customers, orders, schema_migrations", f"PostgreSQL invoices_db: {tables}")
    shown = subprocess.run(
        [sys.executable, "-m", "migration_trigger.cli", "status"],
        env={**os.environ, **stack.environment()},
        capture_output=True,
        text=True,
        check=False,
    )
    say("    $ migration-trigger status")
    for printed in shown.stdout.splitlines():
        say(f"    > {printed}")
    line = next((x for x in shown.stdout.splitlines() if x.startswith("invoices-db ")), "")
    check(
        shown.returncode == 0 and "up_to_date" in line and "succeeded" in line,
        "status shows invoices-db migrated and up to date",
    )


def delivered(stack: LocalStack) -> dict[str, Any]:
    """The next event a rule of template.yaml delivered to the function."""
    sqs = stack.client("sqs")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=stack.inbox_queue, WaitTimeSeconds=1).get(
            "Messages", []
        )
        for message in messages:
            sqs.delete_message(QueueUrl=stack.inbox_queue, ReceiptHandle=message["ReceiptHandle"])
            return dict(json.loads(message["Body"]))
    raise DemoError("no rule of template.yaml delivered an event")


def approval_request(stack: LocalStack, wait: float = 60) -> dict[str, Any]:
    """The next request for approval on the topic's queue (other notifications kept aside)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for message in notifications(stack):
            if message["MessageAttributes"]["status"]["Value"] == "approval_requested":
                return message
        time.sleep(0.2)
    raise DemoError("no request for approval reached the results topic")


def manual_request(stack: LocalStack, db_arn: str, request_id: str) -> dict[str, Any]:
    """A manual request on the requests bus, as template.yaml's rule delivers it."""
    return put_and_deliver(
        stack,
        {
            "Source": "migration-trigger",
            "DetailType": "Migration Requested",
            "EventBusName": requests_bus("local"),
            "Detail": json.dumps(
                {"database": db_arn, "reason": "release 2026.12", "requestId": request_id}
            ),
        },
    )


def run(*, skip_failure: bool = False, pod_runner: str = "auto", cluster: str = "emulator") -> int:
    """Run the demo; 0 only if every step did what it says."""
    began = time.monotonic()
    # The durable SDK logs a failed execution with its traceback; the story reports it instead.
    logging.getLogger("aws_durable_execution_sdk_python").setLevel(logging.CRITICAL)
    logging.getLogger("aws_durable_execution_sdk_python_testing").setLevel(logging.CRITICAL)
    with LocalStack(
        on_pod_output=pod_output,
        pod_runner=pod_runner,
        cluster=cluster,
        on_status=lambda text: say(f"    {text}"),
    ) as stack:
        try:
            story(stack, failure=not skip_failure)
        except DemoError as error:
            say(f"\nDEMO FAILED: {error}")
            return 1
    say(
        f"\nEvery step did what it says ({time.monotonic() - began:.0f}s). "
        "The local stack is stopped."
    )
    return 0
