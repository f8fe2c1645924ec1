"""The OpenAPI documents the emulator serves (/openapi/v2, /openapi/v3), and the schema the patch,
apply and field-validation rules read from them, so there is one source of truth for all three.

Source of the definitions: the JSON schemas kubernetes-validate ships for the Kubernetes version
the emulator claims (`kubernetes_validate/kubernetes-json-schema/v1.31.0-local/_definitions.json`,
kubernetes-validate 1.37.0). They are kube-apiserver's OpenAPI definitions, descriptions and
`x-kubernetes-*` extensions included, run through openapi2jsonschema; `_unconvert` undoes what
that conversion adds, so no schema here is written by hand. Compared with the real documents
(kubernetes/kubernetes api/openapi-spec/v3/*.json, copies in client-go openapi/openapitest/
testdata) they lack only the `default` values kube-openapi adds to v3 properties.

The paths are built from the resource table (resources.py) in the shape kube-openapi gives them
(operationId, x-kubernetes-action, x-kubernetes-group-version-kind, the query parameters each verb
takes, the patch media types), listing only what the emulator serves, and JSON only.

Who reads what: kubectl (1.27+) reads /openapi/v3 as JSON: the PATCH operation's
`fieldValidation` parameter tells it the server validates fields (cli-runtime
pkg/resource/query_param_verifier_v3.go), and the components' patch extensions are what it
computes `kubectl apply` patches from (kubectl pkg/cmd/apply/patcher.go,
buildStrategicMergePatchFromOpenAPIV3). /openapi/v2 is asked for in
protobuf only (client-go discovery OpenAPISchema, no JSON fallback); the emulator has no protobuf
encoder, so that request gets kube-openapi's 406 and only clients that accept JSON get v2.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.resources
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kube_emulator.resources import RESOURCE_TYPES, ResourceType

#: The Kubernetes minor version the emulator answers as (/version and the OpenAPI documents).
KUBERNETES_MINOR = 31
GIT_VERSION = f"v1.{KUBERNETES_MINOR}.0"
#: The patch types kube-apiserver accepts for built-in kinds, in the order its 415 lists them
#: (k8s.io/apiserver pkg/endpoints/installer.go, supportedTypes).
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_JSON_REF = "#/$defs/"
Schema = dict[str, Any]


# -- the definitions ------------------------------------------------------------------------------


@functools.cache
def definitions() -> Mapping[str, Schema]:
    """Every definition of the claimed version, as in the real swagger.json (`#/definitions/`)."""
    source = (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"{GIT_VERSION}-local"
        / "_definitions.json"
    )
    document: dict[str, dict[str, Schema]] = json.loads(source.read_text(encoding="utf-8"))
    converted = document["$defs"]
    return {name: _unconvert(name, schema) for name, schema in converted.items()}


def _unconvert(name: str, schema: Schema) -> Schema:
    """One definition back in OpenAPI v2 form: what openapi2jsonschema changed, undone."""
    if name == _INT_OR_STRING:
        # The converter turns these two into a oneOf and drops their description and format; the
        # v2 form is what kube-openapi writes from OpenAPISchemaType/OpenAPISchemaFormat
        # (apimachinery pkg/util/intstr/intstr.go, pkg/api/resource/quantity.go).
        return {"type": "string", "format": "int-or-string"}
    if name == _QUANTITY:
        return {"type": "string"}
    result: Schema = _v2_node(schema)
    if "x-kubernetes-group-version-kind" in schema:
        # The converter pins apiVersion and kind to an enum; kube-apiserver's documents have none.
        for field in ("apiVersion", "kind"):
            result.get("properties", {}).get(field, {}).pop("enum", None)
    return result


def _v2_node(node: Any) -> Any:
    if isinstance(node, list):
        return [_v2_node(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_JSON_REF):
            out[key] = "#/definitions/" + value.removeprefix(_JSON_REF)
        elif key == "type" and isinstance(value, list):
            # The converter makes every type nullable (["string", "null"]).
            types = [t for t in value if t != "null"]
            out[key] = types[0] if len(types) == 1 else types
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _v2_node(prop) for name, prop in value.items()}
        else:
            out[key] = _v2_node(value)
    return out


def ref_name(node: Mapping[str, Any]) -> str | None:
    """The definition a schema node refers to (v2 `$ref`, or v3 `allOf: [{$ref}]`), if any."""
    ref = node.get("$ref")
    if ref is None and node.get("allOf"):
        ref = node["allOf"][0].get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


@functools.cache
def _by_kind() -> Mapping[tuple[str, str, str], str]:
    found: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            # DeleteOptions, Status and WatchEvent are listed under every group; keep the first.
            found.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return found


def definition_name(group: str, version: str, kind: str) -> str:
    """The definition of a kind, found by its x-kubernetes-group-version-kind."""
    return _by_kind()[(group, version, kind)]


def kind_schema(rtype: ResourceType) -> SchemaNode:
    """The schema of a served kind, for the patch, apply and validation rules."""
    return SchemaNode(definitions()[definition_name(rtype.group, rtype.version, rtype.kind)])


# -- walking a schema -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaNode:
    """A resolved schema node (references followed), with lookups of what lies below it."""

    schema: Mapping[str, Any]

    @staticmethod
    def of(raw: Mapping[str, Any] | None) -> SchemaNode | None:
        """The node a raw property or item schema stands for, its reference followed."""
        if raw is None:
            return None
        name = ref_name(raw)
        return SchemaNode(definitions()[name] if name else raw)

    def field(self, key: str) -> Mapping[str, Any] | None:
        """The raw schema of a field or map value (extensions included), None when unknown."""
        properties = self.schema.get("properties")
        if properties is not None and key in properties:
            raw: Mapping[str, Any] = properties[key]
            return raw
        extra = self.schema.get("additionalProperties")
        return extra if isinstance(extra, dict) else None

    def items(self) -> SchemaNode | None:
        """The node of a list's items."""
        return SchemaNode.of(self.schema.get("items"))

    @property
    def is_struct(self) -> bool:
        """A struct: its fields are declared, and no other field is known."""
        return "properties" in self.schema

    @property
    def open_ended(self) -> bool:
        """Whether any field is accepted below this node (free-form objects, FieldsV1)."""
        return bool(self.schema.get("x-kubernetes-preserve-unknown-fields")) or (
            self.schema.get("type") == "object"
            and "properties" not in self.schema
            and "additionalProperties" not in self.schema
        )


