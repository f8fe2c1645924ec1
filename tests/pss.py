"""Pod Security Standards, `restricted` level (which includes `baseline`), as a checker for tests.

Rules from https://kubernetes.io/docs/concepts/security/pod-security-standards/ (policy "latest").
"""

from __future__ import annotations

from typing import Any

_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
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


Obj = dict[str, Any]


def _pod_rules(spec: Obj, pod: Obj) -> list[tuple[bool, str]]:
    """(broken, message) for each pod-level rule."""
    rules = [(bool(spec.get(key)), f"{key} must be unset or false") for key in _HOST_NAMESPACES]
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        rules.append(
            (
                not kinds <= _ALLOWED_VOLUMES,
                f"volume {volume['name']} uses {sorted(kinds - _ALLOWED_VOLUMES)}",
            )
        )
    for sysctl in pod.get("sysctls", []):
        rules.append(
            (
                sysctl.get("name") not in _SAFE_SYSCTLS,
                f"sysctl {sysctl.get('name')} is not in the safe set",
            )
        )
    return [
        *rules,
        (
            (pod.get("seLinuxOptions") or {}).get("type") not in _SELINUX_TYPES,
            "pod seLinuxOptions.type is not allowed",
        ),
        (pod.get("runAsUser") == 0, "pod runAsUser must not be 0"),
        (
            bool((pod.get("windowsOptions") or {}).get("hostProcess")),
            "pod windowsOptions.hostProcess must be false",
        ),
    ]


def _container_rules(container: Obj, pod: Obj) -> list[tuple[bool, str]]:
    """(broken, message) for each container-level rule."""
    context = container.get("securityContext") or {}
    capabilities = context.get("capabilities") or {}
    seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
    return [
        (bool(context.get("privileged")), "privileged must be false"),
        (
            context.get("allowPrivilegeEscalation") is not False,
            "allowPrivilegeEscalation must be false",
        ),
        ("ALL" not in (capabilities.get("drop") or []), "capabilities must drop ALL"),
        (
            bool(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}),
            "only NET_BIND_SERVICE may be added",
        ),
        (
            context.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True,
            "runAsNonRoot must be true (pod or container)",
        ),
        (context.get("runAsUser") == 0, "runAsUser must not be 0"),
        (
            seccomp not in ("RuntimeDefault", "Localhost"),
            "seccompProfile must be RuntimeDefault or Localhost",
        ),
        (context.get("procMount", "Default") != "Default", "procMount must be Default"),
        (
            (context.get("seLinuxOptions") or {}).get("type") not in _SELINUX_TYPES,
            "seLinuxOptions.type is not allowed",
        ),
        (
            any(port.get("hostPort") for port in container.get("ports", [])),
            "hostPort must be unset or 0",
        ),
        (
            bool((context.get("windowsOptions") or {}).get("hostProcess")),
            "windowsOptions.hostProcess must be false",
        ),
    ]


def violations(pod_spec: Obj) -> list[str]:
    """Every rule of the restricted profile this pod spec breaks; empty when it passes."""
    pod = pod_spec.get("securityContext") or {}
    found = [message for broken, message in _pod_rules(pod_spec, pod) if broken]
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod_spec.get(kind, []):
            name = container.get("name")
            found += [
                f"{name}: {message}"
                for broken, message in _container_rules(container, pod)
                if broken
            ]
    return found
