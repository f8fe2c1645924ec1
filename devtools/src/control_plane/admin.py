"""JSON over HTTPS to the control plane as its administrator (a client certificate in
`system:masters`): what the node stand-in and the tests' arrangements use."""

from __future__ import annotations

import json
import ssl
import urllib.parse
from pathlib import Path
from typing import Any

import urllib3

Obj = dict[str, Any]


class AdminError(RuntimeError):
    """The apiserver refused or failed a request; `status` is its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class AdminClient:
    """Small and synchronous: get, list, create, update, patch, delete."""

    def __init__(self, url: str, ca_pem: bytes, cert: Path, key: Path) -> None:
        self.url = url.rstrip("/")
        context = ssl.create_default_context(cadata=ca_pem.decode())
        context.load_cert_chain(cert, key)
        self._pool = urllib3.PoolManager(ssl_context=context, retries=False, maxsize=8)

    def request(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        *,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        """One request; the decoded JSON answer, or AdminError."""
        url = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        answer = self._pool.request(
            method, url, body=payload, headers=headers, timeout=urllib3.Timeout(30)
        )
        if answer.status >= 400:
            raise AdminError(
                f"{method} {path}: {answer.status}: {answer.data[:500]!r}", answer.status
            )
        data: Obj = json.loads(answer.data or b"{}")
        return data

    def get(self, path: str, **query: str) -> Obj:
        """GET; a list's `items` or one object."""
        return self.request("GET", path, query=query or None)

    def create(self, path: str, body: Obj) -> Obj:
        """POST."""
        return self.request("POST", path, body)

    def patch(self, path: str, body: Obj) -> Obj:
        """A JSON merge patch."""
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def patch_status(self, path: str, status: Obj) -> Obj:
        """A merge patch of an object's status subresource."""
        return self.request(
            "PATCH",
            f"{path}/status",
            {"status": status},
            content_type="application/merge-patch+json",
        )

    def delete(self, path: str, options: Obj | None = None) -> None:
        """DELETE; gone already is fine."""
        try:
            self.request("DELETE", path, options)
        except AdminError as error:
            if error.status != 404:
                raise