def unknown_fields(node: SchemaNode, value: Any, path: str = "") -> Iterator[str]:
    """Paths of the fields a typed decode would drop, in document order, written as the decoders
    write them (`spec.template.spec.containers[0].foo`: runtime/converter.go, sigs.k8s.io/json)."""
    if isinstance(value, list):
        items = node.items()
        if items is not None:
            for i, item in enumerate(value):
                yield from unknown_fields(items, item, f"{path}[{i}]")
        return
    if not isinstance(value, dict) or node.open_ended:
        return
    for key, child in value.items():
        child_path = f"{path}.{key}" if path else key
        raw = node.field(key)
        if raw is None:
            if node.is_struct or "additionalProperties" not in node.schema:
                yield child_path
            continue
        below = SchemaNode.of(raw)
        if below is not None:
            yield from unknown_fields(below, child, child_path)


def prune(node: SchemaNode, value: Any) -> Any:
    """The value without the fields a typed decode drops, and without nulls (a typed object has
    no null field: it is omitted)."""
    if isinstance(value, list):
        items = node.items()
        return [prune(items, v) if items is not None else v for v in value if v is not None]
    if not isinstance(value, dict) or node.open_ended:
        return value
    kept: dict[str, Any] = {}
    for key, child in value.items():
        raw = node.field(key)
        if child is None or raw is None:
            continue
        below = SchemaNode.of(raw)
        kept[key] = prune(below, child) if below is not None else child
    return kept


# -- the documents --------------------------------------------------------------------------------


