"""The API server's rules: what a parsed request means and what it answers, free of any socket.

Kept apart from server.py so the Kubernetes semantics can be read, and changed, without HTTP I/O.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

from kube_emulator import admission, apply, openapi, resources, strategic, tables
from kube_emulator.auth import Identity
from kube_emulator.controller import LogBook
from kube_emulator.errors import ApiError, conflict, invalid, not_found
from kube_emulator.namespaces import NamespaceController
from kube_emulator.rbac import Attributes, RbacAuthorizer
from kube_emulator.resources import ResourceType
from kube_emulator.selectors import parse_field_selector, parse_label_selector
from kube_emulator.store import Clock, Obj, Store, WatchEvent, timestamp

VERSION = {
    "major": "1",
    "minor": str(openapi.KUBERNETES_MINOR),
    "gitVersion": f"{openapi.GIT_VERSION}-emulator",
    "platform": "linux/amd64",
}
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = openapi.PATCH_TYPES
_FIELD_VALIDATION = ("Ignore", "Strict", "Warn")
_UPDATE_ATTEMPTS = 10
# Registries whose delete answers with the object (ReturnDeletedObject: true in
# pkg/registry/core/{pod,namespace,serviceaccount}/storage); every other kind the emulator serves
# answers with a Status (k8s.io/apiserver/pkg/registry/generic/registry/store.go finalizeDelete).
_RETURNS_DELETED_OBJECT = frozenset({"Pod", "Namespace", "ServiceAccount"})
_HEALTH = {"/healthz", "/livez", "/readyz"}
_NON_RESOURCE = {"/version", "/api", "/apis", *_HEALTH}
_NOT_FOUND = "the server could not find the requested resource"
SELF_SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
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
    #: The Accept header ("" when absent).
    accept: str = ""


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
    #: Texts for `Warning` headers (dropped unknown or duplicate fields under fieldValidation=Warn).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RawReply:
    """A document served as it is (the OpenAPI handlers), or an answer without a body."""

    status: int
    body: bytes = b""
    content_type: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


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


Reply = JsonReply | WatchReply | LogReply | RawReply


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
        if request.path == "/openapi/v2" or request.path.split("/")[1:3] == ["openapi", "v3"]:
            # Non-resource URLs of the system:discovery role, as the discovery documents are.
            return openapi_reply(request)
        if is_discovery(request.path):
            return JsonReply(200, discovery(request.path))
        if request.path == SELF_SUBJECT_ACCESS_REVIEWS:
            return self._self_subject_access_review(request)
        route = parse_route(request.path)
        verb = verb_for(request.method, route, request.query)
        self.authorizer.authorize(request.who, attributes(verb, route))
        if verb == "watch":
            return self._printed(route, request, self._watch(route, request))
        if route.subresource == "log":
            return self._logs(route, request.query)
        if verb == "delete" and route.rtype.kind == "Namespace":
            return JsonReply(200, self.namespaces.delete(route.name))
        reply = _VERBS[verb](self.store, route, request)
        return self._printed(route, request, reply) if verb in ("get", "list") else reply

    def _printed(self, route: Route, request: Request, reply: Reply) -> Reply:
        """The answer as a Table when the client asks for one and the kind has a printer."""
        if route.subresource or not (
            tables.wants_table(request.accept) and tables.supported(route.rtype)
        ):
            return reply
        include = request.query.get("includeObject", "")
        if isinstance(reply, WatchReply):
            return WatchReply(self._printed_events(reply, include))
        if not isinstance(reply, JsonReply) or reply.status != 200:
            return reply
        body = reply.body
        if body.get("kind", "").endswith("List"):
            items = [
                {"kind": route.rtype.kind, "apiVersion": route.rtype.api_version, **i}
                for i in body["items"]
            ]
            return JsonReply(
                200,
                tables.table(items, now=self.clock(), include=include, metadata=body["metadata"]),
            )
        metadata = {"resourceVersion": body["metadata"].get("resourceVersion", "")}
        return JsonReply(
            200, tables.table([body], now=self.clock(), include=include, metadata=metadata)
        )

    def _printed_events(self, reply: WatchReply, include: str) -> Iterator[dict[str, Any]]:
        # A watch in Table form: each event's object is a one-row Table (the watch encoder runs
        # transformObject on every event, k8s.io/apiserver pkg/endpoints/handlers/watch.go).
        for event in reply.events:
            if event["type"] in ("ERROR", "BOOKMARK"):
                yield event
                continue
            obj = event["object"]
            metadata = {"resourceVersion": obj.get("metadata", {}).get("resourceVersion", "")}
            printed = tables.table([obj], now=self.clock(), include=include, metadata=metadata)
            yield {"type": event["type"], "object": printed}

    def _self_subject_access_review(self, request: Request) -> JsonReply:
        """What `kubectl auth can-i` asks: may the caller do this? Answered from the RBAC objects
        as pkg/registry/authorization/selfsubjectaccessreview/rest.go answers it (the user from
        the request, Allowed/Denied/Reason from the authorizer; RBAC never denies, it has no
        opinion). Every authenticated user may create one: the system:basic-user ClusterRole
        bound to system:authenticated (plugin/pkg/auth/authorizer/rbac/bootstrappolicy)."""
        if request.method != "POST":
            raise ApiError(405, "the server does not allow this method on the requested resource")
        review = decode_object(request.body)
        spec = review.get("spec") or {}
        # Present, even as {}, is a non-nil pointer to the validation.
        wanted = spec.get("resourceAttributes")
        other = spec.get("nonResourceAttributes")
        if (wanted is None) == (other is None):
            # ValidateSelfSubjectAccessReviewSpec (pkg/apis/authorization/validation/
            # validation.go); field.Invalid prints a non-nil struct with %#v.
            cause = (
                (
                    "spec.nonResourceAttributes",
                    "FieldValueInvalid",
                    f"Invalid value: {self._go_non_resource_attributes(other)}: "
                    "cannot be specified in combination with resourceAttributes",
                )
                if wanted is not None
                else (
                    "spec.resourceAttributes",
                    "FieldValueInvalid",
                    'Invalid value: "null": exactly one of nonResourceAttributes or '
                    "resourceAttributes must be specified",
                )
            )
            raise invalid("SelfSubjectAccessReview", "authorization.k8s.io", "", [cause])
        if wanted is not None:
            allowed, reason = self.authorizer.review(
                request.who,
                Attributes(
                    verb=wanted.get("verb", ""),
                    group=wanted.get("group", ""),
                    resource=wanted.get("resource", ""),
                    subresource=wanted.get("subresource", ""),
                    namespace=wanted.get("namespace", ""),
                    name=wanted.get("name", ""),
                ),
            )
        else:
            # A non-resource request (IsResourceRequest false): matched against the rules'
            # nonResourceURLs with the verb (RuleAllows in plugin/pkg/auth/authorizer/rbac).
            asked: dict[str, Any] = other or {}
            allowed, reason = self.authorizer.review(
                request.who,
                Attributes(
                    verb=asked.get("verb", ""), group="", resource="", path=asked.get("path", "")
                ),
            )
        status: dict[str, Any] = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        answer = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": status,
        }
        return JsonReply(201, answer)

    @staticmethod
    def _go_non_resource_attributes(value: Any) -> str:
        """authorization.NonResourceAttributes as Go's %#v prints it."""
        fields = value if isinstance(value, dict) else {}
        path, verb = (
            json.dumps(str(fields.get(k) or ""), ensure_ascii=False) for k in ("path", "verb")
        )
        return f"authorization.NonResourceAttributes{{Path:{path}, Verb:{verb}}}"

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


