"""Settings read from the environment, and how a result reads in a notification."""

from __future__ import annotations

import json
from typing import Any

import pytest

from migration_trigger.adapters.sns import MAX_BODY_BYTES, body, subject
from migration_trigger.domain.result import MAX_REASON_BYTES, MAX_TAIL_BYTES, Result, Status
from migration_trigger.errors import ConfigurationError
from migration_trigger.settings import DEFAULT_NOTIFY, Settings
from migration_trigger.steps import decode, encode

PROFILES = json.dumps(
    {
        "profiles": {
            "orders": {
                "cluster": {"eksClusterName": "c"},
                "namespace": "migrations",
                "image": "i:1",
            }
        }
    }
)


def test_settings_have_documented_defaults():
    settings = Settings.from_env({"ENVIRONMENT": "dev", "MIGRATION_PROFILES": PROFILES})

    assert settings.NOTIFY_STATUSES == DEFAULT_NOTIFY
    assert settings.PROFILE_TAG_KEY == "migration-trigger:profile"
    assert settings.LOG_TAIL_LINES == 40
    assert set(settings.PROFILES) == {"orders"}


def test_profiles_can_come_from_a_file(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text(PROFILES)

    settings = Settings.from_env({"ENVIRONMENT": "dev", "MIGRATION_PROFILES_FILE": str(path)})

    assert set(settings.PROFILES) == {"orders"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MIGRATION_PROFILES": PROFILES}, "ENVIRONMENT is not set"),
        ({"ENVIRONMENT": "dev"}, "set MIGRATION_PROFILES (JSON), MIGRATION_PROFILES_PARAMETER"),
        (
            {"ENVIRONMENT": "dev", "MIGRATION_PROFILES_FILE": "/nonexistent/p.json"},
            "MIGRATION_PROFILES_FILE: cannot read",
        ),
        (
            {"ENVIRONMENT": "dev", "MIGRATION_PROFILES": PROFILES, "LOG_TAIL_LINES": "-1"},
            "LOG_TAIL_LINES must be an integer from 0 to 1000",
        ),
        (
            {"ENVIRONMENT": "dev", "MIGRATION_PROFILES": PROFILES, "NOTIFY_STATUSES": "nope"},
            "NOTIFY_STATUSES: use a comma-separated list of",
        ),
        (
            {
                "ENVIRONMENT": "dev",
                "MIGRATION_PROFILES": PROFILES,
                "MIGRATION_NAMESPACE": "db-jobs",
            },
            "profiles ['orders'] use a namespace other than MIGRATION_NAMESPACE=db-jobs",
        ),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], message: str):
    """Errors of the profiles surface when the profiles are used (see PROFILES_ERROR); others at
    once."""
    with pytest.raises(ConfigurationError) as caught:
        _ = Settings.from_env(env).profiles

    assert message in str(caught.value)


def test_profiles_in_the_granted_namespace_are_accepted():
    settings = Settings.from_env(
        {"ENVIRONMENT": "dev", "MIGRATION_PROFILES": PROFILES, "MIGRATION_NAMESPACE": "migrations"}
    )

    assert settings.MIGRATION_NAMESPACE == "migrations"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.SUCCEEDED, "[prod] Migration succeeded: orders-db (db-created)"),
        (Status.FAILED, "[prod] Migration FAILED: orders-db (db-created)"),
        (Status.TIMED_OUT, "[prod] Migration TIMED OUT: orders-db (db-created)"),
    ],
)
def test_subject_is_readable_in_a_mail_client(status: Status, expected: str):
    result = Result(
        status,
        "r",
        trigger="db-created",
        database="arn:aws:rds:eu-west-1:123456789012:db:orders-db",
    )

    assert subject(result, "prod") == expected


def test_subject_is_ascii_and_under_100_characters():
    """SNS Publish refuses a subject of 100 characters or more ("less than 100 characters")."""
    result = Result(Status.FAILED, "r", trigger="manual", database="db:" + "é" * 200)

    text = subject(result, "prod")

    assert len(text) == 99
    assert text.isascii()


def test_result_round_trips_through_the_checkpoint_codec():
    result = Result(Status.DUPLICATE, "again", job="migrate-x", duration_seconds=None)

    assert decode(encode(result)) == result


def test_a_long_log_tail_keeps_its_last_lines_within_64_kib_marked_as_cut():
    lines = [f"line {i:06d} " + "x" * 90 for i in range(2000)]
    result = Result(Status.FAILED, "r", log_tail="\n".join(lines))

    tail = result.capped().log_tail or ""

    assert len(tail.encode()) <= MAX_TAIL_BYTES
    assert tail.startswith("[") and "earlier bytes cut]\n" in tail
    assert tail.endswith(lines[-1])
    assert tail.split("\n")[1] in lines  # cut at a line boundary


def test_a_long_reason_keeps_its_start_within_its_budget():
    result = Result(Status.FAILED, "the cluster refused the Job: " + "é" * 10_000)

    reason = result.capped().reason

    assert len(reason.encode()) <= MAX_REASON_BYTES
    assert reason.startswith("the cluster refused the Job: ")
    assert reason.endswith("[… cut]")


def test_a_short_result_is_not_touched():
    result = Result(Status.SUCCEEDED, "done", log_tail="Applied 1 migration")

    assert result.capped() == result


