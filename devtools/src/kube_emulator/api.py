"""The API server's rules: what a parsed request means and what it answers, free of any socket.

Kept apart from server.py so the Kubernetes semantics can be read, and changed, without HTTP I/O.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer

from kube_emulator import resources
from kube_emulator.auth import Identity
from kube_emulator.controller import LogBook
from kube_emulator.errors import ApiError
from kube_emulator.namespaces import NamespaceController
from kube_emulator.rbac import Attributes, RbacAuthorizer
from kube_emulator.resources import ResourceType
from kube_emulator.selectors import parse_field_selector, parse_label_selector
from kube_emulator.store import Clock, Obj, Store, WatchEvent, timestamp

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-emulator",
    "platform": "linux/amd64",
}
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (JSON_PATCH, "application/merge-patch+json", "application/strategic-merge-patch+json")
# Registries whose delete answers with the object (ReturnDeletedObject: true in
# pkg/registry/core/{pod,namespace,serviceaccount}/storage); every other kind the emulator serves
# answers with a Status (k8s.io/apiserver/pkg/registry/generic/registry/store.go finalizeDelete).
_RETURNS_DELETED_OBJECT = frozenset({"Pod", "Namespace", "ServiceAccount"})
_HEALTH = {"/healthz", "/livez", "/readyz"}
_NON_RESOURCE = {"/version", "/api", "/apis", *_HEALTH}
_NOT_FOUND = "the server could not find the requested resource"
_LogKey = tuple[str, str, str]


@dataclass(frozen=True)
class Request:
    """A request as the HTTP front parsed it, with the caller already authenticated."""

    method: str
    path: str
    query: Mapping[str, str]
    who: Identity
    body: bytes = b""
    #: Media type of the body, without parameters ("" when absent).
    content_type: str = ""
    #: Seconds after which a watch ends at the latest (a fault shortening it), if any.
    watch_limit: float | None = None


@dataclass(frozen=True)
class Route:
    """The resource a path names: type, namespace, and optionally an object and subresource."""

    rtype: ResourceType
    namespace: str
    name: str = ""
    subresource: str = ""


@dataclass(frozen=True)
class JsonReply:
    """A complete JSON answer."""

    status: int
    body: Any


@dataclass(frozen=True)
class WatchReply:
    """A watch: event objects to stream until the iterator ends."""

    events: Iterator[dict[str, Any]]
    status: int = 200


@dataclass(frozen=True)
class LogReply:
    """A container log: the text so far, and with `follow` the text still to come."""

    text: str
    follow: Iterator[str] | None = None
    status: int = 200


Reply = JsonReply | WatchReply | LogReply


class Api:
    """Answers requests against the store the way the Kubernetes API server would."""

    def __init__(
        self,
        store: Store,
        logs: LogBook,
        authorizer: RbacAuthorizer,
        *,
        clock: Clock,
        stop: threading.Event,
        default_watch_seconds: float,
        namespaces: NamespaceController | None = None,
    ) -> None:
        self.store = store
        self.namespaces = namespaces or NamespaceController(store)
        self.logs = logs
        self.authorizer = authorizer
        self.clock = clock
        self.stop = stop
        self.default_watch_seconds = default_watch_seconds

    def handle(self, request: Request) -> Reply:
        """Authorize and answer a request; raise ApiError (before any stream starts) on failure."""
        if is_discovery(request.path):
            return JsonReply(200, discovery(request.path))
        route = parse_route(request.path)
        verb = verb_for(request.method, route, request.query)
        self.authorizer.authorize(request.who, attributes(verb, route))
        if verb == "watch":
            return self._watch(route, request)
        if route.subresource == "log":
            return self._logs(route, request.query)
        if verb == "delete" and route.rtype.kind == "Namespace":
            return JsonReply(200, self.namespaces.delete(route.name))
        status, body = _VERBS[verb](self.store, route, request)
        return JsonReply(status, body)

    def _watch(self, route: Route, request: Request) -> WatchReply:
        query = request.query
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), route.rtype.field_labels)
        rv = query.get("resourceVersion")
        since = int(rv) if rv and rv != "0" else None
        seconds = float(query.get("timeoutSeconds") or self.default_watch_seconds)
        if request.watch_limit is not None:
            seconds = min(seconds, request.watch_limit)
        events = self.store.watch(
            route.rtype,
            route.namespace or None,
            since,
            labels,
            fields,
            deadline=self.clock() + seconds,
            stop=self.stop,
        )
        return WatchReply(watch_objects(events))

    def _logs(self, route: Route, query: Mapping[str, str]) -> LogReply:
        pod = self.store.get(route.rtype, route.namespace, route.name)
        container = _container(pod, route.name, query.get("container"))
        key = (route.namespace, route.name, container)
        if not self.logs.started(key):
            if not pod["spec"].get("nodeName"):
                # LogLocation (pkg/registry/core/pod/strategy.go) has no node to ask: the stream
                # is empty, which StreamObject answers with 204 No Content.
                return LogReply("", status=204)
            raise _waiting(pod, route.name, container)
        chunks, open_ = self.logs.read(key)
        text = _tail("".join(chunks), query.get("tailLines"))
        if query.get("follow") not in ("true", "1"):
            return LogReply(text)
        return LogReply(text, self._follow(key, len(chunks), still_open=open_))

    def _follow(self, key: _LogKey, position: int, *, still_open: bool) -> Iterator[str]:
        book = self.logs
        while still_open and not self.stop.is_set():
            with book.cond:
                more, still_open = book.read(key, position)
                if not more and still_open:
                    book.cond.wait(timeout=0.5)
                    more, still_open = book.read(key, position)
            position += len(more)
            if not book.started(key):
                return  # the pod was deleted
            if more:
                yield "".join(more)


# -- paths and verbs ---------------------------------------------------------------------------


def is_discovery(path: str) -> bool:
    """Whether a path is a non-resource or discovery endpoint (served to any authenticated user)."""
    return (
        path in _NON_RESOURCE
        or path == "/api/v1"
        or (path.startswith("/apis/") and path.count("/") == 3)
    )


def discovery(path: str) -> dict[str, Any]:
    """The version, health or discovery document at a path for which is_discovery holds."""
    if path == "/version":
        return VERSION
    if path in _HEALTH:
        return {"status": "ok"}
    if path == "/api":
        return resources.api_versions()
    if path == "/apis":
        return resources.api_group_list()
    parts = path.strip("/").split("/")
    group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
    found = resources.api_resource_list(group, version)
    if found is None:
        raise ApiError(404, _NOT_FOUND)
    return found


def parse_route(path: str) -> Route:
    """The resource a path names; ApiError 404 when it names none that is served."""
    group, version, rest = _split_group_version(path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    rtype = resources.lookup(group, version, rest[0])
    if rtype is None or (namespace and not rtype.namespaced) or len(rest) > 3:
        raise ApiError(404, _NOT_FOUND)
    name = rest[1] if len(rest) >= 2 else ""
    sub = rest[2] if len(rest) == 3 else ""
    if sub and sub not in rtype.subresources:
        raise ApiError(404, _NOT_FOUND)
    if rtype.namespaced and name and not namespace:
        raise ApiError(404, _NOT_FOUND)
    return Route(rtype, namespace, name, sub)


def _split_group_version(path: str) -> tuple[str, str, list[str]]:
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
        return "", "v1", parts[2:]
    if parts[0] == "apis" and len(parts) >= 4:
        return parts[1], parts[2], parts[3:]
    raise ApiError(404, _NOT_FOUND)


def verb_for(method: str, route: Route, query: Mapping[str, str]) -> str:
    """The RBAC verb an HTTP method means on a route; ApiError 405 when it means none."""
    if method == "GET":
        if route.name:
            return "get"
        return "watch" if query.get("watch") in ("true", "1") else "list"
    if method == "POST" and not route.name:
        return "create"
    if method == "PUT" and route.name:
        return "update"
    if method == "PATCH" and route.name:
        return "patch"
    if method == "DELETE":
        return "delete" if route.name else "deletecollection"
    raise ApiError(405, "the server does not allow this method on the requested resource")


def attributes(verb: str, route: Route) -> Attributes:
    """What the authorizer is asked to allow for a verb on a route."""
    return Attributes(
        verb=verb,
        group=route.rtype.group,
        resource=route.rtype.resource,
        subresource=route.subresource,
        namespace=route.namespace,
        name=route.name,
    )


# -- verbs -------------------------------------------------------------------------------------


def _get(store: Store, route: Route, _request: Request) -> tuple[int, Obj]:
    return 200, store.get(route.rtype, route.namespace, route.name)


def _list(store: Store, route: Route, request: Request) -> tuple[int, Obj]:
    items, rv = _select(store, route, request.query)
    for item in items:
        # Items of a typed list carry no kind/apiVersion; the list does.
        item.pop("kind", None)
        item.pop("apiVersion", None)
    return 200, _list_of(route.rtype, items, {"resourceVersion": str(rv)})


def _create(store: Store, route: Route, request: Request) -> tuple[int, Obj]:
    body = decode_object(request.body)
    if route.rtype.kind == "Pod":
        # PrepareForCreate (pkg/registry/core/pod/strategy.go) resets any status a client sent.
        body.pop("status", None)
    if request.query.get("dryRun") == "All":
        return 201, body
    return 201, store.create(route.rtype, route.namespace, body)


def _update(store: Store, route: Route, request: Request) -> tuple[int, Obj]:
    body = decode_object(request.body)
    current = store.get(route.rtype, route.namespace, route.name)
    return 200, store.replace(
        route.rtype, route.namespace, route.name, _prepare_update(route, current, body)
    )


def _patch(store: Store, route: Route, request: Request) -> tuple[int, Obj]:
    if request.content_type not in PATCH_TYPES:
        raise ApiError(
            415,
            "the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(PATCH_TYPES)}",
        )
    current = store.get(route.rtype, route.namespace, route.name)
    if request.content_type == JSON_PATCH:
        patched = json_patch(current, request.body)
    else:
        patched = merge_patch(current, decode_object(request.body))
    # The patch applies to the object just read: a resourceVersion inside it is no precondition.
    patched.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
    return 200, store.replace(
        route.rtype, route.namespace, route.name, _prepare_update(route, current, patched)
    )


def _prepare_update(route: Route, current: Obj, body: Obj) -> Obj:
    """What an update may change: the status subresource takes only status; a pod's own resource
    keeps its status (PrepareForUpdate in pkg/registry/core/pod/strategy.go)."""
    if route.subresource == "status":
        updated = dict(current)
        updated["status"] = body.get("status", {})
        return updated
    if route.rtype.kind == "Pod":
        body = dict(body)
        body["status"] = current.get("status", {})
    return body


def _delete(store: Store, route: Route, request: Request) -> tuple[int, Obj]:
    options = decode_object(request.body) if request.body else {}
    policy = request.query.get("propagationPolicy") or options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    deleted = store.delete(route.rtype, route.namespace, route.name, policy)
    effective = policy or route.rtype.default_propagation
    if route.rtype.kind in _RETURNS_DELETED_OBJECT:
        return 200, deleted
    if effective in ("Orphan", "Foreground"):
        # The garbage collector's finalizer keeps the object until its dependents are orphaned or
        # gone, and Store.Delete answers with the object while a finalizer is pending. Here that
        # work is already done, so the object is shown as it was while it waited.
        finalizer = "orphan" if effective == "Orphan" else "foregroundDeletion"
        meta = deleted["metadata"]
        meta.setdefault("deletionTimestamp", timestamp(store.clock))
        if finalizer not in meta.setdefault("finalizers", []):
            meta["finalizers"].append(finalizer)
        return 200, deleted
    meta = deleted["metadata"]
    return 200, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        # "Yes we set Kind field to resource" (finalizeDelete): the plural resource, not the kind.
        "details": {
            "name": meta["name"],
            "group": route.rtype.group,
            "kind": route.rtype.resource,
            "uid": meta.get("uid", ""),
        },
    }


def _delete_collection(store: Store, route: Route, request: Request) -> tuple[int, Obj]:
    items, _ = _select(store, route, request.query)
    policy = request.query.get("propagationPolicy")
    deleted = [
        store.delete(route.rtype, i["metadata"].get("namespace", ""), i["metadata"]["name"], policy)
        for i in items
    ]
    return 200, _list_of(route.rtype, deleted, {})


_VERBS: dict[str, Callable[[Store, Route, Request], tuple[int, Obj]]] = {
    "get": _get,
    "list": _list,
    "create": _create,
    "update": _update,
    "patch": _patch,
    "delete": _delete,
    "deletecollection": _delete_collection,
}


def _select(store: Store, route: Route, query: Mapping[str, str]) -> tuple[list[Obj], int]:
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"), route.rtype.field_labels)
    return store.select(route.rtype, route.namespace or None, labels, fields)


def _list_of(rtype: ResourceType, items: list[Obj], metadata: dict[str, Any]) -> Obj:
    return {
        "kind": f"{rtype.kind}List",
        "apiVersion": rtype.api_version,
        "metadata": metadata,
        "items": items,
    }


def decode_object(raw: bytes) -> Obj:
    """A request body as a JSON object (an empty body is `{}`); ApiError 400 otherwise."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError as error:
        raise ApiError(400, f"the body of the request could not be decoded: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body of the request must be a JSON object")
    return body


