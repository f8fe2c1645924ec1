"""What a fleet costs the cluster: the Kubernetes API requests of one check and of one migration
of 5 min, 1 h and 12 h, by verb and resource, and the peak requests per second of 500 migrations
started within one minute (a fleet-wide rotation). Printed by `make bench`.

Two measurements are combined, each where it can be made honestly:
- on the wire: each call of the Jobs port (adapters/cluster.py JobGateway) is made against the
  Kubernetes emulator, and the requests it received are counted by verb and resource;
- in time: the story runs each migration through the durable execution SDK on its virtual clock
  (tests/story/world.py), logging each call of the Jobs port with the moment it was made. A 12 h
  Job's checks are all there, in milliseconds of real time.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

# The story's world (tests/story/world.py) and the tests' helpers live beside the sources.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: A Jobs-port call, as the wire sees it: (verb, resource) of each request it sends.
Wire = dict[str, list[tuple[str, str]]]


def wire_requests() -> Wire:
    """Each JobGateway method, called once against the emulator: the requests it sent."""
    import yaml  # noqa: PLC0415 - development tooling, loaded when measured

    from kube_emulator import Emulator, EmulatorConfig, StaticToken  # noqa: PLC0415
    from local_stack.stack import emulator_manifests  # noqa: PLC0415
    from migration_trigger.adapters.cluster import JobGateway  # noqa: PLC0415
    from migration_trigger.adapters.kube import KubeClient  # noqa: PLC0415
    from migration_trigger.adapters.kubeconfig import load_context  # noqa: PLC0415
    from migration_trigger.domain import jobspec  # noqa: PLC0415
    from tests.helpers import ROOT, sample_plan, sample_profile  # noqa: PLC0415

    token = "bench-admin-token"  # not a credential: the emulator's, for this run only
    emulator = Emulator(EmulatorConfig(static_tokens=(StaticToken(token, "bench"),))).start()
    try:
        emulator.apply_all(emulator_manifests())
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kubeconfig"
            path.write_text(json.dumps(emulator.kubeconfig(token=token)))
            context = load_context(path, emulator.kubeconfig(token=token)["current-context"])
        client = KubeClient(
            server=context.server, credentials=context.credentials, ca_pem=context.ca_pem
        )
        gateway = JobGateway(client, "migrations")
        profile = sample_profile(namespace="migrations", image="ghcr.io/example/app:1")
        plan = sample_plan(profile)
        template = yaml.safe_load((ROOT / "k8s" / "templates" / "migration-job.yaml").read_text())
        manifest = jobspec.render_job(template, plan, start_by=2_000_000_000)
        seen: Wire = {}

        def measure(name: str, call: Any) -> Any:
            before = len(emulator.requests.all())
            try:
                value = call()
            except Exception:
                value = None
            seen[name] = [(r.method, _resource(r.path)) for r in emulator.requests.all()[before:]]
            return value

        created = measure("create_job", lambda: gateway.create_job(manifest))
        uid = (created or {}).get("metadata", {}).get("uid", "")
        measure("database_jobs", lambda: gateway.database_jobs(plan.database_key))
        measure("get_job", lambda: gateway.get_job(plan.name))
        secret = jobspec.render_secret(plan, uid, {"DATABASE_URL": "postgres://bench"})
        measure("create_secret", lambda: gateway.create_secret(secret))
        measure("resume", lambda: gateway.resume(plan.name))
        measure("pods", lambda: gateway.pods(uid))
        measure("log", lambda: gateway.log("no-such-pod", tail_lines=40, container="migrate"))
        measure("delete_secret", lambda: gateway.delete_secret(plan.secret_name))
        measure("delete_job", lambda: gateway.delete_job(plan.name))
        return seen
    finally:
        emulator.stop()


def _resource(path: str) -> str:
    """`jobs`, `pods`, `pods/log`, `secrets` from an API path."""
    parts = path.split("?", maxsplit=1)[0].strip("/").split("/")
    if "namespaces" in parts:
        parts = parts[parts.index("namespaces") + 2 :]
    return parts[0] + ("/" + parts[2] if len(parts) > 2 else "")


def story_calls(
    runs_for: float, *, check: bool = False, informed: bool = False
) -> tuple[list[tuple[float, str]], int]:
    """The Jobs-port calls of one migration whose Job runs `runs_for` seconds (or one check), in
    the story on its virtual clock: (seconds since the event, method); and the durable
    operations it took. `informed`: the profile's watch asks the ledger, which knows the last
    migration ran as long."""
    from migration_trigger.domain.ledger import Entry  # noqa: PLC0415
    from tests.story.world import DB_ARN, RUNNING, PodScript, StoryWorld, exited  # noqa: PLC0415

    # The default poll schedule (pollSeconds 10): the story's own profile polls faster.
    keys: dict[str, Any] = {
        "activeDeadlineSeconds": 13 * 3600,
        "pollSeconds": 10,
        "watchFromLedger": informed,
    }
    if check:
        keys.update(
            checkCommand=["dbmate", "status", "--exit-code"],
            checkPending={"exitCodes": [1], "logMatches": "^Pending: [1-9]"},
        )
    world = StoryWorld(**keys)
    if informed:
        summary = {"status": "succeeded", "job": "earlier", "duration_seconds": runs_for}
        world.ledger.record(
            Entry(DB_ARN, "manual", 0, "earlier", "succeeded", "earlier", "i", summary)
        )
    began = world.clock()
    world.jobs.scripts.append(
        PodScript(timeline=[(0, RUNNING), (runs_for, exited(0))], log="Pending: 0\n")
    )
    calls: list[tuple[float, str]] = []
    jobs = world.jobs

    class Counting:
        def __getattr__(self, name: str) -> Any:
            method = getattr(jobs, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                calls.append((world.clock() - began, name))
                return method(*args, **kwargs)

            return call

    counting = Counting()
    world.services.jobs_for = lambda _profile: counting  # type: ignore[assignment,return-value]
    event = (
        world.event("manual-retrigger.json", mode="check")
        if check
        else world.event("secret-label-updated.json")
    )
    ended = world.run_durably(event)
    expected = "up_to_date" if check else "succeeded"
    if ended.result["status"] != expected:
        raise SystemExit(f"the story's run ended {ended.result}")
    return calls, len(ended.history) - 1


def on_the_wire(calls: list[tuple[float, str]], wire: Wire) -> list[tuple[float, str, str]]:
    """Each call's requests: (seconds since the event, verb, resource)."""
    return [(at, verb, resource) for at, name in calls for verb, resource in wire[name]]


