"""Create/update validation: names, required fields, immutable fields, with upstream messages."""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

from kube_emulator.errors import ApiError, invalid
from kube_emulator.resources import ResourceType

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
# Namespaces and service names are labels; most other kinds are subdomains.
_LABEL_NAMED = {"Namespace"}
Cause = tuple[str, str, str]


def invalid_field(rtype: ResourceType, name: str, field: str, message: str) -> ApiError:
    """422 for one invalid field."""
    return invalid(rtype.kind, rtype.group, name, [(field, "FieldValueInvalid", message)])


def _name_causes(rtype: ResourceType, name: Any) -> list[Cause]:
    if not name:
        return [
            (
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            )
        ]
    if not isinstance(name, str):
        return [("metadata.name", "FieldValueInvalid", "Invalid value: must be a string")]
    if rtype.kind in _LABEL_NAMED:
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            return [
                ("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {_LABEL_MSG}')
            ]
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        return [
            ("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {_SUBDOMAIN_MSG}')
        ]
    if rtype.kind == "Job" and len(name) > 63:
        # The job-name label carries the name, and label values stop at 63 characters.
        return [
            (
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be no more than 63 characters',
            )
        ]
    return []


def _pod_spec_causes(spec: Any, prefix: str, *, job: bool) -> list[Cause]:
    if not isinstance(spec, dict):
        return [(prefix, "FieldValueRequired", "Required value")]
    causes: list[Cause] = []
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append((f"{prefix}.containers", "FieldValueRequired", "Required value"))
        containers = []
    for i, container in enumerate(containers):
        path = f"{prefix}.containers[{i}]"
        if not isinstance(container, dict):
            causes.append((path, "FieldValueInvalid", "Invalid value: must be an object"))
            continue
        if not container.get("name"):
            causes.append((f"{path}.name", "FieldValueRequired", "Required value"))
        if not container.get("image"):
            causes.append((f"{path}.image", "FieldValueRequired", "Required value"))
        causes += _mount_causes(container.get("volumeMounts"), f"{path}.volumeMounts")
    policy = spec.get("restartPolicy", "Always")
    if job and policy not in ("OnFailure", "Never"):
        causes.append(
            (
                f"{prefix}.restartPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
            )
        )
    return causes


def _mount_causes(mounts: Any, prefix: str) -> list[Cause]:
    """validateLocalDescendingPath (pkg/apis/core/validation/validation.go) on each subPath: a
    relative path without a `..` element, so a mount never reaches outside its volume."""
    causes: list[Cause] = []
    for i, mount in enumerate(mounts if isinstance(mounts, list) else []):
        sub = mount.get("subPath") if isinstance(mount, dict) else None
        if not isinstance(sub, str) or not sub:
            continue
        field = f"{prefix}[{i}].subPath"
        if sub.startswith("/"):
            causes.append(
                (field, "FieldValueInvalid", f'Invalid value: "{sub}": must be a relative path')
            )
        if ".." in sub.replace("\\", "/").split("/"):
            causes.append(
                (field, "FieldValueInvalid", f"Invalid value: \"{sub}\": must not contain '..'")
            )
    return causes


def validate(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Raise 422 Invalid listing every problem found, as the API server does."""
    meta = obj.get("metadata", {})
    name = meta.get("name")
    causes = _name_causes(rtype, name)
    causes += _label_causes(meta.get("labels") or {})
    kind_causes = _KIND_CAUSES.get(rtype.kind)
    if kind_causes is not None:
        causes += kind_causes(obj)
    if causes:
        raise invalid(rtype.kind, rtype.group, str(name or ""), causes)


def _label_causes(labels: dict[Any, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in labels.items():
        if not isinstance(value, str) or len(value) > 63:
            causes.append(
                (
                    "metadata.labels",
                    "FieldValueInvalid",
                    f'Invalid value: "{value}": must be no more than 63 characters',
                )
            )
        if not isinstance(key, str) or not key:
            causes.append(
                ("metadata.labels", "FieldValueInvalid", "Invalid value: empty label key")
            )
    return causes


def _job_causes(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    if not isinstance(template, dict):
        causes.append(("spec.template", "FieldValueRequired", "Required value"))
    else:
        causes += _pod_spec_causes(template.get("spec"), "spec.template.spec", job=True)
    for field in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        value = (spec or {}).get(field)
        if value is not None and (not isinstance(value, int) or value < 0):
            causes.append(
                (
                    f"spec.{field}",
                    "FieldValueInvalid",
                    f"Invalid value: {value}: must be greater than or equal to 0",
                )
            )
    return causes


def _pod_causes(obj: dict[str, Any]) -> list[Cause]:
    return _pod_spec_causes(obj.get("spec"), "spec", job=False)


def _secret_causes(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError):
            # The value may be a credential: never echo it.
            causes.append(
                (f"data[{key}]", "FieldValueInvalid", "Invalid value: illegal base64 data")
            )
    return causes


def _binding_causes(obj: dict[str, Any]) -> list[Cause]:
    if not isinstance(obj.get("roleRef"), dict) or not obj["roleRef"].get("name"):
        return [("roleRef.name", "FieldValueRequired", "Required value")]
    return []


def _role_causes(obj: dict[str, Any]) -> list[Cause]:
    """A rule needs verbs, and a resource rule resources and API groups (upstream
    pkg/apis/rbac/validation ValidatePolicyRule)."""
    causes: list[Cause] = []
    for index, rule in enumerate(obj.get("rules") or []):
        at = f"rules[{index}]"
        if not rule.get("verbs"):
            causes.append(
                (
                    f"{at}.verbs",
                    "FieldValueRequired",
                    "Required value: verbs must contain at least one value",
                )
            )
        if rule.get("nonResourceURLs"):
            continue
        if not rule.get("apiGroups"):
            causes.append(
                (
                    f"{at}.apiGroups",
                    "FieldValueRequired",
                    "Required value: resource rules must supply at least one api group",
                )
            )
        if not rule.get("resources"):
            causes.append(
                (
                    f"{at}.resources",
                    "FieldValueRequired",
                    "Required value: resource rules must supply at least one resource",
                )
            )
    return causes


_KIND_CAUSES: dict[str, Callable[[dict[str, Any]], list[Cause]]] = {
    "Role": _role_causes,
    "ClusterRole": _role_causes,
    "Job": _job_causes,
    "Pod": _pod_causes,
    "Secret": _secret_causes,
    "RoleBinding": _binding_causes,
    "ClusterRoleBinding": _binding_causes,
}


def validate_update(rtype: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Raise 422 for changes the API server refuses on update (immutable fields and specs)."""
    update_causes = _UPDATE_CAUSES.get(rtype.kind)
    causes = update_causes(old, new) if update_causes else []
    if causes:
        raise invalid(rtype.kind, rtype.group, old["metadata"]["name"], causes)


def _job_update_causes(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    # A Job's pod template and selector are immutable (upstream ValidateJobUpdate).
    old_spec, new_spec = old.get("spec", {}), new.get("spec", {})
    return [
        (f"spec.{field}", "FieldValueInvalid", "Invalid value: field is immutable")
        for field in ("template", "selector", "completions")
        if field in old_spec and old_spec.get(field) != new_spec.get(field)
    ]


# pkg/apis/core/validation/validation.go, updatablePodSpecFields (joined with "," upstream too).
_UPDATABLE_POD_SPEC_FIELDS = ",".join(
    (
        "`spec.containers[*].image`",
        "`spec.initContainers[*].image`",
        "`spec.activeDeadlineSeconds`",
        "`spec.tolerations` (only additions to existing tolerations)",
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)",
    )
)


def _pod_update_causes(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """ValidatePodUpdate (pkg/apis/core/validation/validation.go): a pod's spec is fixed but for
    images, a shorter activeDeadlineSeconds, added tolerations and a grace period from <0 to 1."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    for key in ("containers", "initContainers"):
        # ValidateContainerUpdates: stops here, as upstream does.
        if len(new_spec.get(key) or []) != len(old_spec.get(key) or []):
            return [
                (
                    f"spec.{key}",
                    "FieldValueForbidden",
                    "Forbidden: pod updates may not add or remove containers",
                )
            ]
    causes = _deadline_causes(old_spec.get("activeDeadlineSeconds"), new_spec)
    old_tolerations = old_spec.get("tolerations") or []
    new_tolerations = new_spec.get("tolerations") or []
    if any(t not in new_tolerations for t in old_tolerations):
        causes.append(
            (
                "spec.tolerations",
                "FieldValueForbidden",
                "Forbidden: existing toleration can not be modified except its tolerationSeconds",
            )
        )
    munged = copy.deepcopy(new_spec)
    for key in ("containers", "initContainers"):
        for container, before in zip(munged.get(key) or [], old_spec.get(key) or [], strict=True):
            container["image"] = before.get("image")
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        munged.pop(key, None)
        if key in old_spec:
            munged[key] = old_spec[key]
    grace = old_spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = grace
    changed = list(_changed_paths(_pruned(old_spec), _pruned(munged), "spec"))
    if changed:
        # Upstream appends a Go cmp.Diff of the specs; the changed paths stand in for it.
        causes.append(
            (
                "spec",
                "FieldValueForbidden",
                "Forbidden: pod updates may not change fields other than "
                f"{_UPDATABLE_POD_SPEC_FIELDS}\nchanged: {', '.join(changed)}",
            )
        )
    return causes


def _deadline_causes(old: Any, new_spec: dict[str, Any]) -> list[Cause]:
    new = new_spec.get("activeDeadlineSeconds")
    path = "spec.activeDeadlineSeconds"
    if new is None:
        if old is None:
            return []
        return [
            (
                path,
                "FieldValueInvalid",
                "Invalid value: null: must not update from a positive integer to nil value",
            )
        ]
    if not isinstance(new, int) or new < 0 or new > 2**31 - 1:
        return [
            (
                path,
                "FieldValueInvalid",
                f"Invalid value: {new}: must be between 0 and 2147483647, inclusive",
            )
        ]
    if isinstance(old, int) and old < new:
        return [
            (
                path,
                "FieldValueInvalid",
                f"Invalid value: {new}: must be less than or equal to previous value",
            )
        ]
    return []


def _pruned(value: Any) -> Any:
    """Without null, empty list and empty map values: apiequality.Semantic.DeepEqual makes no
    difference between nil and empty, and clients drop or keep them at will."""
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _changed_paths(old: Any, new: Any, path: str) -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                yield from _changed_paths(old.get(key), new.get(key), f"{path}.{key}")
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (before, after) in enumerate(zip(old, new, strict=True)):
            if before != after:
                yield from _changed_paths(before, after, f"{path}[{i}]")
    elif old != new:
        yield path


_IMMUTABLE_SET = "Forbidden: field is immutable when `immutable` is set"


def _secret_update_causes(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """ValidateSecretUpdate: the type never changes; an immutable Secret keeps its data."""
    causes: list[Cause] = []
    if old.get("type") != new.get("type"):
        # The value is a type name, not a credential: upstream echoes it too.
        causes.append(
            ("type", "FieldValueInvalid", f'Invalid value: "{new.get("type")}": field is immutable')
        )
    return causes + _immutable_causes(old, new, ("data",))


def _configmap_update_causes(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """ValidateConfigMapUpdate: an immutable ConfigMap keeps its data and binaryData."""
    return _immutable_causes(old, new, ("data", "binaryData"))


def _immutable_causes(
    old: dict[str, Any], new: dict[str, Any], fields: tuple[str, ...]
) -> list[Cause]:
    if old.get("immutable") is not True:
        return []
    causes: list[Cause] = []
    if new.get("immutable") is not True:
        causes.append(("immutable", "FieldValueForbidden", _IMMUTABLE_SET))
    causes += [
        (field, "FieldValueForbidden", _IMMUTABLE_SET)
        for field in fields
        if (old.get(field) or {}) != (new.get(field) or {})
    ]
    return causes


_UPDATE_CAUSES: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[Cause]]] = {
    "Job": _job_update_causes,
    "Pod": _pod_update_causes,
    "Secret": _secret_update_causes,
    "ConfigMap": _configmap_update_causes,
}


def apply_defaults(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Defaults the API server fills in on create (needs metadata.uid already set)."""
    if rtype.kind != "Job":
        return
    spec = obj["spec"]
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("suspend", False)
    spec.setdefault("completionMode", "NonIndexed")
    # Without manualSelector the API server generates the selector from the Job's uid and labels
    # the template to match (pkg/registry/batch/job/strategy.go, generateSelector).
    selector_labels = {"batch.kubernetes.io/controller-uid": uid}
    spec.setdefault("selector", {"matchLabels": selector_labels})
    template_labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
    template_labels.update(
        {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
    )
    obj.setdefault("status", {})
