"""The container pod runner: Job pods as Docker containers, their security context enforced.

Through the emulator (real HTTPS) and a real Docker engine, with the project's own Job template
(k8s/templates/migration-job.yaml). The images are built here from Debian packages and npm the
first time (minutes), then kept by the engine (seconds). Skipped, saying why, only when no Docker
engine runs and none can be started.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from local_stack.container_runner import LABEL, ContainerPodRunner
from local_stack.docker_engine import CACHE, DockerEngine, DockerUnavailableError
from local_stack.pod_image import ensure_example_images, ensure_tool_image
from local_stack.postgres import LocalPostgres
from local_stack.stack import IMAGES
from migration_trigger.adapters.kube import KubeClient
from tests.helpers import ROOT, eventually

NS = "/api/v1/namespaces/migrations"
JOBS = "/apis/batch/v1/namespaces/migrations/jobs"
ORDERS = "ghcr.io/example/orders-db-migrations:demo"
#: The dbmate image without the examples' USER: it runs as root, as an image naming none does.
ROOT_IMAGE = "example/runs-as-root:1"
CANARY = "canary-Pa55-w0rd-do-not-leak"


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    """The running Docker engine, or one started for this module and stopped after it."""
    try:
        started = DockerEngine().start()
    except DockerUnavailableError as error:
        pytest.skip(f"no Docker engine here: {error}")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def images(engine: DockerEngine) -> dict[str, str]:
    """The examples' images (built unless the engine has them), and one that runs as root."""
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / "pod-images.log"
    built = ensure_example_images(engine, IMAGES, log=log)
    return {**built, ROOT_IMAGE: ensure_tool_image(engine, log=log)}


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    server = LocalPostgres().start()
    yield server
    server.stop()


@pytest.fixture
def runner(engine: DockerEngine, images: dict[str, str]) -> Iterator[ContainerPodRunner]:
    """The pod runner the `emulator` fixture's Job controller uses in this module."""
    pods = ContainerPodRunner(engine=engine, images=images)
    yield pods
    pods.close()


def migration_job(name: str, *, image: str, command: list[str], **container: Any) -> Any:
    """The project's Job template filled in as the function fills it; the rest as written."""
    job = copy.deepcopy(
        yaml.safe_load((ROOT / "k8s" / "templates" / "migration-job.yaml").read_text())
    )
    job["metadata"] = {"name": name, "namespace": "migrations"}
    job["spec"]["template"]["spec"]["containers"][0].update(
        image=image, command=command, **container
    )
    return job


def pod_of(admin: KubeClient, job: str) -> Any:
    pods = admin.get(f"{NS}/pods", labelSelector=f"job-name={job}")["items"]
    return pods[0] if pods else None


def outcome(admin: KubeClient, job: str) -> tuple[str, int, str] | None:
    """A finished Job's condition, its pod's exit code and log; None while it runs."""
    conditions = admin.get(f"{JOBS}/{job}").get("status", {}).get("conditions", [])
    done = next((c["type"] for c in conditions if c["type"] in ("Complete", "Failed")), None)
    if done is None:
        return None
    pod = pod_of(admin, job)
    state = pod["status"]["containerStatuses"][0]["state"]
    log = admin.text(f"{NS}/pods/{pod['metadata']['name']}/log")
    return done, state["terminated"]["exitCode"], log


def containers(engine: DockerEngine, runner: ContainerPodRunner) -> list[str]:
    """The runner's containers, running or not."""
    found = engine.docker(
        "ps", "--all", "--quiet", "--filter", f"label={LABEL}={runner.session}", capture_output=True
    )
    return found.stdout.decode().split()