def group_version_path(group: str, version: str) -> str:
    """`api/v1` or `apis/<group>/<version>`: how /openapi/v3 names a group-version."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


@functools.cache
def v2_document() -> bytes:
    """GET /openapi/v2 as JSON: the served paths and every definition they reach."""
    paths: dict[str, Any] = {}
    for group, version in _group_versions():
        paths.update(_paths(group, version, v3=False))
    document = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "definitions": {name: definitions()[name] for name in sorted(_reached(paths))},
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            }
        },
        "security": [{"BearerToken": []}],
    }
    return json.dumps(document, sort_keys=True).encode()


@functools.cache
def v3_documents() -> Mapping[str, bytes]:
    """GET /openapi/v3/<group-version path>, by that path."""
    documents: dict[str, bytes] = {}
    for group, version in _group_versions():
        paths = _paths(group, version, v3=True)
        schemas = {name: _v3_schema(name) for name in sorted(_reached(paths))}
        document = {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "BearerToken": {
                        "description": "Bearer Token authentication",
                        "in": "header",
                        "name": "authorization",
                        "type": "apiKey",
                    }
                },
            },
        }
        documents[group_version_path(group, version)] = json.dumps(
            document, sort_keys=True
        ).encode()
    return documents


def etag(data: bytes) -> str:
    """kube-openapi's ETag and `hash` parameter: the SHA-512 of the document, upper-case hex."""
    return hashlib.sha512(data).hexdigest().upper()


@functools.cache
def v3_discovery() -> bytes:
    """GET /openapi/v3: each group-version with the URL of its document (handler3.go)."""
    listing = {
        "paths": {
            path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={etag(data)}"}
            for path, data in sorted(v3_documents().items())
        }
    }
    return json.dumps(listing, sort_keys=True).encode()


def _group_versions() -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for rtype in RESOURCE_TYPES:
        if (rtype.group, rtype.version) not in seen:
            seen.append((rtype.group, rtype.version))
    return seen