# -- the OpenAPI documents ------------------------------------------------------------------------


def openapi_reply(request: Request) -> RawReply:
    """/openapi/v2, /openapi/v3 and /openapi/v3/<group-version>, answered as kube-openapi's
    handlers answer them (k8s.io/kube-openapi pkg/handler/handler.go, pkg/handler3/handler.go)."""
    if request.path == "/openapi/v2":
        return _negotiated(request.accept, openapi.v2_document())
    if request.path == "/openapi/v3":
        data = openapi.v3_discovery()
        return RawReply(200, data, "application/json", {"Etag": f'"{openapi.etag(data)}"'})
    path = request.path.removeprefix("/openapi/v3/")
    document = openapi.v3_documents().get(path)
    if document is None:
        # getSingleGroupBytes fails and HandleGroupVersion returns without writing anything:
        # Go's HTTP server then answers 200 with an empty body.
        return RawReply(200, b"", "", {"Vary": "Accept"})
    reply = _negotiated(request.accept, document)
    digest = openapi.etag(document)
    wanted = request.query.get("hash")
    if reply.status != 200 or not wanted:
        return reply
    if wanted != digest:
        location = f"/openapi/v3/{path}?hash={digest}"
        # http.Redirect's answer to a GET.
        page = f'<a href="{location}">Moved Permanently</a>.\n\n'.encode()
        return RawReply(301, page, "text/html; charset=utf-8", {"Location": location})
    return RawReply(
        200, document, reply.content_type, {**reply.headers, "Cache-Control": "public, immutable"}
    )


