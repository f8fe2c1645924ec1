"""Images for the local stack's Job pods, built here: no registry is reachable to pull from.

Three images, each named by a hash of what goes into it, so each is built once and again only when
its inputs change:

- the OS: Debian SUITE (minbase, debootstrap) with Node.js from Debian, imported with
  `docker import` (runtime_image.py's machinery);
- the migration tool: dbmate from npm, installed inside that OS by Debian's npm from the project's
  own pins (tools/package.json and its lock), and only dbmate kept; it runs as root, as an image
  that names no USER does;
- one image per example: the example's directory copied over the tool image's filesystem (as the
  process runner uses it as the filesystem, db/migrations lands at /db/migrations) and a non-root
  USER, 65532 as in k8s/templates/migration-job.yaml.

Building needs root (debootstrap) unless the engine has the images already.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from local_stack.docker_engine import DockerEngine
from local_stack.runtime_image import (
    SUITE,
    ImageBuildError,
    debootstrap,
    host_architecture,
    import_root,
    run_step,
)
from local_stack.template import ROOT

#: Debian packages of the OS image: what runs dbmate's npm wrapper (it starts the Go binary).
OS_PACKAGES = ("nodejs", "ca-certificates")
OS_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
)
#: The project's pins of the migration tool: the same dbmate the process runner uses.
TOOL_PINS = (ROOT / "tools" / "package.json", ROOT / "tools" / "package-lock.json")
#: The user the example images run as (k8s/templates/migration-job.yaml's runAsUser).
USER = 65532
#: Marks the npm stage's image, removed once the tool image is built.
STAGE_LABEL = "migration-trigger.build-stage=npm"
#: The CA certificates this machine trusts, handed to npm for the download only (a TLS-inspecting
#: proxy may stand between here and the registry); the lock's integrity hashes still apply.
HOST_CA = Path(
    os.environ.get("NODE_EXTRA_CA_CERTS")
    or os.environ.get("SSL_CERT_FILE")
    or "/etc/ssl/certs/ca-certificates.crt"
)
# Two stages: npm (from Debian, with its hundreds of packages) and the CA certificates stay in the
# first; the image is the OS with dbmate's node_modules and a non-root user added.
TOOL_DOCKERFILE = """\
FROM {base} AS npm
LABEL {stage}
COPY package.json package-lock.json host-ca.crt /opt/dbmate/
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null \\
 && cd /opt/dbmate \\
 && NODE_EXTRA_CA_CERTS=/opt/dbmate/host-ca.crt npm ci --no-audit --no-fund \\
 && rm host-ca.crt

FROM {base}
COPY --from=npm /opt/dbmate /opt/dbmate
RUN ln -s /opt/dbmate/node_modules/.bin/dbmate /usr/local/bin/dbmate \\
 && echo 'nonroot:x:{user}:{user}:nonroot:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \\
 && echo 'nonroot:x:{user}:' >> /etc/group
