"""Unit tests run with sockets off: the domain, the codec and the flow's pure parts touch no network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_sockets() -> Iterator[None]:
    """Any socket a unit test opens raises SocketBlockedError."""
    disable_socket(allow_unix_socket=False)
    yield
    enable_socket()


@pytest.fixture
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Dummy AWS credentials and a region, no endpoint override, the product's caches fresh.

    Enough to build clients and presign; any call would need a socket, and sockets are off.
    """
    from migration_trigger import wiring

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNITUNITUNIT0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-only")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    wiring.reset_caches()
    yield monkeypatch
    wiring.reset_caches()
