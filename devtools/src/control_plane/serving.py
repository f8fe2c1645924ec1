"""HTTPS on a loopback port, with a certificate the control plane's authority issued: what the
token webhook, the fault proxy and the node's log server each serve on."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from control_plane.pki import Authority


class LoopbackTlsServer:
    """Serves `handler` in a thread named `name` from `start()` until `stop()`."""

    def __init__(
        self, authority: Authority, name: str, handler: type[BaseHTTPRequestHandler]
    ) -> None:
        pair = authority.issue(name, server=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pair.cert, pair.key)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=name, daemon=True)

    def start(self) -> None:
        """Serve in a thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