def peak_per_second(requests: list[tuple[float, str, str]], fleet: int, spread: float) -> int:
    """The most requests in one second when `fleet` migrations start evenly within `spread`."""
    buckets: collections.Counter[int] = collections.Counter()
    for index in range(fleet):
        start = index * spread / fleet
        for at, _, _ in requests:
            buckets[int(start + at)] += 1
    return max(buckets.values())


def main() -> None:
    """Print the figures."""
    wire = wire_requests()
    print("Kubernetes API requests, default profile (the Jobs port's calls counted on the wire,")
    print("against the emulator; their number and timing from the story on its virtual clock):")
    runs = {"one check (30 s)": story_calls(30, check=True)}
    for label, seconds in (("5 min", 300), ("1 h", 3600), ("12 h", 12 * 3600)):
        runs[f"one migration of {label}"] = story_calls(seconds)
    for label, (calls, _) in runs.items():
        requests = on_the_wire(calls, wire)
        by_kind = collections.Counter(f"{verb} {resource}" for _, verb, resource in requests)
        detail = ", ".join(f"{kind} {n}" for kind, n in sorted(by_kind.items()))
        print(f"  {label:26} {len(requests):5} requests: {detail}")
    print("  a profile with watchFromLedger, the ledger knowing the last migration ran as long:")
    for label, seconds in (("1 h", 3600), ("12 h", 12 * 3600)):
        calls, operations = runs[f"one migration of {label}"]
        known, known_operations = story_calls(seconds, informed=True)
        saved = len(on_the_wire(calls, wire)) - len(on_the_wire(known, wire))
        print(
            f"    one migration of {label:5} saves {operations - known_operations} of "
            f"{operations} durable operations and {saved} of "
            f"{len(on_the_wire(calls, wire))} API requests (its end seen as soon)"
        )
    rotation = on_the_wire(runs["one migration of 5 min"][0], wire)
    peak = peak_per_second(rotation, fleet=500, spread=60)
    print(
        f"  500 migrations of 5 min started within one minute (a fleet-wide rotation): peak "
        f"{peak} requests per second on the API server"
    )
    print("  (for scale: kube-apiserver's default --max-requests-inflight is 400)")
