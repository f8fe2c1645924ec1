"""The HTTP(S) front of the emulator: routing, authentication, authorization, watches and logs."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kube_emulator import resources
from kube_emulator.auth import AccessEntry, EksAuthenticator, Identity, SecretLookup, StaticToken
from kube_emulator.controller import JobController, LogBook
from kube_emulator.errors import ApiError
from kube_emulator.faults import Fault, FaultInjector, RecordedRequest, RequestLog, redact
from kube_emulator.pods import PodRunner, ScriptedRunner
from kube_emulator.rbac import Attributes, RbacAuthorizer
from kube_emulator.resources import ResourceType
from kube_emulator.selectors import parse_field_selector, parse_label_selector
from kube_emulator.store import Obj, Store
from kube_emulator.tls import make_server_context

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-emulator",
    "platform": "linux/amd64",
}
_PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
_NON_RESOURCE = {"/version", "/healthz", "/livez", "/readyz", "/api", "/apis"}


@dataclass
class EmulatorConfig:
    """How the emulator serves and whom it lets in."""

    cluster_name: str = "emulated-cluster"
    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = True
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


@dataclass
class _Route:
    rtype: ResourceType
    namespace: str
    name: str = ""
    subresource: str = ""


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
                "rules": [
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
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
            context, self.ca_pem = make_server_context(self.config.host)
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


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"
    server_version = "kube-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request registry is the record."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # -- request flow --------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path.rstrip("/") or "/"
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        raw = self._read_body()
        record = RecordedRequest(
            method=method,
            path=path,
            query=query,
            headers={k: v for k, v in self.headers.items() if k.lower() != "authorization"},
        )
        self.emulator.requests.add(record)
        fault = self.emulator.faults.take(method, path)
        try:
            record.body = redact(json.loads(raw), path) if raw else None
        except ValueError:
            record.body = None
        if fault is not None and self._inject(fault, record):
            return
        try:
            who = self.emulator.authenticator.authenticate(self.headers.get("Authorization"))
            record.user = who.username
            self._dispatch(method, path, query=query, raw=raw, who=who, record=record, fault=fault)
        except ApiError as error:
            record.status = error.code
            self._send_json(error.code, error.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _inject(self, fault: Fault, record: RecordedRequest) -> bool:
        if fault.hang:
            time.sleep(fault.hang)
        if fault.drop:
            record.status = 0
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if fault.status:
            record.status = fault.status
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            )
            messages = {429: "Too many requests, please try again later."}
            error = ApiError(fault.status, messages.get(fault.status, "injected fault"))
            self._send_json(fault.status, error.status(), headers)
            return True
        return False

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str],
        raw: bytes,
        who: Identity,
        record: RecordedRequest,
        fault: Fault | None,
    ) -> None:
        if (
            path in _NON_RESOURCE
            or path == "/api/v1"
            or (path.startswith("/apis/") and path.count("/") == 3)
        ):
            record.status = 200
            self._send_json(200, self._discovery(path))
            return
        route = self._route(path)
        verb = self._verb(method, route, query)
        self.emulator.authorizer.authorize(
            who,
            Attributes(
                verb=verb,
                group=route.rtype.group,
                resource=route.rtype.resource,
                subresource=route.subresource,
                namespace=route.namespace,
                name=route.name,
            ),
        )
        if verb == "watch":
            record.status = 200
            self._watch(route, query, fault)
            return
        if route.subresource == "log":
            record.status = 200
            self._logs(route, query)
            return
        status, body = self._execute(method, verb, route, query, raw)
        record.status = status
        self._send_json(status, body)

    def _discovery(self, path: str) -> dict[str, Any]:
        if path == "/version":
            return VERSION
        if path in ("/healthz", "/livez", "/readyz"):
            return {"status": "ok"}
        if path == "/api":
            return resources.api_versions()
        if path == "/apis":
            return resources.api_group_list()
        parts = path.strip("/").split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        found = resources.api_resource_list(group, version)
        if found is None:
            raise ApiError(404, "the server could not find the requested resource")
        return found

    @staticmethod
    def _route(path: str) -> _Route:
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        rtype = resources.lookup(group, version, rest[0])
        if rtype is None or (namespace and not rtype.namespaced) or len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else ""
        sub = rest[2] if len(rest) == 3 else ""
        if sub and sub not in rtype.subresources:
            raise ApiError(404, "the server could not find the requested resource")
        if rtype.namespaced and name and not namespace:
            raise ApiError(404, "the server could not find the requested resource")
        return _Route(rtype, namespace, name, sub)

    @staticmethod
    def _verb(method: str, route: _Route, query: dict[str, str]) -> str:
        if method == "GET":
            if route.name:
                return "get"
            return "watch" if query.get("watch") in ("true", "1") else "list"
        if method == "POST" and not route.name:
            return "create"
        if method == "PUT" and route.name:
            return "update"
        if method == "PATCH" and route.name:
            return "patch"
        if method == "DELETE":
            return "delete" if route.name else "deletecollection"
        raise ApiError(405, "the server does not allow this method on the requested resource")

    # -- verbs ---------------------------------------------------------------------------------

    def _execute(
        self, method: str, verb: str, route: _Route, query: dict[str, str], raw: bytes
    ) -> tuple[int, Obj]:
        store, rtype = self.emulator.store, route.rtype
        if verb == "get":
            return 200, store.get(rtype, route.namespace, route.name)
        if verb == "list":
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(query.get("fieldSelector"), rtype.field_labels)
            items, rv = store.select(rtype, route.namespace or None, labels, fields)
            for item in items:
                # Items of a typed list carry no kind/apiVersion; the list does.
                item.pop("kind", None)
                item.pop("apiVersion", None)
            return 200, {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            }
        if verb == "create":
            body = self._json(raw)
            if query.get("dryRun") == "All":
                return 201, body
            created = store.create(rtype, route.namespace, body)
            return 201, created
        if verb == "update":
            body = self._json(raw)
            if route.subresource == "status":
                current = store.get(rtype, route.namespace, route.name)
                current["status"] = body.get("status", {})
                body = current
            return 200, store.replace(rtype, route.namespace, route.name, body)
        if verb == "patch":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type not in _PATCH_TYPES:
                raise ApiError(
                    415,
                    "the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join(_PATCH_TYPES)}",
                )
            patch = self._json(raw)
            current = store.get(rtype, route.namespace, route.name)
            if route.subresource == "status":
                patch = {"status": patch.get("status", {})}
            merged = merge_patch(current, patch)
            merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return 200, store.replace(rtype, route.namespace, route.name, merged)
        if verb == "delete":
            options = self._json(raw) if raw else {}
            policy = query.get("propagationPolicy") or options.get("propagationPolicy")
            if policy is None and options.get("orphanDependents") is not None:
                policy = "Orphan" if options["orphanDependents"] else "Background"
            return 200, store.delete(rtype, route.namespace, route.name, policy)
        # deletecollection
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rtype.field_labels)
        items, _ = store.select(rtype, route.namespace or None, labels, fields)
        deleted = [
            store.delete(
                rtype,
                i["metadata"].get("namespace", ""),
                i["metadata"]["name"],
                query.get("propagationPolicy"),
            )
            for i in items
        ]
        return 200, {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": {},
            "items": deleted,
        }

    @staticmethod
    def _json(raw: bytes) -> Obj:
        try:
            body = json.loads(raw or b"{}")
        except ValueError as error:
            raise ApiError(400, f"the body of the request could not be decoded: {error}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body of the request must be a JSON object")
        return body

    def _watch(self, route: _Route, query: dict[str, str], fault: Fault | None) -> None:
        rtype = route.rtype
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rtype.field_labels)
        rv = query.get("resourceVersion")
        since = int(rv) if rv and rv != "0" else None
        seconds = float(query.get("timeoutSeconds") or self.emulator.config.default_watch_seconds)
        if fault is not None and fault.close_watch_after is not None:
            seconds = min(seconds, fault.close_watch_after)
        deadline = self.emulator.clock() + seconds
        events = self.emulator.store.watch(
            rtype,
            route.namespace or None,
            since,
            labels,
            fields,
            deadline=deadline,
            stop=self.emulator.stopping,
        )
        self._start_stream("application/json")
        try:
            for event in events:
                self._chunk(json.dumps({"type": event.type, "object": event.obj}).encode() + b"\n")
        except ApiError as error:
            # A too-old resourceVersion is reported inside the stream as an ERROR event with a
            # 410 Expired Status, as the watch cache does (k8s.io/apiserver/pkg/storage/cacher).
            self._chunk(json.dumps({"type": "ERROR", "object": error.status()}).encode() + b"\n")
        self._end_stream()

    def _logs(self, route: _Route, query: dict[str, str]) -> None:
        store, book = self.emulator.store, self.emulator.logs
        pod = store.get(route.rtype, route.namespace, route.name)
        names = [c["name"] for c in pod["spec"].get("containers", [])]
        container = query.get("container")
        if not container:
            if len(names) > 1:
                raise ApiError(
                    400,
                    f"a container name must be specified for pod {route.name}, choose one of: "
                    f"[{' '.join(names)}]",
                )
            container = names[0]
        if container not in names:
            raise ApiError(400, f"container {container} is not valid for pod {route.name}")
        key = (route.namespace, route.name, container)
        if not book.started(key):
            state: dict[str, Any] = next(
                (
                    cs.get("state", {})
                    for cs in pod["status"].get("containerStatuses", [])
                    if cs["name"] == container
                ),
                {},
            )
            reason = state.get("waiting", {}).get("reason", "ContainerCreating")
            if reason in ("ImagePullBackOff", "ErrImagePull"):
                reason = "trying and failing to pull image"
            raise ApiError(
                400, f'container "{container}" in pod "{route.name}" is waiting to start: {reason}'
            )
        chunks, open_ = book.read(key)
        text = "".join(chunks)
        tail = query.get("tailLines")
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(tail) :]) if int(tail) > 0 else ""
        follow = query.get("follow") in ("true", "1")
        if not follow:
            self._send(200, text.encode(), "text/plain")
            return
        self._start_stream("text/plain")
        self._chunk(text.encode())
        position = len(chunks)
        while open_ and not self.emulator.stopping.is_set():
            with book.cond:
                more, open_ = book.read(key, position)
                if not more and open_:
                    book.cond.wait(timeout=0.5)
                    more, open_ = book.read(key, position)
            position += len(more)
            if not book.started(key):
                break  # the pod was deleted
            if more:
                self._chunk("".join(more).encode())
        self._end_stream()

    # -- responses -----------------------------------------------------------------------------

    def _send(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    def _end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
