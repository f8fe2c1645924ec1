"""The object store: resourceVersions, conflicts, watch history, owner-reference garbage collection.

One lock guards everything; a condition variable wakes watchers and the Job controller on writes.
"""

from __future__ import annotations

import copy
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from kube_emulator import defaults, validation
from kube_emulator.errors import ApiError, already_exists, conflict, not_found
from kube_emulator.resources import ResourceType, by_kind
from kube_emulator.selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]
Clock = Callable[[], float]
_Key = tuple[str, str, str, str]  # group, resource, namespace ("" when cluster-scoped), name


@dataclass(frozen=True)
class WatchEvent:
    """One change, as a watch stream reports it."""

    resource_version: int
    type: str  # ADDED | MODIFIED | DELETED
    rtype: ResourceType
    obj: Obj


def timestamp(clock: Clock) -> str:
    """RFC 3339 seconds, as the API server writes metav1.Time."""
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """In-memory objects of every served type, with a bounded history of changes for watches."""

    def __init__(self, *, clock: Clock, history: int = 5000) -> None:
        self.clock = clock
        self.cond = threading.Condition()
        self._objects: dict[_Key, Obj] = {}
        self._rv = 100
        self._events: deque[WatchEvent] = deque(maxlen=history)
        self._compacted_rv = self._rv
        self._delete_hooks: list[Callable[[ResourceType, Obj], None]] = []
        self._create_hooks: list[Callable[[ResourceType, Obj], None]] = []

    # -- reads ---------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion handed out."""
        with self.cond:
            return self._rv

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        """A deep copy of one object, or 404."""
        with self.cond:
            obj = self._objects.get(self._key(rtype, namespace, name))
            if obj is None:
                raise not_found(rtype.qualified, name, group=rtype.group, resource=rtype.resource)
            return copy.deepcopy(obj)

    def find(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        """A deep copy of one object, or None."""
        with self.cond:
            obj = self._objects.get(self._key(rtype, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def select(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> tuple[list[Obj], int]:
        """Matching objects sorted by namespace/name, with the list's resourceVersion."""
        with self.cond:
            items = [
                copy.deepcopy(obj)
                for key, obj in sorted(self._objects.items())
                if key[:2] == (rtype.group, rtype.resource)
                and (namespace is None or key[2] == namespace)
                and _selected(obj, labels, fields)
            ]
            return items, self._rv

    # -- writes --------------------------------------------------------------------------------

    def create(self, rtype: ResourceType, namespace: str, body: Obj) -> Obj:
        """Store a new object: validate, name it, stamp uid/timestamps/resourceVersion."""
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise validation.invalid_field(rtype, "", "metadata", "must be an object")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{secrets.token_hex(3)[:5]}"
        if rtype.namespaced:
            if meta.get("namespace") not in (None, namespace):
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request",
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        defaults.decoded(rtype, obj)
        validation.validate(rtype, obj)
        with self.cond:
            if rtype.namespaced:
                self._admit_to_namespace(rtype, namespace, meta["name"])
            key = self._key(rtype, namespace, meta["name"])
            if key in self._objects:
                raise already_exists(
                    rtype.qualified, meta["name"], group=rtype.group, resource=rtype.resource
                )
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = timestamp(self.clock)
            meta.pop("deletionTimestamp", None)
            defaults.created(rtype, obj)
            validation.apply_defaults(rtype, obj)
            self._write(key, rtype, obj, "ADDED")
            for hook in self._create_hooks:
                hook(rtype, obj)
            return copy.deepcopy(obj)

    def replace(
        self, rtype: ResourceType, namespace: str, name: str, body: Obj, *, dry_run: bool = False
    ) -> Obj:
        """PUT semantics: optimistic concurrency on resourceVersion, immutable fields kept; with
        `dry_run` (dryRun=All) everything but the write."""
        with self.cond:
            key = self._key(rtype, namespace, name)
            current = self._objects.get(key)
            if current is None:
                raise not_found(rtype.qualified, name, group=rtype.group, resource=rtype.resource)
            obj = copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            sent_rv = meta.get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise conflict(rtype.qualified, name, group=rtype.group, resource=rtype.resource)
            if meta.get("name", name) != name:
                raise ApiError(400, "the name of the object does not match the name on the URL")
            for kept in ("uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"):
                if kept in current["metadata"]:
                    meta[kept] = current["metadata"][kept]
            obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
            defaults.decoded(rtype, obj)
            validation.validate(rtype, obj)
            validation.validate_update(rtype, current, obj)
            if dry_run:
                meta["resourceVersion"] = current["metadata"]["resourceVersion"]
                return obj
            self._write(key, rtype, obj, "MODIFIED")
            return copy.deepcopy(obj)

    def mutate(
        self, rtype: ResourceType, namespace: str, name: str, change: Callable[[Obj], None]
    ) -> Obj | None:
        """Apply `change` to a copy of the object and write it if it differs (controllers' path)."""
        with self.cond:
            key = self._key(rtype, namespace, name)
            current = self._objects.get(key)
            if current is None:
                return None
            updated = copy.deepcopy(current)
            change(updated)
            if updated != current:
                self._write(key, rtype, updated, "MODIFIED")
            return copy.deepcopy(updated)

    def delete(
        self, rtype: ResourceType, namespace: str, name: str, propagation: str | None = None
    ) -> Obj:
        """Delete with Background, Foreground or Orphan propagation to owned objects."""
        policy = propagation or rtype.default_propagation
        if policy not in ("Background", "Foreground", "Orphan"):
            raise ApiError(
                422,
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                f'"{policy}": supported values: "Foreground", "Background", "Orphan"',
                reason="Invalid",
            )
        with self.cond:
            key = self._key(rtype, namespace, name)
            obj = self._objects.get(key)
            if obj is None:
                raise not_found(rtype.qualified, name, group=rtype.group, resource=rtype.resource)
            uid = obj["metadata"]["uid"]
            if policy == "Orphan":
                for dep_type, dep in self._dependents(namespace, uid):
                    self.mutate(
                        dep_type,
                        namespace,
                        dep["metadata"]["name"],
                        partial(_drop_owner, owner_uid=uid),
                    )
                return self._remove(key, rtype)
            if policy == "Foreground":
                # The owner stays visible, marked for deletion, until its dependents are gone.
                def mark(o: Obj) -> None:
                    o["metadata"]["deletionTimestamp"] = timestamp(self.clock)
                    finalizers = o["metadata"].setdefault("finalizers", [])
                    if "foregroundDeletion" not in finalizers:
                        finalizers.append("foregroundDeletion")

                self.mutate(rtype, namespace, name, mark)
                self._delete_dependents(namespace, uid)
                return self._remove(key, rtype)
            removed = self._remove(key, rtype)
            self._delete_dependents(namespace, uid)
            return removed

    def compact(self) -> None:
        """Forget watch history, as etcd compaction does: older resourceVersions become 410."""
        with self.cond:
            self._events.clear()
            self._compacted_rv = self._rv

    def on_delete(self, hook: Callable[[ResourceType, Obj], None]) -> None:
        """Call `hook` (under the store lock) for every object removed."""
        self._delete_hooks.append(hook)

    def on_create(self, hook: Callable[[ResourceType, Obj], None]) -> None:
        """Call `hook` (under the store lock) for every object created."""
        self._create_hooks.append(hook)

    # -- watch ---------------------------------------------------------------------------------

    def watch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        since: int | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        deadline: float,
        stop: threading.Event,
    ) -> Iterator[WatchEvent]:
        """Events after `since` (or ADDEDs of the current state when None), until the deadline.

        Raises ApiError 410 when `since` is older than the retained history.
        """
        initial, cursor = self._watch_start(rtype, namespace, since, labels, fields)
        yield from initial
        while not stop.is_set():
            with self.cond:
                pending = [e for e in self._events if e.resource_version > cursor]
                if not pending:
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        return
                    self.cond.wait(timeout=min(remaining, 0.5))
                    continue
            cursor = pending[-1].resource_version
            yield from (e for e in pending if _watched(e, rtype, namespace, labels, fields))
            if self.clock() >= deadline:
                return

    def _watch_start(
        self,
        rtype: ResourceType,
        namespace: str | None,
        since: int | None,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> tuple[list[WatchEvent], int]:
        """The events a watch opens with, and the resourceVersion it continues from."""
        with self.cond:
            if since is None:
                items, current = self.select(rtype, namespace, labels, fields)
                return [WatchEvent(current, "ADDED", rtype, obj) for obj in items], current
            if since < self._compacted_rv or (
                self._events and since < self._events[0].resource_version - 1
            ):
                oldest = self._events[0].resource_version if self._events else self._rv
                raise ApiError(
                    410,
                    f"too old resource version: {since} ({oldest})",
                    reason="Expired",
                )
            return [], since

    # -- internals -----------------------------------------------------------------------------

    def _admit_to_namespace(self, rtype: ResourceType, namespace: str, name: str) -> None:
        """The NamespaceLifecycle admission plugin: no new objects in an absent namespace (404)
        or in one being deleted (403, plugin/pkg/admission/namespace/lifecycle/admission.go)."""
        found = self._objects.get(("", "namespaces", "", namespace))
        if found is None:
            raise not_found("namespaces", namespace, group="", resource="namespaces")
        if (found.get("status") or {}).get("phase") == "Terminating":
            raise ApiError(
                403,
                f'{rtype.qualified} "{name}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated",
                details={
                    "name": name,
                    "group": rtype.group,
                    "kind": rtype.resource,
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    @staticmethod
    def _key(rtype: ResourceType, namespace: str, name: str) -> _Key:
        return (rtype.group, rtype.resource, namespace if rtype.namespaced else "", name)

    def _write(self, key: _Key, rtype: ResourceType, obj: Obj, kind: str) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[key] = obj
        self._events.append(WatchEvent(self._rv, kind, rtype, copy.deepcopy(obj)))
        self.cond.notify_all()

    def _remove(self, key: _Key, rtype: ResourceType) -> Obj:
        obj = self._objects.pop(key)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._events.append(WatchEvent(self._rv, "DELETED", rtype, copy.deepcopy(obj)))
        for hook in self._delete_hooks:
            hook(rtype, obj)
        self.cond.notify_all()
        return copy.deepcopy(obj)

    def _dependents(self, namespace: str, owner_uid: str) -> list[tuple[ResourceType, Obj]]:
        found = []
        for (group, resource, ns, _), obj in list(self._objects.items()):
            if ns != namespace:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in refs):
                rtype = by_kind(obj["apiVersion"], obj["kind"])
                if rtype is not None and (rtype.group, rtype.resource) == (group, resource):
                    found.append((rtype, obj))
        return found

    def _delete_dependents(self, namespace: str, owner_uid: str) -> None:
        for dep_type, dep in self._dependents(namespace, owner_uid):
            # An object with other live owners is kept, as the garbage collector does.
            others = [
                ref
                for ref in dep["metadata"].get("ownerReferences", [])
                if ref.get("uid") != owner_uid and self._uid_exists(ref.get("uid"))
            ]
            if others:
                self.mutate(
                    dep_type,
                    namespace,
                    dep["metadata"]["name"],
                    partial(_drop_owner, owner_uid=owner_uid),
                )
            else:
                self.delete(dep_type, namespace, dep["metadata"]["name"], "Background")

    def _uid_exists(self, uid: str | None) -> bool:
        return any(o["metadata"].get("uid") == uid for o in self._objects.values())


def _drop_owner(obj: Obj, owner_uid: str) -> None:
    refs = [r for r in obj["metadata"].get("ownerReferences", []) if r.get("uid") != owner_uid]
    if refs:
        obj["metadata"]["ownerReferences"] = refs
    else:
        obj["metadata"].pop("ownerReferences", None)


def _watched(
    event: WatchEvent,
    rtype: ResourceType,
    namespace: str | None,
    labels: LabelSelector,
    fields: FieldSelector,
) -> bool:
    if event.rtype != rtype:
        return False
    if namespace is not None and event.obj["metadata"].get("namespace", "") != namespace:
        return False
    return _selected(event.obj, labels, fields)


def _selected(obj: Obj, labels: LabelSelector | None, fields: FieldSelector | None) -> bool:
    if labels is not None and not labels.matches(obj["metadata"].get("labels")):
        return False
    return fields is None or fields.matches(obj)
