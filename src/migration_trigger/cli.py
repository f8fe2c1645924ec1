"""The `migration-trigger` command: run or plan the orchestrator on an event; the local stack.

migration-trigger invoke EVENT.json [--json]   run once against the current environment
migration-trigger plan EVENT.json              decide and render the Job; create nothing
migration-trigger approve CALLBACK_ID --fingerprint sha256:… [--reason TEXT]
migration-trigger reject CALLBACK_ID --reason TEXT
                                               answer a request for approval
migration-trigger check DATABASE [--kind cluster] [--json]
                                               run the profile's checkCommand as a Job: exit 0
                                               up to date, 3 pending, 1 the check failed
migration-trigger status [--json] [--migration-profile P]
                                               each opted-in database: its latest result, the
                                               image it stands at, whether it is behind

The local stack and its demo are development tooling with a command of their own,
`migration-trigger-local` (devtools/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from migration_trigger.adapters.observability import PrintLog
from migration_trigger.domain import approval, jobspec
from migration_trigger.domain.events import (
    MANUAL_DETAIL_TYPE,
    MANUAL_SOURCE,
    Ended,
    Ignored,
    Parsed,
    Rejected,
    Sweep,
    SwitchedOver,
    Trigger,
    parse_event,
)
from migration_trigger.domain.result import FAILING, Result, Status
from migration_trigger.domain.sweep import image_groups, status_row
from migration_trigger.errors import MigrationTriggerError
from migration_trigger.flow import handle_event
from migration_trigger.ports import Services
from migration_trigger.records import Declined
from migration_trigger.settings import Settings
from migration_trigger.stages import resolve, sweep
from migration_trigger.steps import InlineSteps
from migration_trigger.wiring import build_services, callbacks_as, read_parameter

#: How `plan` names each way `resolve` declines an event.
_DECLINED = {
    Status.SKIPPED: "skip",
    Status.REJECTED: "reject",
    Status.FAILED: "fail",
    Status.IGNORED: "ignored",
}
_PROFILE_HELP = "the AWS named profile to answer as (default: the usual credential chain)"
_REGION_HELP = "the function's region, as the request names it (default: the profile's)"
EXIT_FAILED = 1
EXIT_USAGE = 2


def _load_event(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as error:
        raise SystemExit(f"migration-trigger: cannot read {path}: {error.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise SystemExit(f"migration-trigger: {path} is not JSON: {error}") from None


def _services() -> Services:
    settings = Settings.from_env(os.environ, read_parameter=read_parameter)
    _ = settings.profiles  # the CLI refuses a broken profiles document at once
    services = build_services(settings, log=PrintLog())
    # A CLI run is no durable execution of Lambda's: there is no one to ask whether the run that
    # left a Job has ended, so only the Job's start-by time ends the wait behind it.
    services.executions = None
    return services


def _print_result(result: Result, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    print(f"status:   {result.status}")
    print(f"reason:   {result.reason}")
    for key in ("trigger", "database", "profile", "cluster", "namespace", "job", "event_id"):
        value = getattr(result, key)
        if value:
            print(f"{key + ':':<9} {value}")
    if result.duration_seconds is not None:
        print(f"duration: {result.duration_seconds}s")
    if result.log_tail:
        print("log tail:")
        for line in result.log_tail.splitlines():
            print(f"  | {line}")


def invoke(args: argparse.Namespace) -> int:
    """Run the orchestrator once on an event file."""
    event = _load_event(args.event)
    services, steps = _services(), _steps(quiet=args.json)
    if not isinstance(event, list) and isinstance(parsed := parse_event(event), Sweep):
        # The sweep's schedule: sweep now, as the function would.
        with contextlib.redirect_stdout(sys.stderr):
            summary = sweep.sweep(parsed, steps, services)
        document = summary.to_dict()
        print(json.dumps(document, indent=2) if args.json else _swept_text(document))
        return EXIT_FAILED if summary.error else 0
    results = _handled(event if isinstance(event, list) else [event], steps, services)
    for result in results:
        _print_result(result, as_json=args.json)
    return EXIT_FAILED if any(r.status in FAILING for r in results) else 0


def _steps(*, quiet: bool) -> InlineSteps:
    """Steps run here and now, each named on stderr unless `quiet`."""
    return InlineSteps(on_step=None if quiet else lambda name: print(f"· {name}", file=sys.stderr))


def _handled(events: list[Any], steps: InlineSteps, services: Services) -> list[Result]:
    """The flow on each event; logs and EMF metric lines go to stderr, so that stdout carries
    only what the command prints of the results."""
    with contextlib.redirect_stdout(sys.stderr):
        return [handle_event(item, steps, services) for item in events]


def _swept_text(document: dict[str, Any]) -> str:
    lines = [f"sweep:    {document['reason']}"]
    for key, heading in (
        ("started_names", "started"),
        ("behind_names", "behind"),
        ("cannot_names", "cannot migrate"),
    ):
        lines += [f"{heading}: {name}" for name in document[key]]
    return "\n".join(lines)


def _no_migration(parsed: Parsed) -> dict[str, str]:
    """What `plan` says of an event that is no migration."""
    if isinstance(parsed, Ignored | Rejected):
        return {"decision": str(type(parsed).__name__).lower(), "reason": parsed.reason}
    if isinstance(parsed, Ended):
        reason = (
            f"execution {parsed.execution} ended {parsed.status}: the function asks Lambda "
            "whether it reported its migration, and reports it if not"
        )
        return {"decision": "account", "reason": reason}
    if isinstance(parsed, SwitchedOver):
        reason = (
            f"Blue/Green deployment {parsed.deployment} switched over: the function notes in the "
            "ledger that the database now under the blue one's name is the same database"
        )
        return {"decision": "note", "reason": reason}
    reason = (
        "the reconciliation sweep: it lists the opted-in databases, judges each against the "
        "ledger, and requests a migration for each one behind"
    )
    return {"decision": "sweep", "reason": reason}


def plan(args: argparse.Namespace) -> int:
    """The same decision as `invoke`, and the Job it would create; nothing is created."""
    event = _load_event(args.event)
    services = _services()
    parsed = parse_event(event)
    if not isinstance(parsed, Trigger):
        print(json.dumps(_no_migration(parsed), indent=2))
        return 0
    resolved = resolve.resolve(parsed, services)
    if isinstance(resolved, Declined):
        decision = {"decision": _DECLINED[resolved.status], "reason": resolved.reason}
        print(json.dumps(decision, indent=2))
        return 0
    profile, facts = resolved.profile, resolved.facts
    job = resolve.job_plan(resolved, facts, "plan")
    document: dict[str, Any] = {
        "decision": "run",
        "database": {"arn": facts.arn, "status": facts.status},
        "profile": profile.name,
        "cluster": profile.cluster.describe(),
        "namespace": profile.namespace,
        "credentials": str(profile.credentials),
        "job": jobspec.render_job(services.job_template(), job),
    }
    if resolved.blue_green is not None:
        document["blue_green"] = {
            "deployment": resolved.blue_green,
            "waits": (
                "until the deployment switched over (then runs on the database now under the "
                "name) or was deleted (then on blue), at most "
                f"{profile.wait_for_blue_green_seconds}s (waitForBlueGreenSeconds)"
            ),
        }
    if profile.window is not None:
        # The guards that would apply, without waiting for them.
        opens_in = profile.window.opens_in(services.clock())
        document["window"] = {
            "window": profile.window.describe(),
            "open_now": not opens_in,
            "opens_in_seconds": opens_in,
        }
    if profile.approval is not None:
        asked = profile.approval.applies(parsed.kind)
        pinned = asked and approval.ecr_image(profile.image) is not None
        document["approval"] = {
            "approval": profile.approval.describe(),
            "asked_for_this_event": asked,
            "image": (
                "pinned to the digest its Amazon ECR tag names when the Job is created"
                if pinned
                else "runs by its reference as written (not in Amazon ECR, or not approved)"
            ),
        }
    if profile.snapshot_before_migration:
        holds_data = parsed.rule.holds_data
        document["snapshot"] = {
            "taken_for_this_event": holds_data,
            "snapshot": (
                "a manual RDS snapshot, once the Job may start, waited for up to "
                f"{profile.snapshot_timeout_seconds}s; the newest {profile.keep_snapshots} of "
                "ours kept after a success"
                if holds_data
                else f"skipped: a database just created or restored ({parsed.kind}) holds no data"
            ),
        }
    if profile.retry is not None:
        document["retry"] = {
            "attempts": profile.retry.attempts,
            "delay_seconds": profile.retry.delay_seconds,
            "when_log_matches": profile.retry.when_log_matches,
        }
    print(json.dumps(document, indent=2))
    return 0


def approve(args: argparse.Namespace) -> int:
    """Approve the Job a request names, by its fingerprint, as the caller's AWS identity."""
    if not approval.is_digest(args.fingerprint):
        print(
            "migration-trigger: --fingerprint must be the request's sha256:<64 hex digits>",
            file=sys.stderr,
        )
        return EXIT_USAGE
    callbacks = callbacks_as(args.profile, args.region)
    approver = callbacks.caller()
    answer = approval.approve_payload(args.fingerprint, approver, args.reason)
    callbacks.succeed(args.callback_id, answer)
    print("approved:")
    print(f"  the Job with fingerprint {args.fingerprint}")
    print(f"  as {approver}")
    if args.reason:
        print(f"  because: {args.reason}")
    print("  (an approval of another fingerprint than the Job's starts nothing: it is asked again)")
    return 0


