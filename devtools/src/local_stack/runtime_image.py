"""A stand-in for the `python3.13` Lambda base image, built here from Debian packages and PyPI.

`sam local invoke` runs a ZIP function in an image it builds `FROM` the runtime's emulation image
(`public.ecr.aws/lambda/python:3.13-<arch>`), which cannot be pulled here; `--invoke-image` names
another base (samcli/local/docker/lambda_image.py, `LambdaImage.build`). What SAM expects of that
base, read from the same file and from lambda_container.py:

- a shell with `mv` and `chmod`: SAM's Dockerfile is `FROM <base>`, `ADD aws-lambda-rie-<arch>
  /var/rapid/`, `RUN mv ... /var/rapid/aws-lambda-rie && chmod +x ...` (`_generate_dockerfile`),
  built with `--platform linux/amd64` or `linux/arm64` for the function's architecture
  (`get_docker_platform`);
- nothing else: the container's entrypoint is SAM's, `/var/rapid/aws-lambda-rie --log-level
  error`, with no command for a ZIP function (`_get_default_entry_point`), and the code is
  mounted at /var/task. The RIE then runs the first of /var/task/bootstrap, /opt/bootstrap,
  /var/runtime/bootstrap (the managed runtimes' layout), with `_HANDLER` and
  `AWS_LAMBDA_RUNTIME_API` set.

So the stand-in is Debian 13's Python 3.13 with `awslambdaric` (the runtime interface client the
managed runtime uses) and boto3 in /var/runtime, and a /var/runtime/bootstrap that starts it as
the managed runtime does. It is not Amazon Linux: the libc, the system libraries and the exact
patch release of Python differ; the Python minor version, the bootstrap, the runtime API and the
architecture are the same.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local_stack.docker_engine import DockerEngine

#: Debian 13 ships Python 3.13, the runtime's version.
SUITE = "trixie"
PYTHON = "python3.13"
#: The runtime interface client and the SDK the managed runtime carries, pinned so the image's
#: name (a hash of this recipe) changes when they do.
RUNTIME_PACKAGES = ("awslambdaric==4.2.2", "boto3==1.44.8")
#: What the managed python3.13 runtime's bootstrap does: the function's code first on sys.path,
#: then layers, then the runtime's own packages; awslambdaric polls the Runtime API.
BOOTSTRAP = """#!/bin/sh
# Stand-in for the python3.13 managed runtime's bootstrap (migration-trigger's sam-local).
export AWS_EXECUTION_ENV=AWS_Lambda_python3.13
export PYTHONPATH=/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime
cd "${LAMBDA_TASK_ROOT:-/var/task}" || exit 1
exec /usr/bin/python3.13 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"
"""
ENVIRONMENT = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LANG": "C.UTF-8",
    "TZ": ":UTC",
    "PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin",
}
#: Lambda's architecture -> (Debian's, Docker's platform, the wheels' platform tag).
ARCHITECTURES = {
    "x86_64": ("amd64", "linux/amd64", "manylinux2014_x86_64"),
    "arm64": ("arm64", "linux/arm64", "manylinux2014_aarch64"),
}


class ImageBuildError(RuntimeError):
    """The stand-in image could not be built (the message says which step failed)."""


def host_architecture() -> str:
    """This machine's architecture, as Lambda names it."""
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def image_name(architecture: str) -> str:
    """`<repository>:<architecture>`: the repository names the recipe's hash.

    SAM tags the image it builds on top `<repository>:rapid-<architecture>` and rebuilds it only
    when that tag is missing, so a new recipe needs a new repository, not a new tag.
    """
    recipe = "\n".join(
        [SUITE, PYTHON, *RUNTIME_PACKAGES, BOOTSTRAP, repr(sorted(ENVIRONMENT.items()))]
    )
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return f"migration-trigger/lambda-python3.13-standin-{digest}:{architecture}"


