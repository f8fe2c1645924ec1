"""A Docker engine for `sam local invoke`: the one running, or a dockerd of our own; and the shim
that gives SAM's Lambda container the host's network.

dockerd, when we start it, runs as root with no bridge and no iptables rules (none can be made on
these machines), a socket and exec root in a temporary directory, and its data root in a cache
directory so the images it built are there on the next run. Only a dockerd we started is stopped.

Why a shim. The local stack (moto, the Kubernetes emulator, PostgreSQL, the durable-execution
emulator) listens on loopback, so the function's container must share the host's network. SAM
CLI cannot ask for that: `--docker-network host` only skips `network.connect`
(samcli/local/docker/container.py, `Container.create`) since SAM stopped passing
`network_mode="host"` when it upgraded docker-py (aws/aws-sam-cli commit 369aa723, PR #5279;
issues #3609, #4236; the unmerged fix is PR #7278). SAM also publishes the RIE's fixed port 8080 on
a port it chose (`rapid_port_host`) and posts invocations there, and its durable container maps
`host.docker.internal` to `host-gateway`, which a bridgeless dockerd cannot derive.

So SAM talks to Docker through `HostNetworkShim`, a proxy on a Unix socket that passes every
request through unchanged except the creation of a container labelled
`sam.cli.container.type=lambda`, which it creates on the host's network, with the RIE listening on
127.0.0.1 at the port SAM chose (its `--runtime-interface-emulator-address`, as PR #7278 and
issue #6348 ask) and its Runtime API on a free loopback port instead of 9001, and with
`host.docker.internal` resolving to 127.0.0.1 (on the host's network, the host is loopback).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack.net import free_port

#: Where a dockerd of ours keeps its images between runs (the stand-in image is built once).
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "migration-trigger"
#: Seconds a dockerd of ours may take to answer, and to stop once asked.
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
LAMBDA_LABEL = "sam.cli.container.type"
RIE_PORT = "8080/tcp"


class DockerUnavailableError(RuntimeError):
    """No Docker engine runs and none can be started here (the reason says why)."""


def _ping(socket_path: str, timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers `GET /_ping` on this Unix socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(socket_path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return s.recv(64).split(b" ")[1:2] == [b"200"]
    except OSError:
        return False


def _socket_of(docker_host: str) -> str | None:
    return docker_host.removeprefix("unix://") if docker_host.startswith("unix://") else None


def _mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory`, in the order they were mounted."""
    prefix = f"{directory}/"
    points = (line.split()[1] for line in Path("/proc/mounts").read_text().splitlines())
    return [point for point in points if point.startswith(prefix)]


