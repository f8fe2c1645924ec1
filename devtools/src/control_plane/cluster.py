"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, built from Kubernetes' own modules by `make setup-kubernetes`.

What a cluster gets from its provider is given here, small: EKS authentication (the apiserver's
token webhook asks control_plane/webhook.py, which checks EKS tokens as aws-iam-authenticator
does and maps access entries), and an administrator's client certificate in `system:masters`.
A node is registered only when a pod runner is given (control_plane/node.py, a stand-in for the
kubelet); without one, pods are scheduled nowhere (the scheduler's own `Unschedulable` answer).

The flags follow what envtest (sigs.k8s.io/controller-runtime pkg/internal/testing/controlplane)
and kubeadm's static pods give the same binaries, trimmed to one loopback process each.
Everything lives in one temporary directory, removed by `stop()` with the processes.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from control_plane.admin import AdminClient
from control_plane.node import Node
from control_plane.pki import Authority, KeyPair, service_account_key
from control_plane.proxy import FaultProxy
from control_plane.webhook import TokenReviewServer
from kube_emulator.auth import EksAuthenticator
from kube_emulator.pods import PodRunner
from local_stack.net import free_port

ROOT = Path(__file__).resolve().parents[3]
GO_MOD = ROOT / "tools" / "kubernetes" / "go.mod"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
#: Per admission policy of k8s/, named after it, an object it refuses (`install`).
PROBES = Path(__file__).parent / "probes"
#: The controllers the function relies on, and what they need (kube-controller-manager
#: --controllers; names of Kubernetes 1.28+).
CONTROLLERS = (
    "job-controller",
    "ttl-after-finished-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
)


class ControlPlaneError(RuntimeError):
    """The control plane could not be found or started."""


Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


def install(kubectl: Kubectl, manifests: Path, *, group: str, timeout: float = 60.0) -> None:
    """`kubectl apply -f` the project's k8s/ directory, then wait until the apiserver enforces
    its admission policies: it loads them through an informer and type-checks them, so a request
    right after the apply may still be admitted. Probed with server-side dry runs, as `group`
    (the function's), of what each policy refuses (probes/). `kubectl(*args, check=)` runs
    kubectl as an administrator of the cluster."""
    kubectl("apply", "-f", str(manifests))
    deadline = time.monotonic() + timeout
    for probe in sorted(PROBES.glob("*.yaml")):
        policy = probe.stem
        while True:
            done = kubectl(
                "create",
                "--dry-run=server",
                "-f",
                str(probe),
                "--as=policy-probe",
                f"--as-group={group}",
                check=False,
            )
            if f"ValidatingAdmissionPolicy '{policy}'" in done.stderr:
                break
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"the apiserver did not enforce {policy} within {timeout:g} s: {done.stderr}"
                )
            time.sleep(0.2)


