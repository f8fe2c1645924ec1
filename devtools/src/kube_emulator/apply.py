"""Server-side apply (PATCH `application/apply-patch+yaml` with a fieldManager): what is served and
what is left out, said plainly.

Served, after k8s.io/apimachinery pkg/util/managedfields (v0.31.0) and sigs.k8s.io/structured-
merge-diff v4.4.3:
- create when the object is absent (201), merge into it when present (200); the merge follows the
  served OpenAPI schema: `x-kubernetes-list-type: map` lists merge by their
  `x-kubernetes-list-map-keys`, `set` lists by value, `atomic` lists and `x-kubernetes-map-type:
  atomic` maps are replaced, other maps and structs merge field by field;
- each Apply manager's fields, kept in `metadata.managedFields` (operation Apply, FieldsV1) with the
  metadata fields stripMetaManager leaves out and, for a kind with a status subresource, `status`
  (the strategy's reset fields);
- a field the same manager applied before and omits now is removed, unless another manager owns it;
- a changed value of a field another Apply manager owns is a 409 Conflict naming it, unless
  `force=true`, which takes the field over;
- the API server's refusals: 422 without fieldManager (ValidatePatchOptions), 400 for a wrong
  apiVersion or for managedFields in the body (structuredMergeManager.Apply), 400 for YAML that
  does not decode, and 500 for a field the schema does not declare (the typed conversion's plain
  error, kubernetes/kubernetes#122480).

Left out: ownership of fields written by Update operations (create, update and the other patch
types record no managedFields here), so no conflict is ever reported against them and there is no
`before-first-apply` manager; strict decoding of duplicate YAML keys.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from kube_emulator.errors import ApiError
from kube_emulator.openapi import SchemaNode
from kube_emulator.resources import ResourceType

Path = tuple[tuple[str, Any], ...]
FieldSet = set[Path]
_STRIPPED_META = (
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
)


def decode(raw: bytes) -> dict[str, Any]:
    """The applied configuration: YAML (JSON is YAML), a mapping; 400 otherwise."""
    try:
        body = yaml.safe_load(raw or b"{}")
    except yaml.YAMLError as error:
        raise ApiError(400, f"error decoding YAML: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "error decoding YAML: the applied configuration must be a mapping")
    return body


def apply(
    rtype: ResourceType,
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    schema: SchemaNode,
    *,
    manager: str,
    force: bool,
    now: str,
    namespace: str,
    name: str,
) -> dict[str, Any]:
    """The object after `manager` applies `applied` to `live` (None: the object is absent)."""
    _check(rtype, applied, schema, namespace=namespace, name=name)
    applied = _without_nulls(applied)
    current = copy.deepcopy(live) if live is not None else {}
    meta = current.setdefault("metadata", {})
    owners = _owners(meta.get("managedFields") or [])
    new_set = _owned(rtype, field_set(schema, None, applied))
    conflicts = [
        (other, path)
        for other, paths in sorted(owners.items())
        if other != manager
        for path in sorted(new_set & paths, key=path_string)
        # An element of a list is owned with its fields; only the fields' values can differ.
        if path[-1][0] == "f" and _value_at(current, path) != _value_at(applied, path)
    ]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for other, path in conflicts:
        owners[other].discard(path)
    merged: dict[str, Any] = _merge(current, applied, schema, None)
    previous = owners.get(manager, set())
    others: FieldSet = set().union(*(p for m, p in owners.items() if m != manager))
    for path in sorted(previous - new_set - others, key=len, reverse=True):
        _remove(merged, path)
    owners[manager] = new_set
    merged.setdefault("metadata", {})["managedFields"] = [
        {
            "manager": who,
            "operation": "Apply",
            "apiVersion": rtype.api_version,
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": encode(paths),
        }
        for who, paths in sorted(owners.items())
        if paths
    ]
    return merged


def _check(
    rtype: ResourceType,
    applied: dict[str, Any],
    schema: SchemaNode,
    *,
    namespace: str,
    name: str,
) -> None:
    version = applied.get("apiVersion") or ""
    if version != rtype.api_version:
        raise ApiError(
            400,
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{version}, expected: {rtype.api_version}",
        )
    meta = applied.get("metadata") or {}
    if meta.get("managedFields") is not None:
        raise ApiError(400, "metadata.managedFields must be nil")
    undeclared = list(_undeclared(schema, None, applied, ""))
    if undeclared:
        gvk = f"{rtype.group}/{rtype.version}, Kind={rtype.kind}"
        where = f"{meta.get('namespace', namespace)}/{meta.get('name', name)}; {gvk}"
        errors = [f"{path}: field not declared in schema" for path in undeclared]
        detail = errors[0] if len(errors) == 1 else "\n  ".join(["errors:", *errors])
        raise ApiError(500, f"failed to create typed patch object ({where}): {detail}", reason="")


def _owned(rtype: ResourceType, paths: FieldSet) -> FieldSet:
    """Without what stripMetaManager strips (apiVersion, kind, metadata itself and its
    server-set fields, each with what lies below it) and, for the main resource of a kind with a
    status subresource, the strategy's reset field `status`."""
    stripped: list[Path] = [(("f", "apiVersion"),), (("f", "kind"),)]
    stripped += [(("f", "metadata"), ("f", field)) for field in _STRIPPED_META]
    if "status" in rtype.subresources:
        stripped.append((("f", "status"),))
    return {
        path
        for path in paths
        if path != (("f", "metadata"),) and not any(path[: len(s)] == s for s in stripped)
    }


