"""Print the runtime dependencies of pyproject.toml, one per line (for the Lambda build)."""

from __future__ import annotations

import tomllib
from pathlib import Path

if __name__ == "__main__":
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    print("\n".join(project["project"]["dependencies"]))