def test_orders_example_migrates_real_postgres_in_a_container(
    admin: KubeClient,
    postgres: LocalPostgres,
    engine: DockerEngine,
    runner: ContainerPodRunner,
):
    # Given a database, its URL (with a password) in a Secret, as the function creates it
    postgres.sql(f"CREATE ROLE app_orders LOGIN PASSWORD '{CANARY}'")
    postgres.sql("CREATE DATABASE orders OWNER app_orders")
    url = f"postgres://app_orders:{CANARY}@127.0.0.1:{postgres.port}/orders?sslmode=disable"
    admin.create(f"{NS}/secrets", {"metadata": {"name": "orders-db"}, "stringData": {"url": url}})
    env = [
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "orders-db", "key": "url"}}}
    ]
    command = ["dbmate", "--no-dump-schema", "--wait", "--wait-timeout", "20s", "up"]

    # When the template's Job runs the example's image
    admin.create(JOBS, migration_job("orders", image=ORDERS, command=command, env=env))
    done, code, log = eventually(lambda: outcome(admin, "orders"), timeout=120)

    # Then dbmate, inside the container, applied the example's migrations; nothing is left behind
    assert (done, code) == ("Complete", 0), log
    assert "Applied: 20261101090000_create_customers.sql" in log
    assert "Applied: 20261101090100_create_orders.sql" in log
    tables = postgres.sql(
        "SELECT string_agg(table_name, ',' ORDER BY table_name) "
        "FROM information_schema.tables WHERE table_schema = 'public'",
        database="orders",
    )
    assert tables == "customers,orders,schema_migrations"
    assert CANARY not in log
    assert eventually(lambda: not containers(engine, runner), timeout=10)


# One stream: `docker logs` relays a container's stdout and stderr separately, so lines written
# to both can arrive out of order; the probe's error must come after "written".
PROBE = """
exec 2>&1
id -u; id -g
grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
echo written > /tmp/probe && cat /tmp/probe
echo x > /var/tmp/probe
"""


def test_the_runtime_enforces_the_templates_security_context(admin: KubeClient):
    # Given a command that reports who it is, writes to /tmp, then to /var/tmp (world-writable
    # in the image: only a read-only root filesystem stops the write)
    job = migration_job("probe", image=ORDERS, command=["sh", "-c", PROBE])

    # When it runs under the template's security context
    admin.create(JOBS, job)
    done, code, log = eventually(lambda: outcome(admin, "probe"), timeout=60)

    # Then it ran as 65532, without capabilities or a way to gain privileges, could write /tmp
    # only, and failing to write elsewhere failed the Job
    lines = log.splitlines()
    assert lines[:2] == ["65532", "65532"], log
    status = dict(line.split(":\t") for line in lines[2:7])
    assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == "0000000000000000"
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"  # a filter: the runtime's default profile
    assert lines[7] == "written"
    assert "Read-only file system" in lines[8]
    assert done == "Failed" and code != 0


def test_an_image_running_as_root_is_refused_as_the_kubelet_refuses_it(
    admin: KubeClient, engine: DockerEngine, runner: ContainerPodRunner
):
    # Given a pod that requires a non-root user without naming one, and an image that runs as root
    job = migration_job("rooted", image=ROOT_IMAGE, command=["dbmate", "up"])
    del job["spec"]["template"]["spec"]["securityContext"]["runAsUser"]

    # When the runner gets it
    admin.create(JOBS, job)

    # Then the container is never created: it waits, with the kubelet's reason and words
    def waiting() -> Any:
        pod = pod_of(admin, "rooted")
        statuses = (pod or {}).get("status", {}).get("containerStatuses") or [{}]
        return statuses[0].get("state", {}).get("waiting", {}).get("message") and statuses[0]

    status = eventually(waiting, timeout=30)
    assert status["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    assert status["state"]["waiting"]["message"].startswith(
        "container has runAsNonRoot and image will run as root (pod: "
    )
    assert containers(engine, runner) == []


def test_deleting_the_job_kills_and_removes_its_container(
    admin: KubeClient, engine: DockerEngine, runner: ContainerPodRunner
):
    # Given a Job whose container runs until it is killed
    command = ["sh", "-c", "echo started; exec sleep 600"]
    admin.create(JOBS, migration_job("forever", image=ORDERS, command=command))

    def started() -> bool:
        pod = pod_of(admin, "forever")
        if pod is None or pod["status"].get("phase") != "Running":
            return False
        return "started" in admin.text(f"{NS}/pods/{pod['metadata']['name']}/log")

    eventually(started, timeout=60)
    assert len(containers(engine, runner)) == 1

    # When the Job is deleted
    admin.delete(f"{JOBS}/forever")

    # Then its container is killed and removed
    assert eventually(lambda: not containers(engine, runner), timeout=20)
    assert eventually(lambda: pod_of(admin, "forever") is None, timeout=20)
