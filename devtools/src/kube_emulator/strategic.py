"""Strategic merge patch (`application/strategic-merge-patch+json`), as kube-apiserver applies it.

A port of the applying half of k8s.io/apimachinery pkg/util/strategicpatch/patch.go (v0.31.0:
StrategicMergeMapPatchUsingLookupPatchMeta with MergeParallelList and IgnoreUnmatchedNulls, the
options the API server's smpPatcher uses). Lists merge by the `x-kubernetes-patch-merge-key` and
`x-kubernetes-patch-strategy` of the field in the OpenAPI document the emulator serves (the same
struct tags kube-apiserver reads them from); directives: `$patch: replace|delete` in maps and list
elements, `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.

Errors answer as PatchResource does (interpretStrategicMergePatchError in k8s.io/apiserver
pkg/endpoints/handlers/patch.go): 400 for a malformed directive, 422 for lists of lists, and any
other failure as a plain error, which the API server reports as a 500 without a reason.
"""

from __future__ import annotations

from typing import Any

from kube_emulator.errors import ApiError
from kube_emulator.openapi import SchemaNode

_DIRECTIVE = "$patch"
_DELETE = "delete"
_REPLACE = "replace"
_MERGE = "merge"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"
# pkg/util/mergepatch/errors.go
_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
_BAD_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
_LIST_OF_LISTS = "lists of lists are not supported"

Json = Any


def apply(original: dict[str, Any], patch: dict[str, Any], schema: SchemaNode) -> dict[str, Any]:
    """The object with the patch merged in (both arguments are consumed)."""
    return _merge_map(original, patch, _Meta(schema))


class _Meta:
    """LookupPatchMeta over the served OpenAPI schema (PatchMetaFromOpenAPIV3 in meta.go)."""

    def __init__(self, node: SchemaNode | None) -> None:
        self.node = node

    def name(self) -> str:
        if self.node is None:
            return "Struct"
        kind = self.node.schema.get("type")
        return str(kind) if kind else "Struct"

    def _field(self, key: str) -> tuple[dict[str, Any], SchemaNode | None]:
        raw = self.node.field(key) if self.node is not None else None
        return dict(raw or {}), SchemaNode.of(raw)

    def for_struct(self, key: str) -> tuple[_Meta, str, list[str]]:
        """The sub-schema of a map-valued field, its merge key and its patch strategies."""
        raw, node = self._field(key)
        return _Meta(node), *_patch_meta(raw)

    def for_slice(self, key: str) -> tuple[_Meta, str, list[str]]:
        """The schema of a list field's items, its merge key and its patch strategies."""
        raw, node = self._field(key)
        return _Meta(node.items() if node is not None else None), *_patch_meta(raw)


def _patch_meta(raw: dict[str, Any]) -> tuple[str, list[str]]:
    strategy = raw.get("x-kubernetes-patch-strategy")
    return str(raw.get("x-kubernetes-patch-merge-key") or ""), (
        str(strategy).split(",") if strategy else []
    )


def _retain_keys_strategy(strategies: list[str]) -> str:
    """extractRetainKeysPatchStrategy: the strategy besides `retainKeys`."""
    others = [s for s in strategies if s != "retainKeys"]
    if len(strategies) > 2 or (len(strategies) == 2 and len(others) != 1):
        raise _internal(f"unexpected patch strategy: [{' '.join(strategies)}]")
    return others[0] if others else ""


def _merge_map(
    original: dict[str, Any] | None, patch: dict[str, Any], meta: _Meta
) -> dict[str, Any]:
    if _DIRECTIVE in patch:
        return _directive_in_map(patch[_DIRECTIVE], patch)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, meta)
    for key, value in list(patch.items()):
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            _merge_field(
                original, _extract_key(key, _DELETE_FROM_PRIMITIVE_LIST), value, meta, True
            )
        else:
            _merge_field(original, key, value, meta, False)
    return original