# -- schema-typed walks ---------------------------------------------------------------------------


def _list_type(raw: Mapping[str, Any] | None) -> str:
    return str((raw or {}).get("x-kubernetes-list-type") or "atomic")


def _atomic_map(raw: Mapping[str, Any] | None, node: SchemaNode | None) -> bool:
    marks = (
        (raw or {}).get("x-kubernetes-map-type"),
        (node.schema if node else {}).get("x-kubernetes-map-type"),
    )
    return "atomic" in marks


def _key_of(item: Mapping[str, Any], keys: list[str]) -> tuple[tuple[str, Any], ...]:
    return tuple((k, item[k]) for k in sorted(keys) if k in item)


def field_set(node: SchemaNode | None, raw: Mapping[str, Any] | None, value: Any) -> FieldSet:
    """The fields a value sets, as structured-merge-diff's ToFieldSet: leaves, and the elements
    of associative lists and sets."""
    paths: FieldSet = set()
    _collect(node, raw, value, (), paths)
    return paths


def _collect(
    node: SchemaNode | None, raw: Mapping[str, Any] | None, value: Any, at: Path, out: FieldSet
) -> None:
    if isinstance(value, dict) and value and node is not None and not _atomic_map(raw, node):
        for key, child in value.items():
            child_raw = node.field(key)
            _collect(SchemaNode.of(child_raw), child_raw, child, (*at, ("f", key)), out)
        return
    list_type = _list_type(raw)
    if isinstance(value, list) and node is not None and list_type in ("map", "set"):
        items = node.items()
        keys = list((raw or {}).get("x-kubernetes-list-map-keys") or [])
        for item in value:
            if list_type == "set" or not isinstance(item, dict):
                out.add((*at, ("v", item)))
                continue
            element = (*at, ("k", _key_of(item, keys)))
            out.add(element)
            _collect(items, None, item, element, out)
        return
    if at:
        out.add(at)


def _undeclared(
    node: SchemaNode | None, raw: Mapping[str, Any] | None, value: Any, at: str
) -> Iterator[str]:
    """Fields the schema does not declare, with structured-merge-diff's paths
    (`.spec.template.spec.containers[name="app"].foo`)."""
    if node is None or node.open_ended:
        return
    if isinstance(value, dict):
        for key, child in value.items():
            child_raw = node.field(key)
            if child_raw is None:
                if node.is_struct or "additionalProperties" not in node.schema:
                    yield f"{at}.{key}"
                continue
            yield from _undeclared(SchemaNode.of(child_raw), child_raw, child, f"{at}.{key}")
    elif isinstance(value, list):
        items = node.items()
        keys = list((raw or {}).get("x-kubernetes-list-map-keys") or [])
        for i, item in enumerate(value):
            if _list_type(raw) == "map" and isinstance(item, dict):
                step = "[" + ",".join(f"{k}={_smd(v)}" for k, v in _key_of(item, keys)) + "]"
            else:
                step = f"[{i}]"
            yield from _undeclared(items, None, item, at + step)