def json_patch(current: Obj, raw: bytes) -> Obj:
    """RFC 6902 JSON patch, with the API server's answers to a bad one (400 undecodable, 422 not
    applicable: jsonPatcher.applyJSPatch in k8s.io/apiserver/pkg/endpoints/handlers/patch.go)."""
    try:
        operations = json.loads(raw or b"null")
        if not isinstance(operations, list):
            raise jsonpatch.InvalidJsonPatch("the patch must be a list of operations")
        patch = jsonpatch.JsonPatch(operations)
    except (ValueError, TypeError, jsonpatch.InvalidJsonPatch) as error:
        raise ApiError(400, str(error)) from None
    try:
        patched = patch.apply(current)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        raise ApiError(
            422,
            "the server rejected our request due to an error in our request",
            details={"causes": [{"reason": "UnexpectedServerResponse", "message": str(error)}]},
        ) from None
    if not isinstance(patched, dict):
        raise ApiError(422, "the server rejected our request due to an error in our request")
    return patched


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- watches and logs --------------------------------------------------------------------------


def watch_objects(events: Iterator[WatchEvent]) -> Iterator[dict[str, Any]]:
    """The objects a watch stream carries, one per event."""
    try:
        for event in events:
            yield {"type": event.type, "object": event.obj}
    except ApiError as error:
        # A too-old resourceVersion is reported inside the stream as an ERROR event with a
        # 410 Expired Status, as the watch cache does (k8s.io/apiserver/pkg/storage/cacher).
        yield {"type": "ERROR", "object": error.status()}


def _container(pod: Obj, pod_name: str, asked: str | None) -> str:
    names = [c["name"] for c in pod["spec"].get("containers", [])]
    container = asked
    if not container:
        if len(names) > 1:
            raise ApiError(
                400,
                f"a container name must be specified for pod {pod_name}, choose one of: "
                f"[{' '.join(names)}]",
            )
        container = names[0]
    if container not in names:
        raise ApiError(400, f"container {container} is not valid for pod {pod_name}")
    return container


def _waiting(pod: Obj, pod_name: str, container: str) -> ApiError:
    state: dict[str, Any] = next(
        (
            cs.get("state", {})
            for cs in (pod.get("status") or {}).get("containerStatuses", [])
            if cs["name"] == container
        ),
        {},
    )
    reason = state.get("waiting", {}).get("reason", "ContainerCreating")
    if reason in ("ImagePullBackOff", "ErrImagePull"):
        reason = "trying and failing to pull image"
    return ApiError(
        400, f'container "{container}" in pod "{pod_name}" is waiting to start: {reason}'
    )


def _tail(text: str, tail_lines: str | None) -> str:
    if tail_lines is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-int(tail_lines) :]) if int(tail_lines) > 0 else ""
