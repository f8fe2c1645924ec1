"""The emulator answers every call the product makes as the real control plane does.

The emulator stays as the fast path of `make demo` (devtools/README.md, "The emulator
afterwards"); this is what keeps it honest. Each scenario drives the product's own gateway
(adapters/cluster.py: every call the function makes to Kubernetes, as the function, with its EKS
token, the project's RBAC and admission policies) through the same steps against the emulator and
against the real control plane, with the same pod scripts, and compares what comes back:

* the status and reason of each answer (201, 200, 404 taken for None, 409 AlreadyExists or
  Conflict, the admission policy's 422);
* the body's shape: every field the emulator returns, the real apiserver returns too (the
  emulator invents nothing); and what the product reads (metadata it checks, the Job's
  suspension, counts and conditions as type, status and reason, the pods' phase and container
  states, the Secret's type and owner), equal;
* the log text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from control_plane import ControlPlane
from devtools.tests.control_plane.conftest import NS, function_client
from devtools.tests.control_plane.test_real_kubernetes import TEMPLATE, plan
from kube_emulator import Emulator, PodScript, ScriptedRunner
from migration_trigger.adapters.cluster import JobGateway
from migration_trigger.domain import jobspec
from migration_trigger.errors import KubernetesError
from tests.fixtures import assume_function_role
from tests.helpers import eventually, kube_client, manifests

#: Fields the real apiserver returns that the emulator does not: `kubectl apply` bookkeeping the
#: product never reads (server-side apply's managedFields).
ONLY_REAL = ("metadata.managedFields",)


@dataclass(frozen=True)
class Answer:
    """What one call of the product's gateway gave, in the terms compared."""

    call: str
    status: int
    reason: str
    read: Any
    shape: frozenset[str]


def shape(value: Any, prefix: str = "") -> set[str]:
    """Every field path of a JSON value (list items as `[]`)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            found.add(path)
            found |= shape(item, path)
    elif isinstance(value, list):
        for item in value:
            found |= shape(item, f"{prefix}[]")
    return found


def conditions(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (c.get("type", ""), c.get("status", ""), c.get("reason", ""))
        for c in (obj.get("status") or {}).get("conditions") or []
    ]


def read(value: Any) -> Any:
    """What the product reads of an answer (domain/jobstate.py, the stages, the binding of Secrets)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [read(item) for item in value]
    kind = value.get("kind") or ("Pod" if "containers" in (value.get("spec") or {}) else "")
    meta = value.get("metadata") or {}
    owners = [(o.get("kind"), o.get("controller")) for o in meta.get("ownerReferences") or []]
    status = value.get("status") or {}
    if kind == "Job" or "suspend" in (value.get("spec") or {}):
        return {
            "suspend": value["spec"].get("suspend"),
            "counts": {k: status.get(k) for k in ("active", "succeeded", "failed") if k in status},
            "conditions": conditions(value),
            "started": "startTime" in status,
            "completed": "completionTime" in status,
            "annotations": sorted(meta.get("annotations") or {}),
            "labels": sorted(meta.get("labels") or {}),
        }
    if kind == "Pod":
        return {
            "phase": status.get("phase"),
            "owners": owners,
            "labels": sorted(k for k in meta.get("labels") or {} if "controller-uid" in k),
            "containers": [
                {
                    state: {k: v for k, v in detail.items() if k in ("reason", "exitCode")}
                    for state, detail in (c.get("state") or {}).items()
                }
                for c in status.get("containerStatuses") or []
            ],
        }
    return {"type": value.get("type"), "owners": owners, "keys": sorted(value.get("data") or {})}


class Recorder:
    """Calls the product's gateway and keeps each answer."""

    def __init__(self, jobs: JobGateway) -> None:
        self.jobs = jobs
        self.answers: list[Answer] = []

    def __call__(self, call: str, do: Callable[[], Any]) -> Any:
        try:
            value = do()
        except KubernetesError as error:
            self.answers.append(Answer(call, error.status or 0, error.reason, None, frozenset()))
            return None
        body = value if isinstance(value, dict) else {"items": value} if value else {}
        self.answers.append(Answer(call, 200, "", read(value), frozenset(shape(body))))
        return value


@dataclass
class Cluster:
    """One cluster under comparison: the product's gateway as the function, its pod runner."""

    name: str
    jobs: JobGateway
    pods: ScriptedRunner


@pytest.fixture
def clusters(
    control_plane: ControlPlane, emulator: Emulator, runner: ScriptedRunner, admin: Any
) -> list[Cluster]:
    """The emulator and the real control plane, each with k8s/ applied, and their runners."""
    from tests.fixtures import NODE_RUNNER

    emulator.apply_all(manifests("namespace.yaml", "rbac.yaml", "validating-admission-policy.yaml"))
    return [
        Cluster("emulator", JobGateway(kube_client(emulator, assume_function_role()), NS), runner),
        Cluster("real", JobGateway(function_client(control_plane), NS), NODE_RUNNER),
    ]


