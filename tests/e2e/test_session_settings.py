"""A profile's sessionSettings, as real PostgreSQL sees them from real clients: dbmate (Go's
lib/pq, the demo's tool) through `DATABASE_URL`'s `options` and through `PGOPTIONS`, and psql
(libpq, the library psycopg2 and so Alembic use) through `PGOPTIONS`; and as real MariaDB sees
them from dbmate (go-sql-driver/mysql) through `DATABASE_URL`'s query. The values are the ones the
product renders (jobspec.credential_values, jobspec.pg_options); the server reads them back. This
is what docs/configuration.md's table of tools rests on."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.mariadb import LocalMariaDB, available
from local_stack.postgres import LocalPostgres
from migration_trigger.domain import jobspec
from tests.helpers import ROOT, postgres_with

pytestmark = pytest.mark.e2e
DBMATE = ROOT / "tools" / "node_modules" / ".bin" / "dbmate"
SETTINGS = (("lock_timeout", "5s"), ("statement_timeout", "30min"))
READ_BACK = "lock_timeout=5s statement_timeout=30min"
#: A migration that reports the session's settings by failing with them.
SHOW = """-- migrate:up
DO $$ BEGIN RAISE EXCEPTION 'lock_timeout=% statement_timeout=%',
  current_setting('lock_timeout'), current_setting('statement_timeout'); END $$;
-- migrate:down
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    with postgres_with("app", "session-pw-1", "orders") as server:
        yield server


def endpoint(postgres: LocalPostgres) -> jobspec.Endpoint:
    return jobspec.Endpoint("postgres", "127.0.0.1", postgres.port, "orders")


def clean_env(**more: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, **more}


def dbmate(tmp_path: Path, env: dict[str, str]) -> str:
    migrations = tmp_path / "migrations"
    migrations.mkdir(exist_ok=True)
    (migrations / "20261201000000_show_settings.sql").write_text(SHOW)
    done = subprocess.run(
        [str(DBMATE), "--migrations-dir", str(migrations), "--no-dump-schema", "up"],
        check=False,  # the migration fails on purpose, saying the settings
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout + done.stderr


def test_dbmate_reads_the_settings_from_the_database_urls_options(
    postgres: LocalPostgres, tmp_path: Path
):
    values = jobspec.credential_values(
        endpoint(postgres), "app", "session-pw-1", "sslmode=disable", SETTINGS
    )

    said = dbmate(tmp_path, clean_env(DATABASE_URL=values["DATABASE_URL"]))

    assert READ_BACK in said


def test_dbmate_reads_the_settings_from_pgoptions(postgres: LocalPostgres, tmp_path: Path):
    values = jobspec.credential_values(endpoint(postgres), "app", "session-pw-1", "sslmode=disable")

    said = dbmate(
        tmp_path,
        clean_env(DATABASE_URL=values["DATABASE_URL"], PGOPTIONS=jobspec.pg_options(SETTINGS)),
    )

    assert READ_BACK in said


def test_without_settings_the_server_defaults_hold(postgres: LocalPostgres, tmp_path: Path):
    values = jobspec.credential_values(endpoint(postgres), "app", "session-pw-1", "sslmode=disable")

    said = dbmate(tmp_path, clean_env(DATABASE_URL=values["DATABASE_URL"]))

    assert "lock_timeout=0 statement_timeout=0" in said


def test_libpq_reads_the_settings_from_pgoptions(postgres: LocalPostgres):
    env = clean_env(PGPASSWORD="session-pw-1", PGOPTIONS=jobspec.pg_options(SETTINGS))
    where = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", "app", "-d", "orders"]

    shown = subprocess.run(
        [
            "psql",
            *where,
            "-w",
            "-X",
            "-A",
            "-t",
            "-c",
            "show lock_timeout",
            "-c",
            "show statement_timeout",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()

    assert shown == ["5s", "30min"]


# -- MySQL (MariaDB stands in: the protocol and these system variables are the same) -------------

MYSQL_SETTINGS = (("lock_wait_timeout", "7"), ("sql_mode", "ANSI_QUOTES"))
#: A migration that records the session's settings in a table.
RECORD = """-- migrate:up
CREATE TABLE seen AS SELECT @@SESSION.lock_wait_timeout AS lock_wait, @@SESSION.sql_mode AS mode;
-- migrate:down
"""


@pytest.fixture(scope="module")
def mariadb() -> Iterator[LocalMariaDB]:
    if not available() or not DBMATE.exists():
        pytest.skip("MariaDB and dbmate are installed by `make setup`")
    server = LocalMariaDB().start()
    server.sql(
        "CREATE USER app@'%' IDENTIFIED BY 'session-pw-2'; CREATE DATABASE orders; "
        "GRANT ALL ON orders.* TO app@'%';"
    )
    yield server
    server.stop()


def run_recording(mariadb: LocalMariaDB, tmp_path: Path, url: str) -> str:
    migrations = tmp_path / "mysql-migrations"
    migrations.mkdir(exist_ok=True)
    (migrations / "20261201000000_record_settings.sql").write_text(RECORD)
    mariadb.sql(
        "DROP TABLE IF EXISTS seen; DROP TABLE IF EXISTS schema_migrations", database="orders"
    )
    subprocess.run(
        [str(DBMATE), "--migrations-dir", str(migrations), "--no-dump-schema", "up"],
        check=True,
        env=clean_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return mariadb.sql("SELECT lock_wait, mode FROM seen", database="orders")


def test_dbmate_sets_mysql_settings_from_the_database_urls_query(
    mariadb: LocalMariaDB, tmp_path: Path
):
    endpoint = jobspec.Endpoint("mysql", "127.0.0.1", mariadb.port, "orders")
    values = jobspec.credential_values(endpoint, "app", "session-pw-2", "", MYSQL_SETTINGS)

    assert run_recording(mariadb, tmp_path, values["DATABASE_URL"]) == "7\tANSI_QUOTES"


def test_without_mysql_settings_the_server_defaults_hold(mariadb: LocalMariaDB, tmp_path: Path):
    endpoint = jobspec.Endpoint("mysql", "127.0.0.1", mariadb.port, "orders")
    values = jobspec.credential_values(endpoint, "app", "session-pw-2")

    lock_wait, mode = run_recording(mariadb, tmp_path, values["DATABASE_URL"]).split("\t")

    assert lock_wait == "86400" and "ANSI_QUOTES" not in mode
