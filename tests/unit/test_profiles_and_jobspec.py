"""Profiles as the allow-list, and the Job and Secret rendered from the template."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
import yaml

from migration_trigger.domain import jobspec
from migration_trigger.domain.events import Trigger, TriggerKind, parse_event
from migration_trigger.domain.profiles import (
    KEYS,
    RESERVED_ENV,
    CredentialMode,
    Profile,
    parse_profiles,
)
from migration_trigger.errors import ConfigurationError
from migration_trigger.steps import plain, typed
from tests.helpers import ROOT, load_event, sample_facts, sample_plan
from tests.pss import violations

CANARY = "canary-Pa55:w/rd@#%"
TEMPLATE = yaml.safe_load((ROOT / "k8s" / "templates" / "migration-job.yaml").read_text())
EXAMPLES = (ROOT / "k8s" / "profiles" / "examples.json").read_text()


def profile_doc(**overrides: Any) -> str:
    base = {"cluster": {"eksClusterName": "c"}, "namespace": "migrations", "image": "img:1"}
    return json.dumps({"profiles": {"p": {**base, **overrides}}})


def plan(profile: Profile, trigger: Trigger | None = None) -> jobspec.JobPlan:
    built: jobspec.JobPlan = sample_plan(profile, trigger)
    return built


def test_example_profiles_for_each_tool_are_valid():
    profiles = parse_profiles(EXAMPLES)

    assert set(profiles) == {"prisma", "flyway", "alembic", "atlas", "dbmate"}
    assert profiles["alembic"].credentials is CredentialMode.SECRET_ARN
    assert TriggerKind.SECRET_ROTATED not in profiles["alembic"].triggers


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cluster": {}}, "exactly one of 'eksClusterName' or 'kubeconfigContext'"),
        ({"cluster": {"eksClusterName": "a", "kubeconfigContext": "b"}}, "exactly one of"),
        ({"namespace": "Bad_NS"}, "'namespace' must be a DNS label"),
        ({"image": "has space"}, "'image' must be an image reference"),
        ({"command": "dbmate up"}, "'command' must be a list of strings"),
        ({"env": {"DATABASE_URL": "x"}}, "'env' name 'DATABASE_URL' is reserved"),
        ({"env": {"1BAD": "x"}}, "'env' name '1BAD' is not a valid variable name"),
        ({"credentials": "plaintext"}, "'credentials' must be one of"),
        ({"credentials": "secret-arn"}, "'serviceAccount' is required by credentials"),
        ({"triggers": ["db-deleted"]}, "'triggers' names unknown triggers ['db-deleted']"),
        ({"triggers": []}, "at least one trigger"),
        ({"backoffLimit": 99}, "'backoffLimit' must be an integer from 0 to 10"),
        ({"activeDeadlineSeconds": True}, "'activeDeadlineSeconds' must be an integer"),
        ({"imagePullPolicy": "Always"}, "unknown keys ['imagePullPolicy']"),
        ({"cluster": {"eksClusterName": "c", "regoin": "eu-west-1"}}, "unknown keys ['regoin']"),
        ({"cluster": {"eksClusterName": "c", "region": 1}}, "'cluster.region' must be"),
        ({"databaseUrlQuery": "?sslmode=require"}, "'databaseUrlQuery' must be a query string"),
        ({"databaseUrlQuery": "sslmode=require;host=x"}, "'databaseUrlQuery' must be a query"),
        *[
            ({"databaseUrlQuery": f"sslmode=require&{name}=x"}, f"may not set ['{name}']")
            for name in ("host", "hostaddr", "port", "service", "passfile", "user", "password")
        ],
        ({"databaseUrlQuery": "dbname=other&options=-csearch_path%3Dx"}, "['dbname', 'options']"),
    ],
)
def test_invalid_profiles_are_refused_naming_profile_and_field(
    overrides: dict[str, Any], message: str
):
    with pytest.raises(ConfigurationError) as caught:
        parse_profiles(profile_doc(**overrides))

    assert str(caught.value).startswith("profile 'p': ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"p": {}}', 'must be {"profiles"'),
        ('{"profiles": {"Bad Name": {}}}', "must be a DNS label"),
    ],
)
def test_invalid_profiles_documents_are_refused(text: str, message: str):
    with pytest.raises(ConfigurationError) as caught:
        parse_profiles(text)

    assert message in str(caught.value)


def test_profile_round_trips_through_the_checkpoint_codec():
    profile = parse_profiles(EXAMPLES)["prisma"]

    assert typed(Profile, json.loads(json.dumps(plain(profile)))) == profile


def test_job_name_is_deterministic_dns_label_per_database_and_event():
    a = jobspec.job_name(
        "arn:aws:rds:eu-west-1:123456789012:db:Orders-DB-with-a-very-long-identifier-indeed-yes",
        "k1",
    )

    assert a == jobspec.job_name(
        "arn:aws:rds:eu-west-1:123456789012:db:Orders-DB-with-a-very-long-identifier-indeed-yes",
        "k1",
    )
    assert a != jobspec.job_name(
        "arn:aws:rds:eu-west-1:123456789012:db:Orders-DB-with-a-very-long-identifier-indeed-yes",
        "k2",
    )
    assert len(a) <= 63
    assert a.startswith("migrate-orders-db-")


def test_rendered_job_is_suspended_never_restarts_and_carries_profile_and_labels():
    profile = parse_profiles(EXAMPLES)["prisma"]
    p = plan(profile)

    job = jobspec.render_job(TEMPLATE, p)

    spec = job["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert job["metadata"]["name"] == p.name
    assert job["metadata"]["namespace"] == "migrations"
    assert spec["suspend"] is True
    assert pod["restartPolicy"] == "Never"
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 900)
    assert spec["ttlSecondsAfterFinished"] >= 3600
    assert container["image"] == profile.image
    assert container["command"] == ["npx", "prisma", "migrate", "deploy"]
    assert container["envFrom"] == [{"secretRef": {"name": f"{p.name}-db"}}]
    labels = job["metadata"]["labels"]
    assert labels["migration-trigger.io/database"] == "orders-db"
    assert labels["migration-trigger.io/trigger"] == "db-created"
    assert labels["migration-trigger.io/event-id"] == "6a7e8feb-b491-4cf7-a9f1-bf3703467718"
    assert (
        spec["template"]["metadata"]["labels"]["migration-trigger.io/database-key"]
        == labels["migration-trigger.io/database-key"]
    )
    assert job["metadata"]["annotations"]["migration-trigger.io/execution"] == p.execution


def test_rendered_job_passes_pod_security_restricted():
    job = jobspec.render_job(TEMPLATE, plan(parse_profiles(EXAMPLES)["dbmate"]))

    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert not set(context["capabilities"].get("add", [])) - {"NET_BIND_SERVICE"}
        assert not context.get("privileged", False)
    assert not any("hostPath" in v for v in pod.get("volumes", []))
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")


def test_secret_arn_mode_gives_the_job_only_the_arn_and_endpoint():
    profile = parse_profiles(EXAMPLES)["alembic"]
    p = plan(profile)

    job = jobspec.render_job(TEMPLATE, p)

    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DB_SECRET_ARN"] == p.secret_arn
    assert env["DB_HOST"] == "orders-db.abc.eu-west-1.rds.amazonaws.com"
    assert "envFrom" not in container
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "migration-runner"


def test_password_never_appears_in_the_job_spec():
    for name in ("prisma", "alembic"):
        job = jobspec.render_job(TEMPLATE, plan(parse_profiles(EXAMPLES)[name]))
        assert CANARY not in json.dumps(job)


def test_secret_holds_url_encoded_database_url_and_engine_variables_and_is_owned_by_the_job():
    p = plan(parse_profiles(EXAMPLES)["prisma"])
    values = jobspec.credential_values(p.endpoint, "app_user", CANARY, "sslmode=require")

    secret = jobspec.render_secret(p, "job-uid-1", values)

    data = secret["stringData"]
    assert data["DATABASE_URL"] == (
        "postgresql://app_user:canary-Pa55%3Aw%2Frd%40%23%25@orders-db.abc.eu-west-1.rds.amazonaws.com:5432/orders?sslmode=require"
    )
    assert data["PGPASSWORD"] == data["DB_PASSWORD"] == CANARY
    assert data["PGHOST"] == "orders-db.abc.eu-west-1.rds.amazonaws.com"
    owner = secret["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", p.name, "job-uid-1")
    assert secret["immutable"] is True


def test_mysql_engines_get_mysql_variables():
    endpoint = jobspec.Endpoint("aurora-mysql", "h", 3306, "app")

    values = jobspec.credential_values(endpoint, "u", "p")

    assert values["DATABASE_URL"] == "mysql://u:p@h:3306/app"
    assert values["MYSQL_PWD"] == "p"
    assert "PGPASSWORD" not in values


def test_profile_env_cannot_shadow_reserved_names():
    assert "DATABASE_URL" in RESERVED_ENV
    assert "PGPASSWORD" in RESERVED_ENV


def test_template_without_migrate_container_is_a_configuration_error():
    template = json.loads(json.dumps(TEMPLATE))
    template["spec"]["template"]["spec"]["containers"][0]["name"] = "other"

    with pytest.raises(ConfigurationError, match="no container named 'migrate'"):
        jobspec.render_job(template, plan(parse_profiles(EXAMPLES)["prisma"]))


def test_packaged_template_is_the_k8s_template():
    packaged = ROOT / "src" / "migration_trigger" / "templates" / "migration-job.yaml"

    assert packaged.read_text() == (ROOT / "k8s" / "templates" / "migration-job.yaml").read_text()


def test_rotation_trigger_labels_the_job_as_such():
    trigger = parse_event(load_event("secret-label-updated.json"))
    assert isinstance(trigger, Trigger)
    trigger = trigger._replace(database="arn:aws:rds:eu-west-1:123456789012:db:orders-db")

    job = jobspec.render_job(TEMPLATE, plan(parse_profiles(EXAMPLES)["prisma"], trigger))

    assert job["metadata"]["labels"]["migration-trigger.io/trigger"] == "secret-rotated"


def test_job_template_passes_pod_security_restricted():
    assert violations(TEMPLATE["spec"]["template"]["spec"]) == []


@pytest.mark.parametrize("name", sorted(parse_profiles(EXAMPLES)))
def test_job_rendered_for_each_example_profile_passes_pod_security_restricted(name: str):
    job = jobspec.render_job(TEMPLATE, plan(parse_profiles(EXAMPLES)[name]))

    assert violations(job["spec"]["template"]["spec"]) == []


def test_restricted_checker_catches_what_the_profile_forbids():
    pod = json.loads(json.dumps(TEMPLATE["spec"]["template"]["spec"]))
    pod["hostNetwork"] = True
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})

    found = violations(pod)

    assert "hostNetwork must be unset or false" in found
    assert "migrate: allowPrivilegeEscalation must be false" in found
    assert any("hostPath" in v for v in found)


def test_every_profile_field_has_one_key_in_the_table():
    assert set(KEYS) == set(Profile._fields) - {"name"}
    assert all(
        key.default == Profile._field_defaults.get(key.field)
        for key in KEYS.values()
        if not key.required
    )


def test_the_configuration_reference_documents_every_profile_key_with_its_default():
    reference = (ROOT / "docs" / "configuration.md").read_text()
    table = reference[reference.index("## Profiles") :]

    for key in KEYS.values():
        assert f"`{key.json}`" in table, key.json
        if isinstance(key.default, int) and not isinstance(key.default, bool):
            row = next(line for line in table.splitlines() if line.startswith(f"| `{key.json}`"))
            assert f"`{key.default}`" in row, row


@pytest.mark.parametrize(
    "query",
    [
        "sslmode=verify-full&sslrootcert=/etc/ssl/rds.pem",
        "connect_timeout=10&application_name=migrations",
        "schema=app&connection_limit=1",
        "tls=true&parseTime=true",
    ],
)
def test_known_safe_url_query_keys_are_accepted(query: str):
    (profile,) = parse_profiles(profile_doc(databaseUrlQuery=query)).values()

    assert profile.url_query == query


PLACEMENT = {
    "nodeSelector": {"workload": "migrations", "kubernetes.io/arch": "arm64"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "migrations", "effect": "NoSchedule"},
        {"key": "spot", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
    ],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "topology.kubernetes.io/zone",
                                "operator": "In",
                                "values": ["a"],
                            }
                        ]
                    }
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]},
                }
            ],
        }
    },
    "priorityClassName": "migrations-high",
}


def test_a_profile_places_the_jobs_pod_on_its_nodes():
    """Users of other migration operators ask for this on tainted node groups (ariga/atlas#3250)."""
    (profile,) = parse_profiles(profile_doc(**PLACEMENT)).values()

    pod = jobspec.render_job(TEMPLATE, plan(profile))["spec"]["template"]["spec"]

    assert pod["nodeSelector"] == PLACEMENT["nodeSelector"]
    assert pod["tolerations"] == PLACEMENT["tolerations"]
    assert pod["affinity"] == PLACEMENT["affinity"]
    assert pod["priorityClassName"] == "migrations-high"


def test_without_placement_the_pod_spec_has_none():
    (profile,) = parse_profiles(profile_doc()).values()

    pod = jobspec.render_job(TEMPLATE, plan(profile))["spec"]["template"]["spec"]

    assert not {"nodeSelector", "tolerations", "affinity", "priorityClassName"} & set(pod)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nodeSelector": ["a"]}, "'nodeSelector' must map node label keys to values"),
        ({"nodeSelector": {"bad key!": "x"}}, "key 'bad key!' is not a label key"),
        ({"nodeSelector": {"a": "x" * 64}}, "'nodeSelector.a' must be a label value"),
        ({"tolerations": [{"operator": "Equal", "value": "x"}]}, "without a key, operator must"),
        ({"tolerations": [{"key": "k", "operator": "Maybe"}]}, "'tolerations[0].operator' must"),
        ({"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]}, "only"),
        ({"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}, "must be empty"),
        ({"tolerations": [{"key": "k", "colour": "red"}]}, "unknown keys ['colour']"),
        ({"affinity": {"podAntiAffinity": {}}}, "unknown keys ['podAntiAffinity']"),
        (
            {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}},
            "must be an object with a list 'nodeSelectorTerms'",
        ),
        (
            {
                "affinity": {
                    "nodeAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 0, "preference": {}}
                        ]
                    }
                }
            },
            "weight' must be an integer from 1 to 100",
        ),
        ({"priorityClassName": "High Priority"}, "'priorityClassName' must be a PriorityClass"),
    ],
)
def test_invalid_placement_is_refused_naming_profile_and_field(
    overrides: dict[str, Any], message: str
):
    with pytest.raises(ConfigurationError) as caught:
        parse_profiles(profile_doc(**overrides))

    assert str(caught.value).startswith("profile 'p': ")
    assert message in str(caught.value)


