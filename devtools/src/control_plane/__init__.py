"""The real Kubernetes control plane for tests and the local stack (see cluster.py)."""

from control_plane.cluster import (
    ControlPlane,
    ControlPlaneError,
    available,
    binaries_dir,
    install,
    run_kubectl,
)

__all__ = [
    "ControlPlane",
    "ControlPlaneError",
    "available",
    "binaries_dir",
    "install",
    "run_kubectl",
]
