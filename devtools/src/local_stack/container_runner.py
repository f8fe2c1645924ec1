"""Runs a Job pod's container as a Docker container, its security context enforced by the runtime.

The emulator's Job controller calls it as it calls the process runner (pod_runner.py), with the
same image mapping: a Job's image reference names an example directory, here the image built from
it (pod_image.py). The container is created as the kubelet asks its runtime to, read from the
Kubernetes source:

- pkg/kubelet/kuberuntime/kuberuntime_container.go (`startContainer`, `generateContainerConfig`):
  the image's user is looked up and `verifyRunAsNonRoot` checked before anything is created; a
  refusal is `ErrCreateContainerConfig` (CreateContainerConfigError, the container waits). Command
  and args are expanded against the env (`ExpandContainerCommandAndArgs`); the working directory,
  env and mounts are passed as given. A runtime that cannot start the container fails it
  (`ErrRunContainer`).
- pkg/kubelet/kuberuntime/security_context_others.go (`verifyRunAsNonRoot`): with runAsNonRoot, a
  runAsUser of 0 breaks the policy; without runAsUser, an image user of uid 0 (no user at all
  counts as root: helpers.go, `getImageUser`) or a non-numeric one is refused.
- pkg/kubelet/kuberuntime/security_context.go (`determineEffectiveSecurityContext`,
  `convertToRuntimeSecurityContext`): the container's fields over the pod's (runAsUser,
  runAsGroup, runAsNonRoot, seccompProfile); capabilities added and dropped as listed;
  readOnlyRootFilesystem; the pod's fsGroup and supplementalGroups as supplementary groups;
  no_new_privs when allowPrivilegeEscalation is false (pkg/securitycontext/util.go,
  `AddNoNewPrivileges`).
- pkg/kubelet/kuberuntime/helpers.go (`fieldProfile`): seccomp RuntimeDefault is the runtime's
  default profile; no profile at all is Unconfined unless the kubelet's seccompDefault (off by
  default) says otherwise.
- pkg/volume/emptydir/empty_dir.go: an emptyDir is a fresh directory of mode 0777 (tmpfs for
  medium Memory), writable whatever the root filesystem is.

So `readOnlyRootFilesystem` is `--read-only`, `capabilities.drop: [ALL]` is `--cap-drop ALL`,
`allowPrivilegeEscalation: false` is `--security-opt no-new-privileges`, runAsUser/runAsGroup are
`--user`, the writable /tmp is a bind of a fresh directory, resources.limits are `--memory` and
`--cpus`. A migration image that needs more (to write into its own filesystem, to run as root, a
capability) fails here as it would on EKS.

The container shares the host's network, where PostgreSQL and the emulator listen on loopback.
stdout and stderr become the pod log; the exit code decides the phase. A killed pod (deadline,
deletion) has its container killed at once, as the emulator deletes pods at once; the container is
always removed.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kube_emulator import PodIO
from local_stack.docker_engine import DockerEngine
from local_stack.pod_runner import _env_from, _env_value, relay

Obj = dict[str, Any]
#: The label that marks a runner's containers (its value: the runner's session).
LABEL = "migration-trigger.local-stack/pod-runner"
#: Fields the pod's security context gives a container that does not set them itself
#: (pkg/securitycontext/util.go, `DetermineEffectiveSecurityContext`).
INHERITED = ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "seLinuxOptions")
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIXES = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


class PodConfigError(Exception):
    """The pod cannot be made into a container (the message is the kubelet's kind of reason)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def effective_security_context(pod: Obj, container: Obj) -> Obj:
    """The container's security context, with the pod's where the container sets nothing."""
    pod_context = pod["spec"].get("securityContext") or {}
    effective = dict(container.get("securityContext") or {})
    for name in INHERITED:
        if name not in effective and name in pod_context:
            effective[name] = pod_context[name]
    return effective


def image_uid(user: str) -> tuple[int | None, str]:
    """The image's `User` as the runtime reports it: (uid, "") or (None, username).

    No user at all is root (helpers.go, `getImageUser`); `uid:gid` names uid.
    """
    name = user.split(":", 1)[0]
    if not name:
        return 0, ""
    if name.isdigit():
        return int(name), ""
    return None, name


def verify_run_as_non_root(pod: Obj, container: Obj, image_user: str) -> str | None:
    """The kubelet's refusal to create the container, or None (`verifyRunAsNonRoot`)."""
    context = effective_security_context(pod, container)
    if not context.get("runAsNonRoot"):
        return None
    where = (
        f'(pod: "{pod["metadata"]["name"]}_{pod["metadata"].get("namespace", "")}'
        f'({pod["metadata"].get("uid", "")})", container: {container["name"]})'
    )
    if "runAsUser" in context:
        if context["runAsUser"] == 0:
            return f"container's runAsUser breaks non-root policy {where}"
        return None
    uid, username = image_uid(image_user)
    if uid is None:
        return (
            f"container has runAsNonRoot and image has non-numeric user ({username}), "
            f"cannot verify user is non-root {where}"
        )
    if uid == 0:
        return f"container has runAsNonRoot and image will run as root {where}"
    return None


def expand(text: str, env: Mapping[str, str]) -> str:
    """`$(NAME)` replaced by the variable's value when it is defined, `$$` by `$`."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1], match[0])

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", substitute, text)


def _quantity(value: str | int | float) -> float:
    match = _QUANTITY.match(str(value))
    if not match or match[2] not in _SUFFIXES:
        raise PodConfigError("CreateContainerConfigError", f'quantity "{value}" is not valid')
    return float(match[1]) * _SUFFIXES[match[2]]


def _files(volume: Obj, io: PodIO) -> tuple[dict[str, bytes], int]:
    """A ConfigMap or Secret volume's files and their mode (defaultMode, 0644 by default)."""
    if "configMap" in volume:
        source, kind = volume["configMap"], "ConfigMap"
    else:
        source, kind = volume["secret"], "Secret"
    name = source.get("name") or source.get("secretName", "")
    found = io.lookup(kind, name)
    if found is None:
        if source.get("optional"):
            return {}, 0o644
        raise PodConfigError("ContainerCreating", f'{kind.lower()} "{name}" not found')
    files = {key: str(value).encode() for key, value in (found.get("stringData") or {}).items()}
    for key, value in (found.get("data") or {}).items():
        files[key] = base64.b64decode(value) if kind == "Secret" else str(value).encode()
    for key, value in (found.get("binaryData") or {}).items():
        files[key] = base64.b64decode(value)
    return files, int(source.get("defaultMode", 0o644))


def _volume(volume: Obj, directory: Path, pod: Obj, io: PodIO) -> tuple[Path, bool]:
    """The host directory behind a volume (made on first use), and whether it is read-only."""
    if "emptyDir" in volume:
        if not directory.exists():
            directory.mkdir(parents=True)
            directory.chmod(0o777)
            fs_group = (pod["spec"].get("securityContext") or {}).get("fsGroup")
            if fs_group is not None:
                # The volume belongs to the fsGroup, and what is created in it too (setgid).
                with contextlib.suppress(PermissionError):
                    os.chown(directory, -1, int(fs_group))
                    directory.chmod(0o2777)
        return directory, False
    if "configMap" in volume or "secret" in volume:
        if not directory.exists():
            files, mode = _files(volume, io)
            directory.mkdir(parents=True)
            directory.chmod(0o755)
            for key, data in files.items():
                (directory / key).write_bytes(data)
                (directory / key).chmod(mode)
        # The kubelet mounts ConfigMap and Secret volumes read-only, whatever the mount says.
        return directory, True
    kind = next((key for key in volume if key != "name"), "unknown")
    raise PodConfigError(
        "ContainerCreating", f'volume "{volume["name"]}": {kind} volumes are not in the local stack'
    )


@dataclass
class ContainerPodRunner:
    """Runs pods in containers on `engine`; `images` maps image references to local images."""

    engine: DockerEngine
    images: Mapping[str, str]
    on_start: Callable[[Obj, str], None] | None = None
    on_output: Callable[[Obj, str], None] | None = None
    #: Marks this runner's containers, so `close()` removes only its own.
    session: str = field(default_factory=lambda: secrets.token_hex(6))

    def run(self, pod: Obj, io: PodIO) -> int | None:
        """Create, start and follow the pod's first container; remove it whatever happens."""
        container = pod["spec"]["containers"][0]
        reference = container["image"]
        image = self.images.get(reference)
        inspected = (
            self.engine.docker(
                "image", "inspect", "--format", "{{.Config.User}}", image, capture_output=True
            )
            if image
            else None
        )
        if inspected is None or inspected.returncode != 0:
            io.waiting(
                "ErrImagePull",
                f'image "{reference}" is not available to the local stack (no local image built)',
            )
            io.cancelled.wait()
            return None
        with tempfile.TemporaryDirectory(prefix="migration-trigger-pod-") as scratch:
            try:
                image_user = inspected.stdout.decode().strip()
                refusal = verify_run_as_non_root(pod, container, image_user)
                if refusal:
                    raise PodConfigError("CreateContainerConfigError", refusal)
                options = self._options(pod, container, io, image_user, Path(scratch))
            except PodConfigError as error:
                io.waiting(error.reason, str(error))
                io.cancelled.wait()
                return None
            except KeyError as missing:
                io.waiting("CreateContainerConfigError", f"{missing.args[0]} not found")
                io.cancelled.wait()
                return None
            if io.cancelled.is_set():
                return None
            created = self.engine.docker("create", *options, capture_output=True)
            if created.returncode != 0:
                io.waiting("CreateContainerError", created.stderr.decode(errors="replace").strip())
                io.cancelled.wait()
                return None
            container_id = created.stdout.decode().strip()
            try:
                return self._follow(container_id, pod, io, reference)
            finally:
                self.engine.docker("rm", "--force", "--volumes", container_id, capture_output=True)

    def close(self) -> None:
        """Remove any container of this runner still there (a run interrupted mid-way)."""
        found = self.engine.docker(
            "ps",
            "--all",
            "--quiet",
            "--filter",
            f"label={LABEL}={self.session}",
            capture_output=True,
        )
        for container_id in found.stdout.decode().split():
            self.engine.docker("rm", "--force", "--volumes", container_id, capture_output=True)

    # -- the container's configuration ---------------------------------------------------------

    def _options(
        self, pod: Obj, container: Obj, io: PodIO, image_user: str, scratch: Path
    ) -> list[str]:
        """`docker create` options and arguments for the pod's container."""
        meta = pod["metadata"]
        env = self._environment(container, io)
        options = [
            "--pull=never",
            "--network=host",
            f"--name=pod_{meta.get('namespace', '')}_{meta['name']}_{self.session}",
            f"--label={LABEL}={self.session}",
            f"--label=io.kubernetes.pod.name={meta['name']}",
            f"--label=io.kubernetes.pod.namespace={meta.get('namespace', '')}",
            f"--label=io.kubernetes.pod.uid={meta.get('uid', '')}",
            f"--label=io.kubernetes.container.name={container['name']}",
            f"--env-file={self._env_file(env, scratch)}",
            *self._security(pod, container, image_user),
            *self._mounts(pod, container, io, scratch),
            *self._resources(container),
        ]
        if container.get("workingDir"):
            options.append(f"--workdir={container['workingDir']}")
        command = [expand(part, env) for part in container.get("command", [])]
        args = [expand(part, env) for part in container.get("args", [])]
        if command:
            # Kubernetes' command replaces the image's ENTRYPOINT (and its CMD with it).
            options.append(f"--entrypoint={command[0]}")
            args = [*command[1:], *args]
        return [*options, self.images[container["image"]], *args]

    @staticmethod
    def _environment(container: Obj, io: PodIO) -> dict[str, str]:
        """envFrom, then env over it; each value expanded against the variables before it."""
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env.update(_env_from(source, io))
        for item in container.get("env", []):
            env[item["name"]] = expand(_env_value(item, io), env)
        return env

    @staticmethod
    def _env_file(env: Mapping[str, str], scratch: Path) -> Path:
        """The variables in a file only its owner reads: never on a command line."""
        for name, value in env.items():
            if "\n" in value or "\r" in value:
                raise PodConfigError(
                    "CreateContainerConfigError",
                    f"env {name}: a value with a line break cannot be passed by the local stack",
                )
        path = scratch / "env"
        path.touch(mode=0o600)
        path.write_text("".join(f"{name}={value}\n" for name, value in env.items()))
        return path

    @staticmethod
    def _security(pod: Obj, container: Obj, image_user: str) -> list[str]:
        """The effective security context as the runtime's options."""
        context = effective_security_context(pod, container)
        pod_context = pod["spec"].get("securityContext") or {}
        options: list[str] = []
        if "runAsUser" in context or "runAsGroup" in context:
            # Without runAsUser, the image's user runs (with runAsGroup as its group if set).
            user = str(context.get("runAsUser", image_user.split(":", 1)[0] or "0"))
            group = context.get("runAsGroup")
            options.append(f"--user={user}" if group is None else f"--user={user}:{group}")
        groups = [pod_context["fsGroup"]] if "fsGroup" in pod_context else []
        groups += pod_context.get("supplementalGroups") or []
        options += [f"--group-add={group}" for group in groups]
        if context.get("privileged"):
            options.append("--privileged")
        if context.get("readOnlyRootFilesystem"):
            options.append("--read-only")
        capabilities = context.get("capabilities") or {}
        options += [f"--cap-drop={name}" for name in capabilities.get("drop") or []]
        options += [f"--cap-add={name}" for name in capabilities.get("add") or []]
        if context.get("allowPrivilegeEscalation") is False:
            options.append("--security-opt=no-new-privileges")
        profile = (context.get("seccompProfile") or {}).get("type")
        if profile == "Localhost":
            raise PodConfigError(
                "CreateContainerError", "Localhost seccomp profiles are not in the local stack"
            )
        if profile != "RuntimeDefault":
            options.append("--security-opt=seccomp=unconfined")
        return options

    @staticmethod
    def _mounts(pod: Obj, container: Obj, io: PodIO, scratch: Path) -> list[str]:
        """Each volume mount: emptyDir a fresh directory, ConfigMaps and Secrets as files."""
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        options: list[str] = []
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None:
                raise PodConfigError(
                    "CreateContainerConfigError", f'volume "{mount["name"]}" not found'
                )
            if (volume.get("emptyDir") or {}).get("medium") == "Memory":
                options.append(f"--tmpfs={mount['mountPath']}:rw,exec,mode=0777")
                continue
            source, read_only = _volume(volume, scratch / "volumes" / volume["name"], pod, io)
            if mount.get("subPath"):
                source = _within(source, mount["subPath"], mount["name"])
            spec = f"type=bind,source={source},target={mount['mountPath']}"
            read_only = read_only or bool(mount.get("readOnly"))
            options.append(f"--mount={spec},readonly" if read_only else f"--mount={spec}")
        return options

    @staticmethod
    def _resources(container: Obj) -> list[str]:
        """The limits as the container's cgroup limits (the kubelet's, through the runtime)."""
        limits = (container.get("resources") or {}).get("limits") or {}
        options = []
        if "memory" in limits:
            options.append(f"--memory={int(_quantity(limits['memory']))}b")
        if "cpu" in limits:
            options.append(f"--cpus={_quantity(limits['cpu']):g}")
        return options

    # -- running -------------------------------------------------------------------------------

    def _follow(self, container_id: str, pod: Obj, io: PodIO, reference: str) -> int | None:
        """Start the container, stream its log, return its exit code (None if killed)."""
        started = self.engine.docker("start", container_id, capture_output=True)
        if started.returncode != 0:
            # The runtime could not start it (no such executable, ...): the kubelet's
            # RunContainerError; the container has ended, as containerd reports (128).
            io.waiting("RunContainerError", started.stderr.decode(errors="replace").strip())
            return 128
        io.running()
        if self.on_start:
            self.on_start(pod, reference)
        finished = threading.Event()

        def kill_when_cancelled() -> None:
            while not io.cancelled.wait(0.2):
                if finished.is_set():
                    return
            self.engine.docker("rm", "--force", "--volumes", container_id, capture_output=True)

        threading.Thread(target=kill_when_cancelled, daemon=True).start()
        try:
            with self.engine.docker_popen(
                "logs",
                "--follow",
                container_id,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            ) as logs:
                assert logs.stdout is not None
                relay(logs.stdout, pod, io, self.on_output)
            waited = self.engine.docker("wait", container_id, capture_output=True)
        finally:
            finished.set()
        if io.cancelled.is_set():
            return None
        if waited.returncode != 0:
            # Gone without being killed: the Job controller fails the pod (exit 128).
            raise RuntimeError(f"container {container_id[:12]} vanished: {waited.stderr!r}")
        return int(waited.stdout.decode().strip())


def _within(volume: Path, sub_path: str, name: str) -> Path:
    """The subPath inside its volume, symlinks resolved; never a path outside it (the kubelet
    refuses one: pkg/volume/util/subpath, "subpath ... not within volume path")."""
    root = volume.resolve()
    target = (volume / sub_path).resolve()
    if not target.is_relative_to(root):
        raise PodConfigError(
            "CreateContainerConfigError",
            f'failed to prepare subPath for volumeMount "{name}": subpath "{sub_path}" not '
            "within volume path",
        )
    return target
