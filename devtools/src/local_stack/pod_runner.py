"""Runs a pod's container as a local process: the emulator's Job controller calls it.

The image is not pulled. An image maps to a local directory that stands in for its filesystem: the
process runs in a copy of it (in `workingDir` under it), with the container's command and args, the
pod's env and envFrom resolved from ConfigMaps and Secrets, and mounted ConfigMaps written as files
under that root. There is no chroot: absolute mount paths in the command, args and plain env values
are rewritten to where the files were written. stdout and stderr become the pod log; the exit code
decides the phase; when the pod is killed (deadline, deletion) the process is terminated.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kube_emulator import PodIO

Obj = dict[str, Any]


def _rewrite(text: str, mounts: dict[str, str]) -> str:
    """Mount paths in `text` pointed at where the mounted files are."""
    for mount_path, local in sorted(mounts.items(), key=lambda m: -len(m[0])):
        text = re.sub(rf"(?<![\w/]){re.escape(mount_path)}(?=/|\b|$)", local, text)
    return text


def _secret_values(secret: Obj) -> dict[str, str]:
    values = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    values.update(secret.get("stringData") or {})
    return values


@dataclass
class ProcessPodRunner:
    """Executes containers locally. `images` maps image references to root directories."""

    images: Mapping[str, Path]
    path: list[str] = field(default_factory=list)
    on_start: Callable[[Obj, str], None] | None = None
    on_output: Callable[[Obj, str], None] | None = None

    def run(self, pod: Obj, io: PodIO) -> int | None:
        """Run the pod's first container to completion."""
        container = pod["spec"]["containers"][0]
        image = container["image"]
        root = self.images.get(image)
        if root is None:
            io.waiting(
                "ErrImagePull",
                f'image "{image}" is not available to the local stack (no local directory mapped)',
            )
            io.cancelled.wait()
            return None
        command = [*container.get("command", []), *container.get("args", [])]
        if not command:
            io.waiting(
                "CreateContainerError",
                "the local stack needs an explicit command: images are not pulled",
            )
            io.cancelled.wait()
            return None
        try:
            env = self._environment(pod, container, io)
        except KeyError as missing:
            io.waiting("CreateContainerConfigError", f"{missing.args[0]} not found")
            io.cancelled.wait()
            return None
        with tempfile.TemporaryDirectory(prefix="pod-") as scratch:
            workdir, mounts = self._materialise(pod, container, io, root, Path(scratch))
            command = [_rewrite(part, mounts) for part in command]
            for item in container.get("env", []):
                if "value" in item:
                    env[item["name"]] = _rewrite(str(item["value"]), mounts)
            executable = shutil.which(command[0], path=env["PATH"])
            if executable is None:
                io.waiting("CreateContainerError", f'executable "{command[0]}" not found in $PATH')
                io.cancelled.wait()
                return None
            io.running()
            if self.on_start:
                self.on_start(pod, image)
            return self._execute([executable, *command[1:]], env, workdir, io, pod)

    def _environment(self, pod: Obj, container: Obj, io: PodIO) -> dict[str, str]:
        env = {
            "PATH": os.pathsep.join([*self.path, os.environ.get("PATH", "")]),
            "HOME": tempfile.gettempdir(),
            "LANG": "C.UTF-8",
        }
        for source in container.get("envFrom", []):
            env.update(_env_from(source, io))
        for item in container.get("env", []):
            env[item["name"]] = _env_value(item, io)
        return env

    @staticmethod
    def _materialise(
        pod: Obj, container: Obj, io: PodIO, root: Path, scratch: Path
    ) -> tuple[Path, dict[str, str]]:
        """A copy of the image root with ConfigMap mounts written in; working dir and mounts."""
        rootfs = scratch / "rootfs"
        shutil.copytree(root, rootfs, symlinks=True)
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        mounts: dict[str, str] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {})
            target = rootfs / mount["mountPath"].lstrip("/")
            mounts[mount["mountPath"].rstrip("/")] = str(target)
            target.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                config = io.lookup("ConfigMap", volume["configMap"]["name"]) or {}
                for key, value in (config.get("data") or {}).items():
                    (target / key).write_text(value)
        workdir = rootfs / str(container.get("workingDir", "/")).lstrip("/")
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir, mounts

    def _execute(
        self, command: list[str], env: dict[str, str], workdir: Path, io: PodIO, pod: Obj
    ) -> int | None:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

        def kill_when_cancelled() -> None:
            while not io.cancelled.wait(0.2):
                if process.poll() is not None:
                    return
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)

        threading.Thread(target=kill_when_cancelled, daemon=True).start()
        assert process.stdout is not None
        relay(process.stdout, pod, io, self.on_output)
        code = process.wait()
        if io.cancelled.is_set():
            return None
        return code


def relay(
    stream: IO[bytes],
    pod: Obj,
    io: PodIO,
    on_output: Callable[[Obj, str], None] | None,
) -> None:
    """Copy a pod's output, line by line, to its log (and to `on_output`) until it ends."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        io.log(line)
        if on_output:
            on_output(pod, line)


def _lookup(io: PodIO, kind: str, name: str) -> Obj:
    found = io.lookup(kind, name)
    if found is None:
        # The kubelet's words for a missing reference (CreateContainerConfigError).
        raise KeyError(f'{kind.lower()} "{name}"')
    return found


def _env_from(source: Obj, io: PodIO) -> dict[str, str]:
    """The variables one envFrom entry brings: a whole Secret or ConfigMap."""
    if "secretRef" in source:
        return _secret_values(_lookup(io, "Secret", source["secretRef"]["name"]))
    if "configMapRef" in source:
        return dict(_lookup(io, "ConfigMap", source["configMapRef"]["name"]).get("data") or {})
    return {}


def _env_value(item: Obj, io: PodIO) -> str:
    """One env entry's value: literal, or a key of a Secret or ConfigMap."""
    if "value" in item:
        return str(item["value"])
    ref = item.get("valueFrom", {})
    if "secretKeyRef" in ref:
        secret = _lookup(io, "Secret", ref["secretKeyRef"]["name"])
        return _secret_values(secret)[ref["secretKeyRef"]["key"]]
    if "configMapKeyRef" in ref:
        config = _lookup(io, "ConfigMap", ref["configMapKeyRef"]["name"])
        return str((config.get("data") or {})[ref["configMapKeyRef"]["key"]])
    return ""