def debian_mirror() -> list[str]:
    """The Debian mirror apt uses on this machine (debootstrap's own default when none is found)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for uri in re.findall(r"^URIs:\s*(\S+)", sources.read_text(), flags=re.MULTILINE):
            if not uri.rstrip("/").endswith("-security"):
                return [uri]
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+\s+main", legacy.read_text(), re.M)
        if match and "security" not in match[1]:
            return [match[1]]
    return []


def ensure_image(engine: DockerEngine, architecture: str, *, log: Path) -> str:
    """The stand-in image for `architecture`, built unless the engine has it already."""
    name = image_name(architecture)
    if engine.docker("image", "inspect", name, capture_output=True).returncode == 0:
        return name
    if os.geteuid() != 0:
        raise ImageBuildError(
            f"{name} is not in the engine, and building it needs root (debootstrap, chroot); "
            "run as root, or name a base image (--base-image)"
        )
    if architecture != host_architecture() and not foreign_binaries_run(architecture):
        raise ImageBuildError(f"{architecture} binaries cannot run here: enter emulation() first")
    with tempfile.TemporaryDirectory(prefix="migration-trigger-rootfs-") as scratch:
        root = Path(scratch) / "root"
        debootstrap(root, architecture, log, include=(PYTHON,))
        _runtime(root, architecture, log)
        changes = [f"ENV {key}={value}" for key, value in ENVIRONMENT.items()]
        import_root(engine, root, name, architecture, log, changes=[*changes, "WORKDIR /var/task"])
    return name


BINFMT = Path("/proc/sys/fs/binfmt_misc")
#: The binfmt_misc handler qemu-user-static registers for each architecture.
QEMU_HANDLERS = {"arm64": "qemu-aarch64", "x86_64": "qemu-x86_64"}


def foreign_binaries_run(architecture: str) -> bool:
    """Whether the kernel hands binaries of `architecture` to an emulator (binfmt_misc + qemu)."""
    handler = BINFMT / QEMU_HANDLERS[architecture]
    return handler.is_file() and handler.read_text().startswith("enabled")


@contextmanager
def emulation(architecture: str) -> Iterator[None]:
    """Binaries of `architecture` run here for the duration: under qemu-user-static, through a
    binfmt_misc handler registered with the `F` flag (so it works inside containers too).

    Nothing to do for the host's own architecture or when a handler is there already; what this
    mounted or registered, it unmounts and unregisters.
    """
    if architecture == host_architecture() or foreign_binaries_run(architecture):
        yield
        return
    handler = QEMU_HANDLERS[architecture]
    conf = Path("/usr/lib/binfmt.d") / f"{handler}.conf"
    if os.geteuid() != 0 or not conf.is_file():
        raise ImageBuildError(
            f"{architecture} binaries cannot run on this {host_architecture()} machine: they run "
            "under emulation as root, with qemu-user-static installed "
            f"(SAM_LOCAL_ARCH={architecture} make setup-sam-local)"
        )
    mounted = not (BINFMT / "register").exists()
    if mounted:
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    try:
        (BINFMT / "register").write_text(conf.read_text().strip() + "\n")
        yield
    finally:
        if (BINFMT / handler).exists():
            (BINFMT / handler).write_text("-1")
        if mounted:
            subprocess.run(["umount", str(BINFMT)], check=False)


def run_step(command: list[str], log: Path, step: str, **kwargs: Any) -> None:
    """Run one build step with its output appended to `log`; ImageBuildError with its tail."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False, **kwargs)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-1500:]
        raise ImageBuildError(f"{step} failed (exit {done.returncode}); the end of {log}:\n{tail}")


def debootstrap(root: Path, architecture: str, log: Path, *, include: Sequence[str]) -> None:
    """A minimal Debian SUITE root at `root` with the packages `include` names, without caches."""
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise ImageBuildError(
            "debootstrap is not installed (scripts/setup.sh --sam-local installs it)"
        )
    debian_arch = ARCHITECTURES[architecture][0]
    command = [
        debootstrap,
        "--variant=minbase",
        f"--arch={debian_arch}",
        f"--include={','.join(include)}",
    ]
    if architecture != host_architecture():
        # The second stage runs the new root's own binaries: under emulation, through binfmt.
        command.append("--foreign")
    run_step([*command, SUITE, str(root), *debian_mirror()], log, "debootstrap")
    if architecture != host_architecture():
        run_step(
            ["chroot", str(root), "/debootstrap/debootstrap", "--second-stage"],
            log,
            "debootstrap (second stage)",
        )
    # What apt downloaded and the documentation: not needed to run a program.
    for leftover in (
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
    ):
        for entry in (root / leftover).glob("*"):
            if entry.is_file() or entry.is_symlink():
                entry.unlink()
            elif entry.is_dir() and entry.name != "partial":
                shutil.rmtree(entry)


def _runtime(root: Path, architecture: str, log: Path) -> None:
    runtime = root / "var" / "runtime"
    run_step(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            str(runtime),
            "--platform",
            ARCHITECTURES[architecture][2],
            "--implementation",
            "cp",
            "--python-version",
            "3.13",
            "--only-binary=:all:",
            *RUNTIME_PACKAGES,
        ],
        log,
        "pip install of the runtime packages",
    )
    shutil.rmtree(runtime / "bin", ignore_errors=True)
    bootstrap = runtime / "bootstrap"
    bootstrap.write_text(BOOTSTRAP)
    bootstrap.chmod(0o755)
    for directory in ("var/task", "opt"):
        (root / directory).mkdir(parents=True, exist_ok=True)


def import_root(
    engine: DockerEngine,
    root: Path,
    name: str,
    architecture: str,
    log: Path,
    *,
    changes: Sequence[str],
) -> None:
    """`docker import` of the directory `root` as image `name`, with Dockerfile `changes`."""
    command = ["docker", "import", "--platform", ARCHITECTURES[architecture][1]]
    for change in changes:
        command += ["--change", change]
    with (
        log.open("ab") as out,
        subprocess.Popen(
            ["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE, stderr=out
        ) as tar,
    ):
        done = subprocess.run(
            [*command, "-", name],
            stdin=tar.stdout,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **engine.environment()},
            check=False,
        )
    if done.returncode != 0 or tar.returncode != 0:
        raise ImageBuildError(f"docker import of {name} failed; see {log}")
