"""k8s/validating-admission-policy.yaml on the real kube-apiserver: its CEL compiled, type-checked
and evaluated by Kubernetes itself, each refusal answered as kube-apiserver answers it.

The cases and their expected answers are the emulator's own tests
(devtools/tests/emulator_conformance/test_admission_policy.py), run here unchanged against the real
apiserver through the official client, as the function (its EKS token, through the token
webhook) or as an administrator: where the emulator and Kubernetes disagree on a message, a
status or a cause, one of these fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from control_plane import ControlPlane
from devtools.tests.emulator_conformance import test_admission_policy as emulated
from local_stack.world import FUNCTION_GROUP
from migration_trigger.adapters.eks_auth import eks_token
from tests.fixtures import CLUSTER, assume_function_role, clusters_under_test
from tests.helpers import sts_for_tokens

NS = emulated.NS
REFUSALS = emulated.test_a_job_outside_the_restricted_fields_or_the_lists_is_refused_with_its_message.pytestmark[
    0
].args[1]


def _api(kubeconfig: dict[str, Any]) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config_dict(kubeconfig)
    yield api
    api.close()


@pytest.fixture
def as_function(request: pytest.FixtureRequest) -> Iterator[client.BatchV1Api]:
    """BatchV1Api as the function: on the built control plane, an EKS token of its role checked
    by the token webhook; on a cluster of one's own (MIGRATION_TRIGGER_CLUSTER=kubeconfig), its
    administrator impersonating a user of the function's group, which the policies match."""
    if clusters_under_test() == ("kubeconfig",):
        document = request.getfixturevalue("kubeconfig_namespace")
        for api in _api(document):
            api.set_default_header("Impersonate-User", "migration-trigger-function")
            api.set_default_header("Impersonate-Group", FUNCTION_GROUP)
            yield client.BatchV1Api(api)
        return
    plane: ControlPlane = request.getfixturevalue("control_plane")
    request.getfixturevalue("aws")
    request.getfixturevalue("node_runner")
    token = eks_token(sts_for_tokens("eu-west-1", assume_function_role()), CLUSTER)
    for api in _api(plane.kubeconfig(token=token, namespace=NS)):
        yield client.BatchV1Api(api)


@pytest.fixture
def as_admin(request: pytest.FixtureRequest) -> Iterator[client.BatchV1Api]:
    """BatchV1Api of the administrator: not in the group, so not subject to the policy."""
    if clusters_under_test() == ("kubeconfig",):
        document = request.getfixturevalue("kubeconfig_namespace")
    else:
        plane: ControlPlane = request.getfixturevalue("control_plane")
        request.getfixturevalue("node_runner")
        document = plane.admin_kubeconfig(NS)
    for api in _api(document):
        yield client.BatchV1Api(api)


@pytest.mark.parametrize(("change", "message"), REFUSALS)
def test_each_refusal_is_the_real_apiservers(
    as_function: client.BatchV1Api, change: Any, message: str
):
    emulated.test_a_job_outside_the_restricted_fields_or_the_lists_is_refused_with_its_message(
        as_function, change, message
    )


def test_a_foreign_image_is_refused_with_the_policys_message(as_function: client.BatchV1Api):
    job = emulated.product_job(image="registry.evil.example/miner:latest")

    with pytest.raises(ApiException) as refused:
        as_function.create_namespaced_job(NS, job)

    emulated.assert_denied(
        refused.value,
        job["metadata"]["name"],
        f"images must come from an allowed registry ({emulated.ALLOWED}; ConfigMap "
        f"{emulated.PARAMS}): migrate (registry.evil.example/miner:latest)",
    )
    assert as_function.list_namespaced_job(NS).items == []


@pytest.mark.parametrize("name", ["prisma", "flyway", "alembic", "atlas", "dbmate"])
def test_each_example_profiles_job_is_admitted(as_function: client.BatchV1Api, name: str):
    emulated.test_the_job_rendered_for_each_example_profile_is_admitted(as_function, name)


def test_a_conforming_job_is_admitted_and_may_be_unsuspended(as_function: client.BatchV1Api):
    emulated.test_a_conforming_job_is_admitted_and_may_be_unsuspended(as_function)


def test_allowed_values_of_the_pod_security_fields_are_admitted(as_function: client.BatchV1Api):
    emulated.test_a_job_with_allowed_values_of_the_pod_security_fields_is_admitted(as_function)


def test_a_user_outside_the_group_is_not_subject_to_the_policy(as_admin: client.BatchV1Api):
    emulated.test_a_user_outside_the_group_is_not_subject_to_the_policy(as_admin)


def test_a_job_placed_on_tainted_nodes_is_admitted(as_function: client.BatchV1Api):
    emulated.test_a_job_placed_on_tainted_nodes_is_admitted(as_function)
