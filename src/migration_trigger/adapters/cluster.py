"""Migration Jobs in one namespace of one cluster: the calls the workflow makes, over KubeClient."""

from __future__ import annotations

from typing import Any

from migration_trigger.adapters.kube import KubeClient
from migration_trigger.domain.jobspec import LABEL_PREFIX
from migration_trigger.domain.jobstate import CONTROLLER_UID_LABEL, controlled_by
from migration_trigger.errors import KubernetesError


class JobGateway:
    """Create, find, start, follow, read and delete migration Jobs in `namespace`."""

    __slots__ = ("client", "namespace")

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    @property
    def _jobs(self) -> str:
        return f"/apis/batch/v1/namespaces/{self.namespace}/jobs"

    @property
    def _pods(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods"

    def create_job(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create the Job; KubernetesError 409 when the name exists."""
        return self.client.create(self._jobs, manifest)

    def get_job(self, name: str) -> dict[str, Any] | None:
        """The Job, or None when it does not exist."""
        try:
            return self.client.get(f"{self._jobs}/{name}")
        except KubernetesError as error:
            if error.status == 404:
                return None
            raise

    def database_jobs(self, database_key: str) -> list[dict[str, Any]]:
        """Every migration Job of one database."""
        selector = f"{LABEL_PREFIX}/database-key={database_key}"
        return list(self.client.get(self._jobs, labelSelector=selector).get("items", []))

    @property
    def _secrets(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/secrets"

    def create_secret(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Create a Secret; None if created, else the Secret that already has its name (left by
        an earlier attempt of the same step, or planted: the caller checks its owner)."""
        try:
            self.client.create(self._secrets, manifest)
        except KubernetesError as error:
            if error.status != 409:
                raise
            return dict(self.client.get(f"{self._secrets}/{manifest['metadata']['name']}"))
        return None

    def delete_secret(self, name: str) -> None:
        """Delete a Secret; gone already is fine."""
        try:
            self.client.delete(f"{self._secrets}/{name}")
        except KubernetesError as error:
            if error.status != 404:
                raise

    def resume(self, name: str) -> None:
        """Un-suspend the Job so its pod starts."""
        self.client.patch(f"{self._jobs}/{name}", {"spec": {"suspend": False}})

    def pods(self, job_uid: str) -> list[dict[str, Any]]:
        """Pods the Job with this uid controls (selected by the label its controller sets, then
        held to its controller ownerReference)."""
        selector = f"{CONTROLLER_UID_LABEL}={job_uid}"
        items = self.client.get(self._pods, labelSelector=selector).get("items", [])
        return [pod for pod in items if controlled_by(pod, job_uid)]

    def log(self, pod: str, *, tail_lines: int, container: str) -> str:
        """The last `tail_lines` lines of a container's log."""
        return self.client.text(
            f"{self._pods}/{pod}/log", tailLines=tail_lines, container=container
        )

    def delete_job(
        self, name: str, *, uid: str | None = None, resource_version: str | None = None
    ) -> None:
        """Delete the Job and (Background propagation) its pods and Secret; gone already is fine.

        `uid` and `resource_version` are DeleteOptions preconditions: the Job is deleted only as
        it was seen (not one re-created at that name, nor one changed since); otherwise the API
        server answers 409 Conflict (k8s.io/apiserver storage: checkPreconditions).
        """
        preconditions = {
            key: value
            for key, value in (("uid", uid), ("resourceVersion", resource_version))
            if value is not None
        }
        try:
            self.client.delete(
                f"{self._jobs}/{name}", propagation="Background", preconditions=preconditions
            )
        except KubernetesError as error:
            if error.status != 404:
                raise
