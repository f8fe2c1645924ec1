"""What a migration tool prints of the password, through the whole flow: masked in every form
where the function knows the password, and said plainly where it does not (secret-arn mode)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import pytest

from kube_emulator import PodScript
from migration_trigger.domain.masking import MASK, PASSWORD_NOT_READ, TAIL_KEPT_IN_FUNCTION_LOG
from tests.fixtures import admin_client
from tests.functional.orchestrator.conftest import ON_CHOSEN_CLUSTERS, World, profiles

#: Every character URLs and JSON treat specially, a space, a tab and a letter outside ASCII.
CANARY = "Canary-Pa55:/?#[]@!$&'()*+,;=%\" \\\tWörd~-do-not-leak"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


#: The forms a careless tool prints, and the line it prints each in.
PRINTED = {
    "decoded URL": f"connecting to postgresql://app:{CANARY}@orders-db:5432/orders",
    "percent-encoded URL": (
        f"DATABASE_URL=postgresql://app:{urllib.parse.quote(CANARY, safe='')}@orders-db:5432/orders"
    ),
    "form-encoded": f"POST user=app&secret={urllib.parse.quote_plus(CANARY)}",
    "JSON-escaped": f'config: {{"user": "app", "pass": {json.dumps(CANARY)}}}',
    "basic auth": f"Authorization: Basic {b64('app:' + CANARY)}",
    "base64": f"kubectl get secret: DB_PASSWORD: {b64(CANARY)}",
    "as it is": f"password rejected: {CANARY}",
}
#: What must appear nowhere: each form, and fragments that survive any escaping.
FORMS = (
    CANARY,
    urllib.parse.quote(CANARY, safe=""),
    urllib.parse.quote(CANARY),
    urllib.parse.quote_plus(CANARY),
    json.dumps(CANARY)[1:-1],
    json.dumps(CANARY, ensure_ascii=False)[1:-1],
    b64(CANARY),
    b64(CANARY).rstrip("="),
    b64("app:" + CANARY),
    "Pa55",
    "do-not-leak",
)


def use_password(world: World, password: str) -> None:
    """The database's secret holds this password from now on."""
    admin_client("secretsmanager").put_secret_value(
        SecretId=world.secret_arn,
        SecretString=json.dumps({"username": "app", "password": password}),
    )


def places(world: World, run: Any, captured: str, notified: Any) -> dict[str, str]:
    """Everywhere a password must not reach, as text."""
    return {
        "function log": captured,
        "result": json.dumps(run.result, ensure_ascii=False) + (run.error or ""),
        "step results": json.dumps(
            [getattr(op, "result", None) for op in run.operations], default=str, ensure_ascii=False
        ),
        "checkpoints": json.dumps(run.history, default=str, ensure_ascii=False),
        "notifications": json.dumps(notified, ensure_ascii=False),
        "jobs": json.dumps(world.jobs(), ensure_ascii=False),
    }


@ON_CHOSEN_CLUSTERS
def test_a_password_full_of_special_characters_is_masked_in_every_form_it_is_printed_in(
    world: World, capfd: pytest.CaptureFixture[str]
):
    # Given a password with every URL- and JSON-special character, printed in seven forms
    use_password(world, CANARY)
    world.pods.when(PodScript(exit_code=1, logs=list(PRINTED.values())))

    # When the migration runs (and fails: its result carries the log tail and is notified)
    run = world.run(world.event("rds-instance-created.json"))

    # Then no form of it is anywhere: log, result, notification, checkpoints
    out, err = capfd.readouterr()
    (notified,) = world.notifications()
    assert json.loads(notified["Message"])["status"] == "failed"
    for where, text in places(world, run, out + err, notified).items():
        for form in FORMS:
            assert form not in text, f"a form of the password ({form!r}) found in {where}"
    # and the lines around it stay readable
    logged = [json.loads(line) for line in out.splitlines() if line.startswith('{"level"')]
    (log,) = [line["log"] for line in logged if line["message"] == "migration log"]
    assert log.splitlines() == [
        f"connecting to postgresql://app:{MASK}@orders-db:5432/orders",
        f"DATABASE_URL=postgresql://app:{MASK}@orders-db:5432/orders",
        f"POST user=app&secret={MASK}",
        f'config: {{"user": "app", "pass": "{MASK}"}}',
        f"Authorization: Basic {MASK}",
        f"kubectl get secret: DB_PASSWORD: {MASK}",
        f"password rejected: {MASK}",
    ]


