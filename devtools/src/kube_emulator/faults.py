"""Fault injection, the registry of requests received, and the handler errors met answering them."""

from __future__ import annotations

import copy
import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """Make the next `times` requests matching `method`/`path` fail.

    Exactly one effect applies, checked in this order: `drop` closes the connection without an
    answer (after `hang` seconds if set); `status` answers with that code (and `Retry-After` when
    given); `hang` alone stalls the request, then serves it; `close_watch_after` ends a watch
    stream early, after that many seconds.
    """

    path: str = ""
    method: str | None = None
    times: int = 1
    status: int | None = None
    #: The Retry-After header's value as sent (a malformed one too, to test a client with it).
    retry_after: int | str | None = None
    hang: float | None = None
    drop: bool = False
    close_watch_after: float | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        return (self.method is None or self.method == method) and re.search(
            self.path, path
        ) is not None


class FaultInjector:
    """Faults waiting to fire; each fires `times` times, then is spent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Arm a fault."""
        with self._lock:
            self._faults.append(copy.copy(fault))

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching this request, counted as fired."""
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None


@dataclass
class RecordedRequest:
    """One request as received. The Authorization header and Secret data are never kept."""

    method: str
    path: str
    query: dict[str, str]
    body: Any = None
    user: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


_REDACTED = "<redacted>"


def redact(body: Any, path: str) -> Any:
    """A copy of a request body with Secret values replaced."""
    is_secret = re.search(r"/secrets(/|$)", path) is not None
    if isinstance(body, dict) and (is_secret or body.get("kind") == "Secret"):
        clean = copy.deepcopy(body)
        for key in ("data", "stringData"):
            if isinstance(clean.get(key), dict):
                clean[key] = dict.fromkeys(clean[key], _REDACTED)
        return clean
    return body


def record_of(method: str, target: str, headers: Any, raw: bytes) -> RecordedRequest:
    """A request as a server received it (its target path and query, its headers but the
    Authorization, its JSON body with Secret values redacted), before it is served."""
    parsed = urllib.parse.urlsplit(target)
    path = parsed.path.rstrip("/") or "/"
    record = RecordedRequest(
        method=method,
        path=path,
        query=dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)),
        headers={k: v for k, v in headers.items() if k.lower() != "authorization"},
    )
    try:
        record.body = redact(json.loads(raw), path) if raw else None
    except ValueError:
        record.body = None
    return record


class RequestLog:
    """Every request the emulator received, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []
        self._hooks: list[Callable[[RecordedRequest], None]] = []

    def add(self, request: RecordedRequest) -> None:
        """Record a request, then run the hooks (before the request is served)."""
        with self._lock:
            self._items.append(request)
            hooks = list(self._hooks)
        for hook in hooks:
            hook(request)

    def on_request(self, hook: Callable[[RecordedRequest], None]) -> None:
        """Call `hook` with each request as it arrives, before it is served: a test can change
        the cluster at a precise point of a client's sequence of calls."""
        with self._lock:
            self._hooks.append(hook)

    def all(self) -> list[RecordedRequest]:
        """A snapshot of every recorded request."""
        with self._lock:
            return list(self._items)

    def find(self, method: str | None = None, path: str = "") -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches the regex `path`."""
        return [
            r
            for r in self.all()
            if (method is None or r.method == method) and re.search(path, r.path)
        ]

    def clear(self) -> None:
        """Forget every recorded request and hook."""
        with self._lock:
            self._items.clear()
            self._hooks.clear()


@dataclass(frozen=True)
class HandlerError:
    """A request whose handler failed with something other than an API error: an emulator bug."""

    request: RecordedRequest
    traceback: str


class HandlerErrors:
    """Every unexpected handler error; apart from the request log, so clearing it keeps these."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[HandlerError] = []

    def add(self, error: HandlerError) -> None:
        """Record a handler error."""
        with self._lock:
            self._items.append(error)

    def all(self) -> list[HandlerError]:
        """A snapshot of every recorded handler error."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        """Forget every recorded handler error (for a test that provokes one on purpose)."""
        with self._lock:
            self._items.clear()
