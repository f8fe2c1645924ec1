"""Every Kubernetes call the product makes, made by the official `kubernetes` client too (issue 13).

The product speaks to the API server through its own small client (adapters/kube.py, through
adapters/cluster.py's JobGateway). The official client is the reference: the same calls, made as
the function's identity (an EKS token of its role, the project's RBAC) on a twin Job, must get the
same answers. What differs between the twins (names, uids, the event id, timestamps, resource
versions) is replaced by placeholders before the two transcripts are compared; the official
answers are deserialised into its models first, so an answer its models cannot read fails here.

The official client's PATCH picks `application/json-patch+json` when not told otherwise
(kubernetes/client/api/batch_v1_api.py, `_patch_namespaced_job_serialize`: the first JSON type of
its list), so the merge patch the product sends is asked for with `_content_type`, as a user of
the official client must.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from kube_emulator import Emulator, PodScript, ScriptedRunner
from migration_trigger.adapters.cluster import JobGateway
from migration_trigger.adapters.eks_auth import eks_token
from migration_trigger.adapters.kube import KubeClient
from migration_trigger.domain import jobspec
from migration_trigger.domain.profiles import parse_profiles
from migration_trigger.errors import KubernetesError
from tests.fixtures import CLUSTER, REGION, assume_function_role
from tests.helpers import ROOT, eventually, sample_plan, sts_for_tokens

NS = "migrations"
TEMPLATE = yaml.safe_load((ROOT / "k8s" / "templates" / "migration-job.yaml").read_text())
PROFILE = parse_profiles((ROOT / "k8s" / "profiles" / "examples.json").read_text())["dbmate"]
LOG = "Applying: 20261101090000_create_customers.sql\nApplied\nWriting: ./db/schema.sql\n"
# Not a real password: what the Secret holds only has to be the same on both sides.
VALUES = {"DATABASE_URL": "postgresql://app:parity@db.internal:5432/orders", "DB_USER": "app"}

Transcript = list[tuple[str, Any]]


def plan() -> jobspec.JobPlan:
    built: jobspec.JobPlan = sample_plan(PROFILE)
    return built


class Product:
    """The calls, made as the product makes them."""

    def __init__(self, kube: KubeClient, admin: KubeClient) -> None:
        self.kube = kube
        self.admin = admin
        self.jobs = JobGateway(kube, NS)

    def resource_version(self) -> str:
        return str(
            self.kube.get(f"/apis/batch/v1/namespaces/{NS}/jobs")["metadata"]["resourceVersion"]
        )

    def create_job(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return self.jobs.create_job(manifest)

    def get_job(self, name: str) -> dict[str, Any] | None:
        return self.jobs.get_job(name)

    def list_jobs(self, database_key: str) -> list[dict[str, Any]]:
        return self.jobs.database_jobs(database_key)

    def create_secret(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        return self.jobs.create_secret(manifest)

    def resume(self, name: str) -> None:
        self.jobs.resume(name)

    def pods(self, job_uid: str) -> list[dict[str, Any]]:
        return self.jobs.pods(job_uid)

    def log(self, pod: str, tail_lines: int) -> str:
        return self.jobs.log(pod, tail_lines=tail_lines, container=jobspec.CONTAINER)

    def delete_job(self, name: str) -> None:
        self.jobs.delete_job(name)

    def delete_secret(self, name: str) -> None:
        self.jobs.delete_secret(name)

    def get_secret(self, name: str) -> int:
        try:
            self.kube.get(f"/api/v1/namespaces/{NS}/secrets/{name}")
        except KubernetesError as error:
            return error.status or 0
        return 200

    def watch(self, selector: str, resource_version: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (event["type"], event["object"])
            for event in self.admin.watch(
                f"/apis/batch/v1/namespaces/{NS}/jobs",
                resource_version=resource_version,
                timeout_seconds=1,
                labelSelector=selector,
            )
            if event["type"] != "BOOKMARK"
        ]


class Reference:
    """The same calls through the official client, answers as its models read them."""

    def __init__(self, api: client.ApiClient, admin: client.ApiClient) -> None:
        self.api = api
        self.admin = client.BatchV1Api(admin)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)

    def plain(self, model: Any) -> Any:
        return self.api.sanitize_for_serialization(model)

    def resource_version(self) -> str:
        return str(self.batch.list_namespaced_job(NS).metadata.resource_version)

    def create_job(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return dict(self.plain(self.batch.create_namespaced_job(NS, manifest)))

    def get_job(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.plain(self.batch.read_namespaced_job(name, NS)))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list_jobs(self, database_key: str) -> list[dict[str, Any]]:
        selector = f"{jobspec.LABEL_PREFIX}/database-key={database_key}"
        found = self.batch.list_namespaced_job(NS, label_selector=selector)
        return [self.plain(job) for job in found.items]

    def create_secret(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        try:
            self.core.create_namespaced_secret(NS, manifest)
        except ApiException as error:
            if error.status != 409:
                raise
            return dict(
                self.plain(self.core.read_namespaced_secret(manifest["metadata"]["name"], NS))
            )
        return None

    def resume(self, name: str) -> None:
        self.batch.patch_namespaced_job(
            name, NS, {"spec": {"suspend": False}}, _content_type="application/merge-patch+json"
        )

    def pods(self, job_uid: str) -> list[dict[str, Any]]:
        found = self.core.list_namespaced_pod(
            NS, label_selector=f"batch.kubernetes.io/controller-uid={job_uid}"
        )
        return [
            self.plain(pod)
            for pod in found.items
            if any(r.controller and r.uid == job_uid for r in pod.metadata.owner_references or [])
        ]

    def log(self, pod: str, tail_lines: int) -> str:
        return str(
            self.core.read_namespaced_pod_log(
                pod, NS, container=jobspec.CONTAINER, tail_lines=tail_lines
            )
        )

    def delete_job(self, name: str) -> None:
        try:
            self.batch.delete_namespaced_job(name, NS, propagation_policy="Background")
        except ApiException as error:
            if error.status != 404:
                raise

    def delete_secret(self, name: str) -> None:
        try:
            self.core.delete_namespaced_secret(name, NS)
        except ApiException as error:
            if error.status != 404:
                raise

    def get_secret(self, name: str) -> int:
        try:
            self.core.read_namespaced_secret(name, NS)
        except ApiException as error:
            return int(error.status or 0)
        return 200

    def watch(self, selector: str, resource_version: str) -> list[tuple[str, dict[str, Any]]]:
        stream = watch.Watch().stream(
            self.admin.list_namespaced_job,
            NS,
            label_selector=selector,
            resource_version=resource_version,
            timeout_seconds=1,
        )
        return [(event["type"], self.plain(event["object"])) for event in stream]


def conversation(side: Product | Reference, run: jobspec.JobPlan) -> Transcript:
    """Every call the product makes in one migration, in its order, with what each answered."""
    said: Transcript = []
    since = side.resource_version()
    manifest = jobspec.render_job(TEMPLATE, run, start_by=4_102_444_800)  # 2100-01-01
    created = side.create_job(manifest)
    said.append(("create the Job, suspended", created))
    said.append(("create it again: 409", _status_of(lambda: side.create_job(manifest))))
    said.append(("get the Job", side.get_job(run.name)))
    key = run.labels()[f"{jobspec.LABEL_PREFIX}/database-key"]
    said.append(("list the database's Jobs by label", side.list_jobs(key)))
    secret = jobspec.render_secret(run, created["metadata"]["uid"], VALUES)
    said.append(("create the Secret the Job owns", side.create_secret(secret)))
    said.append(("create it again: the one there", side.create_secret(secret)))
    side.resume(run.name)
    said.append(("the Job once started and complete", eventually(lambda: _done(side, run.name))))
    uid = created["metadata"]["uid"]
    pods = side.pods(uid)
    said.append(("list the pods it controls", pods))
    said.append(("its log, last 2 lines", side.log(pods[0]["metadata"]["name"], 2)))
    said.append(("its log, all lines", side.log(pods[0]["metadata"]["name"], 100)))
    said.append(
        (
            "watch the Job from before it was made",
            side.watch(f"{jobspec.LABEL_PREFIX}/database-key={key}", since),
        )
    )
    side.delete_secret(run.secret_name)
    said.append(("its Secret deleted once it finished", side.get_secret(run.secret_name)))
    side.delete_secret(run.secret_name)
    said.append(("deleted again: nothing to do", side.get_secret(run.secret_name)))
    side.delete_job(run.name)
    said.append(("deleted", eventually(lambda: side.get_job(run.name) is None)))
    said.append(("its pods garbage-collected", eventually(lambda: side.pods(uid) == [])))
    side.delete_job(run.name)
    said.append(("deleted again: nothing to do", side.get_job(run.name)))
    return said


def _done(side: Product | Reference, name: str) -> dict[str, Any] | None:
    job = side.get_job(name) or {}
    conditions = (job.get("status") or {}).get("conditions") or []
    return (
        job if any(c["type"] == "Complete" and c["status"] == "True" for c in conditions) else None
    )


def _status_of(call: Callable[[], Any]) -> int:
    try:
        call()
    except KubernetesError as error:
        return error.status or 0
    except ApiException as error:
        return int(error.status or 0)
    return 200


def normalised(transcript: Transcript) -> Any:
    """The transcript with what differs between two runs replaced by placeholders: uids,
    resource versions, timestamps, the pod name's random suffix."""
    text = json.dumps(_drop_none(transcript), sort_keys=True)
    for uid in set(
        re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)
    ):
        text = text.replace(uid, "UID")
    text = re.sub(r'"resourceVersion": "\d+"', '"resourceVersion": "RV"', text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", "TIME", text)
    text = re.sub(r"(migrate-[a-z0-9-]+)-[a-z0-9]{5}\b", r"\1-POD", text)
    return json.loads(text)


def _drop_none(value: Any) -> Any:
    """Absent and null are one answer (the official models write every field they know)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value


@pytest.fixture
def reference(emulator: Emulator, api: client.ApiClient) -> Iterator[Reference]:
    """The official client as the function: an EKS token of its role, in a kubeconfig."""
    token = eks_token(sts_for_tokens(REGION, assume_function_role("reference-client")), CLUSTER)
    function = config.new_client_from_config_dict(emulator.kubeconfig(token=token, namespace=NS))
    yield Reference(function, api)
    function.close()


def test_the_official_client_makes_every_call_of_the_product_and_gets_the_same_answers(
    runner: ScriptedRunner, function_client: KubeClient, admin: KubeClient, reference: Reference
):
    """One migration's calls, by the product and then by the official client, on the same Job
    name (the first run's Job is gone before the second starts): the same answers, step by step."""
    runner.when(PodScript(logs=LOG, duration=0.2))
    run = plan()

    by_product = normalised(conversation(Product(function_client, admin), run))
    by_reference = normalised(conversation(reference, run))

    answers = dict(by_product)
    assert answers["create it again: 409"] == 409
    assert answers["create the Secret the Job owns"] is None
    assert (
        answers["create it again: the one there"]["metadata"]["ownerReferences"][0]["kind"] == "Job"
    )
    assert len(answers["list the pods it controls"]) == 1
    assert answers["its Secret deleted once it finished"] == 404
    assert answers["its log, last 2 lines"] == "".join(LOG.splitlines(keepends=True)[-2:])
    assert answers["its log, all lines"] == LOG
    events = [kind for kind, _ in answers["watch the Job from before it was made"]]
    assert events[0] == "ADDED" and "MODIFIED" in events
    assert [step for step, _ in by_reference] == [step for step, _ in by_product]
    for (step, answer), (_, reference_answer) in zip(by_product, by_reference, strict=True):
        assert reference_answer == answer, f"{step}:\n{_difference(answer, reference_answer)}"


def _difference(ours: Any, theirs: Any) -> str:
    """A unified diff of two answers, product first."""
    left, right = (json.dumps(x, indent=1, sort_keys=True).splitlines() for x in (ours, theirs))
    return "\n".join(difflib.unified_diff(left, right, "product", "official client", lineterm=""))
