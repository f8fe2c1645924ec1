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
    #: Set for a non-resource request (a URL path such as /healthz), which has no group,
    #: resource or namespace: IsResourceRequest() false.
    path: str | None = None


class RbacAuthorizer:
    """Grants a request when some binding for the user or one of its groups has a matching rule."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def authorize(self, who: Identity, attrs: Attributes) -> None:
        """Return when allowed; raise ApiError 403 with the API server's message otherwise."""
        allowed, reason = self.review(who, attrs)
        if not allowed:
            raise forbidden(who, attrs, reason)

    def review(self, who: Identity, attrs: Attributes) -> tuple[bool, str]:
        """Whether a request is allowed, and the reason a SubjectAccessReview reports: the RBAC
        authorizer's "RBAC: allowed by <binding>" (authorizingVisitor in
        plugin/pkg/auth/authorizer/rbac/rbac.go). When no rule allows it, RBAC has no opinion
        and its reason is "RBAC: " and the aggregate of the errors met resolving the bindings'
        roles (a role that does not exist), or none without errors. system:masters is allowed
        by the privileged-group authorizer ahead of RBAC (pkg/kubeapiserver/authorizer), which
        gives no reason."""
        if SUPERUSER_GROUP in who.groups:
            return True, ""
        errors: list[str] = []
        for source, rules, error in self._visit_rules_for(who, attrs.namespace):
            if error:
                errors.append(error)
            elif any(_rule_allows(rule, attrs) for rule in rules):
                return True, f"RBAC: allowed by {source}"
        return False, f"RBAC: {_aggregate(errors)}" if errors else ""

    def _visit_rules_for(
        self, who: Identity, namespace: str
    ) -> Iterable[tuple[str, list[dict[str, Any]], str]]:
        """(binding described, its role's rules, the error resolving the role) for each binding
        that applies to the user: VisitRulesFor in pkg/registry/rbac/validation/rule.go, cluster
        bindings first, then those of the namespace."""
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
            rules, error = self._role_reference_rules(
                binding.get("roleRef") or {}, binding["metadata"].get("namespace", "")
            )
            yield _describe_binding(binding, subject), rules, error

    def _role_reference_rules(
        self, ref: dict[str, Any], namespace: str
    ) -> tuple[list[dict[str, Any]], str]:
        """GetRoleReferenceRules (rule.go): the role's rules, or the lister's NotFound for a
        role that does not exist (client-go listers/rbac/v1 name the resources `role` and
        `clusterrole`)."""
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "Role":
            role = self._store.find(_ROLES, namespace, name)
            missing = f'role.rbac.authorization.k8s.io "{name}" not found'
        elif kind == "ClusterRole":
            role = self._store.find(_CLUSTER_ROLES, "", name)
            missing = f'clusterrole.rbac.authorization.k8s.io "{name}" not found'
        else:
            return [], f'unsupported role reference kind: "{kind}"'
        if role is None:
            return [], missing
        return list(role.get("rules") or []), ""


def _aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error() (apimachinery pkg/util/errors/errors.go): one
    message alone, several de-duplicated within brackets."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(errors) == 1 or len(unique) == 1 else f"[{', '.join(unique)}]"


def _describe_binding(binding: dict[str, Any], subject: dict[str, Any]) -> str:
    """roleBindingDescriber / clusterRoleBindingDescriber and describeSubject
    (pkg/registry/rbac/validation/rule.go): a ServiceAccount is "name/namespace", its namespace
    defaulting to the binding's ("" for a ClusterRoleBinding)."""
    meta, ref = binding["metadata"], binding.get("roleRef") or {}
    namespace = meta.get("namespace", "")
    name = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or namespace}"
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
    """RuleAllows (plugin/pkg/auth/authorizer/rbac/rbac.go) with the matchers of
    pkg/apis/rbac/v1/evaluation_helpers.go."""
    verbs, groups = rule.get("verbs") or [], rule.get("apiGroups") or []
    if attrs.path is not None:
        # NonResourceURLMatches: "*", the exact path, or a prefix ending in "*".
        path = attrs.path
        return ("*" in verbs or attrs.verb in verbs) and any(
            url in ("*", path) or (url.endswith("*") and path.startswith(url.rstrip("*")))
            for url in rule.get("nonResourceURLs") or []
        )
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


def forbidden(who: Identity, attrs: Attributes, reason: str = "") -> ApiError:
    """403 in the shape of the API server's RBAC denial: the authorizers' reason, when there is
    one, follows the message (Forbidden in k8s.io/apiserver
    pkg/endpoints/handlers/responsewriters/errors.go)."""
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    wanted = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{who.username}" cannot {attrs.verb} resource "{wanted}" '
        f'in API group "{attrs.group}" {scope}'
    )
    if reason:
        message = f"{message}: {reason}"
    details: dict[str, Any] = {"group": attrs.group, "kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    return ApiError(403, message, details=details)
