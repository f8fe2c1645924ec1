"""The vendored upstream e2e tests are unchanged: each file is the blob the manifest pins, offline."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from devtools.tests.reference_e2e.conftest import EXCLUDED, EXCLUDED_REAL, VENDORED

MANIFEST = VENDORED / "MANIFEST"


def git_blob_id(path: Path) -> str:
    """The id git gives a file's content: sha1 of `blob <size>\\0<bytes>`."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def pinned() -> list[tuple[str, str, str]]:
    """(blob id, upstream path, local name) for each vendored file."""
    lines = MANIFEST.read_text().splitlines()
    rows = [line.split() for line in lines if re.match(r"[0-9a-f]{40} ", line)]
    return [(blob, upstream, local) for blob, upstream, local in rows]


@pytest.mark.parametrize(("blob", "upstream", "local"), pinned(), ids=str)
def test_vendored_file_is_the_upstream_blob_byte_for_byte(blob: str, upstream: str, local: str):
    assert git_blob_id(VENDORED / local) == blob, f"{local} differs from {upstream} at the pin"


def test_every_vendored_file_is_pinned_and_the_commit_is_recorded():
    manifest = MANIFEST.read_text()
    own = {"MANIFEST", "README.md"}
    present = {p.name for p in VENDORED.iterdir() if p.is_file() and p.name not in own} | {
        p.name for p in VENDORED.iterdir() if p.is_dir() and p.name != "__pycache__"
    }

    assert present == {local for _, _, local in pinned()}
    assert re.search(r"^commit [0-9a-f]{40}$", manifest, re.MULTILINE)


def test_every_excluded_test_exists_upstream_and_is_listed_in_the_readme():
    """A stale exclusion (a test renamed or gone at a new pin) is caught, and the README agrees."""
    readme = (VENDORED / "README.md").read_text()
    for node in {**EXCLUDED, **EXCLUDED_REAL}:
        module, _cls, name = node.split("::")
        assert f"def {name}(" in (VENDORED / module).read_text(), node
        assert name in readme, node
