"""Namespace lifecycle: what kube-controller-manager does around namespaces, and their deletion.

- The service account controller (pkg/controller/serviceaccount/serviceaccounts_controller.go)
  keeps a `default` ServiceAccount in every namespace that is not being deleted.
- Deleting a namespace (pkg/registry/core/namespace/storage/storage.go, REST.Delete) only marks
  it: `deletionTimestamp` set, `status.phase: Terminating`, the namespace returned. The namespace
  controller (pkg/controller/namespace/deletion) then deletes its contents and, once the
  `kubernetes` finalizer is removed, the namespace itself; after that it is 404.
"""

from __future__ import annotations

import contextlib
import threading

from kube_emulator.errors import ApiError
from kube_emulator.resources import RESOURCE_TYPES, ResourceType, require
from kube_emulator.store import Obj, Store, timestamp

NAMESPACES = require("", "v1", "namespaces")
SERVICE_ACCOUNTS = require("", "v1", "serviceaccounts")
DEFAULT_SERVICE_ACCOUNT = "default"
_PURGING = (
    "The system is ensuring all content is removed from this namespace.  Upon completion, this "
    "namespace will automatically be purged by the system."
)


class NamespaceController:
    """Default ServiceAccounts, and namespace deletion in two steps as the real cluster does it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        store.on_create(self._created)
        store.on_delete(self._deleted)

    def delete(self, name: str) -> Obj:
        """Mark a namespace Terminating and start purging it; the marked namespace is returned."""
        with self._store.cond:
            current = self._store.get(NAMESPACES, "", name)
            if current["metadata"].get("deletionTimestamp"):
                raise ApiError(
                    409,
                    f'Operation cannot be fulfilled on namespaces "{name}": {_PURGING}',
                    reason="Conflict",
                    details={"name": name, "group": "", "kind": "namespaces"},
                )
            stamp = timestamp(self._store.clock)

            def terminate(obj: Obj) -> None:
                obj["metadata"]["deletionTimestamp"] = stamp
                obj.setdefault("status", {})["phase"] = "Terminating"

            marked = self._store.mutate(NAMESPACES, "", name, terminate)
        threading.Thread(
            target=self._purge, args=(name,), name=f"namespace-{name}", daemon=True
        ).start()
        assert marked is not None
        return marked

    def _purge(self, name: str) -> None:
        for rtype in RESOURCE_TYPES:
            if not rtype.namespaced:
                continue
            items, _ = self._store.select(rtype, name)
            for item in items:
                # Something else (garbage collection, the Job controller) may delete it first.
                with contextlib.suppress(ApiError):
                    self._store.delete(rtype, name, item["metadata"]["name"], "Background")

        def finalize(obj: Obj) -> None:
            obj.setdefault("spec", {})["finalizers"] = []

        with contextlib.suppress(ApiError):
            self._store.mutate(NAMESPACES, "", name, finalize)
            self._store.delete(NAMESPACES, "", name)

    def _created(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype is NAMESPACES:
            self._ensure_default_account(obj["metadata"]["name"])

    def _deleted(self, rtype: ResourceType, obj: Obj) -> None:
        # The controller recreates a deleted `default` account, unless its namespace is going.
        meta = obj["metadata"]
        if rtype is SERVICE_ACCOUNTS and meta["name"] == DEFAULT_SERVICE_ACCOUNT:
            namespace = self._store.find(NAMESPACES, "", meta.get("namespace", ""))
            if namespace is not None and not namespace["metadata"].get("deletionTimestamp"):
                self._ensure_default_account(meta["namespace"])

    def _ensure_default_account(self, namespace: str) -> None:
        if self._store.find(SERVICE_ACCOUNTS, namespace, DEFAULT_SERVICE_ACCOUNT) is None:
            self._store.create(
                SERVICE_ACCOUNTS,
                namespace,
                {"metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": namespace}},
            )