def _negotiated(accept: str, data: bytes) -> RawReply:
    """The first Accept clause (goautoneg order: by q, then specificity) that JSON satisfies. The
    handlers also offer protobuf, which the emulator cannot encode: a clause asking only for it
    is passed over, and with none left the answer is the handlers' bare 406."""
    for media, sub in _accept_clauses(accept):
        if media in ("application", "*") and sub in ("json", "*"):
            headers = {"Etag": f'"{openapi.etag(data)}"', "Vary": "Accept"}
            return RawReply(200, data, "application/json", headers)
    return RawReply(406, b"", "", {"Vary": "Accept"})


def _accept_clauses(accept: str) -> list[tuple[str, str]]:
    ranked = []
    for position, part in enumerate((accept or "*/*").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind, _, sub = media.partition("/")
        if kind and sub and quality > 0:
            ranked.append(((-quality, kind == "*", sub == "*", position), kind, sub))
    return [(kind, sub) for _, kind, sub in sorted(ranked)]


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
        raise _not_served()
    return found


def _not_served() -> ApiError:
    """404 for a path naming no resource that is served, with empty details as kube-apiserver's.

    go-restful's 404 goes through serviceErrorHandler (k8s.io/apiserver/pkg/server/handler.go),
    which writes NewGenericServerResponse(404, "", schema.GroupResource{}, "", ...)
    (k8s.io/apimachinery/pkg/api/errors/errors.go): a Status whose Details is set but empty, so
    the body carries `"details": {}`.
    """
    return ApiError(404, _NOT_FOUND, details={})


def parse_route(path: str) -> Route:
    """The resource a path names; ApiError 404 when it names none that is served."""
    group, version, rest = _split_group_version(path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    rtype = resources.lookup(group, version, rest[0])
    if rtype is None or (namespace and not rtype.namespaced) or len(rest) > 3:
        raise _not_served()
    name = rest[1] if len(rest) >= 2 else ""
    sub = rest[2] if len(rest) == 3 else ""
    if sub and sub not in rtype.subresources:
        raise _not_served()
    if rtype.namespaced and name and not namespace:
        raise _not_served()
    return Route(rtype, namespace, name, sub)


def _split_group_version(path: str) -> tuple[str, str, list[str]]:
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
        return "", "v1", parts[2:]
    if parts[0] == "apis" and len(parts) >= 4:
        return parts[1], parts[2], parts[3:]
    raise _not_served()


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


def _get(store: Store, route: Route, _request: Request) -> JsonReply:
    return JsonReply(200, store.get(route.rtype, route.namespace, route.name))


def _list(store: Store, route: Route, request: Request) -> JsonReply:
    items, rv = _select(store, route, request.query)
    for item in items:
        # Items of a typed list carry no kind/apiVersion; the list does.
        item.pop("kind", None)
        item.pop("apiVersion", None)
    return JsonReply(200, _list_of(route.rtype, items, {"resourceVersion": str(rv)}))


def _create(store: Store, route: Route, request: Request) -> JsonReply:
    body, warnings = _decode_typed(route, request, "CreateOptions")
    if route.rtype.kind == "Pod":
        # PrepareForCreate (pkg/registry/core/pod/strategy.go) resets any status a client sent.
        body.pop("status", None)
    admission.admit(store, route, request, body)
    if request.query.get("dryRun") == "All":
        return JsonReply(201, body, warnings)
    return JsonReply(201, store.create(route.rtype, route.namespace, body), warnings)


def _update(store: Store, route: Route, request: Request) -> JsonReply:
    body, warnings = _decode_typed(route, request, "UpdateOptions")
    current = store.get(route.rtype, route.namespace, route.name)
    prepared = _prepare_update(route, current, body)
    admission.admit(store, route, request, prepared, current)
    updated = store.replace(
        route.rtype, route.namespace, route.name, prepared, dry_run=_dry_run(request)
    )
    return JsonReply(200, updated, warnings)


def _patch(store: Store, route: Route, request: Request) -> JsonReply:
    if request.content_type not in PATCH_TYPES:
        raise ApiError(
            415,
            "the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(PATCH_TYPES)}",
        )
    directive = _patch_options(request)
    if request.content_type == APPLY_PATCH:
        return _apply(store, route, request)
    schema = openapi.kind_schema(route.rtype)
    duplicates = _duplicates(request.body) if directive in ("Strict", "Warn") else []
    if request.content_type == JSON_PATCH:
        duplicates = [f"json patch {d}" for d in duplicates]
    warnings: list[str] = []

    def patched(current: Obj) -> Obj:
        if request.content_type == JSON_PATCH:
            result = json_patch(current, request.body)
            shown = json.dumps(result, separators=(",", ":"))
        else:
            patch = decode_object(request.body)
            shown = strategic.go_format(patch)
            if request.content_type == STRATEGIC_MERGE_PATCH:
                result = strategic.apply(current, patch, schema)
            else:
                result = merge_patch(current, patch)
        problems = duplicates + [
            f'unknown field "{f}"' for f in openapi.unknown_fields(schema, result)
        ]
        if problems and directive == "Strict":
            # jsonPatcher / applyPatchToObject (k8s.io/apiserver pkg/endpoints/handlers/patch.go).
            detail = f"Invalid value: {json.dumps(shown)}: strict decoding error: "
            raise invalid(
                "", "", "", [("patch", "FieldValueInvalid", detail + ", ".join(problems))]
            )
        warnings[:] = problems if directive == "Warn" else []
        pruned: Obj = openapi.prune(schema, result)
        # The patch applies to the object just read: a resourceVersion inside it is no
        # precondition.
        version = current["metadata"]["resourceVersion"]
        pruned.setdefault("metadata", {})["resourceVersion"] = version
        return pruned

    return JsonReply(200, _guaranteed_update(store, route, request, patched), tuple(warnings))


def _apply(store: Store, route: Route, request: Request) -> JsonReply:
    """Server-side apply: see apply.py for what is served and what is left out. Unknown fields
    fail the typed conversion whatever the fieldValidation directive."""
    rtype = route.rtype
    applied = apply.decode(request.body)
    name = (applied.get("metadata") or {}).get("name")
    if name is not None and name != route.name:
        # checkName (k8s.io/apiserver pkg/endpoints/handlers/rest.go).
        raise ApiError(
            400,
            f"the name of the object ({name}) does not match the name on the URL ({route.name})",
        )

    def merged(live: Obj | None) -> Obj:
        result = apply.apply(
            rtype,
            live,
            copy.deepcopy(applied),
            openapi.kind_schema(rtype),
            manager=request.query.get("fieldManager", ""),
            force=request.query.get("force") in ("true", "1"),
            now=timestamp(store.clock),
            namespace=route.namespace,
            name=route.name,
        )
        pruned: Obj = openapi.prune(openapi.kind_schema(rtype), result)
        pruned.setdefault("metadata", {})["name"] = route.name
        if live is not None:
            pruned["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        return pruned

    if store.find(rtype, route.namespace, route.name) is None:
        if route.subresource:
            raise not_found(rtype.qualified, route.name, group=rtype.group, resource=rtype.resource)
        created = merged(None)
        if rtype.kind == "Pod":
            created.pop("status", None)
        admission.admit(store, route, request, created)
        if _dry_run(request):
            return JsonReply(201, created)
        return JsonReply(201, store.create(rtype, route.namespace, created))
    return JsonReply(200, _guaranteed_update(store, route, request, merged))


def _guaranteed_update(
    store: Store, route: Route, request: Request, change: Callable[[Obj], Obj]
) -> Obj:
    """GuaranteedUpdate (k8s.io/apiserver pkg/storage/etcd3/store.go): the change is made to the
    stored object and, when another write got in first, made again to the newer one; a patch never
    fails because a controller wrote the object meanwhile."""
    for _ in range(_UPDATE_ATTEMPTS):
        current = store.get(route.rtype, route.namespace, route.name)
        updated = _prepare_update(route, current, change(current))
        admission.admit(store, route, request, updated, current)
        try:
            return store.replace(
                route.rtype, route.namespace, route.name, updated, dry_run=_dry_run(request)
            )
        except ApiError as error:
            if error.reason != "Conflict":
                raise
    raise conflict(
        route.rtype.qualified, route.name, group=route.rtype.group, resource=route.rtype.resource
    )


def _dry_run(request: Request) -> bool:
    return request.query.get("dryRun") == "All"


def _patch_options(request: Request) -> str:
    """ValidatePatchOptions (apimachinery pkg/apis/meta/v1/validation): 422 on PatchOptions;
    the fieldValidation directive, Warn when absent (fieldValidation in handlers/rest.go)."""
    causes = _options_causes(request)
    manager = request.query.get("fieldManager", "")
    if request.content_type == APPLY_PATCH:
        if not manager:
            causes.insert(
                0,
                (
                    "fieldManager",
                    "FieldValueRequired",
                    "Required value: is required for apply patch",
                ),
            )
    elif "force" in request.query:
        causes.insert(
            0,
            ("force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch"),
        )
    if causes:
        raise invalid("PatchOptions", "meta.k8s.io", "", causes)
    return request.query.get("fieldValidation") or "Warn"


def _options_causes(request: Request) -> list[tuple[str, str, str]]:
    causes = []
    manager = request.query.get("fieldManager", "")
    if len(manager) > 128:
        causes.append(
            ("fieldManager", "FieldValueTooLong", "Too long: must have at most 128 bytes")
        )
    if any(not ch.isprintable() for ch in manager):
        causes.append(
            ("fieldManager", "FieldValueInvalid", "Invalid value: invalid character in the name")
        )
    dry_run = request.query.get("dryRun", "")
    if dry_run not in ("", "All"):
        causes.append(
            (
                "dryRun",
                "FieldValueNotSupported",
                f'Unsupported value: []string{{"{dry_run}"}}: supported values: "All"',
            )
        )
    directive = request.query.get("fieldValidation", "")
    if directive and directive not in _FIELD_VALIDATION:
        causes.append(
            (
                "fieldValidation",
                "FieldValueNotSupported",
                f'Unsupported value: "{directive}": supported values: "", "Ignore", "Strict", '
                '"Warn"',
            )
        )
    return causes


def _decode_typed(route: Route, request: Request, options: str) -> tuple[Obj, tuple[str, ...]]:
    """A create or update body decoded as the kind it must be: unknown fields dropped, and with
    fieldValidation Strict a 400, with Warn (the default) a warning, per unknown or duplicate field
    (createHandler/UpdateResource and transformDecodeError in k8s.io/apiserver)."""
    causes = _options_causes(request)
    if causes:
        raise invalid(options, "meta.k8s.io", "", causes)
    directive = request.query.get("fieldValidation") or "Warn"
    body = decode_object(request.body)
    schema = openapi.kind_schema(route.rtype)
    problems: list[str] = []
    if directive in ("Strict", "Warn"):
        problems = _duplicates(request.body)
        problems += [f'unknown field "{f}"' for f in openapi.unknown_fields(schema, body)]
    if problems and directive == "Strict":
        kind = body.get("kind") or route.rtype.kind
        version = str(body.get("apiVersion") or route.rtype.api_version).rsplit("/", 1)[-1]
        raise ApiError(
            400,
            f'{kind} in version "{version}" cannot be handled as a {route.rtype.kind}: '
            f"strict decoding error: {', '.join(problems)}",
        )
    return openapi.prune(schema, body), tuple(problems)


def _duplicates(raw: bytes) -> list[str]:
    """`duplicate field "metadata.name"` for each key a JSON object repeats (sigs.k8s.io/json)."""
    repeated: dict[int, list[str]] = {}

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in items:
            if key in obj:
                repeated.setdefault(id(obj), []).append(key)
            obj[key] = value
        return obj

    try:
        decoded = json.loads(raw or b"{}", object_pairs_hook=pairs)
    except ValueError:
        return []
    return [f'duplicate field "{path}"' for path in _repeated_paths(decoded, "", repeated)]


def _repeated_paths(value: Any, path: str, repeated: Mapping[int, list[str]]) -> Iterator[str]:
    if isinstance(value, dict):
        for key in repeated.get(id(value), []):
            yield f"{path}.{key}" if path else key
        for key, child in value.items():
            yield from _repeated_paths(child, f"{path}.{key}" if path else key, repeated)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _repeated_paths(child, f"{path}[{i}]", repeated)


def _prepare_update(route: Route, current: Obj, body: Obj) -> Obj:
    """What an update may change: the status subresource takes only status; a pod's own resource
    keeps its status (PrepareForUpdate in pkg/registry/core/pod/strategy.go). An update without
    managedFields keeps the object's (the field manager decodes the live object's)."""
    meta = body.get("metadata")
    managed = current.get("metadata", {}).get("managedFields")
    if isinstance(meta, dict) and managed and "managedFields" not in meta:
        body = {**body, "metadata": {**meta, "managedFields": managed}}
    if route.subresource == "status":
        updated = dict(current)
        updated["status"] = body.get("status", {})
        return updated
    if route.rtype.kind == "Pod":
        body = dict(body)
        body["status"] = current.get("status", {})
    return body


def _delete(store: Store, route: Route, request: Request) -> JsonReply:
    return JsonReply(200, _deleted(store, route, request))


def _deleted(store: Store, route: Route, request: Request) -> Obj:
    options = decode_object(request.body) if request.body else {}
    policy = request.query.get("propagationPolicy") or options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    preconditions = options.get("preconditions") or {}
    current = store.get(route.rtype, route.namespace, route.name)
    if preconditions:
        _check_preconditions(route, current, preconditions)
    admission.admit(store, route, request, None, current)
    deleted = store.delete(route.rtype, route.namespace, route.name, policy)
    effective = policy or route.rtype.default_propagation
    if route.rtype.kind in _RETURNS_DELETED_OBJECT:
        return deleted
    if effective in ("Orphan", "Foreground"):
        # The garbage collector's finalizer keeps the object until its dependents are orphaned or
        # gone, and Store.Delete answers with the object while a finalizer is pending. Here that
        # work is already done, so the object is shown as it was while it waited.
        finalizer = "orphan" if effective == "Orphan" else "foregroundDeletion"
        meta = deleted["metadata"]
        meta.setdefault("deletionTimestamp", timestamp(store.clock))
        if finalizer not in meta.setdefault("finalizers", []):
            meta["finalizers"].append(finalizer)
        return deleted
    meta = deleted["metadata"]
    return {
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


def _check_preconditions(route: Route, current: Obj, preconditions: Obj) -> None:
    """DeleteOptions.preconditions: the object must still have this uid and resourceVersion.

    Preconditions.Check (k8s.io/apiserver pkg/storage/interfaces.go) returns an InvalidObjError
    (`StorageError: invalid object, Code: 4, Key: …, ResourceVersion: 0, AdditionalErrorMsg: …`,
    pkg/storage/errors.go), which InterpretDeleteError (pkg/storage/errors/storage.go) answers as
    409 Conflict: `Operation cannot be fulfilled on <resource> "<name>": <that error>`.
    """
    meta = current.get("metadata") or {}
    failed = ""
    for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = preconditions.get(key)
        if wanted is not None and wanted != meta.get(key, ""):
            failed = (
                f"Precondition failed: {label} in precondition: {wanted}, "
                f"{label} in object meta: {meta.get(key, '')}"
            )
            break
    if not failed:
        return
    where = f"{route.namespace}/" if route.namespace else ""
    rtype = route.rtype
    raise ApiError(
        409,
        f'Operation cannot be fulfilled on {rtype.qualified} "{route.name}": StorageError: '
        f"invalid object, Code: 4, Key: /registry/{rtype.resource}/{where}{route.name}, "
        f"ResourceVersion: 0, AdditionalErrorMsg: {failed}",
        reason="Conflict",
        details={"name": route.name, "group": rtype.group, "kind": rtype.resource},
    )


def _delete_collection(store: Store, route: Route, request: Request) -> JsonReply:
    items, _ = _select(store, route, request.query)
    policy = request.query.get("propagationPolicy")
    for item in items:
        admission.admit(store, route, request, None, item)
    deleted = [
        store.delete(route.rtype, i["metadata"].get("namespace", ""), i["metadata"]["name"], policy)
        for i in items
    ]
    return JsonReply(200, _list_of(route.rtype, deleted, {}))


_VERBS: dict[str, Callable[[Store, Route, Request], JsonReply]] = {
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