def reject(args: argparse.Namespace) -> int:
    """Reject a request: the migration ends as declined, with the reason."""
    callbacks = callbacks_as(args.profile, args.region)
    approver = callbacks.caller()
    callbacks.fail(
        args.callback_id,
        message=args.reason,
        error_type="Rejected",
        data=approval.reject_data(approver),
    )
    print(f"rejected as {approver}: {args.reason}")
    print("  (the migration ends as declined, and its Job is deleted)")
    return 0


#: `check`'s exit code when migrations are pending (0: up to date; 1: the check failed).
EXIT_PENDING = 3


def check(args: argparse.Namespace) -> int:
    """Run the profile's checkCommand for one database as a Job, as a manual request with
    `"mode": "check"` would: apply nothing, say up_to_date or pending."""
    event = {
        "version": "0",
        "id": f"cli-check-{uuid.uuid4()}",
        "detail-type": MANUAL_DETAIL_TYPE,
        "source": MANUAL_SOURCE,
        "detail": {
            "database": args.database,
            "kind": args.kind,
            "mode": "check",
            "reason": args.reason,
        },
    }
    (result,) = _handled([event], _steps(quiet=args.json), _services())
    _print_result(result, as_json=args.json)
    if result.status is Status.PENDING:
        return EXIT_PENDING
    return 0 if result.status is Status.UP_TO_DATE else EXIT_FAILED