def _smd(value: Any) -> str:
    """value.ToString (structured-merge-diff value/value.go): strings quoted, the rest as Go
    prints them."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _merge(live: Any, applied: Any, node: SchemaNode | None, raw: Mapping[str, Any] | None) -> Any:
    if isinstance(live, dict) and isinstance(applied, dict) and not _atomic_map(raw, node):
        merged = dict(live)
        for key, value in applied.items():
            child_raw = node.field(key) if node is not None else None
            merged[key] = _merge(live.get(key), value, SchemaNode.of(child_raw), child_raw)
        return merged
    list_type = _list_type(raw)
    if isinstance(live, list) and isinstance(applied, list) and list_type in ("map", "set"):
        if list_type == "set":
            return live + [v for v in applied if v not in live]
        keys = list((raw or {}).get("x-kubernetes-list-map-keys") or [])
        items = node.items() if node is not None else None
        merged_list = list(live)
        for item in applied:
            index = _index(merged_list, _key_of(item, keys), keys)
            if index is None:
                merged_list.append(item)
            else:
                merged_list[index] = _merge(merged_list[index], item, items, None)
        return merged_list
    return copy.deepcopy(applied)


def _index(items: list[Any], key: tuple[tuple[str, Any], ...], keys: list[str]) -> int | None:
    return next(
        (
            i
            for i, item in enumerate(items)
            if isinstance(item, dict) and _key_of(item, keys) == key
        ),
        None,
    )


def _step(value: Any, element: tuple[str, Any]) -> tuple[Any, Any]:
    """The container an element lives in and the value at it (None, None when absent)."""
    kind, what = element
    if kind == "f" and isinstance(value, dict) and what in value:
        return value, value[what]
    if kind == "k" and isinstance(value, list):
        index = _index(value, what, [k for k, _ in what])
        return (value, value[index]) if index is not None else (None, None)
    if kind == "v" and isinstance(value, list) and what in value:
        return value, what
    return None, None


def _value_at(obj: Any, path: Path) -> Any:
    value = obj
    for element in path:
        _, value = _step(value, element)
        if value is None:
            return None
    return value


def _remove(obj: Any, path: Path) -> None:
    container = obj
    for element in path[:-1]:
        _, container = _step(container, element)
        if container is None:
            return
    kind, what = path[-1]
    parent, value = _step(container, path[-1])
    if parent is None:
        return
    if kind == "f":
        del parent[what]
    else:
        parent.remove(value)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


# -- managedFields --------------------------------------------------------------------------------


def _owners(entries: list[dict[str, Any]]) -> dict[str, FieldSet]:
    owners: dict[str, FieldSet] = {}
    for entry in entries:
        if entry.get("operation") == "Apply" and entry.get("fieldsType") == "FieldsV1":
            owners[str(entry.get("manager", ""))] = decode_fields(entry.get("fieldsV1") or {})
    return owners


def _element_name(element: tuple[str, Any]) -> str:
    kind, what = element
    if kind == "f":
        return f"f:{what}"
    if kind == "k":
        return "k:" + json.dumps(dict(what), separators=(",", ":"), sort_keys=True)
    return "v:" + json.dumps(what, separators=(",", ":"))


def encode(paths: FieldSet) -> dict[str, Any]:
    """A field set as FieldsV1 (fieldpath/serialize.go): `f:`, `k:` and `v:` keys, `.` for an
    element that is itself in the set and has fields below it; keys sorted, as Go writes maps."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(_element_name(element), {})
    for path in paths:
        node = tree
        for element in path:
            node = node[_element_name(element)]
        if node:
            node["."] = {}
    return _sorted(tree)


def _sorted(tree: dict[str, Any]) -> dict[str, Any]:
    return {key: _sorted(tree[key]) for key in sorted(tree)}


def decode_fields(tree: Mapping[str, Any], at: Path = ()) -> FieldSet:
    """FieldsV1 back to a field set."""
    paths: FieldSet = set()
    for name, below in tree.items():
        if name == ".":
            paths.add(at)
            continue
        kind, _, text = name.partition(":")
        if kind == "f":
            element: tuple[str, Any] = ("f", text)
        elif kind == "k":
            element = ("k", tuple(sorted(json.loads(text).items())))
        else:
            element = ("v", json.loads(text))
        if below:
            paths |= decode_fields(below, (*at, element))
        else:
            paths.add((*at, element))
    return paths


def path_string(path: Path) -> str:
    """fieldpath.Path.String: `.spec.template.spec.containers[name="app"].image`."""
    out = []
    for kind, what in path:
        if kind == "f":
            out.append(f".{what}")
        elif kind == "k":
            out.append("[" + ",".join(f"{k}={_smd(v)}" for k, v in what) + "]")
        else:
            out.append(f"[={_smd(what)}]")
    return "".join(out)


def _conflict_error(conflicts: list[tuple[str, Path]]) -> ApiError:
    """NewConflictError (managedfields/internal/conflict.go): 409 Conflict, a cause per field."""
    if len(conflicts) == 1:
        who, path = conflicts[0]
        message = f'Apply failed with 1 conflict: conflict with "{who}": {path_string(path)}'
    else:
        lines = []
        for who in sorted({w for w, _ in conflicts}):
            lines.append(f'conflicts with "{who}":')
            lines += [f"- {path_string(p)}" for w, p in conflicts if w == who]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(
        409,
        message,
        reason="Conflict",
        details={
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{who}"',
                    "field": path_string(path),
                }
                for who, path in conflicts
            ]
        },
    )
