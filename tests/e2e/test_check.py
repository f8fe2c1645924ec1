"""The example dbmate profile's check, as the real dbmate says it against real PostgreSQL: its
`checkCommand` (`dbmate … status --exit-code`), read with its `checkPending` (exit 1 and
`Pending: N`), says pending before the example migrations are applied, up to date after, and a
failed check when dbmate cannot log in (dbmate's own error exit, 2). The whole check through the
function, on the local stack: tests/e2e/test_local_stack.py."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from local_stack.postgres import LocalPostgres
from migration_trigger.domain.profiles import parse_profiles
from migration_trigger.domain.result import Status
from tests.helpers import ROOT, postgres_with

pytestmark = pytest.mark.e2e
DBMATE = ROOT / "tools" / "node_modules" / ".bin" / "dbmate"
MIGRATIONS = ROOT / "examples" / "orders-db" / "db" / "migrations"
EXAMPLE = parse_profiles((ROOT / "k8s" / "profiles" / "examples.json").read_text())["dbmate"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    with postgres_with("app", "check-pw-1", "orders") as server:
        yield server


def run(command: list[str], url: str) -> tuple[int, str]:
    """A dbmate command of the example profile, run here: the binary and the migrations
    directory are this machine's."""
    local = [str(DBMATE) if part == "dbmate" else part for part in command]
    local = [str(MIGRATIONS) if part == "/db/migrations" else part for part in local]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE"))}
    done = subprocess.run(
        local,
        env={**env, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def verdict(url: str) -> tuple[Status, str]:
    assert EXAMPLE.check_pending is not None
    code, output = run(list(EXAMPLE.check_command), url)
    return EXAMPLE.check_pending.verdict(code, output), output


def test_the_example_dbmate_check_says_pending_then_up_to_date_then_failed(
    postgres: LocalPostgres,
):
    url = f"postgres://app:check-pw-1@127.0.0.1:{postgres.port}/orders?sslmode=disable"

    before, said = verdict(url)
    assert before is Status.PENDING, said
    assert "Pending: 2" in said

    code, output = run(
        ["dbmate", "--migrations-dir", "/db/migrations", "--no-dump-schema", "up"], url
    )
    assert code == 0, output
    after, said = verdict(url)
    assert after is Status.UP_TO_DATE, said
    assert "Pending: 0" in said

    wrong = url.replace("check-pw-1", "not-the-password")
    failed, said = verdict(wrong)
    assert failed is Status.FAILED, said
