"""A check's verdict from its tool's exit code and output, with each example profile's
`checkPending` (k8s/profiles/examples.json), on what each tool prints and exits with. Read from
their sources:
- dbmate v2.35.0: `dbmate status --exit-code` prints `[ ] <file>` per pending file, then
  `Applied: N` and `Pending: N` (pkg/dbmate/db.go Status), exits 1 when pending (main.go), 2 on an
  error (main: `Error: …`, os.Exit(2));
- Prisma 7: `prisma migrate status` prints `Following migration(s) have not yet been applied:` and
  exits 1 (packages/migrate/src/commands/MigrateStatus.ts), as it does on an error (`Error:
  P1001: Can't reach database server`), `Database schema is up to date!` and 0 otherwise;
- Flyway 9-13: `flyway validate` fails on a pending migration with the default
  ignoreMigrationPatterns `*:future`: `Detected resolved migration not applied to database: 2.`
  (MigrationInfoImpl.validate), exit 1, as for any other error (Main);
- Alembic 1.19: `alembic check` on a database not at head: `FAILED: Target database is not up to
  date.`, sys.exit(-1), so 255 (util/messaging.err); a connection error is a traceback, 1;
- Atlas 1.2: `atlas migrate status` exits 0 either way, printing `Migration Status: PENDING` or
  `Migration Status: OK` (cmdlog.go); 1 on an error.
The real dbmate against real PostgreSQL: tests/e2e/test_check.py."""

from __future__ import annotations

import pytest

from migration_trigger.domain.checking import judged, parse_check_pending
from migration_trigger.domain.profiles import parse_profiles
from migration_trigger.domain.result import Result, Status
from migration_trigger.errors import ConfigurationError
from tests.helpers import ROOT, sample_profile

EXAMPLES = parse_profiles((ROOT / "k8s" / "profiles" / "examples.json").read_text())

CASES = [
    ("dbmate", 1, "[X] 20261101090000_create_customers.sql\n[ ] 2026_orders.sql\n\nApplied: 1\nPending: 1\n", "pending"),
    ("dbmate", 0, "[X] 20261101090000_create_customers.sql\n\nApplied: 1\nPending: 0\n", "up_to_date"),
    ("dbmate", 2, "Error: dial tcp 10.0.0.5:5432: connect: connection refused\n", "failed"),
    ("prisma", 1, "Following migration have not yet been applied:\n20261201_init\n", "pending"),
    ("prisma", 1, "Following migrations have not yet been applied:\na\nb\n", "pending"),
    ("prisma", 0, "Database schema is up to date!\n", "up_to_date"),
    ("prisma", 1, "Error: P1001: Can't reach database server at `db:5432`\n", "failed"),
    ("flyway", 1, "ERROR: Validate failed: Migrations have failed validation\nDetected resolved migration not applied to database: 2.\n", "pending"),
    ("flyway", 0, "Successfully validated 3 migrations (execution time 00:00.020s)\n", "up_to_date"),
    ("flyway", 1, "ERROR: Unable to obtain connection from database\n", "failed"),
    ("alembic", 255, "FAILED: Target database is not up to date.\n", "pending"),
    ("alembic", 0, "No new upgrade operations detected.\n", "up_to_date"),
    ("alembic", 1, "sqlalchemy.exc.OperationalError: connection refused\n", "failed"),
    ("atlas", 0, "Migration Status: PENDING\n  -- Current Version: 1\n  -- Pending Files:   2\n", "pending"),
    ("atlas", 0, "Migration Status: OK\n  -- Next Version:    Already at latest version\n", "up_to_date"),
    ("atlas", 1, "Error: dial tcp: connection refused\n", "failed"),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "exit_code", "output", "verdict"), CASES)
def test_each_example_profile_reads_its_tools_verdict(
    tool: str, exit_code: int, output: str, verdict: str
):
    pending = EXAMPLES[tool].check_pending
    assert pending is not None

    assert pending.verdict(exit_code, output) == Status(verdict)


def test_every_example_profile_has_a_check():
    assert all(p.check_command and p.check_pending for p in EXAMPLES.values())


def test_a_checks_result_says_what_the_tool_found_and_a_job_that_did_not_end_keeps_its_own():
    pending = parse_check_pending({"exitCodes": [1], "logMatches": "^Pending: [1-9]"})
    ran = Result(Status.FAILED, "the migration exited with code 1", job="j")

    assert judged(ran, pending, 1, True).status is Status.PENDING
    assert judged(ran, pending, 1, True).reason.startswith("the check found pending")
    failed = judged(ran, pending, 2, False)
    assert failed.status is Status.FAILED and "exit code 2" in failed.reason
    unread = judged(Result(Status.SUCCEEDED, "done", job="j"), pending, 0, None)
    assert unread.status is Status.FAILED and "could not be read" in unread.reason
    timed_out = Result(Status.TIMED_OUT, "deadline", job="j")
    assert judged(timed_out, pending, None, None) == timed_out


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"logMatches": "x", "other": 1}, "must be an object"),
        ({"exitCodes": [], "logMatches": "x"}, "exitCodes"),
        ({"exitCodes": [256], "logMatches": "x"}, "exitCodes"),
        ({"exitCodes": [True], "logMatches": "x"}, "exitCodes"),
        ({"exitCodes": [1]}, "logMatches"),
        ({"exitCodes": [1], "logMatches": "("}, "not a regular expression"),
    ],
)
def test_a_check_pending_that_cannot_say_pending_is_refused(raw: object, says: str):
    with pytest.raises(ValueError, match=says):
        parse_check_pending(raw)


def test_a_check_command_and_its_pending_rule_go_together():
    with pytest.raises(ConfigurationError, match="checkCommand"):
        sample_profile(checkCommand=["dbmate", "status"])
    with pytest.raises(ConfigurationError, match="checkCommand"):
        sample_profile(checkPending={"exitCodes": [1], "logMatches": "x"})
