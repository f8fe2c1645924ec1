"""The resource types the emulator serves, and the discovery documents that describe them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: where it lives in the API and how it is named."""

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    # Extra field-selector labels beyond metadata.name/namespace, as the real registry allows.
    field_labels: tuple[str, ...] = ()
    # Default deletion propagation. batch/v1 Jobs orphan their pods unless asked otherwise, a
    # legacy default kept by the API server (pkg/registry/batch/job/strategy.go,
    # DefaultGarbageCollectionPolicy); kubectl sends Background explicitly.
    default_propagation: str = "Background"
    verbs: tuple[str, ...] = field(default=_ALL_VERBS)

    @property
    def api_version(self) -> str:
        """`v1` for the core group, `group/version` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name used in messages: `jobs.batch`, `pods`."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",)),
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        namespaced=True,
        short_names=("po",),
        subresources=("log", "status"),
        field_labels=("status.phase", "spec.nodeName", "spec.serviceAccountName"),
    ),
    ResourceType("", "v1", "secrets", "Secret", namespaced=True, field_labels=("type",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", namespaced=True, short_names=("cm",)),
    ResourceType(
        "", "v1", "serviceaccounts", "ServiceAccount", namespaced=True, short_names=("sa",)
    ),
    ResourceType(
        "batch",
        "v1",
        "jobs",
        "Job",
        namespaced=True,
        subresources=("status",),
        field_labels=("status.successful",),
        default_propagation="Orphan",
    ),
    # Served so that `kubectl describe` finds the object's events (searchEvents in
    # k8s.io/kubectl/pkg/describe/describe.go lists core/v1 events with an involvedObject field
    # selector). The emulator's controllers record none, so the list is empty, as on a cluster
    # whose events have expired. Field labels: ToSelectableFields in
    # pkg/registry/core/event/strategy.go ("source" left out: it names source.component).
    ResourceType(
        "",
        "v1",
        "events",
        "Event",
        namespaced=True,
        short_names=("ev",),
        field_labels=(
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "type",
        ),
    ),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", namespaced=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", namespaced=True),
    ResourceType(
        "rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
    ),
    # Enforced on writes by admission.py.
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        namespaced=False,
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        namespaced=False,
    ),
)

_BY_PATH = {(t.group, t.version, t.resource): t for t in RESOURCE_TYPES}
_BY_KIND = {(t.api_version, t.kind): t for t in RESOURCE_TYPES}


def lookup(group: str, version: str, resource: str) -> ResourceType | None:
    """The resource type served at this group/version/resource, if any."""
    return _BY_PATH.get((group, version, resource))


def require(group: str, version: str, resource: str) -> ResourceType:
    """The resource type served at this group/version/resource; KeyError when not served."""
    return _BY_PATH[(group, version, resource)]


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """The resource type of an object's apiVersion/kind, if served."""
    return _BY_KIND.get((api_version, kind))


def group_versions() -> dict[str, list[str]]:
    """Served versions by group; the core group is ''."""
    out: dict[str, list[str]] = {}
    for t in RESOURCE_TYPES:
        versions = out.setdefault(t.group, [])
        if t.version not in versions:
            versions.append(t.version)
    return out


def api_versions() -> dict[str, Any]:
    """Discovery document for /api."""
    return {
        "kind": "APIVersions",
        "versions": group_versions()[""],
        "serverAddressByClientCIDRs": [],
    }


def api_group_list() -> dict[str, Any]:
    """Discovery document for /apis."""
    groups = []
    for group, versions in group_versions().items():
        if not group:
            continue
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append(
            {"name": group, "versions": entries, "preferredVersion": entries[0]},
        )
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """Discovery document for /api/v1 or /apis/{group}/{version}."""
    types = [t for t in RESOURCE_TYPES if t.group == group and t.version == version]
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for t in types:
        resources.append(
            {
                "name": t.resource,
                "singularName": t.kind.lower(),
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": list(t.verbs),
                **({"shortNames": list(t.short_names)} if t.short_names else {}),
            }
        )
        for sub in t.subresources:
            resources.append(
                {
                    "name": f"{t.resource}/{sub}",
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": ["get"] if sub == "log" else ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
