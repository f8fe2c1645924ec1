"""A throwaway MariaDB server: mariadb-install-db in a temporary directory, a random loopback port.

MariaDB stands in for MySQL (RDS serves both; the MySQL protocol and the system variables the
tests set are the same). Its superuser logs in over the private socket only; every TCP login,
even on loopback, gives its password.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from local_stack.net import free_port


class MariaDBError(RuntimeError):
    """MariaDB could not be found, started or queried."""


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise MariaDBError(f"{name} not found: install MariaDB (scripts/setup.sh does)")
    return found


def available() -> bool:
    """Whether the server and its client are installed."""
    try:
        _binary("mariadbd")
        _binary("mariadb-install-db")
        _binary("mariadb")
    except MariaDBError:
        return False
    return True


@dataclass
class LocalMariaDB:
    """Start with `start()`, stop with `stop()` (or use as a context manager)."""

    port: int = field(default_factory=free_port)
    directory: Path = field(init=False)
    _server: subprocess.Popen[bytes] | None = field(init=False, default=None)

    @property
    def socket(self) -> Path:
        """The superuser's way in."""
        return self.directory / "server.sock"

    def start(self) -> LocalMariaDB:
        """Create the data directory and start the server; wait until it answers."""
        self.directory = Path(tempfile.mkdtemp(prefix="migration-trigger-mariadb-"))
        data = self.directory / "data"
        # As root the server must be told to run as root (it refuses otherwise).
        user = ["--user=root"] if os.geteuid() == 0 else []
        self._run(
            _binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            *user,
        )
        self._server = subprocess.Popen(
            [
                _binary("mariadbd"),
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.directory / 'server.pid'}",
                f"--log-error={self.directory / 'server.log'}",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                *user,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(MariaDBError):
                self.sql("SELECT 1")
                return self
            if self._server.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "server.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise MariaDBError(f"MariaDB did not start: {log}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self._server is not None and self._server.poll() is None:
            self._server.terminate()
            try:
                self._server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._server.kill()
        if hasattr(self, "directory"):
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalMariaDB:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def sql(self, statement: str, *, database: str = "") -> str:
        """Run SQL as the superuser over the socket; tab-separated rows, no header."""
        done = subprocess.run(
            [
                _binary("mariadb"),
                "--no-defaults",
                f"--socket={self.socket}",
                "--user=root",
                "--batch",
                "--skip-column-names",
                *([database] if database else []),
            ],
            # On stdin, not argv: statements may set passwords, and argv is visible to `ps`.
            input=statement,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            raise MariaDBError(f"mariadb failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=120, cwd="/"
        )
        if done.returncode != 0:
            raise MariaDBError(
                f"{Path(command[0]).name} failed: {(done.stderr or done.stdout).strip()}"
            )