def run_kubectl(
    kubeconfig: Path | None, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """kubectl with this kubeconfig (KUBECONFIG's when None); ControlPlaneError if it fails and
    `check`."""
    config = ["--kubeconfig", str(kubeconfig)] if kubeconfig is not None else []
    done = subprocess.run(
        ["kubectl", *config, *args], capture_output=True, text=True, check=False, timeout=60
    )
    if check and done.returncode != 0:
        raise ControlPlaneError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done


def versions(go_mod: Path = GO_MOD) -> tuple[str, str]:
    """(Kubernetes, etcd) versions tools/kubernetes/go.mod pins."""
    text = go_mod.read_text()

    def pinned(module: str) -> str:
        found = re.search(rf"^\s*{re.escape(module)} (v\S+)", text, re.MULTILINE)
        if found is None:
            raise ControlPlaneError(f"{go_mod} pins no {module}")
        return found[1]

    return pinned("k8s.io/kubernetes"), pinned("go.etcd.io/etcd/server/v3")


def binaries_dir() -> Path:
    """Where `make setup-kubernetes` puts the binaries (scripts/setup_kubernetes.sh)."""
    kubernetes, etcd = versions()
    cache = os.environ.get("MIGRATION_TRIGGER_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "migration-trigger"
    )
    return Path(cache) / "kubernetes" / f"{kubernetes}-etcd-{etcd}" / "bin"


def available() -> str | None:
    """Why the control plane cannot run here, or None if it can."""
    directory = binaries_dir()
    missing = [c for c in COMPONENTS if not (directory / c).is_file()]
    if missing:
        return f"{', '.join(missing)} not built in {directory}: run `make setup-kubernetes`"
    return None


@dataclass
class ControlPlane:
    """Start with `start()` (or as a context manager); `stop()` leaves nothing behind."""

    authenticator: EksAuthenticator | None = None
    #: Runs the pods bound to the one node, if given (none is registered otherwise).
    runner: PodRunner | None = None
    #: Seconds to wait for each component to be ready.
    ready_seconds: float = 90.0
    directory: Path = field(init=False)
    port: int = field(init=False, default=0)
    _processes: list[tuple[str, subprocess.Popen[bytes]]] = field(init=False, default_factory=list)
    _webhook: TokenReviewServer | None = field(init=False, default=None)
    node: Node | None = field(init=False, default=None)
    #: The fault-injecting proxy in front of the apiserver (`proxy.url`): what the function is
    #: pointed at in the tests, so they can record its requests and inject faults.
    proxy: FaultProxy = field(init=False)
    admin: AdminClient = field(init=False)
    _authority: Authority = field(init=False)
    _admin: KeyPair = field(init=False)
    started_seconds: float = field(init=False, default=0.0)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start etcd and wait for it, then the apiserver and wait for it to be ready, then the
        controllers, the scheduler and the node (if a runner is given)."""
        why = available()
        if why is not None:
            raise ControlPlaneError(why)
        began = time.monotonic()
        self.directory = Path(tempfile.mkdtemp(prefix="migration-trigger-control-plane-"))
        try:
            self._authority = Authority(self.directory)
            self._admin = self._authority.issue("admin", organizations=("system:masters",))
            self._start_etcd()
            self._start_apiserver()
            admin = self._write_kubeconfig("admin.kubeconfig", self.admin_kubeconfig())
            self._start_controllers(admin)
            self.admin = AdminClient(self.url, self.ca_pem, self._admin.cert, self._admin.key)
            self.proxy = FaultProxy(
                self.url, self._authority, authenticator=self.authenticator
            ).start()
            if self.runner is not None:
                self.node = Node(self.admin, self._authority, self.runner).start()
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the node, every process (newest first) and the webhook; remove the directory."""
        if self.node is not None:
            self.node.stop()
            self.node = None
        if hasattr(self, "proxy"):
            self.proxy.stop()
            del self.proxy
        for _name, process in reversed(self._processes):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        # Nothing of this cluster outlives it: a component still shutting down gracefully after
        # a few seconds (kube-apiserver drains for longer) is killed.
        deadline = time.monotonic() + 3
        for _name, process in reversed(self._processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        self._processes.clear()
        if self._webhook is not None:
            self._webhook.stop()
            self._webhook = None
        if hasattr(self, "directory"):
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- installing ----------------------------------------------------------------------------

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """kubectl as the administrator (system:masters); ControlPlaneError if it fails and
        `check`."""
        with tempfile.NamedTemporaryFile(
            "w", suffix=".kubeconfig", dir=self.directory, delete=False
        ) as config:
            config.write(yaml.safe_dump(self.admin_kubeconfig("migrations")))
        try:
            return run_kubectl(Path(config.name), *args, check=check)
        finally:
            Path(config.name).unlink()

    def install(self, manifests: Path, *, group: str, timeout: float = 60.0) -> None:
        """Install the project's k8s/ here (see `install`)."""
        install(self.kubectl, manifests, group=group, timeout=timeout)

    # -- what clients need ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The apiserver's URL."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> bytes:
        """The CA that signed the apiserver's serving certificate."""
        return self._authority.pem

    @property
    def ca_data(self) -> str:
        """The CA as EKS's DescribeCluster gives it (base64 of the PEM)."""
        return _b64(self.ca_pem)

    def admin_kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        """A kubeconfig for the administrator (`system:masters`, by client certificate)."""
        user = {
            "client-certificate-data": _b64(self._admin.cert.read_bytes()),
            "client-key-data": _b64(self._admin.key.read_bytes()),
        }
        return self._kubeconfig("admin", user, namespace)

    def kubeconfig(self, *, token: str, namespace: str = "default") -> dict[str, Any]:
        """A kubeconfig that presents a bearer token (an EKS token, checked by the webhook)."""
        return self._kubeconfig("token", {"token": token}, namespace)

    def _kubeconfig(self, name: str, user: dict[str, str], namespace: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "control-plane",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": _b64(self.ca_pem),
                    },
                }
            ],
            "users": [{"name": name, "user": user}],
            "contexts": [
                {
                    "name": name,
                    "context": {"cluster": "control-plane", "user": name, "namespace": namespace},
                }
            ],
            "current-context": name,
        }

    # -- components ----------------------------------------------------------------------------

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self._etcd_url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            [
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={self._etcd_url}",
                f"--advertise-client-urls={self._etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait("etcd", f"{self._etcd_url}/health", context=None)

    def _start_apiserver(self) -> None:
        self.port = free_port()
        serving = self._authority.issue("kube-apiserver", server=True)
        kubelet_client = self._authority.issue(
            "kube-apiserver-kubelet-client", organizations=("kubeadm:cluster-admins",)
        )
        account_key = service_account_key(self.directory)
        arguments = [
            f"--etcd-servers={self._etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.directory / 'apiserver'}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={self._authority.cert}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={account_key}",
            f"--service-account-signing-key-file={account_key}",
            "--authorization-mode=RBAC",
            # As EKS and kubeadm run it: privileged (and hostProcess) pods are a matter for
            # admission (Pod Security, the project's policy), not refused by validation.
            "--allow-privileged=true",
            f"--kubelet-client-certificate={kubelet_client.cert}",
            f"--kubelet-client-key={kubelet_client.key}",
            f"--kubelet-certificate-authority={self._authority.cert}",
            "--kubelet-preferred-address-types=InternalIP",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=0",
        ]
        if self.authenticator is not None:
            self._webhook = TokenReviewServer(self.authenticator, self._authority).start()
            webhook = self._write_kubeconfig(
                "token-webhook.kubeconfig",
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "eks-authenticator",
                            "cluster": {
                                "server": self._webhook.url,
                                "certificate-authority": str(self._authority.cert),
                            },
                        }
                    ],
                    "users": [{"name": "kube-apiserver", "user": {}}],
                    "contexts": [
                        {
                            "name": "webhook",
                            "context": {"cluster": "eks-authenticator", "user": "kube-apiserver"},
                        }
                    ],
                    "current-context": "webhook",
                },
            )
            arguments += [
                f"--authentication-token-webhook-config-file={webhook}",
                "--authentication-token-webhook-version=v1",
                # EKS tokens last 15 minutes; tests mint new ones often. A short cache keeps a
                # refused token refused and lets a revoked access entry take effect quickly.
                "--authentication-token-webhook-cache-ttl=10s",
            ]
        self._spawn("kube-apiserver", arguments)
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        context.load_cert_chain(self._admin.cert, self._admin.key)
        self._wait("kube-apiserver", f"{self.url}/readyz", context=context)

    def _start_controllers(self, admin: Path) -> None:
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={admin}",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={self.directory / 'service-account.key'}",
                f"--root-ca-file={self._authority.cert}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=0",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [f"--kubeconfig={admin}", "--leader-elect=false", "--secure-port=0", "--v=0"],
        )

    # -- plumbing ------------------------------------------------------------------------------

    def _spawn(self, name: str, arguments: Sequence[str]) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [str(binaries_dir() / name), *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only a prctl call, before exec
        )
        self._processes.append((name, process))

    def _wait(self, name: str, url: str, *, context: ssl.SSLContext | None) -> None:
        deadline = time.monotonic() + self.ready_seconds
        process = dict(self._processes)[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ControlPlaneError(f"{name} exited ({process.returncode}): {self.log(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ControlPlaneError(f"{name} was not ready in {self.ready_seconds}s: {self.log(name)}")

    def log(self, name: str, *, lines: int = 20) -> str:
        """The last lines a component wrote."""
        path = self.directory / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _write_kubeconfig(self, name: str, document: dict[str, Any]) -> Path:
        path = self.directory / name
        path.write_text(yaml.safe_dump(document))
        path.chmod(0o600)
        return path


#: libc, loaded before any fork: the child between fork and exec must not load a library (other
#: threads may hold the loader's lock).
_LIBC = None
with contextlib.suppress(OSError):
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
_PR_SET_PDEATHSIG = 1
_KILL = int(signal.SIGKILL)


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the thread that started it ends, however the
    process ends (a test run killed mid-way leaves no control plane behind). Linux's
    PR_SET_PDEATHSIG; start the control plane from a thread that lives as long as it (pytest's
    session fixtures run on the main thread)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, _KILL)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