def _merge_field(
    original: dict[str, Any], key: str, value: Json, meta: _Meta, is_delete_list: bool
) -> None:
    """One key of mergeMap's loop: null deletes, a new key or a new type is taken as patched,
    maps and lists merge by the field's strategy, anything else is replaced."""
    if value is None:
        original.pop(key, None)
        return
    if key not in original or type(original[key]) is not type(value):
        if not is_delete_list:
            _discard_nulls(value)
            _set_without_directives(original, key, value)
        return
    if isinstance(value, dict):
        sub, _, strategies = meta.for_struct(key)
        if _retain_keys_strategy(strategies) != _REPLACE:
            original[key] = _merge_map(original[key], value, sub)
        else:
            original[key] = value
    elif isinstance(value, list):
        sub, merge_key, strategies = meta.for_slice(key)
        if _retain_keys_strategy(strategies) == _MERGE or is_delete_list:
            original[key] = _merge_slice(original[key], value, sub, merge_key, is_delete_list)
        else:
            original[key] = value
    else:
        _set_without_directives(original, key, value)


def _set_without_directives(target: dict[str, Any], key: str, value: Json) -> None:
    stripped, keep = _remove_directives(value)
    if keep:
        target[key] = stripped
    else:
        target.pop(key, None)


def _directive_in_map(directive: Json, patch: dict[str, Any]) -> dict[str, Any]:
    """handleDirectiveInMergeMap: `replace` takes the patch as it is, `delete` empties the map."""
    if directive == _REPLACE:
        del patch[_DIRECTIVE]
        return patch
    if directive == _DELETE:
        return {}
    raise _internal(f"unknown patch type: {go_format(directive)} in map: {go_format(patch)}")


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """`$retainKeys`: every key the patch sets must be listed; the original keeps only those."""
    if _RETAIN_KEYS not in patch:
        return
    retained = patch.pop(_RETAIN_KEYS)
    if not isinstance(retained, list):
        raise ApiError(400, _BAD_RETAIN_KEYS)
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
            continue
        if key not in retained:
            raise ApiError(400, _BAD_RETAIN_KEYS)
    for key in [k for k in original if k not in retained]:
        del original[key]


def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], meta: _Meta) -> None:
    """mergePatchIntoOriginal: each `$setElementOrder/<list>` with its list, in that order."""
    for directive in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _internal(f"expected a []interface {{}}, but received a {_go_type(order)}")
        key = _extract_key(directive, _SET_ELEMENT_ORDER)
        found_original, found_patch = key in original, key in patch
        original_list = original.get(key) if found_original else None
        patch_list = patch.get(key) if found_patch else None
        for value in (original_list, patch_list):
            if value is not None and not isinstance(value, list):
                raise _internal(f"expected a []interface {{}}, but received a {_go_type(value)}")
        sub, merge_key, strategies = meta.for_slice(key)
        strategy = _retain_keys_strategy(strategies)
        _check_order_list(patch_list or [], order, merge_key)
        if found_original and not found_patch:
            merged = original_list or []
        elif found_patch and not found_original:
            merged, _ = _remove_directives(patch_list)
        elif found_original and found_patch:
            if strategy == _MERGE:
                merged = _merge_slice(original_list or [], patch_list or [], sub, merge_key, False)
            else:
                merged = patch_list or []
        else:
            continue
        if merge_key:
            in_order, server_only = _partition_maps(merged, order, merge_key)
        else:
            in_order, server_only = _partition_scalars(merged, order)
        kind = _element_kind(original_list or [], patch_list or [])
        original[key] = _normalize_order(
            in_order,
            server_only,
            patch_order=order,
            server_order=original_list or [],
            merge_key=merge_key,
            kind=kind,
        )
        patch.pop(key, None)


def _check_order_list(patch_list: list[Json], order: list[Json], merge_key: str) -> None:
    """validatePatchWithSetOrderList: the patch's items appear in the order list, in its order."""
    if not order or not patch_list:
        return
    items = [i for i in patch_list if not _is_delete(i)] if merge_key else patch_list
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and _DIRECTIVE in items[p]:
            p += 1
            continue
        if _merge_key_equal(items[p], order[s], merge_key):
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise _internal(
            f"The order in patch list:\n{go_format(patch_list)}\n doesn't match "
            f"{_SET_ELEMENT_ORDER} list:\n{go_format(order)}\n",
        )


