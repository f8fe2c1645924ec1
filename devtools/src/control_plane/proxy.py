"""A TLS proxy in front of the real kube-apiserver: what the tests do to the emulator's wire, done
to the real one.

The function (and any client the tests point at `url`) talks to this proxy, which presents a
certificate of the control plane's CA and forwards each request, bearer token included, to the
apiserver, streaming the answer back (watches and followed logs too). Before forwarding, it
records the request (secret values redacted) and runs the tests' hooks (kube_emulator/faults.py:
RequestLog), then injects the first armed fault that matches (FaultInjector): an answer with a
status and Retry-After, a hang, a dropped connection, or a watch cut short.
"""

from __future__ import annotations

import json
import ssl
import time
from http.server import BaseHTTPRequestHandler

import urllib3

from control_plane.pki import Authority
from control_plane.serving import LoopbackTlsServer
from kube_emulator.auth import EksAuthenticator
from kube_emulator.errors import ApiError
from kube_emulator.faults import Fault, FaultInjector, RecordedRequest, RequestLog, record_of
from kube_emulator.handler import RestHandler

#: Reasons kube-apiserver gives with these codes (apimachinery's metav1.StatusReason*).
_REASONS = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "The server is currently unable to handle the request"),
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultProxy:
    """Start with `start()`, stop with `stop()`; arm faults with `faults.add`."""

    def __init__(
        self,
        upstream: str,
        authority: Authority,
        *,
        authenticator: EksAuthenticator | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults = FaultInjector()
        self.requests = RequestLog()
        client = ssl.create_default_context(cadata=authority.pem.decode())
        pool = urllib3.PoolManager(ssl_context=client, retries=False, maxsize=16)
        self._server = LoopbackTlsServer(
            authority, "fault-proxy", _handler(self, pool, authenticator)
        )
        self.url = self._server.url

    def fault(self, fault: Fault) -> None:
        """Arm a fault, as `Emulator.fault` does."""
        self.faults.add(fault)

    def reset(self) -> None:
        """Disarm every fault; forget the requests and hooks."""
        self.faults.clear()
        self.requests.clear()

    def start(self) -> FaultProxy:
        """Serve in a thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        self._server.stop()


def _handler(
    proxy: FaultProxy, pool: urllib3.PoolManager, authenticator: EksAuthenticator | None
) -> type[BaseHTTPRequestHandler]:
    return type(
        "Handler",
        (_ProxyHandler,),
        {"proxy": proxy, "pool": pool, "authenticator": authenticator, "users": {}},
    )


class _ProxyHandler(RestHandler):
    """One request: recorded, hooked, faulted or forwarded (the proxy's parts set per proxy)."""

    proxy: FaultProxy
    pool: urllib3.PoolManager
    authenticator: EksAuthenticator | None
    users: dict[str, str]

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record = record_of(method, self.path, self.headers, raw)
        path = record.path
        record.user = self._user()
        self.proxy.requests.add(record)
        fault = self.proxy.faults.take(method, path)
        if fault is not None and self._inject(fault, record):
            return
        self._forward(method, raw, record, fault)

    def _user(self) -> str | None:
        """Who the bearer token says the caller is (as the apiserver will find), for the record;
        remembered per token, as the apiserver's webhook cache does."""
        header = self.headers.get("Authorization")
        if self.authenticator is None or not header:
            return None
        if header not in self.users:
            try:
                self.users[header] = self.authenticator.authenticate(header).username
            except ApiError:
                return None
        return self.users[header]

    def _inject(self, fault: Fault, record: RecordedRequest) -> bool:
        if self._hang_or_drop(fault, record):
            return True
        if fault.status:
            record.status = fault.status
            reason, message = _REASONS.get(fault.status, ("", "injected fault"))
            body = json.dumps(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": message,
                    "reason": reason,
                    "code": fault.status,
                }
            ).encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if fault.retry_after is not None:
                self.send_header("Retry-After", str(fault.retry_after))
            self.end_headers()
            self.wfile.write(body)
            return True
        return False

    def _forward(
        self, method: str, raw: bytes, record: RecordedRequest, fault: Fault | None
    ) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            answer = self.pool.request(
                method,
                self.proxy.upstream + self.path,
                body=raw or None,
                headers=headers,
                preload_content=False,
                redirect=False,
                timeout=urllib3.Timeout(connect=10.0, read=3600.0),
            )
        except urllib3.exceptions.HTTPError:
            record.status = 0
            self.close_connection = True
            return
        record.status = answer.status
        cut_at = (
            time.monotonic() + fault.close_watch_after
            if fault is not None and fault.close_watch_after is not None
            else None
        )
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            # As it arrives: a watch's events and a followed log must not wait for a buffer.
            while chunk := answer.read1(65536, decode_content=False):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
                if cut_at is not None and time.monotonic() >= cut_at:
                    break
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, urllib3.exceptions.HTTPError):
            self.close_connection = True
        finally:
            answer.release_conn()
