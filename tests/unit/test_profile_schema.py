"""The profile schema is strict at every level, and every refusal names the profile and the key.

One test per hole found in review (issue 12, item 8): triggers of the wrong type, unchecked
cluster and resources sub-keys, patterns a trailing newline slipped past, and env names that
redirect the database connection or the pod's identity.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from migration_trigger.domain import jobspec
from migration_trigger.domain.events import Trigger, TriggerKind, parse_event
from migration_trigger.domain.profiles import parse_profiles
from migration_trigger.errors import ConfigurationError
from tests.helpers import ROOT, load_event

BASE = {"cluster": {"eksClusterName": "c"}, "namespace": "migrations", "image": "img:1"}
TEMPLATE = yaml.safe_load((ROOT / "k8s" / "templates" / "migration-job.yaml").read_text())


def document(name: str = "p", **overrides: Any) -> str:
    return json.dumps({"profiles": {name: {**BASE, **overrides}}})


def plan(credentials: str) -> jobspec.JobPlan:
    text = document(credentials=credentials, serviceAccount="migration-runner")
    trigger = parse_event(load_event("rds-instance-created.json"))
    assert isinstance(trigger, Trigger)
    return jobspec.JobPlan(
        name="migrate-orders-db-0123456789",
        profile=parse_profiles(text)["p"],
        trigger=trigger,
        database_arn=trigger.database or "",
        secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf",
        endpoint=jobspec.Endpoint("postgres", "h", 5432, "app"),
        execution="cli-1",
    )


def refusal(name: str = "p", **overrides: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_profiles(document(name, **overrides))
    return str(caught.value)


# -- triggers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "triggers",
    ["manual", 5, {"manual": True}, [["manual"]], [None], True],
    ids=["string", "number", "object", "nested-list", "null-item", "bool"],
)
def test_triggers_of_the_wrong_type_are_refused_naming_profile_and_key(triggers: Any):
    # Given a string ("manual" would be read letter by letter), a number or an object
    message = refusal(triggers=triggers)

    # Then the message says which profile and which key, not a bare TypeError's text
    assert message.startswith("profile 'p': 'triggers' must be a list of ")


def test_an_unknown_trigger_is_refused_naming_the_key_and_the_choices():
    message = refusal(triggers=["db-created", "db-deleted"])

    assert message.startswith("profile 'p': 'triggers' ")
    assert "'db-deleted'" in message
    # Every kind of migration trigger; a check is not one (checkCommand takes checks).
    assert all(str(kind) in message for kind in TriggerKind if kind is not TriggerKind.CHECK)
    assert "'check'" not in message


# -- cluster: exactly the keys of one form -------------------------------------------------------


@pytest.mark.parametrize(
    ("cluster", "fragment"),
    [
        ({"eksClusterName": "c", "regin": "eu-west-1"}, "unknown keys ['regin']"),
        ({"kubeconfigContext": "kind", "region": "eu-west-1"}, "unknown keys ['region']"),
        ({"kubeconfigContext": "kind", "eksClusterName": ""}, "exactly one of"),
        ({"eksClusterName": "c", "kubeconfigContext": ""}, "exactly one of"),
        ({"region": "eu-west-1"}, "exactly one of"),
        ("platform-dev", "must be an object"),
        ({"eksClusterName": "bad name"}, "'cluster.eksClusterName' must be an EKS cluster name"),
        ({"eksClusterName": "c\n"}, "'cluster.eksClusterName' must be an EKS cluster name"),
        ({"eksClusterName": "c", "region": "Europe"}, "'cluster.region' must be an AWS region"),
        ({"eksClusterName": "c", "region": "eu-west-1\n"}, "'cluster.region' must be"),
        ({"eksClusterName": "c", "region": 1}, "'cluster.region' must be an AWS region"),
        ({"kubeconfigContext": "kind\n"}, "'cluster.kubeconfigContext' must be a context name"),
        ({"kubeconfigContext": 7}, "'cluster.kubeconfigContext' must be a context name"),
    ],
)
def test_cluster_allows_exactly_the_keys_of_one_form_and_checks_each_value(
    cluster: Any, fragment: str
):
    message = refusal(cluster=cluster)

    assert message.startswith("profile 'p': 'cluster")
    assert fragment in message


@pytest.mark.parametrize(
    "cluster",
    [
        {"eksClusterName": "platform-dev"},
        {"eksClusterName": "Platform_Dev-2", "region": "us-gov-west-1"},
        {"eksClusterName": "c", "region": "cn-northwest-1"},
        {"kubeconfigContext": "arn:aws:eks:eu-west-1:123456789012:cluster/platform-dev"},
        {"kubeconfigContext": "kind-local"},
    ],
)
def test_each_cluster_form_with_its_allowed_keys_is_accepted(cluster: dict[str, str]):
    profile = parse_profiles(document(cluster=cluster))["p"]

    assert profile.cluster.describe()


# -- resources: requests/limits of known resources, in Kubernetes quantity syntax -----------------


@pytest.mark.parametrize(
    ("resources", "fragment"),
    [
        ({"request": {"cpu": "1"}}, "'resources' has unknown keys ['request']"),
        ({"claims": [{"name": "gpu"}]}, "'resources' has unknown keys ['claims']"),
        ({"limits": "1Gi"}, "'resources.limits' must be an object"),
        ({"limits": {"memroy": "1Gi"}}, "'resources.limits' has unknown keys ['memroy']"),
        ({"limits": {"memory": 512}}, "'resources.limits.memory' must be a quantity"),
        ({"limits": {"memory": "512MB"}}, "'resources.limits.memory' must be a quantity"),
        ({"limits": {"memory": "1Gi\n"}}, "'resources.limits.memory' must be a quantity"),
        ({"limits": {"memory": " 1Gi"}}, "'resources.limits.memory' must be a quantity"),
        ({"requests": {"cpu": "."}}, "'resources.requests.cpu' must be a quantity"),
        ({"requests": {"cpu": "1e"}}, "'resources.requests.cpu' must be a quantity"),
        ({"requests": {"cpu": "1.5.0"}}, "'resources.requests.cpu' must be a quantity"),
        ({"requests": {"cpu": "-250m"}}, "'resources.requests.cpu' must not be negative"),
    ],
)
def test_resources_allow_only_requests_and_limits_of_known_resources_in_quantity_syntax(
    resources: Any, fragment: str
):
    message = refusal(resources=resources)

    assert message.startswith("profile 'p': 'resources")
    assert fragment in message


@pytest.mark.parametrize(
    "quantity",
    # Forms of quantity.go's grammar: digits, digits.digits, digits., .digits, an optional sign,
    # binary SI, decimal SI (with the n and u that suffix.go also reads) and decimal exponents.
    [
        *("1", "0", "0.5", "2.", ".5", "+1"),
        *("1.5Gi", "128Mi", "1Ei"),
        *("250m", "500u", "100n", "1k", "1E"),
        *("1e3", "1E-2"),
    ],
)
def test_quantities_in_kubernetes_syntax_are_accepted(quantity: str):
    resources = {"requests": {"cpu": quantity}, "limits": {"ephemeral-storage": quantity}}

    profile = parse_profiles(document(resources=resources))["p"]

    assert profile.resources == resources


# -- names are matched whole: a trailing newline is not a DNS label -------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"namespace": "migrations\n"}, "namespace"),
        ({"serviceAccount": "migration-runner\n"}, "serviceAccount"),
        ({"env": {"TOOL_FLAG\n": "1"}}, "env"),
        ({"image": "img:1\x00"}, "image"),
        ({"databaseUrlQuery": "sslmode=require\x00"}, "databaseUrlQuery"),
    ],
)
def test_a_trailing_newline_or_control_character_does_not_pass_a_pattern(
    overrides: dict[str, Any], key: str
):
    message = refusal(**overrides)

    assert message.startswith(f"profile 'p': '{key}")


def test_a_profile_name_with_a_trailing_newline_is_refused():
    with pytest.raises(ConfigurationError, match="must be a DNS label"):
        parse_profiles(document("orders\n"))


# -- env: names that redirect the connection or the pod's identity are reserved -------------------


@pytest.mark.parametrize(
    "name",
    [
        "PGHOSTADDR",  # libpq connects here instead of PGHOST: the password goes with it
        "PGSERVICEFILE",
        "PGSSLROOTCERT",
        "PGPASSFILE",
        "MYSQL_UNIX_PORT",
        "MYSQL_TEST_LOGIN_FILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_ACCESS_KEY_ID",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "DB_SSLMODE",
        "DATABASE_URL",
        "MIGRATION_EVENT_ID",
        "ld_preload",
    ],
)
def test_env_names_with_a_reserved_prefix_are_refused(name: str):
    message = refusal(env={"TOOL_FLAG": "1", name: "x"})

    assert message.startswith(f"profile 'p': 'env' name '{name}' is reserved")


def test_every_variable_the_function_sets_is_reserved():
    # Given every name the function gives a Job: the ephemeral Secret's (both engines) and the
    # env the Job template is rendered with, in either credentials mode
    names: set[str] = set()
    for engine in ("postgres", "aurora-mysql"):
        endpoint = jobspec.Endpoint(engine, "h", 5432, "app")
        names |= set(jobspec.credential_values(endpoint, "u", "p"))
    for credentials in ("ephemeral-secret", "secret-arn"):
        job = jobspec.render_job(TEMPLATE, plan(credentials))
        (container,) = job["spec"]["template"]["spec"]["containers"]
        names |= {variable["name"] for variable in container["env"]}
    assert {"PGPASSWORD", "MYSQL_PWD", "DB_SECRET_ARN", "MIGRATION_EVENT_ID"} <= names

    for name in sorted(names):
        # Then a profile may set none of them
        assert "is reserved" in refusal(env={name: "x"}), name


def test_ordinary_tool_variables_are_allowed():
    env = {"PRISMA_HIDE_UPDATE_MESSAGE": "true", "FLYWAY_LOCATIONS": "filesystem:/sql"}

    profile = parse_profiles(document(env=env))["p"]

    assert dict(profile.env) == env


# -- every refusal names the profile and the key --------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"credentials": "plaintext"}, "credentials"),
        ({"credentials": 1}, "credentials"),
        ({"triggers": ["db-deleted"]}, "triggers"),
        ({"triggers": []}, "triggers"),
        ({"command": "dbmate up"}, "command"),
        ({"args": [1]}, "args"),
        ({"env": ["A=1"]}, "env"),
        ({"env": {"A": 1}}, "env"),
        ({"resources": []}, "resources"),
        ({"namespace": None}, "namespace"),
        ({"pollSeconds": "10"}, "pollSeconds"),
        ({"credentials": "secret-arn"}, "serviceAccount"),
    ],
)
def test_every_refusal_names_the_profile_and_the_key(overrides: dict[str, Any], key: str):
    message = refusal(name="orders", **overrides)

    assert message.startswith(f"profile 'orders': '{key}'"), message
