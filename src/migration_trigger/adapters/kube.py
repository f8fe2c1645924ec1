"""The only module that speaks HTTP to a Kubernetes API server.

A small client over urllib3 (already in the bundle with botocore) rather than the `kubernetes`
package (75 MB, ~0.5 s to import) or lightkube (httpx and models): the product needs a dozen calls.
It retries throttling (honouring Retry-After), server errors and lost connections with backoff,
refreshes its bearer token once on 401, and turns API failures into KubernetesError.
"""

from __future__ import annotations

import json
import math
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import urllib3

from migration_trigger.errors import CERTIFICATE_ERROR, KubernetesError

Obj = dict[str, Any]


class Credentials:
    """A bearer token and when to stop using it (epoch seconds)."""

    __slots__ = ("refresh_at", "token")

    def __init__(self, token: str, *, refresh_at: float) -> None:
        self.token = token
        self.refresh_at = refresh_at

    def __repr__(self) -> str:
        return f"Credentials(token=<redacted>, refresh_at={self.refresh_at})"


class KubeClient:
    """JSON over HTTPS to one API server, authenticated by a refreshable bearer token."""

    def __init__(
        self,
        *,
        server: str,
        credentials: Callable[[], Credentials],
        ca_pem: bytes | None = None,
        insecure: bool = False,
        timeout_seconds: float = 30.0,
        max_attempts: int = 5,
        max_retry_after_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server = server.rstrip("/")
        self.credentials = credentials
        self.timeout_seconds = timeout_seconds
        #: Attempts per request, the first included, when throttled or the server fails.
        self.max_attempts = max_attempts
        #: The longest Retry-After honoured; longer ones are capped to this many seconds.
        self.max_retry_after_seconds = max_retry_after_seconds
        self.sleep = sleep
        self.clock = clock
        self._cached: Credentials | None = None
        # The cluster's CA when given, else the system's trust store: never both loaded.
        context = ssl.create_default_context(cadata=ca_pem.decode() if ca_pem else None)
        if ca_pem:
            # EKS clusters created on Kubernetes <= 1.16 keep a CA without key identifiers, which
            # Python 3.13's strict default refuses (kubernetes-client/python#2394). Only that
            # check is relaxed: the chain, its dates and the host name are still verified.
            context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        self._trust = "the cluster's CA" if ca_pem else "the system's trust store"
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self._pool = urllib3.PoolManager(ssl_context=context, retries=False)

    def __repr__(self) -> str:
        return f"KubeClient(server={self.server!r})"

    # -- verbs ---------------------------------------------------------------------------------

    def get(self, path: str, **query: str | int | None) -> Obj:
        """GET an object or list."""
        return self._json("GET", path, query=query)

    def create(self, path: str, body: Obj) -> Obj:
        """POST to a collection."""
        return self._json("POST", path, body=body)

    def patch(self, path: str, body: Obj) -> Obj:
        """JSON merge patch."""
        return self._json("PATCH", path, body=body, content_type="application/merge-patch+json")

    def delete(
        self,
        path: str,
        *,
        propagation: str = "Background",
        preconditions: Mapping[str, str] | None = None,
    ) -> Obj:
        """DELETE with an explicit propagation policy (Jobs otherwise orphan their pods), and
        the object's `uid`/`resourceVersion` as preconditions when given."""
        options: Obj = {"propagationPolicy": propagation}
        if preconditions:
            options["preconditions"] = dict(preconditions)
        return self._json("DELETE", path, body=options)

    def text(self, path: str, **query: str | int | None) -> str:
        """GET a text/plain resource such as pods/log."""
        response = self._request("GET", path, query=query)
        return response.data.decode("utf-8", errors="replace")

    def watch(
        self, path: str, *, resource_version: str, timeout_seconds: int, **query: str | None
    ) -> Iterator[Obj]:
        """Watch events from `resource_version` until the server ends the stream.

        A 410 (ERROR event or status) raises KubernetesError with status 410: relist and resume.
        """
        params: dict[str, str | int | None] = {
            **query,
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": "true",
        }
        response = self._request(
            "GET", path, query=params, stream=True, read_timeout=timeout_seconds + 15
        )
        try:
            buffer = b""
            for chunk in response.stream(4096, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        if event.get("type") == "ERROR":
                            raise _status_error(event.get("object") or {}, 0)
                        yield event
        except urllib3.exceptions.HTTPError as error:
            raise KubernetesError(f"watch of {path} broke: {error}") from None
        finally:
            response.release_conn()

    # -- plumbing ------------------------------------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | None] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        response = self._request(method, path, query=query, body=body, content_type=content_type)
        try:
            decoded: Obj = json.loads(response.data or b"{}")
        except ValueError:
            raise KubernetesError(
                f"{method} {path}: the API server answered {response.status} with a body that is "
                "not JSON",
                status=response.status,
            ) from None
        return decoded

    def _token(self, *, renew: bool = False) -> str:
        if renew or self._cached is None or self.clock() >= self._cached.refresh_at:
            self._cached = self.credentials()
        return self._cached.token

    def _unreachable(
        self, error: urllib3.exceptions.HTTPError, method: str, path: str
    ) -> KubernetesError:
        """What a transport failure means: a certificate that did not verify (no retry helps),
        or a network fault (retried), such as a handshake cut short."""
        if isinstance(error, urllib3.exceptions.SSLError) and _verification_failed(error):
            return KubernetesError(
                f"{method} {path}: the API server's certificate at {self.server} did not "
                f"verify against {self._trust}: {_tls_reason(error)}",
                reason=CERTIFICATE_ERROR,
            )
        return KubernetesError(
            f"{method} {path}: cannot reach the API server at {self.server} "
            f"({type(error).__name__})"
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | None] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
        stream: bool = False,
        read_timeout: float | None = None,
    ) -> urllib3.BaseHTTPResponse:
        clean = {k: str(v) for k, v in (query or {}).items() if v is not None}
        url = self.server + path + (f"?{urllib.parse.urlencode(clean)}" if clean else "")
        payload = json.dumps(body).encode() if body is not None else None
        renewed = False
        delay = 0.5
        for attempt in range(1, self.max_attempts + 1):
            headers = {
                "Authorization": f"Bearer {self._token()}",
                "Accept": "application/json",
                "User-Agent": "migration-trigger",
            }
            if payload is not None:
                headers["Content-Type"] = content_type
            try:
                response = self._pool.request(
                    method,
                    url,
                    body=payload,
                    headers=headers,
                    preload_content=not stream,
                    timeout=urllib3.Timeout(
                        connect=10.0, read=read_timeout or self.timeout_seconds
                    ),
                    redirect=False,
                )
            except urllib3.exceptions.HTTPError as error:
                failure = self._unreachable(error, method, path)
                if not failure.retryable or attempt == self.max_attempts:
                    raise failure from None
                self.sleep(delay)
                delay *= 2
                continue
            if response.status < 400:
                return response
            data = response.read() if stream else response.data
            if stream:
                response.release_conn()
            if response.status == 401 and not renewed:
                # A token can expire between checks (clock skew, a long stream): mint one more.
                renewed = True
                self._token(renew=True)
                continue
            failure = _status_error(_decode(data), response.status, method=method, path=path)
            if failure.retryable and attempt < self.max_attempts:
                retry_after = response.headers.get("Retry-After")
                wait = _seconds(retry_after, default=delay, cap=self.max_retry_after_seconds)
                self.sleep(wait)
                delay *= 2
                continue
            raise failure
        raise KubernetesError(f"{method} {path}: gave up after {self.max_attempts} attempts")


def _verification_failed(error: urllib3.exceptions.SSLError) -> bool:
    """Whether the server's certificate failed verification (not a handshake cut short)."""
    causes = [*error.args, error.__cause__, error.__context__]
    return any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes)


def _tls_reason(error: urllib3.exceptions.SSLError) -> str:
    """What the TLS layer said, e.g. `certificate verify failed: unable to get local issuer`."""
    cause = error.args[0] if error.args else error
    return str(getattr(cause, "verify_message", "") or cause).strip()


def _decode(data: bytes) -> Obj:
    try:
        decoded = json.loads(data or b"{}")
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _seconds(value: str | None, *, default: float, cap: float) -> float:
    """A Retry-After header's seconds within [0, cap]; `default` when absent or not a finite
    number (RFC 9110 allows an HTTP date too: the backoff is as good as parsing one)."""
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    if not math.isfinite(seconds):
        return default
    return min(max(seconds, 0.0), cap)


def _status_error(status: Obj, code: int, *, method: str = "", path: str = "") -> KubernetesError:
    code = int(status.get("code") or code)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "").strip()
    where = f"{method} {path}: " if method else ""
    return KubernetesError(
        f"{where}{code} {reason or 'error'}{': ' + message if message else ''}",
        status=code,
        reason=reason,
    )
