"""RBAC authorization from the Role/ClusterRole/(Cluster)RoleBinding objects in the store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kube_emulator.auth import Identity
from kube_emulator.errors import ApiError
from kube_emulator.resources import require
from kube_emulator.store import Store

SUPERUSER_GROUP = "system:masters"
_ROLES = require("rbac.authorization.k8s.io", "v1", "roles")
_ROLE_BINDINGS = require("rbac.authorization.k8s.io", "v1", "rolebindings")
_CLUSTER_ROLES = require("rbac.authorization.k8s.io", "v1", "clusterroles")
_CLUSTER_ROLE_BINDINGS = require("rbac.authorization.k8s.io", "v1", "clusterrolebindings")


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do, in the authorizer's terms."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


class RbacAuthorizer:
    """Grants a request when some binding for the user or one of its groups has a matching rule."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def authorize(self, who: Identity, attrs: Attributes) -> None:
        """Return when allowed; raise ApiError 403 with the API server's message otherwise."""
        allowed, _ = self.review(who, attrs)
        if not allowed:
            raise forbidden(who, attrs)

    def review(self, who: Identity, attrs: Attributes) -> tuple[bool, str]:
        """Whether a request is allowed, and the reason a SubjectAccessReview reports: the RBAC
        authorizer's "RBAC: allowed by <binding>" (authorizingVisitor in
        plugin/pkg/auth/authorizer/rbac/rbac.go), and no reason when no rule allows it (its
        NoOpinion). system:masters is allowed by the privileged-group authorizer ahead of RBAC
        (pkg/kubeapiserver/authorizer), which gives no reason."""
        if SUPERUSER_GROUP in who.groups:
            return True, ""
        for source, rule in self._rules_for(who, attrs.namespace):
            if _rule_allows(rule, attrs):
                return True, f"RBAC: allowed by {source}"
        return False, ""

    def _rules_for(self, who: Identity, namespace: str) -> Iterable[tuple[str, dict[str, Any]]]:
        bindings, _ = self._store.select(_CLUSTER_ROLE_BINDINGS, None)
        if namespace:
            local, _ = self._store.select(_ROLE_BINDINGS, namespace)
            bindings += local
        for binding in bindings:
            subject = next(
                (s for s in binding.get("subjects") or [] if _subject_matches(s, who, binding)),
                None,
            )
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "Role":
                role = self._store.find(
                    _ROLES, binding["metadata"].get("namespace", ""), ref["name"]
                )
            else:
                role = self._store.find(_CLUSTER_ROLES, "", ref.get("name", ""))
            if role is not None:
                source = _describe_binding(binding, subject)
                for rule in role.get("rules") or []:
                    yield source, rule


def _describe_binding(binding: dict[str, Any], subject: dict[str, Any]) -> str:
    """roleBindingDescriber / clusterRoleBindingDescriber and describeSubject
    (pkg/registry/rbac/validation/rule.go)."""
    meta, ref = binding["metadata"], binding.get("roleRef") or {}
    namespace = meta.get("namespace", "")
    name = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        name = f"{subject.get('namespace') or namespace}/{name}"
    described = f'{subject.get("kind")} "{name}"'
    if namespace:
        return (
            f'RoleBinding "{meta["name"]}/{namespace}" of {ref.get("kind")} '
            f'"{ref.get("name")}" to {described}'
        )
    return (
        f'ClusterRoleBinding "{meta["name"]}" of {ref.get("kind")} "{ref.get("name")}" '
        f"to {described}"
    )


def _subject_matches(subject: dict[str, Any], who: Identity, binding: dict[str, Any]) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == who.username
    if kind == "Group":
        return name in who.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding["metadata"].get("namespace", "")
        return who.username == f"system:serviceaccount:{namespace}:{name}"
    return False


def _rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    verbs, groups = rule.get("verbs") or [], rule.get("apiGroups") or []
    resources, names = rule.get("resources") or [], rule.get("resourceNames") or []
    wanted = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return bool(
        ("*" in verbs or attrs.verb in verbs)
        and ("*" in groups or attrs.group in groups)
        and (
            "*" in resources
            or wanted in resources
            or (attrs.subresource and f"*/{attrs.subresource}" in resources)
        )
        and (not names or attrs.name in names)
    )


def forbidden(who: Identity, attrs: Attributes) -> ApiError:
    """403 in the shape of the API server's RBAC denial."""
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    wanted = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{who.username}" cannot {attrs.verb} resource "{wanted}" '
        f'in API group "{attrs.group}" {scope}'
    )
    details: dict[str, Any] = {"group": attrs.group, "kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    return ApiError(403, message, details=details)