SESSION = {
    "lock_timeout": "5s",
    "statement_timeout": "30min",
    "idle_in_transaction_session_timeout": 60,
}


def test_session_settings_reach_the_job_in_pgoptions_and_the_urls_options():
    profile = parse_profiles(profile_doc(sessionSettings=SESSION))["p"]
    options = (
        "-c idle_in_transaction_session_timeout=60 -c lock_timeout=5s -c statement_timeout=30min"
    )

    job = jobspec.render_job(TEMPLATE, plan(profile))
    values = jobspec.credential_values(
        plan(profile).endpoint, "app", "pw", "sslmode=require", profile.session_settings
    )

    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PGOPTIONS"] == options
    query = values["DATABASE_URL"].split("?", 1)[1]
    assert query.startswith("sslmode=require&options=")
    assert urllib.parse.parse_qs(query)["options"] == [options]


def test_a_profile_without_session_settings_adds_neither():
    profile = parse_profiles(profile_doc())["p"]

    job = jobspec.render_job(TEMPLATE, plan(profile))
    values = jobspec.credential_values(plan(profile).endpoint, "app", "pw")

    env = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "PGOPTIONS" not in env and "options=" not in values["DATABASE_URL"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "must map 1 to 16 setting names"),
        ({"search_path": "evil"}, "'search_path' is not a setting a migration may set"),
        ({"role": "admin"}, "'role' is not a setting"),
        ({"Lock Timeout": "5s"}, "is not a setting"),
        ({"lock_timeout": "5s -c role=admin"}, "'sessionSettings.lock_timeout' must be a number"),
        ({"lock_timeout": True}, "must be a number or a word"),
    ],
)
def test_session_settings_that_could_change_more_than_timeouts_are_refused(
    settings: Any, message: str
):
    with pytest.raises(ConfigurationError) as refused:
        parse_profiles(profile_doc(sessionSettings=settings))

    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("engine", "settings", "credentials", "refusal"),
    [
        ("sqlserver-se", {"lock_timeout": "5s"}, "ephemeral-secret", "PostgreSQL and MySQL only"),
        ("mysql", {"lock_wait_timeout": "5"}, "secret-arn", "use ephemeral-secret"),
        ("mariadb", {"timeout": "5"}, "ephemeral-secret", "['timeout'] are not MySQL system"),
        ("mysql", {"custom.setting": "5"}, "ephemeral-secret", "are not MySQL system variables"),
        ("aurora-mysql", {"lock_wait_timeout": "5"}, "ephemeral-secret", None),
        ("aurora-postgresql", {"lock_timeout": "5s"}, "secret-arn", None),
    ],
)
def test_session_settings_reach_postgresql_and_mysql_only_as_their_clients_take_them(
    engine: str, settings: dict[str, str], credentials: str, refusal: str | None
):
    """MySQL's travel in DATABASE_URL (the Go driver sets each unknown parameter as a system
    variable), which secret-arn does not give the Job; and only names with an underscore, so
    none is one of the driver's own parameters (`timeout`, `tls`, `allowAllFiles`)."""
    from migration_trigger.domain.decision import Fail, Route, route

    more = {"serviceAccount": "runner"} if credentials == "secret-arn" else {}
    document = profile_doc(sessionSettings=settings, credentials=credentials, **more)
    profile = parse_profiles(document)["p"]
    facts = sample_facts(engine=engine, tags={"migration-trigger:profile": "p"})
    trigger = parse_event(load_event("rds-instance-created.json"))
    assert isinstance(trigger, Trigger)

    decided = route(trigger, facts, {"p": profile}, tag_key="migration-trigger:profile")

    if refusal is None:
        assert isinstance(decided, Route)
    else:
        assert isinstance(decided, Fail) and refusal in decided.reason


def test_mysql_session_settings_are_system_variables_of_the_urls_query():
    values = jobspec.credential_values(
        jobspec.Endpoint("mysql", "db.example", 3306, "orders"),
        "app",
        "pw",
        "tls=true",
        (("lock_wait_timeout", "5"), ("sql_mode", "ANSI_QUOTES")),
    )
    assert values["DATABASE_URL"] == (
        "mysql://app:pw@db.example:3306/orders?tls=true&lock_wait_timeout=5"
        "&sql_mode=%27ANSI_QUOTES%27"
    )
    assert "PGOPTIONS" not in values
