"""The HTTP(S) front of the emulator: its lifecycle and the request handler's I/O.

Everything here is sockets, bodies, streams, faults and the request record; what a request means
is decided in api.py, so the Kubernetes rules stay readable apart from the plumbing.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from kube_emulator import resources
from kube_emulator.api import Api, JsonReply, RawReply, Reply, Request, WatchReply
from kube_emulator.auth import AccessEntry, EksAuthenticator, SecretLookup, StaticToken
from kube_emulator.controller import JobController, LogBook
from kube_emulator.errors import ApiError
from kube_emulator.faults import (
    Fault,
    FaultInjector,
    HandlerError,
    HandlerErrors,
    RecordedRequest,
    RequestLog,
    record_of,
)
from kube_emulator.handler import RestHandler
from kube_emulator.namespaces import NamespaceController
from kube_emulator.pods import PodRunner, ScriptedRunner
from kube_emulator.rbac import RbacAuthorizer
from kube_emulator.resources import ResourceType
from kube_emulator.store import Obj, Store
from kube_emulator.tls import make_server_context

_FAULT_MESSAGES = {429: "Too many requests, please try again later."}


@dataclass
class EmulatorConfig:
    """How the emulator serves and whom it lets in."""

    cluster_name: str = "emulated-cluster"
    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = True
    #: Serve the chain of an EKS cluster created on Kubernetes <= 1.16: a CA without key
    #: identifiers, which Python 3.13's strict verification refuses.
    legacy_ca: bool = False
    #: STS endpoint that resolves a token's caller (moto); EKS tokens are refused without one.
    sts_endpoint: str | None = None
    #: Secret access key for an access key id, to check a token's SigV4 signature.
    secret_for_access_key: SecretLookup | None = None
    access_entries: Sequence[AccessEntry] = ()
    #: Fixed admin tokens for the local stack; empty (off) unless asked for.
    static_tokens: Sequence[StaticToken] = ()
    #: Namespaces that exist from the start.
    namespaces: Sequence[str] = ("default", "kube-system")
    #: Seconds the Job controller waits before re-creating a failed pod, doubled per failure
    #: (the real controller starts at 10 s; tests want it short).
    backoff_seconds: float = 0.0
    #: How many changes watches can resume from before a resourceVersion is too old (410).
    watch_history: int = 5000
    #: Seconds a token is accepted after it was signed (EKS: 900). Shorter in tests of refresh.
    token_lifetime_seconds: float = 900.0
    #: Default watch length in seconds when the client sends no timeoutSeconds.
    default_watch_seconds: float = 1800.0


class _Clock:
    """Wall-clock time plus an offset tests can advance (token expiry, deadlines, TTLs)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Emulator:
    """A Kubernetes API server emulator on a loopback port. Use as a context manager."""

    def __init__(
        self, config: EmulatorConfig | None = None, runner: PodRunner | None = None
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock = _Clock()
        self.store = Store(clock=self.clock, history=self.config.watch_history)
        self.logs = LogBook()
        self.runner: PodRunner = runner or ScriptedRunner()
        self.faults = FaultInjector()
        self.requests = RequestLog()
        #: Requests whose handler raised something other than an API error: each was answered
        #: with a 500 Status (or, mid-stream, cut), and tests treat any of them as a failure.
        self.errors = HandlerErrors()
        self.authorizer = RbacAuthorizer(self.store)
        self.authenticator = EksAuthenticator(
            cluster_name=self.config.cluster_name,
            sts_endpoint=self.config.sts_endpoint or "",
            secret_for_access_key=self.config.secret_for_access_key or (lambda _key: None),
            access_entries=list(self.config.access_entries),
            clock=self.clock,
            static_tokens=list(self.config.static_tokens),
            token_lifetime_seconds=self.config.token_lifetime_seconds,
        )
        self.controller = JobController(
            self.store, self.logs, lambda: self.runner, backoff_seconds=self.config.backoff_seconds
        )
        self._stopping = threading.Event()
        # Before the first namespace exists, so each gets its `default` ServiceAccount.
        self.namespaces = NamespaceController(self.store)
        self.api = Api(
            self.store,
            self.logs,
            self.authorizer,
            clock=self.clock,
            stop=self._stopping,
            default_watch_seconds=self.config.default_watch_seconds,
            namespaces=self.namespaces,
        )
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.ca_pem = b""
        for namespace in self.config.namespaces:
            self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        # Every cluster has this role; bindings to it are how an admin is made.
        self.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "cluster-admin"},
                # As the bootstrap policy's (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/
                # policy.go, ClusterRoles(): cluster-admin): every resource and every URL.
                "rules": [
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                    {"nonResourceURLs": ["*"], "verbs": ["*"]},
                ],
            }
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind the port and serve in a background thread."""
        handler = type("BoundHandler", (_Handler,), {"emulator": self})
        httpd = ThreadingHTTPServer((self.config.host, self.config.port), handler)
        httpd.daemon_threads = True
        if self.config.tls:
            context, self.ca_pem = make_server_context(
                self.config.host, legacy_ca=self.config.legacy_ca
            )
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="kube-emulator", daemon=True
        )
        self._thread.start()
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open watches and kill running pods."""
        self._stopping.set()
        self.controller.stop()
        with self.store.cond:
            self.store.cond.notify_all()
        with self.logs.cond:
            self.logs.cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- conveniences for tests and the local stack ---------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the API server."""
        assert self._httpd is not None, "start() the emulator first"
        host, port = self._httpd.server_address[:2]
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{host!s}:{port}"

    @property
    def ca_data(self) -> str:
        """Base64 of the CA PEM, as EKS's certificateAuthority.data and kubeconfigs carry it."""
        return base64.b64encode(self.ca_pem).decode()

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (token expiry, deadlines and TTLs follow it)."""
        self.clock.offset += seconds
        with self.store.cond:
            self.store.cond.notify_all()

    def apply(self, obj: Obj) -> Obj:
        """Create or replace an object as the cluster admin."""
        rtype = resources.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rtype is None:
            raise ApiError(
                400, f"no kind {obj.get('kind')!r} is registered for {obj.get('apiVersion')!r}"
            )
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace", "default") if rtype.namespaced else ""
        existing = self.store.find(rtype, namespace, meta.get("name", ""))
        if existing is None:
            return self.store.create(rtype, namespace, obj)
        return self.store.replace(rtype, namespace, meta["name"], obj)

    def apply_all(self, documents: Iterable[Obj | None]) -> None:
        """Apply manifests, namespaces first (as `kubectl apply -f dir/` users order them)."""
        docs = [d for d in documents if d]
        for doc in sorted(docs, key=lambda d: d.get("kind") != "Namespace"):
            self.apply(doc)

    def fault(self, fault: Fault) -> None:
        """Arm a fault (see Fault)."""
        self.faults.add(fault)

    def kubeconfig(self, *, token: str | None = None, namespace: str = "default") -> dict[str, Any]:
        """A kubeconfig document for this server, authenticated by a bearer token if given."""
        cluster: dict[str, Any] = {"server": self.url}
        if self.config.tls:
            cluster["certificate-authority-data"] = self.ca_data
        user: dict[str, Any] = {"token": token} if token else {}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.config.cluster_name, "cluster": cluster}],
            "users": [{"name": "user", "user": user}],
            "contexts": [
                {
                    "name": self.config.cluster_name,
                    "context": {
                        "cluster": self.config.cluster_name,
                        "user": "user",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": self.config.cluster_name,
        }

    @property
    def store_types(self) -> dict[str, ResourceType]:
        """Served resource types by plural name, for direct store access in tests."""
        return {t.resource: t for t in resources.RESOURCE_TYPES}

    @property
    def stopping(self) -> threading.Event:
        """Set when the emulator is shutting down."""
        return self._stopping


class _Handler(RestHandler):
    emulator: Emulator
    server_version = "kube-emulator"
    #: Whether this request's status line went out (after that an error can only cut the stream).
    _responded = False

    # -- request flow --------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        self._responded = False
        raw = self._read_body()
        record = record_of(method, self.path, self.headers, raw)
        path, query = record.path, record.query
        # Recorded with its body before it is served: a hook may act on what it asks for.
        self.emulator.requests.add(record)
        try:
            self._answer(method, path, query, record, raw)
        except ApiError as error:
            record.status = error.code
            if self._responded:
                self.close_connection = True
                return
            with contextlib.suppress(ConnectionError):
                self._send_json(error.code, error.status())
        except ConnectionError:
            self.close_connection = True
        except Exception as error:  # any handler bug must still get an answer
            self._internal_error(error, record)

    def _answer(
        self, method: str, path: str, query: dict[str, str], record: RecordedRequest, raw: bytes
    ) -> None:
        fault = self.emulator.faults.take(method, path)
        if fault is not None and self._inject(fault, record):
            return
        who = self.emulator.authenticator.authenticate(self.headers.get("Authorization"))
        record.user = who.username
        reply = self.emulator.api.handle(
            Request(
                method=method,
                path=path,
                query=query,
                who=who,
                body=raw,
                content_type=(self.headers.get("Content-Type") or "").split(";")[0].strip(),
                watch_limit=fault.close_watch_after if fault is not None else None,
                accept=self.headers.get("Accept") or "",
            )
        )
        record.status = reply.status
        self._reply(reply)

    def _internal_error(self, error: Exception, record: RecordedRequest) -> None:
        """Answer a handler's bug as kube-apiserver answers one (errors.NewInternalError), and
        keep it for the tests; a stream already under way can only be cut."""
        self.emulator.errors.add(HandlerError(record, traceback.format_exc()))
        if self._responded:
            self.close_connection = True
            return
        record.status = 500
        # The exception's type only: its text might quote a request body (a Secret's data).
        cause = f"{type(error).__name__} in the emulator's request handler"
        status = ApiError(
            500, f"Internal error occurred: {cause}", details={"causes": [{"message": cause}]}
        ).status()
        with contextlib.suppress(OSError):
            self._send_json(500, status)

    def _inject(self, fault: Fault, record: RecordedRequest) -> bool:
        if self._hang_or_drop(fault, record):
            return True
        if fault.status:
            record.status = fault.status
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            )
            error = ApiError(fault.status, _FAULT_MESSAGES.get(fault.status, "injected fault"))
            self._send_json(fault.status, error.status(), headers)
            return True
        return False

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, reply: Reply) -> None:
        if isinstance(reply, JsonReply):
            # The warning filter's header (net.NewWarningHeader: code 299, agent "-").
            warnings = [_warning_header(text) for text in reply.warnings]
            self._send_json(reply.status, reply.body, warnings=warnings)
        elif isinstance(reply, RawReply):
            self._send(reply.status, reply.body, reply.content_type, dict(reply.headers))
        elif isinstance(reply, WatchReply):
            self._stream("application/json", (json.dumps(e) + "\n" for e in reply.events))
        elif reply.status == 204:
            self._responded = True
            self.send_response(204)
            self.end_headers()
        elif reply.follow is None:
            self._send(reply.status, reply.text.encode(), "text/plain")
        else:
            self._stream("text/plain", itertools.chain((reply.text,), reply.follow))

    # -- responses -----------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        *,
        warnings: Sequence[str] = (),
    ) -> None:
        self._responded = True
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        for warning in warnings:
            self.send_header("Warning", warning)
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        warnings: Sequence[str] = (),
    ) -> None:
        self._send(
            status, json.dumps(body).encode(), "application/json", headers, warnings=warnings
        )

    def _stream(self, content_type: str, pieces: Iterable[str]) -> None:
        # Chunked, and flushed per piece, so clients see each event or log line as it happens.
        self._responded = True
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in pieces:
            self._chunk(piece.encode())
        self._end_stream()

    def _chunk(self, data: bytes) -> None:
        # An empty chunk would end the stream.
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    def _end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _warning_header(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'
