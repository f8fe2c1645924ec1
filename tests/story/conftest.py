"""The story tier runs with sockets off: the story over in-memory fakes touches no network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_sockets() -> Iterator[None]:
    """Any socket a story test opens raises SocketBlockedError."""
    disable_socket(allow_unix_socket=False)
    yield
    enable_socket()
