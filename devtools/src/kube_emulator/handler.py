"""The HTTP handler both API fronts build on: the emulator's server and the real control plane's
fault proxy. Quiet (each records its requests instead of logging them), HTTP/1.1, and every REST
verb served by one `_serve(method)`."""

from __future__ import annotations

import contextlib
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from kube_emulator.faults import Fault, RecordedRequest


class RestHandler(BaseHTTPRequestHandler):
    """Dispatches GET, POST, PUT, PATCH and DELETE to `_serve`."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests are recorded instead."""

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

    def _serve(self, method: str) -> None:
        raise NotImplementedError

    def _hang_or_drop(self, fault: Fault, record: RecordedRequest) -> bool:
        """Hang as long as the fault says, then drop the connection if it says so (True: the
        request is over, unanswered)."""
        if fault.hang:
            time.sleep(fault.hang)
        if not fault.drop:
            return False
        record.status = 0
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        return True
