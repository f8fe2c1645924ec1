"""Pod Security Standards, `restricted` level (which includes `baseline`), as a checker for tests.

Rules from https://kubernetes.io/docs/concepts/security/pod-security-standards/ (policy "latest").
"""

from __future__ import annotations

from typing import Any

_ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
_SELINUX_TYPES = {
    None,
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
}


def violations(pod_spec: dict[str, Any]) -> list[str]:
    """Every rule of the restricted profile this pod spec breaks; empty when it passes."""
    found: list[str] = []
    pod_context = pod_spec.get("securityContext") or {}
    containers = [
        *pod_spec.get("initContainers", []),
        *pod_spec.get("containers", []),
        *pod_spec.get("ephemeralContainers", []),
    ]
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(key):
            found.append(f"{key} must be unset or false")
    for volume in pod_spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _ALLOWED_VOLUMES:
            found.append(f"volume {volume['name']} uses {sorted(kinds - _ALLOWED_VOLUMES)}")
    for sysctl in pod_context.get("sysctls", []):
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl.get('name')} is not in the safe set")
    if (pod_context.get("seLinuxOptions") or {}).get("type") not in _SELINUX_TYPES:
        found.append("pod seLinuxOptions.type is not allowed")
    if pod_context.get("runAsUser") == 0:
        found.append("pod runAsUser must not be 0")
    if (pod_context.get("windowsOptions") or {}).get("hostProcess"):
        found.append("pod windowsOptions.hostProcess must be false")
    for container in containers:
        name, context = container.get("name"), container.get("securityContext") or {}
        if context.get("privileged"):
            found.append(f"{name}: privileged must be false")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: capabilities must drop ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: only NET_BIND_SERVICE may be added")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{name}: runAsNonRoot must be true (pod or container)")
        if context.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser must not be 0")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get(
            "type"
        )
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount must be Default")
        if (context.get("seLinuxOptions") or {}).get("type") not in _SELINUX_TYPES:
            found.append(f"{name}: seLinuxOptions.type is not allowed")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"{name}: hostPort must be unset or 0")
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{name}: windowsOptions.hostProcess must be false")
    return found