def _merge_key_equal(left: Json, right: Json, merge_key: str) -> bool:
    if not merge_key:
        return bool(left == right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise _internal(
                f"expected a map[string]interface {{}}, but received a {_go_type(item)}"
            )
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
    return bool(left[merge_key] == right[merge_key])


def _merge_slice(
    original: list[Json], patch: list[Json], meta: _Meta, merge_key: str, is_delete_list: bool
) -> list[Json]:
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    if kind != "map":
        if is_delete_list:
            return [v for v in original if v not in patch]
        merged = _dedupe(original + patch)
    else:
        if not merge_key:
            raise _internal(f"cannot merge lists without merge key for {meta.name()}")
        original, patch = _special_elements(original, patch, merge_key)
        merged = _merge_by_key(list(original), patch, merge_key, meta)
    if merge_key:
        in_patch, server_only = _partition_maps(merged, patch, merge_key)
    else:
        in_patch, server_only = _partition_scalars(merged, patch)
    return _normalize_order(
        in_patch,
        server_only,
        patch_order=patch,
        server_order=original,
        merge_key=merge_key,
        kind=kind,
    )


def _special_elements(
    original: list[Json], patch: list[Json], merge_key: str
) -> tuple[list[Json], list[Json]]:
    """mergeSliceWithSpecialElements: `$patch: delete` drops the original's element with that
    key; `$patch: replace` makes the list the patch's other elements."""
    plain: list[Json] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == _DELETE:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            original = [o for o in original if o.get(merge_key) != item[merge_key]]
        elif directive == _REPLACE:
            replace = True
        elif directive == _MERGE:
            raise _internal("merging lists cannot yet be specified in the patch")
        else:
            raise _internal(f"unknown patch type: {go_format(directive)} in map: {go_format(item)}")
    return (plain, []) if replace else (original, plain)


def _merge_by_key(
    original: list[Json], patch: list[Json], merge_key: str, meta: _Meta
) -> list[Json]:
    """mergeSliceWithoutSpecialElements: an element with the same key merges, others append."""
    for item in patch:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        index = _find(original, merge_key, item[merge_key])
        if index is None:
            original.append(item)
        else:
            original[index] = _merge_map(original[index], item, meta)
    return original


def _find(items: list[Json], merge_key: str, value: Json) -> int | None:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _internal(f"value for key {i} is not a map")
        if merge_key in item and item[merge_key] == value:
            return i
    return None


def _element_kind(*lists: list[Json]) -> str:
    """sliceElementType: every element of the lists has one type, and it is not a list."""
    kind = ""
    for items in lists:
        for item in items:
            current = _go_type(item)
            if not kind:
                kind = current
                if isinstance(item, list):
                    raise ApiError(
                        422,
                        "the server rejected our request due to an error in our request",
                        details={
                            "causes": [
                                {"reason": "UnexpectedServerResponse", "message": _LIST_OF_LISTS}
                            ]
                        },
                    )
            elif kind != current:
                raise _internal(f"list element types are not identical: {go_format(list(lists))}")
    if not kind:
        raise _internal("no elements in any of the given slices")
    return "map" if kind.startswith("map") else kind


def _dedupe(items: list[Json]) -> list[Json]:
    kept: list[Json] = []
    for item in items:
        if item not in kept:
            kept.append(item)
    return kept


def _partition_scalars(items: list[Json], by: list[Json]) -> tuple[list[Json], list[Json]]:
    return [i for i in items if i in by], [i for i in items if i not in by]


def _partition_maps(
    items: list[Json], by: list[Json], merge_key: str
) -> tuple[list[Json], list[Json]]:
    inside: list[Json] = []
    outside: list[Json] = []
    for item in items:
        if not isinstance(item, dict):
            raise _internal(
                f"expected a map[string]interface {{}}, but received a {_go_type(item)}"
            )
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        (inside if _find(by, merge_key, item[merge_key]) is not None else outside).append(item)
    return inside, outside


def _normalize_order(
    patch_items: list[Json],
    server_only: list[Json],
    *,
    patch_order: list[Json],
    server_order: list[Json],
    merge_key: str,
    kind: str,
) -> list[Json]:
    """normalizeElementOrder: the patch's items in the patch's order, the server's in the live
    order, interleaved by the live order as far as both are in it (mergeSortedSlice)."""
    patch_items = _sort_by(patch_items, patch_order, merge_key, kind)
    server_only = _sort_by(server_only, server_order, merge_key, kind)

    def position(item: Json) -> int:
        return _index(server_order, item, merge_key, kind)

    merged: list[Json] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if i >= len(server_only):
            merged.append(patch_items[j])
            j += 1
        elif j >= len(patch_items):
            merged.append(server_only[i])
            i += 1
        else:
            left, right = position(server_only[i]), position(patch_items[j])
            if left >= 0 and right >= 0 and left < right:
                merged.append(server_only[i])
                i += 1
            else:
                merged.append(patch_items[j])
                j += 1
    return merged


def _sort_by(items: list[Json], order: list[Json], merge_key: str, kind: str) -> list[Json]:
    """normalizeSliceOrder: by position in `order`; deletions (maps) go last."""
    deletions: list[Json] = []
    if kind == "map":
        for item in [*items, *order]:
            if not isinstance(item, dict) or merge_key not in item:
                raise _no_merge_key(item if isinstance(item, dict) else {}, merge_key)
        deletions = [i for i in items if _is_delete(i)]
        items = [i for i in items if not _is_delete(i)]
    ranked = sorted(
        enumerate(items),
        key=lambda pair: (_index(order, pair[1], merge_key, kind), pair[0]),
    )
    return [item for _, item in ranked] + deletions


def _index(items: list[Json], value: Json, merge_key: str, kind: str) -> int:
    def key_of(item: Json) -> Json:
        if kind == "map":
            return item.get(merge_key) if isinstance(item, dict) else None
        return item

    wanted = key_of(value)
    return next((i for i, item in enumerate(items) if key_of(item) == wanted), -1)


def _is_delete(item: Json) -> bool:
    return isinstance(item, dict) and item.get(_DIRECTIVE) == _DELETE


def _remove_directives(value: Json) -> tuple[Json, bool]:
    """removeDirectives: a map holding `$patch` is dropped; directives go from everything below."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return None, False
        for key in list(value):
            stripped, keep = _remove_directives(value[key])
            if keep:
                value[key] = stripped
            else:
                del value[key]
        return value, True
    if isinstance(value, list):
        kept = []
        for item in value:
            stripped, keep = _remove_directives(item)
            if keep:
                kept.append(stripped)
        return kept, True
    return value, True


def _discard_nulls(value: Json) -> None:
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for item in value.values():
            _discard_nulls(item)
    elif isinstance(value, list):
        for item in value:
            _discard_nulls(item)


def _extract_key(key: str, prefix: str) -> str:
    head, _, rest = key.partition("/")
    if not rest or head != prefix:
        message = (
            _BAD_PRIMITIVE_LIST
            if prefix == _DELETE_FROM_PRIMITIVE_LIST
            else (_BAD_SET_ELEMENT_ORDER)
        )
        raise ApiError(400, message)
    return rest


def _no_merge_key(item: dict[str, Any], merge_key: str) -> ApiError:
    return _internal(f"map: {go_format(item)} does not contain declared merge key: {merge_key}")


def _internal(message: str) -> ApiError:
    """A plain Go error reaching the API server's error writer: 500 with no reason
    (ErrorToAPIStatus in k8s.io/apiserver pkg/endpoints/handlers/responsewriters/status.go)."""
    return ApiError(500, message, reason="")


def _go_type(value: Json) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if value is None:
        return "<nil>"
    return "string"


def go_format(value: Json) -> str:
    """A decoded JSON value as Go's %v prints it (`map[image:busybox name:sleep]`)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