def job_until(jobs: JobGateway, name: str, condition: str) -> dict[str, Any]:
    return eventually(
        lambda: (job := jobs.get_job(name)) and condition in json.dumps(conditions(job)) and job,
        timeout=60,
    )


def success(record: Recorder, suffix: str) -> None:
    """A migration from creation to clean-up, with every refusal the product can meet."""
    run = plan(suffix)
    manifest = jobspec.render_job(TEMPLATE, run)
    created = record("create_job", lambda: record.jobs.create_job(manifest))
    record("create_job again", lambda: record.jobs.create_job(manifest))
    uid = created["metadata"]["uid"]
    record("get_job", lambda: record.jobs.get_job(run.name))
    record("get_job missing", lambda: record.jobs.get_job(f"{run.name}-missing"))
    key = jobspec.database_key(run.database_arn)
    record("database_jobs", lambda: record.jobs.database_jobs(key))
    secret = jobspec.render_secret(run, uid, {"DATABASE_URL": "postgresql://x"})
    record("create_secret", lambda: record.jobs.create_secret(secret))
    record("create_secret again", lambda: record.jobs.create_secret(secret))
    unowned = {**secret, "metadata": {**secret["metadata"], "ownerReferences": []}}
    unowned["metadata"]["name"] = f"{run.name}-x-db"
    record("create_secret unowned", lambda: record.jobs.create_secret(unowned))
    record("resume", lambda: record.jobs.resume(run.name))
    job_until(record.jobs, run.name, "Complete")
    record("get_job complete", lambda: record.jobs.get_job(run.name))
    pods = record("pods", lambda: record.jobs.pods(uid))
    pod = pods[0]["metadata"]["name"]
    record("log", lambda: record.jobs.log(pod, tail_lines=50, container="migrate"))
    record("delete_secret", lambda: record.jobs.delete_secret(secret["metadata"]["name"]))
    record("delete_secret gone", lambda: record.jobs.delete_secret(secret["metadata"]["name"]))
    record("delete_job other uid", lambda: record.jobs.delete_job(run.name, uid="not-the-uid"))
    record(
        "delete_job stale",
        lambda: record.jobs.delete_job(run.name, uid=uid, resource_version="1"),
    )
    record("delete_job", lambda: record.jobs.delete_job(run.name, uid=uid))
    record("delete_job gone", lambda: record.jobs.delete_job(run.name, uid=uid))


def failure(record: Recorder, suffix: str) -> None:
    """A migration whose pod exits 1: the Job controller's failure conditions."""
    run = plan(suffix)
    uid = record.jobs.create_job(jobspec.render_job(TEMPLATE, run))["metadata"]["uid"]
    record.jobs.create_secret(jobspec.render_secret(run, uid, {"DATABASE_URL": "x"}))
    record.jobs.resume(run.name)
    job_until(record.jobs, run.name, "Failed")
    record("get_job failed", lambda: record.jobs.get_job(run.name))
    record("pods failed", lambda: record.jobs.pods(uid))


STUCK = "CreateContainerConfigError"


def stuck(record: Recorder, suffix: str) -> None:
    """A pod whose container cannot be created: its waiting reason."""
    run = plan(suffix)
    uid = record.jobs.create_job(jobspec.render_job(TEMPLATE, run))["metadata"]["uid"]
    record.jobs.create_secret(jobspec.render_secret(run, uid, {"DATABASE_URL": "x"}))
    record.jobs.resume(run.name)
    # Until the script's reason shows (a kubelet reports ContainerCreating first).
    eventually(
        lambda: any(
            (c.get("state") or {}).get("waiting", {}).get("reason") == STUCK
            for p in record.jobs.pods(uid)
            for c in (p.get("status") or {}).get("containerStatuses") or []
        ),
        timeout=60,
    )
    record("pods stuck", lambda: record.jobs.pods(uid))
    record("get_job stuck", lambda: record.jobs.get_job(run.name))


SCENARIOS: dict[str, tuple[Callable[[Recorder, str], None], PodScript]] = {
    "success": (success, PodScript(logs="Applied 1 migration\n")),
    "failure": (failure, PodScript(exit_code=1, logs="relation orders already exists\n")),
    "stuck": (stuck, PodScript(waiting_reason=STUCK, waiting_message="x")),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_call_the_product_makes_is_answered_alike(clusters: list[Cluster], scenario: str):
    steps, script = SCENARIOS[scenario]
    answers: dict[str, list[Answer]] = {}
    for cluster in clusters:
        cluster.pods.when(script)
        record = Recorder(cluster.jobs)
        steps(record, scenario)
        answers[cluster.name] = record.answers

    emulated, real = answers["emulator"], answers["real"]
    assert [a.call for a in emulated] == [a.call for a in real]
    for mine, theirs in zip(emulated, real, strict=True):
        assert (mine.status, mine.reason) == (theirs.status, theirs.reason), mine.call
        assert mine.read == theirs.read, mine.call
        invented = {path for path in mine.shape - theirs.shape if not path.startswith(ONLY_REAL)}
        assert not invented, f"{mine.call}: fields the real apiserver does not return"