@pytest.mark.parametrize(
    ("cluster", "named"),
    [
        ({"eksClusterName": "other-cluster"}, "other-cluster in eu-west-1"),
        ({"eksClusterName": "platform-dev", "region": "us-east-1"}, "platform-dev in us-east-1"),
    ],
)
def test_a_profile_for_a_cluster_the_deployment_is_not_granted_is_refused(
    cluster: dict[str, str], named: str
):
    document = json.loads(PROFILES)
    document["profiles"]["orders"]["cluster"] = cluster

    settings = Settings.from_env(
        {
            "ENVIRONMENT": "dev",
            "MIGRATION_PROFILES": json.dumps(document),
            "CLUSTER_NAME": "platform-dev",
            "AWS_REGION": "eu-west-1",
        }
    )

    with pytest.raises(ConfigurationError) as caught:
        _ = settings.profiles

    assert f"profile 'orders' targets EKS cluster {named}" in str(caught.value)
    assert "granted only platform-dev in eu-west-1" in str(caught.value)


def test_a_profile_for_the_granted_cluster_is_accepted():
    document = json.loads(PROFILES)
    document["profiles"]["orders"]["cluster"] = {"eksClusterName": "platform-dev"}

    settings = Settings.from_env(
        {
            "ENVIRONMENT": "dev",
            "MIGRATION_PROFILES": json.dumps(document),
            "CLUSTER_NAME": "platform-dev",
            "AWS_REGION": "eu-west-1",
        }
    )

    assert set(settings.PROFILES) == {"orders"}


def test_a_notification_body_fits_sns_even_when_json_escaping_grows_the_tail():
    # 64 KiB of control characters: each becomes six bytes of JSON.
    result = Result(Status.FAILED, "r", log_tail="\x01" * (64 * 1024)).capped()

    text = body(result)

    assert len(text.encode()) <= MAX_BODY_BYTES
    assert json.loads(text)["status"] == "failed"
    assert "earlier bytes cut]" in json.loads(text)["log_tail"]


def test_terminal_colours_and_control_characters_leave_the_log_tail():
    from migration_trigger.domain.result import printable

    assert printable("\x1b[32mApplied\x1b[0m 1 migration\x01\tok\n") == "Applied 1 migration?\tok\n"


def test_an_integer_setting_in_other_digits_is_refused_not_crashed():
    with pytest.raises(ConfigurationError, match="LOG_TAIL_LINES must be an integer"):
        Settings.from_env(
            {"ENVIRONMENT": "dev", "MIGRATION_PROFILES": PROFILES, "LOG_TAIL_LINES": "²"}
        )


TEAM_TOPIC = "arn:aws:sns:eu-west-1:123456789012:team-migrations"


@pytest.mark.parametrize(
    ("topic", "further", "targets"),
    [
        ("", "", ()),
        ("arn:aws-cn:sns:cn-north-1:123456789012:results", "", ("results",)),
        (
            "arn:aws:sns:eu-west-1:123456789012:results",
            f" {TEAM_TOPIC} ,",
            ("results", "team-migrations"),
        ),
        ("", TEAM_TOPIC, ("team-migrations",)),
    ],
)
def test_the_notifiers_wired_are_the_ones_the_cost_model_counts(
    topic: str, further: str, targets: tuple[str, ...], offline_aws: pytest.MonkeyPatch
):
    """One source: settings.notify_targets (the results topic, then NOTIFY_TARGETS) gives both
    the notifiers wiring.py builds, in order, and the notify steps each profile's worst case
    counts (domain/schedule.py)."""
    from migration_trigger.adapters.observability import PowertoolsLog
    from migration_trigger.settings import notify_targets
    from migration_trigger.wiring import build_services

    env = {
        "ENVIRONMENT": "dev",
        "MIGRATION_PROFILES": PROFILES,
        "TOPIC_ARN": topic,
        "NOTIFY_TARGETS": further,
    }
    counted: list[int] = []
    monkeypatch = offline_aws

    def spy(profile: Any, *, execution_timeout: int, notifiers: int = 1) -> str | None:
        counted.append(notifiers)
        return None

    monkeypatch.setattr("migration_trigger.settings.refusal", spy)
    settings = Settings.from_env(env)

    services = build_services(settings, log=PowertoolsLog(None), region="eu-west-1")

    assert counted == [len(services.notifiers)], "the profile check counts the notifiers wired"
    assert settings.notify_targets == notify_targets(env)
    assert tuple(t.rsplit(":", 1)[1] for t in settings.notify_targets) == targets
    assert len(services.notifiers) == len(targets)
    assert [n.topic_arn for n in services.notifiers] == list(settings.notify_targets)  # type: ignore[attr-defined]


def test_a_notification_target_no_notifier_sends_to_is_refused_by_name(
    offline_aws: pytest.MonkeyPatch,
):
    from migration_trigger.adapters.observability import PowertoolsLog
    from migration_trigger.wiring import build_services

    env = {"ENVIRONMENT": "dev", "MIGRATION_PROFILES": PROFILES, "TOPIC_ARN": "results-topic"}

    with pytest.raises(ConfigurationError, match="no notifier sends to 'results-topic'"):
        build_services(Settings.from_env(env), log=PowertoolsLog(None), region="eu-west-1")
