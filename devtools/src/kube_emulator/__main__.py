"""Run the emulator as a process: `kube-emulator --port 6443 --kubeconfig out.yaml`."""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import threading
from pathlib import Path

from kube_emulator.auth import StaticToken
from kube_emulator.server import Emulator, EmulatorConfig


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM, with a generated admin token written to a kubeconfig."""
    parser = argparse.ArgumentParser(prog="kube-emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cluster-name", default="emulated-cluster")
    parser.add_argument(
        "--kubeconfig", type=Path, required=True, help="where to write an admin kubeconfig"
    )
    args = parser.parse_args(argv)
    token = secrets.token_urlsafe(24)
    config = EmulatorConfig(
        cluster_name=args.cluster_name,
        port=args.port,
        static_tokens=(StaticToken(token, "kube-admin"),),
    )
    with Emulator(config) as emulator:
        args.kubeconfig.write_text(json.dumps(emulator.kubeconfig(token=token), indent=2))
        args.kubeconfig.chmod(0o600)
        print(
            f"kube-emulator serving {emulator.url}; admin kubeconfig: {args.kubeconfig}", flush=True
        )
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