"""
EXAMPLE_DOCKERFILE = """\
FROM {base}
COPY root/ /
USER {user}:{user}
"""


def _digest(*parts: str | bytes) -> str:
    hashed = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hashed.update(len(data).to_bytes(8, "big") + data)
    return hashed.hexdigest()[:12]


def _tree(directory: Path) -> list[str | bytes]:
    """What a directory's content is, for hashing: each file's path, mode and bytes."""
    parts: list[str | bytes] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        parts += [str(path.relative_to(directory)), oct(path.stat().st_mode & 0o777)]
        parts.append(path.read_bytes())
    return parts


def os_image_name(architecture: str) -> str:
    """The OS image's name: its recipe's hash."""
    return f"migration-trigger/pod-os-{_digest(SUITE, *OS_PACKAGES, *OS_CHANGES)}:{architecture}"


def tool_image_name(architecture: str) -> str:
    """The migration tool's image: the OS's name, the Dockerfile and the pins, hashed."""
    recipe = TOOL_DOCKERFILE.format(base=os_image_name(architecture), user=USER, stage=STAGE_LABEL)
    pins = [path.read_bytes() for path in TOOL_PINS]
    return f"migration-trigger/pod-dbmate-{_digest(recipe, *pins)}:{architecture}"


def example_image_name(example: Path, architecture: str) -> str:
    """An example's image: the tool image's name, the Dockerfile and the directory, hashed."""
    recipe = EXAMPLE_DOCKERFILE.format(base=tool_image_name(architecture), user=USER)
    return f"migration-trigger/pod-{example.name}:{_digest(recipe, *_tree(example))}"


def _present(engine: DockerEngine, name: str) -> bool:
    return engine.docker("image", "inspect", name, capture_output=True).returncode == 0


def _build(engine: DockerEngine, context: Path, name: str, log: Path) -> None:
    """`docker build` with the classic builder (no BuildKit plugin here) on the host's network."""
    run_step(
        ["docker", "build", "--force-rm", "--network", "host", "--tag", name, str(context)],
        log,
        f"docker build of {name}",
        env={**os.environ, **engine.environment(), "DOCKER_BUILDKIT": "0"},
    )


def ensure_tool_image(
    engine: DockerEngine, *, log: Path, announce: Callable[[str], None] = lambda _: None
) -> str:
    """The migration tool's image (it runs as root), built with its OS image unless present."""
    architecture = host_architecture()
    name = tool_image_name(architecture)
    if _present(engine, name):
        return name
    base = os_image_name(architecture)
    if not _present(engine, base):
        if os.geteuid() != 0:
            raise ImageBuildError(f"{base} is not in the engine, and building it needs root")
        announce(f"building {base} (Debian {SUITE} with Node.js: about a minute, once)")
        with tempfile.TemporaryDirectory(prefix="migration-trigger-rootfs-") as scratch:
            root = Path(scratch) / "root"
            debootstrap(root, architecture, log, include=OS_PACKAGES)
            import_root(engine, root, base, architecture, log, changes=OS_CHANGES)
    announce(f"building {name} (dbmate from npm, as tools/package-lock.json pins it)")
    with tempfile.TemporaryDirectory(prefix="migration-trigger-build-") as scratch:
        context = Path(scratch)
        for pin in TOOL_PINS:
            shutil.copy(pin, context / pin.name)
        ca = HOST_CA.read_bytes() if HOST_CA.is_file() else b""
        (context / "host-ca.crt").write_bytes(ca)
        dockerfile = TOOL_DOCKERFILE.format(base=base, user=USER, stage=STAGE_LABEL)
        (context / "Dockerfile").write_text(dockerfile)
        _build(engine, context, name, log)
    # The npm stage (npm's packages, the CA certificates) is left untagged: remove it.
    engine.docker(
        "image", "prune", "--force", "--filter", f"label={STAGE_LABEL}", capture_output=True
    )
    return name


def ensure_example_images(
    engine: DockerEngine,
    examples: Mapping[str, Path],
    *,
    log: Path,
    announce: Callable[[str], None] = lambda _: None,
) -> dict[str, str]:
    """Each Job image reference mapped to the local image built from its example directory."""
    architecture = host_architecture()
    images: dict[str, str] = {}
    for reference, example in examples.items():
        name = example_image_name(example, architecture)
        if not _present(engine, name):
            base = ensure_tool_image(engine, log=log, announce=announce)
            announce(f"building {name} ({example.relative_to(ROOT)} over the tool image)")
            with tempfile.TemporaryDirectory(prefix="migration-trigger-build-") as scratch:
                context = Path(scratch)
                shutil.copytree(example, context / "root", symlinks=True)
                (context / "Dockerfile").write_text(EXAMPLE_DOCKERFILE.format(base=base, user=USER))
                _build(engine, context, name, log)
        images[reference] = name
    return images