def _reached(paths: Mapping[str, Any]) -> set[str]:
    """Every definition the paths refer to, directly or through other definitions."""
    pending = list(_refs(paths))
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(_refs(definitions()[name]))
    return found


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _v3_schema(name: str) -> Schema:
    """A definition as kube-openapi's v3 builder writes it: references under `allOf` and
    `#/components/schemas/`, and the v3 oneOf types of IntOrString and Quantity."""
    if name == _INT_OR_STRING:
        return {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
    if name == _QUANTITY:
        return {"oneOf": [{"type": "string"}, {"type": "number"}]}
    converted: Schema = _v3_node(copy.deepcopy(definitions()[name]), top=True)
    return converted


def _v3_node(node: Any, *, top: bool = False) -> Any:
    if isinstance(node, list):
        return [_v3_node(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and not top:
        ref = "#/components/schemas/" + str(node.pop("$ref")).rsplit("/", 1)[-1]
        return {"allOf": [{"$ref": ref}], **{k: _v3_node(v) for k, v in node.items()}}
    out: Schema = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _v3_node(prop) for name, prop in value.items()}
        else:
            out[key] = _v3_node(value)
    return out


# -- paths, in kube-openapi's shape ---------------------------------------------------------------


def _paths(group: str, version: str, *, v3: bool) -> dict[str, Any]:
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths: dict[str, Any] = {
        f"{prefix}/": {
            "get": _operation(
                v3,
                description="get available resources",
                operation_id=f"get{_gv_name(group, version)}APIResources",
                tag=_tag(group, version),
                responses={"200": f"{_META}.APIResourceList"},
            )
        }
    }
    for rtype in RESOURCE_TYPES:
        if (rtype.group, rtype.version) == (group, version):
            paths.update(_resource_paths(rtype, prefix, v3=v3))
    return paths


def _words(group: str) -> list[str]:
    return (group.removesuffix(".k8s.io") or "core").replace("-", ".").split(".")


def _gv_name(group: str, version: str) -> str:
    """`BatchV1`, `CoreV1`, `RbacAuthorizationV1`: the middle of kube-openapi's operation ids."""
    return "".join(w.capitalize() for w in _words(group)) + version.capitalize()


def _tag(group: str, version: str) -> str:
    """`batch_v1`, `core_v1`, `rbacAuthorization_v1`."""
    words = _words(group)
    return words[0] + "".join(w.capitalize() for w in words[1:]) + "_" + version


def _resource_paths(rtype: ResourceType, prefix: str, *, v3: bool) -> dict[str, Any]:
    gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    kind_ref = definition_name(rtype.group, rtype.version, rtype.kind)
    list_ref = definition_name(rtype.group, rtype.version, f"{rtype.kind}List")
    gv, scope = _gv_name(rtype.group, rtype.version), "Namespaced" if rtype.namespaced else ""
    base = f"{prefix}/{rtype.resource}"
    if rtype.namespaced:
        base = f"{prefix}/namespaces/{{namespace}}/{rtype.resource}"
    common = [_param("pretty", "query", v3)]
    if rtype.namespaced:
        common.insert(0, _param("namespace", "path", v3))
    named = [_param("name", "path", v3, rtype.kind), *common]

    def op(action: str, verb: str, what: str, suffix: str = "", **kw: Any) -> dict[str, Any]:
        kw.setdefault("operation_id", f"{verb}{gv}{scope}{rtype.kind}{suffix}")
        return _operation(
            v3,
            description=what,
            tag=_tag(rtype.group, rtype.version),
            action=action,
            gvk=gvk,
            **kw,
        )

    read = {"200": kind_ref}
    written = {"200": kind_ref, "201": kind_ref}
    patch: dict[str, Any] = {
        "params": (*_WRITE_PARAMS, "force"),
        "body": f"{_META}.Patch",
        "body_types": PATCH_TYPES,
    }
    paths: dict[str, Any] = {
        base: {
            "parameters": common,
            "get": op(
                "list",
                "list",
                f"list or watch objects of kind {rtype.kind}",
                params=_LIST_PARAMS,
                responses={"200": list_ref},
            ),
            "post": op(
                "post",
                "create",
                f"create a {rtype.kind}",
                params=_WRITE_PARAMS,
                body=kind_ref,
                responses={**written, "202": kind_ref},
            ),
            "delete": op(
                "deletecollection",
                "delete",
                f"delete collection of {rtype.kind}",
                operation_id=f"delete{gv}Collection{scope}{rtype.kind}",
                params=_DELETE_COLLECTION_PARAMS,
                body=f"{_META}.DeleteOptions",
                responses={"200": f"{_META}.Status"},
            ),
        },
        f"{base}/{{name}}": {
            "parameters": named,
            "get": op("get", "read", f"read the specified {rtype.kind}", responses=read),
            "put": op(
                "put",
                "replace",
                f"replace the specified {rtype.kind}",
                params=_WRITE_PARAMS,
                body=kind_ref,
                responses=written,
            ),
            "patch": op(
                "patch",
                "patch",
                f"partially update the specified {rtype.kind}",
                responses=written,
                **patch,
            ),
            "delete": op(
                "delete",
                "delete",
                f"delete a {rtype.kind}",
                params=_DELETE_PARAMS,
                body=f"{_META}.DeleteOptions",
                responses={"200": f"{_META}.Status", "202": f"{_META}.Status"},
            ),
        },
    }
    if rtype.namespaced:
        paths[f"{prefix}/{rtype.resource}"] = {
            "parameters": [_param(p, "query", v3) for p in ("pretty", *_LIST_PARAMS)],
            "get": op(
                "list",
                "list",
                f"list or watch objects of kind {rtype.kind}",
                operation_id=f"list{gv}{rtype.kind}ForAllNamespaces",
                responses={"200": list_ref},
            ),
        }
    if "status" in rtype.subresources:
        paths[f"{base}/{{name}}/status"] = {
            "parameters": named,
            "get": op(
                "get",
                "read",
                f"read status of the specified {rtype.kind}",
                "Status",
                responses=read,
            ),
            "put": op(
                "put",
                "replace",
                f"replace status of the specified {rtype.kind}",
                "Status",
                params=_WRITE_PARAMS,
                body=kind_ref,
                responses=written,
            ),
            "patch": op(
                "patch",
                "patch",
                f"partially update status of the specified {rtype.kind}",
                "Status",
                responses=written,
                **patch,
            ),
        }
    if "log" in rtype.subresources:
        paths[f"{base}/{{name}}/log"] = {
            "parameters": [*named, *(_param(p, "query", v3) for p in _LOG_PARAMS)],
            "get": op(
                "get",
                "read",
                f"read log of the specified {rtype.kind}",
                "Log",
                responses={"200": "string"},
                produces=("text/plain", "application/json"),
            ),
        }
    return paths


_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_DELETE_COLLECTION_PARAMS = (
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
)
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_LIST_PARAMS = (
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
)
_LOG_PARAMS = (
    "container",
    "follow",
    "insecureSkipTLSVerifyBackend",
    "limitBytes",
    "previous",
    "sinceSeconds",
    "tailLines",
    "timestamps",
)
_PARAM_TYPES = {
    "allowWatchBookmarks": "boolean",
    "follow": "boolean",
    "force": "boolean",
    "insecureSkipTLSVerifyBackend": "boolean",
    "previous": "boolean",
    "sendInitialEvents": "boolean",
    "timestamps": "boolean",
    "watch": "boolean",
    "orphanDependents": "boolean",
    "gracePeriodSeconds": "integer",
    "limit": "integer",
    "limitBytes": "integer",
    "sinceSeconds": "integer",
    "tailLines": "integer",
    "timeoutSeconds": "integer",
}


def _param(name: str, where: str, v3: bool, kind: str = "") -> dict[str, Any]:
    param: dict[str, Any] = {"in": where, "name": name}
    if name == "name":
        param["description"] = f"name of the {kind}"
    elif name == "namespace":
        param["description"] = "object name and auth scope, such as for teams and projects"
    if where == "path":
        param["required"] = True
    kind_of = {"type": _PARAM_TYPES.get(name, "string"), "uniqueItems": True}
    if v3:
        param["schema"] = kind_of
    else:
        param.update(kind_of)
    return param


def _operation(
    v3: bool,
    *,
    description: str,
    operation_id: str,
    tag: str,
    responses: Mapping[str, str],
    action: str | None = None,
    gvk: Mapping[str, str] | None = None,
    params: tuple[str, ...] = (),
    body: str | None = None,
    body_types: tuple[str, ...] = ("*/*",),
    produces: tuple[str, ...] = ("application/json",),
) -> dict[str, Any]:
    names = {"200": "OK", "201": "Created", "202": "Accepted"}
    op: dict[str, Any] = {"description": description, "operationId": operation_id, "tags": [tag]}
    parameters = [_param(p, "query", v3) for p in params]
    if v3:
        if body is not None:
            op["requestBody"] = {
                "content": {t: {"schema": _schema_ref(body, v3)} for t in body_types}
            }
        op["responses"] = {
            code: {
                "description": names[code],
                "content": {t: {"schema": _schema_ref(ref, v3)} for t in produces},
            }
            for code, ref in responses.items()
        }
    else:
        op["consumes"] = list(body_types)
        op["produces"] = list(produces)
        op["schemes"] = ["https"]
        if body is not None:
            parameters.insert(
                0, {"in": "body", "name": "body", "required": True, "schema": _schema_ref(body, v3)}
            )
        op["responses"] = {
            code: {"description": names[code], "schema": _schema_ref(ref, v3)}
            for code, ref in responses.items()
        }
    op["responses"]["401"] = {"description": "Unauthorized"}
    if parameters:
        op["parameters"] = parameters
    if action is not None:
        op["x-kubernetes-action"] = action
    if gvk is not None:
        op["x-kubernetes-group-version-kind"] = dict(gvk)
    return op


def _schema_ref(name: str, v3: bool) -> dict[str, Any]:
    if name == "string":
        return {"type": "string"}
    return {"$ref": ("#/components/schemas/" if v3 else "#/definitions/") + name}