@ON_CHOSEN_CLUSTERS
def test_secret_arn_mode_masks_only_url_and_assigned_passwords_and_says_so(
    world: World, capfd: pytest.CaptureFixture[str]
):
    # Given a secret-arn profile: the Job reads the secret itself, the function never does
    world.set_profiles({"profiles": {"orders": {**profiles()["profiles"]["arn-mode"]}}})
    use_password(world, CANARY)
    world.pods.when(
        PodScript(
            logs=[
                f"connecting to postgresql://app:{CANARY}@orders-db:5432/orders",
                f"PGPASSWORD={CANARY}",
                "Applied 20261101_init.sql",
            ]
        )
    )

    # When the migration runs
    run = world.run(world.event("rds-instance-created.json"))

    # Then the password was not read, URL and assigned passwords are masked in the function's
    # log, which ends with the line that says what was not; the result and the notification
    # carry no log lines, only where to find them
    assert run.result["status"] == "succeeded"
    assert [c for c in world.iam.calls if c.action == "secretsmanager:GetSecretValue"] == []
    (logged,) = [
        json.loads(line)["log"]
        for line in capfd.readouterr().out.splitlines()
        if '"message":"migration log"' in line
    ]
    assert logged.splitlines() == [
        f"connecting to postgresql://app:{MASK}@orders-db:5432/orders",
        f"PGPASSWORD={MASK}",
        "Applied 20261101_init.sql",
        PASSWORD_NOT_READ,
    ]
    assert run.result["log_tail"] == TAIL_KEPT_IN_FUNCTION_LOG
    (message,) = world.notifications()
    assert "Applied 20261101_init.sql" not in message["Message"]


@ON_CHOSEN_CLUSTERS
def test_a_secret_arn_profile_may_opt_in_to_carry_the_log_tail_in_results(world: World):
    arn_mode = profiles()["profiles"]["arn-mode"]
    world.set_profiles({"profiles": {"orders": {**arn_mode, "logTailInResult": True}}})
    world.pods.when(PodScript(logs=["Applied 20261101_init.sql"]))

    run = world.run(world.event("rds-instance-created.json"))

    assert run.result["log_tail"].splitlines() == ["Applied 20261101_init.sql", PASSWORD_NOT_READ]


@ON_CHOSEN_CLUSTERS
def test_a_rotation_during_the_migration_does_not_unmask_the_password_the_job_was_given(
    world: World, capfd: pytest.CaptureFixture[str]
):
    """The function records the secret version the Job started with (its id, never its value)
    and masks that version's password as well as the current one."""
    use_password(world, CANARY)
    world.pods.when(PodScript(exit_code=1, logs=[PRINTED["as it is"], PRINTED["base64"]]))

    def rotate_once_started(request: Any) -> None:
        # The function has read the secret and now un-suspends the Job: the secret rotates.
        if request.method == "PATCH" and "/jobs/" in request.path:
            use_password(world, "Rotated-Pa55-after-the-start")

    world.requests.on_request(rotate_once_started)
    run = world.run(world.event("rds-instance-created.json"))

    out, err = capfd.readouterr()
    (notified,) = world.notifications()
    for where, text in places(world, run, out + err, notified).items():
        for form in FORMS:
            assert form not in text, f"a form of the password ({form!r}) found in {where}"
    assert f"password rejected: {MASK}" in json.loads(notified["Message"])["log_tail"]
    (started,) = [op for op in run.history if op.get("Name") == "start-job"]
    assert '"secret_version":"' in started["StepDetails"]["Result"]
