"""Runs the official client's own e2e tests (vendored, unchanged) against a Kubernetes cluster:
the real control plane (`make test`), the emulator (MIGRATION_TRIGGER_CLUSTER=emulator), or the
cluster KUBECONFIG names (MIGRATION_TRIGGER_CLUSTER=kubeconfig).

Only configuration is adapted, as a user points those tests at a cluster of their own:

* the vendored directory is the package the tests import, `kubernetes.e2e_test` (upstream, it
  lives inside the client's source tree; the installed wheel does not ship it);
* the cluster serves these tests over HTTPS, and an admin kubeconfig for it is where `base.py`
  looks for one (`KUBECONFIG`, which `kube_config` reads once, at import);
* tests that need what the cluster does not serve are skipped with the reason, never edited
  (the lists are kept in kubernetes_e2e/README.md too).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from kubernetes.config import kube_config

from devtools.tests.reference_e2e import kubernetes_e2e
from kube_emulator import Emulator, EmulatorConfig, StaticToken
from tests.fixtures import clusters_under_test
from tests.helpers import fail_on_handler_errors

# `from kubernetes.e2e_test import base` in the vendored tests resolves to the vendored package.
sys.modules.setdefault("kubernetes.e2e_test", kubernetes_e2e)

VENDORED = Path(kubernetes_e2e.__file__).parent

#: The cluster these tests run against: the real control plane unless only the emulator (or a
#: cluster of one's own, by KUBECONFIG) is chosen.
CLUSTER = "real" if "real" in clusters_under_test() else clusters_under_test()[0]

_NO_EXEC = "needs pods/exec over WebSocket, which the emulator does not serve"
_NO_PORT_FORWARD = "needs pods/portforward over WebSocket, which the emulator does not serve"
#: Upstream tests not run against the emulator, by node id within the vendored directory, with
#: the reason.
EXCLUDED = {
    "test_client.py::TestClient::test_pod_apis": _NO_EXEC,
    "test_client.py::TestClient::test_pod_exec_close_channel": _NO_EXEC,
    "test_client.py::TestClient::test_exit_code": _NO_EXEC,
    "test_client.py::TestClient::test_portforward_raw": _NO_PORT_FORWARD,
    "test_client.py::TestClient::test_portforward_http": _NO_PORT_FORWARD,
    "test_client.py::TestClient::test_service_apis": "needs Services (v1), not served",
    "test_client.py::TestClient::test_replication_controller_apis": (
        "needs ReplicationControllers (v1), not served"
    ),
    "test_client.py::TestClient::test_node_apis": "needs Nodes (v1), not served",
}


_KUBELET_STREAM = (
    "needs {} over WebSocket from the kubelet, which the node stand-in (control_plane/node.py) "
    "does not serve"
)
#: Upstream tests not run against the real control plane: what a kubelet streams.
EXCLUDED_REAL = {
    "test_client.py::TestClient::test_pod_apis": _KUBELET_STREAM.format("pods/exec"),
    "test_client.py::TestClient::test_pod_exec_close_channel": _KUBELET_STREAM.format("pods/exec"),
    "test_client.py::TestClient::test_exit_code": _KUBELET_STREAM.format("pods/exec"),
    "test_client.py::TestClient::test_portforward_raw": _KUBELET_STREAM.format("pods/portforward"),
    "test_client.py::TestClient::test_portforward_http": _KUBELET_STREAM.format("pods/portforward"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip, with its reason, each upstream test that needs what the cluster does not serve."""
    # A cluster of one's own has real kubelets: every test runs there.
    excluded = {"real": EXCLUDED_REAL, "emulator": EXCLUDED}.get(CLUSTER, {})
    for item in items:
        path = Path(str(item.path))
        if path.parent != VENDORED:
            continue
        reason = excluded.get(f"{path.name}::{item.nodeid.split('::', 1)[1]}")
        if reason is not None:
            item.add_marker(
                pytest.mark.skip(reason=f"not served by the {CLUSTER} cluster: {reason}")
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """`base.py` skips when it finds no cluster; here that is a broken configuration, a failure."""
    report = yield
    if (
        report.skipped
        and Path(str(item.path)).parent == VENDORED
        and "Unable to find a running Kubernetes instance" in str(report.longrepr)
    ):
        report.outcome = "failed"
    return report


@pytest.fixture(scope="package")
def reference_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Emulator | None]:
    """The cluster for the upstream tests, with an administrator's kubeconfig: the session's
    real control plane (a client certificate in system:masters), the one KUBECONFIG names, or
    one emulator as `kube-emulator` serves (a static admin token), yielded so its errors can be
    checked.

    Package-scoped, so KUBECONFIG points at it only while the tests here run.
    """
    kubeconfig = tmp_path_factory.mktemp("reference-e2e") / "kubeconfig"
    with contextlib.ExitStack() as stack:
        emulator: Emulator | None = None
        if CLUSTER == "kubeconfig":
            document = request.getfixturevalue("kubeconfig_cluster")
        elif CLUSTER == "real":
            plane = request.getfixturevalue("control_plane")
            document = plane.admin_kubeconfig(namespace="default")
        else:
            token = secrets.token_urlsafe(24)
            config = EmulatorConfig(
                cluster_name="reference-e2e", static_tokens=(StaticToken(token, "kube-admin"),)
            )
            emulator = stack.enter_context(Emulator(config))
            document = emulator.kubeconfig(token=token)
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        kubeconfig.write_text(json.dumps(document))
        patch.setenv("KUBECONFIG", str(kubeconfig))
        patch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
        yield emulator


def _vendored(request: pytest.FixtureRequest) -> bool:
    return Path(str(request.path)).parent == VENDORED


@pytest.fixture(scope="class", autouse=True)
def _kubeconfig_before_set_up_class(request: pytest.FixtureRequest) -> None:
    """The cluster and KUBECONFIG are there before an upstream class's setUpClass reads them.

    Class-scoped, and so set up before the setUpClass fixture pytest gives each unittest class;
    the checks of the vendored files themselves stay offline.
    """
    if _vendored(request):
        request.getfixturevalue("reference_cluster")


@pytest.fixture(autouse=True)
def _served_by_the_emulator(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each upstream test fails if a request of its hit a handler bug in the emulator."""
    emulator: Emulator | None = (
        request.getfixturevalue("reference_cluster") if _vendored(request) else None
    )
    if emulator is None:
        yield
        return
    emulator.errors.clear()
    yield
    fail_on_handler_errors(emulator)
