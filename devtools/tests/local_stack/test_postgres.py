"""The local stack's PostgreSQL checks every password on TCP, as RDS does.

initdb's `--auth-host=scram-sha-256` (PostgreSQL "Client Authentication", pg_hba.conf): loopback
logins are not trusted, so another process on the laptop cannot use the stack's databases, and
a Job given another database's password fails, which proves each Job got its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from local_stack.postgres import LocalPostgres

PASSWORD = "Right-Pa55-for-orders"


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    if shutil.which("psql") is None:
        pytest.skip("PostgreSQL is installed by `make setup`")
    server = LocalPostgres().start()
    server.sql(f"CREATE ROLE app_orders LOGIN PASSWORD '{PASSWORD}'")
    yield server
    server.stop()


def login(postgres: LocalPostgres, password: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    where = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", "app_orders", "-d", "postgres"]
    return subprocess.run(
        ["psql", *where, "-w", "-X", "-A", "-t", "-c", "select current_user"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_a_loopback_login_with_the_right_password_is_admitted(postgres: LocalPostgres):
    done = login(postgres, PASSWORD)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "app_orders"


@pytest.mark.parametrize("password", ["another-database's-password", None])
def test_a_loopback_login_without_the_right_password_is_refused(
    postgres: LocalPostgres, password: str | None
):
    done = login(postgres, password)

    assert done.returncode != 0
    assert "password authentication failed" in done.stderr or "no password supplied" in done.stderr


def test_a_held_lock_stops_an_alter_with_a_lock_timeout_until_it_is_released(
    postgres: LocalPostgres,
):
    """What the demo's guarded stage stands on: a report's open transaction holds its table."""
    from local_stack.postgres import PostgresError

    postgres.sql("CREATE TABLE entries (id bigint)")
    alter = "SET lock_timeout = '500ms'; ALTER TABLE entries ADD COLUMN amount numeric"
    with postgres.holding_lock("entries", database="postgres") as release:
        with pytest.raises(PostgresError, match="lock timeout"):
            postgres.sql(alter)
        release()
        postgres.sql(alter)

    assert (
        postgres.sql("SELECT count(*) FROM information_schema.columns WHERE column_name = 'amount'")
        == "1"
    )