@dataclass
class DockerEngine:
    """The engine SAM will use: `start()` finds or starts one, `stop()` stops only ours."""

    #: The Unix socket of the engine (the running one, or ours).
    socket_path: str = field(init=False, default="")
    #: True when this object started dockerd (and so stops it).
    started: bool = field(init=False, default=False)
    log_path: Path | None = field(init=False, default=None)
    _process: subprocess.Popen[bytes] | None = field(init=False, default=None)
    _runtime_dir: Path | None = field(init=False, default=None)
    _lock: Any = field(init=False, default=None)

    def start(self) -> DockerEngine:
        """Use DOCKER_HOST or /var/run/docker.sock when an engine answers there; else start one."""
        for candidate in (os.environ.get("DOCKER_HOST", ""), "unix:///var/run/docker.sock"):
            path = _socket_of(candidate)
            if path and _ping(path):
                self.socket_path = path
                return self
        self._start_dockerd()
        return self

    def _start_dockerd(self) -> None:
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise DockerUnavailableError(
                "dockerd is not installed (scripts/setup.sh --sam-local installs docker.io)"
            )
        if os.geteuid() != 0:
            raise DockerUnavailableError("no Docker engine runs, and starting dockerd needs root")
        self._runtime_dir = Path(tempfile.mkdtemp(prefix="migration-trigger-dockerd-"))
        data_root = self._data_root()
        self.socket_path = str(self._runtime_dir / "docker.sock")
        self.log_path = self._runtime_dir / "dockerd.log"
        command = [
            dockerd,
            # No bridge, no iptables: neither can be set up here, and the Lambda container uses
            # the host's network anyway (see the module header).
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--host-gateway-ip=127.0.0.1",
            f"--host=unix://{self.socket_path}",
            f"--data-root={data_root}",
            f"--exec-root={self._runtime_dir / 'exec'}",
            f"--pidfile={self._runtime_dir / 'dockerd.pid'}",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started = True
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _ping(self.socket_path):
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise DockerUnavailableError(f"dockerd did not start: {tail}")
            time.sleep(0.2)

    def _data_root(self) -> Path:
        """The cached data root, locked for this run; a temporary one if another run holds it."""
        cached = CACHE / "dockerd"
        cached.mkdir(parents=True, exist_ok=True)
        lock = (cached.parent / "dockerd.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            assert self._runtime_dir is not None
            return self._runtime_dir / "data"
        self._lock = lock
        return cached

    def stop(self) -> None:
        """Stop dockerd if we started it (its containers with it); remove its runtime directory."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None
        if self._runtime_dir is not None:
            # dockerd leaves mounts in its exec root (the default network namespace's nsfs).
            for mount_point in reversed(_mounts_under(self._runtime_dir)):
                subprocess.run(["umount", "-l", mount_point], capture_output=True, check=False)
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def environment(self) -> dict[str, str]:
        """DOCKER_HOST for the docker CLI and SAM (pointing at the engine itself)."""
        return {"DOCKER_HOST": f"unix://{self.socket_path}"}

    def docker(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        """Run the docker CLI against this engine."""
        env = {**os.environ, **self.environment()}
        return subprocess.run(["docker", *args], env=env, check=False, **kwargs)

    def docker_popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start the docker CLI against this engine (to stream its output)."""
        env = {**os.environ, **self.environment()}
        return subprocess.Popen(["docker", *args], env=env, **kwargs)

    def __enter__(self) -> DockerEngine:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# -- the host-network shim ---------------------------------------------------------------------

_CREATE = re.compile(rb"^POST (/v[0-9.]+)?/containers/create(\?| )")


def rewrite_lambda_container(spec: dict[str, Any]) -> dict[str, Any]:
    """SAM's Lambda container on the host's network, its RIE on loopback at SAM's chosen port.

    Any other container is returned unchanged.
    """
    if (spec.get("Labels") or {}).get(LAMBDA_LABEL) != "lambda":
        return spec
    host_config = spec.setdefault("HostConfig", {})
    bindings = (host_config.get("PortBindings") or {}).get(RIE_PORT) or []
    if not bindings:
        return spec
    rie_port = bindings[0]["HostPort"]
    host_config["NetworkMode"] = "host"
    # Docker discards published ports on the host network; drop them rather than be warned.
    host_config.pop("PortBindings", None)
    spec.pop("ExposedPorts", None)
    host_config["ExtraHosts"] = [
        "host.docker.internal:127.0.0.1" if entry.startswith("host.docker.internal:") else entry
        for entry in host_config.get("ExtraHosts") or []
    ]
    spec["Entrypoint"] = [
        *(spec.get("Entrypoint") or []),
        "--runtime-interface-emulator-address",
        f"127.0.0.1:{rie_port}",
        "--runtime-api-address",
        f"127.0.0.1:{free_port()}",
    ]
    return spec


class _ClosedError(Exception):
    """The client closed its side of the connection."""


class _Reader:
    """Buffered reads from a socket: lines and exact byte counts."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _ClosedError
        self.buffer += chunk

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data


def _headers(head: bytes) -> dict[bytes, bytes]:
    lines = head.split(b"\r\n")[1:]
    pairs = (line.split(b":", 1) for line in lines if b":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            target.sendall(chunk)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@dataclass
class HostNetworkShim:
    """A Docker API proxy on a Unix socket of its own; see the module header for why."""

    upstream: str
    socket_path: str = field(init=False, default="")
    #: The containers it rewrote (their specs as sent), for the record.
    rewritten: list[dict[str, Any]] = field(default_factory=list)
    _server: socket.socket | None = field(init=False, default=None)
    _directory: Path | None = field(init=False, default=None)

    def start(self) -> HostNetworkShim:
        """Listen, and serve each connection on a thread of its own."""
        self._directory = Path(tempfile.mkdtemp(prefix="migration-trigger-docker-shim-"))
        self.socket_path = str(self._directory / "docker.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.socket_path)
        self._server.listen(32)
        threading.Thread(target=self._accept, daemon=True, name="docker-shim").start()
        return self

    def stop(self) -> None:
        """Stop listening and remove the socket."""
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def environment(self) -> dict[str, str]:
        """DOCKER_HOST pointing at the shim."""
        return {"DOCKER_HOST": f"unix://{self.socket_path}"}

    def __enter__(self) -> HostNetworkShim:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while (server := self._server) is not None:
            try:
                client, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            try:
                upstream.connect(self.upstream)
            except OSError:
                return
            # Responses (streams, hijacked connections included) flow back untouched.
            answers = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            answers.start()
            with contextlib.suppress(_ClosedError, OSError):
                self._requests(_Reader(client), client, upstream)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)
            answers.join()

    def _requests(self, reader: _Reader, client: socket.socket, upstream: socket.socket) -> None:
        """Forward requests one by one (keep-alive), rewriting Lambda container creations."""
        while True:
            head = reader.until(b"\r\n\r\n")
            headers = _headers(head)
            chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
            if chunked:
                body = self._chunked(reader)
            else:
                body = reader.exactly(int(headers.get(b"content-length", b"0")))
            if _CREATE.match(head) and body:
                spec = rewrite_lambda_container(json.loads(body))
                if spec.get("HostConfig", {}).get("NetworkMode") == "host":
                    self.rewritten.append(spec)
                body = json.dumps(spec).encode()
            if chunked or _CREATE.match(head):
                head = self._reframe(head, len(body))
            upstream.sendall(head + body)
            if b"upgrade" in headers:
                # A hijacked connection (attach): from here on, bytes both ways.
                if reader.buffer:
                    upstream.sendall(reader.buffer)
                _pipe(client, upstream)
                return

    @staticmethod
    def _chunked(reader: _Reader) -> bytes:
        """A chunked body, decoded (it is forwarded with a Content-Length instead)."""
        body = b""
        while True:
            size = int(reader.until(b"\r\n").split(b";")[0].strip(), 16)
            if size == 0:
                reader.until(b"\r\n")  # no trailers from Docker clients: the closing CRLF
                return body
            body += reader.exactly(size)
            reader.exactly(2)

    @staticmethod
    def _reframe(head: bytes, length: int) -> bytes:
        lines = [
            line
            for line in head.rstrip(b"\r\n").split(b"\r\n")
            if not line.lower().startswith((b"content-length:", b"transfer-encoding:"))
        ]
        return b"\r\n".join([*lines, b"Content-Length: %d" % length]) + b"\r\n\r\n"


@contextlib.contextmanager
def engine_for_sam() -> Iterator[tuple[DockerEngine, HostNetworkShim]]:
    """The engine, and the shim SAM should talk to (its DOCKER_HOST)."""
    with DockerEngine() as engine, HostNetworkShim(engine.socket_path) as shim:
        yield engine, shim
