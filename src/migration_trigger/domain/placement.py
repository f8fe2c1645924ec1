"""Where a migration's pod may run: a profile's nodeSelector, tolerations, node affinity and
priority class, checked as kube-apiserver checks them (pkg/apis/core/validation: label keys and
values, toleration operators and effects, node selector terms), so a bad profile is refused when
the profiles are loaded, not at the first Job. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from migration_trigger.errors import ConfigurationError

#: A label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters.
_LABEL_KEY = re.compile(
    r"(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
_OPERATORS = ("Equal", "Exists")
_EFFECTS = ("NoExecute", "NoSchedule", "PreferNoSchedule")
_SELECTOR_OPERATORS = ("DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn")
_TERM_KEYS = ("matchExpressions", "matchFields")

Fail = Callable[[str, str], ConfigurationError]


def node_selector(raw: Any, fail: Fail, key: str) -> Mapping[str, str]:
    """`nodeSelector`: label keys to label values."""
    if not isinstance(raw, dict):
        raise fail(key, "must map node label keys to values")
    for label, value in raw.items():
        _label(label, value, fail, key)
    return dict(raw)


def tolerations(raw: Any, fail: Fail, key: str) -> tuple[Mapping[str, Any], ...]:
    """`tolerations`: what the pod tolerates, as a pod spec lists it."""
    if not isinstance(raw, list):
        raise fail(key, "must be a list of tolerations")
    return tuple(_toleration(item, fail, f"{key}[{i}]") for i, item in enumerate(raw))


def _toleration(raw: Any, fail: Fail, key: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise fail(key, "must be an object")
    _only(raw, ("effect", "key", "operator", "tolerationSeconds", "value"), fail, key)
    operator = raw.get("operator", "Equal")
    if operator not in _OPERATORS:
        raise fail(f"{key}.operator", f"must be one of {list(_OPERATORS)}")
    if "key" in raw and not (isinstance(raw["key"], str) and _LABEL_KEY.fullmatch(raw["key"])):
        raise fail(f"{key}.key", "must be a label key")
    if not raw.get("key") and operator != "Exists":
        raise fail(key, "without a key, operator must be Exists (it then tolerates every taint)")
    value = raw.get("value", "")
    if operator == "Exists" and value:
        raise fail(f"{key}.value", "must be empty when operator is Exists")
    if not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
        raise fail(f"{key}.value", "must be a label value")
    _effect(raw, fail, key)
    return dict(raw)


def _effect(raw: dict[str, Any], fail: Fail, key: str) -> None:
    effect = raw.get("effect", "")
    if effect and effect not in _EFFECTS:
        raise fail(f"{key}.effect", f"must be one of {list(_EFFECTS)} (or absent: all)")
    if "tolerationSeconds" in raw:
        seconds = raw["tolerationSeconds"]
        if effect != "NoExecute":
            raise fail(f"{key}.tolerationSeconds", "is only for effect NoExecute")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
            raise fail(f"{key}.tolerationSeconds", "must be a non-negative integer")


def affinity(raw: Any, fail: Fail, key: str) -> Mapping[str, Any]:
    """`affinity`: node affinity only (a migration pod has no peers to be placed beside)."""
    if not isinstance(raw, dict):
        raise fail(key, "must be an object with 'nodeAffinity'")
    _only(raw, ("nodeAffinity",), fail, key)
    node = raw.get("nodeAffinity")
    where = f"{key}.nodeAffinity"
    if not isinstance(node, dict):
        raise fail(where, "must be an object")
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    preferred = "preferredDuringSchedulingIgnoredDuringExecution"
    _only(node, (preferred, required), fail, where)
    if required in node:
        terms = node[required]
        if not isinstance(terms, dict) or not isinstance(terms.get("nodeSelectorTerms"), list):
            raise fail(f"{where}.{required}", "must be an object with a list 'nodeSelectorTerms'")
        _only(terms, ("nodeSelectorTerms",), fail, f"{where}.{required}")
        if not terms["nodeSelectorTerms"]:
            raise fail(f"{where}.{required}.nodeSelectorTerms", "must not be empty")
        for i, term in enumerate(terms["nodeSelectorTerms"]):
            _term(term, fail, f"{where}.{required}.nodeSelectorTerms[{i}]")
    for i, item in enumerate(_list(node.get(preferred, []), fail, f"{where}.{preferred}")):
        here = f"{where}.{preferred}[{i}]"
        if not isinstance(item, dict):
            raise fail(here, "must be an object with 'weight' and 'preference'")
        _only(item, ("preference", "weight"), fail, here)
        weight = item.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
            raise fail(f"{here}.weight", "must be an integer from 1 to 100")
        _term(item.get("preference"), fail, f"{here}.preference")
    return dict(raw)


def _term(raw: Any, fail: Fail, key: str) -> None:
    if not isinstance(raw, dict):
        raise fail(key, f"must be an object of {list(_TERM_KEYS)}")
    _only(raw, _TERM_KEYS, fail, key)
    for part in _TERM_KEYS:
        for i, requirement in enumerate(_list(raw.get(part, []), fail, f"{key}.{part}")):
            _requirement(requirement, fail, f"{key}.{part}[{i}]")


def _requirement(raw: Any, fail: Fail, key: str) -> None:
    if not isinstance(raw, dict):
        raise fail(key, "must be an object with 'key', 'operator' and 'values'")
    _only(raw, ("key", "operator", "values"), fail, key)
    if not isinstance(raw.get("key"), str) or not _LABEL_KEY.fullmatch(raw["key"]):
        raise fail(f"{key}.key", "must be a label key")
    operator = raw.get("operator")
    if operator not in _SELECTOR_OPERATORS:
        raise fail(f"{key}.operator", f"must be one of {list(_SELECTOR_OPERATORS)}")
    values = _list(raw.get("values", []), fail, f"{key}.values")
    if not all(isinstance(v, str) for v in values):
        raise fail(f"{key}.values", "must be a list of strings")
    if operator in ("In", "NotIn") and not values:
        raise fail(f"{key}.values", f"must not be empty for {operator}")
    if operator in ("Exists", "DoesNotExist") and values:
        raise fail(f"{key}.values", f"must be empty for {operator}")
    if operator in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
        raise fail(f"{key}.values", f"must be one integer for {operator}")


def priority_class(raw: Any, fail: Fail, key: str) -> str:
    """`priorityClassName`: the name of a PriorityClass (a DNS subdomain)."""
    if not isinstance(raw, str) or len(raw) > 253 or not _SUBDOMAIN.fullmatch(raw):
        raise fail(key, "must be a PriorityClass name (a DNS subdomain)")
    return raw


def place(pod: dict[str, Any], profile: Any) -> None:
    """Write the profile's placement into a pod spec (fields the profile does not set stay)."""
    if profile.node_selector:
        pod["nodeSelector"] = dict(profile.node_selector)
    if profile.tolerations:
        pod["tolerations"] = [dict(t) for t in profile.tolerations]
    if profile.affinity:
        pod["affinity"] = _plain(profile.affinity)
    if profile.priority_class_name:
        pod["priorityClassName"] = profile.priority_class_name


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _label(label: Any, value: Any, fail: Fail, key: str) -> None:
    if not isinstance(label, str) or not _LABEL_KEY.fullmatch(label):
        raise fail(key, f"key {label!r} is not a label key")
    if not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
        raise fail(f"{key}.{label}", "must be a label value (63 characters at most)")


def _only(raw: dict[str, Any], allowed: tuple[str, ...], fail: Fail, key: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise fail(key, f"has unknown keys {unknown}; allowed: {list(allowed)}")


def _list(raw: Any, fail: Fail, key: str) -> list[Any]:
    if not isinstance(raw, list):
        raise fail(key, "must be a list")
    return raw