#: The columns of `status`, in order, with their headings.
_STATUS_COLUMNS = (
    ("database", "DATABASE"),
    ("profile", "PROFILE"),
    ("engine", "ENGINE"),
    ("last_trigger", "LAST TRIGGER"),
    ("last_result", "RESULT"),
    ("last_at", "WHEN"),
    ("state", "STATE"),
    ("checked", "CHECK"),
    ("image", "LAST SUCCESS IMAGE"),
)


def status(args: argparse.Namespace) -> int:
    """One line per opted-in database: its latest result, the image of its last success against
    its profile's, and what the sweep would do; then the profiles whose databases stand at
    different images."""
    services = _services()
    progress = None if args.json else lambda text: print(f"· {text}…", file=sys.stderr)
    surveyed = sweep.survey(services, progress=progress)
    rows = [
        status_row(s.facts, s.standing, s.assessed, s.image)
        for s in surveyed
        if args.migration_profile is None or s.assessed.profile == args.migration_profile
    ]
    groups = image_groups(rows)
    if args.json:
        print(json.dumps({"databases": rows, "profiles_at_several_images": groups}, indent=2))
        return 0
    table = [[heading for _, heading in _STATUS_COLUMNS]]
    table += [[str(row[key] or "-") for key, _ in _STATUS_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(_STATUS_COLUMNS))]
    for line in table:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    for row in rows:
        if row["state"] != "up_to_date":
            print(f"{row['database']}: {row['why']}")
    for profile, images in groups.items():
        standing = ", ".join(f"{image} ({count})" for image, count in images.items())
        print(f"profile {profile} stands at {len(images)} images: {standing}")
    if not rows:
        print("no database is opted in to this deployment", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="migration-trigger", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("invoke", help="run the orchestrator once on an event")
    run.add_argument("event", help="event JSON file (or - for stdin)")
    run.add_argument("--json", action="store_true", help="print the result document as JSON")
    dry = commands.add_parser("plan", help="decide and render the Job; create nothing")
    dry.add_argument("event", help="event JSON file (or - for stdin)")
    yes = commands.add_parser("approve", help="approve the Job a request for approval names")
    yes.add_argument("callback_id", help="the request's callback id")
    yes.add_argument("--fingerprint", required=True, help="the request's fingerprint (sha256:…)")
    yes.add_argument("--reason", help="why, for the record")
    yes.add_argument("--profile", help=_PROFILE_HELP)
    yes.add_argument("--region", help=_REGION_HELP)
    no = commands.add_parser("reject", help="reject a request for approval: declined")
    no.add_argument("callback_id", help="the request's callback id")
    no.add_argument("--reason", required=True, help="why: the result and notification say it")
    no.add_argument("--profile", help=_PROFILE_HELP)
    no.add_argument("--region", help=_REGION_HELP)
    checking = commands.add_parser(
        "check", help="run the profile's checkCommand as a Job: up_to_date or pending"
    )
    checking.add_argument("database", help="an RDS instance or cluster ARN, or an identifier")
    checking.add_argument(
        "--kind", choices=("instance", "cluster"), default="instance", help="of an identifier"
    )
    checking.add_argument("--reason", default="checked from the CLI", help="for the record")
    checking.add_argument("--json", action="store_true", help="print the result as JSON")
    fleet = commands.add_parser(
        "status", help="each opted-in database: its latest result and the image it stands at"
    )
    fleet.add_argument("--json", action="store_true", help="print the databases as JSON")
    fleet.add_argument("--migration-profile", help="only the databases of this migration profile")
    args = parser.parse_args(argv)
    commands_by_name = {
        "invoke": invoke,
        "plan": plan,
        "approve": approve,
        "reject": reject,
        "status": status,
        "check": check,
    }
    try:
        return commands_by_name[args.command](args)
    except MigrationTriggerError as error:
        print(f"migration-trigger: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
