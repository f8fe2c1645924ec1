"""A throwaway PostgreSQL server: initdb in a temporary directory, a random loopback port."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from local_stack.net import free_port

_SEARCH = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]


class PostgresError(RuntimeError):
    """PostgreSQL could not be found, started or queried."""


def _binary(name: str) -> str:
    for directory in _SEARCH:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise PostgresError(f"{name} not found: install PostgreSQL (scripts/setup.sh does)")
    return found


@dataclass
class LocalPostgres:
    """Start with `start()`, stop with `stop()` (or use as a context manager)."""

    port: int = field(default_factory=free_port)
    directory: Path = field(init=False)
    _as_user: list[str] = field(init=False, default_factory=list)

    def start(self) -> LocalPostgres:
        """initdb and start; as root, both run as the `postgres` user (initdb refuses root)."""
        self.directory = Path(tempfile.mkdtemp(prefix="migration-trigger-pg-"))
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresError(
                    "running as root needs a 'postgres' user "
                    "(Debian's postgresql package creates it)"
                ) from None
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        data, log = self.directory / "data", self.directory / "server.log"
        # Trust only the superuser's own socket (in the server's private directory); every TCP
        # login, even on loopback, must give its password: a laptop's other users and processes
        # cannot use the stack's databases, and a Job given the wrong password fails as on RDS.
        self._run(
            _binary("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
        )
        self._run(
            _binary("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        return self

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if not hasattr(self, "directory"):
            return
        with contextlib.suppress(PostgresError):
            self._run(
                _binary("pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop"
            )
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def sql(self, statement: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser over the local socket; tab-separated rows, no header."""
        done = subprocess.run(
            [
                *self._as_user,
                _binary("psql"),
                "-h",
                str(self.directory),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-X",
                "-A",
                "-t",
                "-F",
                "\t",
                "-v",
                "ON_ERROR_STOP=1",
            ],
            # On stdin, not argv: statements may set passwords, and argv is visible to `ps`.
            input=statement,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            raise PostgresError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    @contextmanager
    def holding_lock(self, table: str, *, database: str) -> Iterator[Callable[[], None]]:
        """A transaction of the superuser's that reads `table` and stays open, holding its
        ACCESS SHARE lock (what a long report would hold) until the function it yields is called
        or the block ends."""
        session = subprocess.Popen(
            [*self._as_user, _binary("psql"), "-h", str(self.directory), "-p", str(self.port),
             "-U", "postgres", "-d", database, "-X", "-A", "-t", "-q"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # psql's warnings (as the postgres user it may not enter the caller's directory) are
            # not the rows this reads.
            stderr=subprocess.DEVNULL,
            cwd=self.directory,
            text=True,
        )  # fmt: skip
        assert session.stdin is not None
        assert session.stdout is not None
        session.stdin.write(f'BEGIN;\nLOCK TABLE "{table}" IN ACCESS SHARE MODE;\nSELECT 1;\n')
        session.stdin.flush()
        if session.stdout.readline().strip() != "1":
            session.kill()
            raise PostgresError(f"could not lock {table}")

        def release() -> None:
            if session.poll() is None:
                assert session.stdin is not None
                session.stdin.write("ROLLBACK;\n")
                session.stdin.close()
                session.wait(timeout=30)

        try:
            yield release
        finally:
            release()

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [*self._as_user, *command],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            cwd="/",
        )
        if done.returncode != 0:
            raise PostgresError(
                f"{Path(command[0]).name} failed: {(done.stderr or done.stdout).strip()}"
            )
