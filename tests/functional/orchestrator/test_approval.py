"""Approval over the real wires: the request published to SNS and read from its subscribed queue,
the answer sent by `migration-trigger approve|reject` over Lambda's callback API (the testing
SDK's implementation of POST /2025-12-01/durable-execution-callbacks/{id}/succeed|fail), the
approver's identity from STS, the Job held suspended in the cluster until the yes."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from aws_durable_execution_sdk_python.execution import InvocationStatus

from kube_emulator import PodScript
from local_stack.iam import Enforcer
from migration_trigger import cli
from tests.functional.orchestrator.conftest import (
    ACCOUNT,
    ECR_IMAGE,
    ON_CHOSEN_CLUSTERS,
    REGION,
    REPOSITORY,
    World,
    allow_ecr_images,
    profiles,
    push,
)

pytestmark = ON_CHOSEN_CLUSTERS

APPROVAL = {"required": True, "timeoutSeconds": 600}


def command(message: dict[str, Any], verb: str) -> list[str]:
    """The `migration-trigger <verb> …` line the request tells a person to run, as argv."""
    (line,) = [
        line.strip()
        for line in message["Message"].splitlines()
        if line.strip().startswith(f"migration-trigger {verb} ")
    ]
    words = shlex.split(line.replace(" [--reason TEXT]", ""))
    return [w for w in words[1:] if w != "TEXT"]


def test_a_request_answered_with_the_cli_starts_the_job_and_names_the_approver(
    world: World, approver: Enforcer, capsys: pytest.CaptureFixture[str]
):
    world.set_profiles(profiles(approval=APPROVAL))
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.1))

    argv: list[str] = []

    def approve(message: dict[str, Any]) -> None:
        (job,) = world.jobs()
        assert job["spec"]["suspend"] is True, "nothing runs before the yes"
        assert message["Subject"] == "[test] Approval needed: orders-db (manual)"
        argv.extend(command(message, "approve"))
        assert cli.main([*argv, "--profile", "approver"]) == 0

    run = world.run_answering(world.event("manual-retrigger.json"), approve)

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    result = run.result
    assert result["status"] == "succeeded"
    assert result["approved_by"] == approver.principal, "STS named who approved"
    (answer,) = [c for c in approver.calls if c.action.startswith("lambda:")]
    assert answer.action == "lambda:SendDurableExecutionCallbackSuccess" and answer.allowed
    assert ":function:migration-trigger-" in answer.resource, "on this function's execution"
    assert "/durable-execution/" in answer.resource
    assert result["fingerprint"] == argv[argv.index("--fingerprint") + 1]
    printed = capsys.readouterr().out
    assert "approved:" in printed and result["fingerprint"] in printed
    assert [call for call in world.iam.calls if not call.allowed] == []


def test_a_request_rejected_with_the_cli_is_declined_with_its_reason(
    world: World, approver: Enforcer
):
    world.set_profiles(profiles(approval=APPROVAL))
    world.monkeypatch.setenv("NOTIFY_STATUSES", "succeeded,failed,timed_out,declined")

    def reject(message: dict[str, Any]) -> None:
        callback = command(message, "reject")[1]
        argv = ["reject", callback, "--reason", "freeze week", "--profile", "approver"]
        assert cli.main(argv) == 0

    run = world.run_answering(world.event("manual-retrigger.json"), reject)

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    result = run.result
    assert result["status"] == "declined"
    assert "freeze week" in result["reason"]
    assert world.jobs() == [], "the suspended Job was deleted"
    (declined,) = world.notifications()
    assert declined["Subject"] == "[test] Migration declined: orders-db (manual)"


def test_an_answer_to_a_request_already_answered_is_refused_saying_so(
    world: World, approver: Enforcer, capsys: pytest.CaptureFixture[str]
):
    world.set_profiles(profiles(approval=APPROVAL))
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.1))

    def approve_twice(message: dict[str, Any]) -> None:
        argv = [*command(message, "approve"), "--profile", "approver"]
        assert cli.main(argv) == 0
        assert cli.main(argv) == cli.EXIT_USAGE

    run = world.run_answering(world.event("manual-retrigger.json"), approve_twice)

    assert run.result["status"] == "succeeded"

    assert "already been answered or has timed out" in capsys.readouterr().err


def test_the_function_itself_may_not_answer_its_requests(
    world: World, approver: Enforcer, capsys: Any
):
    """The function's role lacks the callback actions: only the approvers' policy grants them."""
    world.set_profiles(profiles(approval=APPROVAL))

    def answer_as_the_function_then_as_an_approver(message: dict[str, Any]) -> None:
        argv = command(message, "approve")
        assert cli.main(argv) == cli.EXIT_USAGE  # the usual chain: the function's credentials
        assert "not authorized to perform: lambda:SendDurableExecutionCallbackSuccess" in (
            capsys.readouterr().err
        )
        assert cli.main(["reject", argv[1], "--reason", "clean up"]) == cli.EXIT_USAGE
        assert cli.main(["reject", argv[1], "--reason", "clean up", "--profile", "approver"]) == 0

    run = world.run_answering(
        world.event("manual-retrigger.json"), answer_as_the_function_then_as_an_approver
    )
    assert run.result["status"] == "declined"


def test_an_ecr_image_runs_by_the_digest_the_approver_saw_though_its_tag_moved(
    world: World, approver: Enforcer
):
    repository = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPOSITORY}"
    world.deploy_with({"HasApprovalImageRepositories": True}, ApprovalImageRepositories=repository)
    digest = push("1.4.0", "1")
    world.set_profiles(profiles(approval=APPROVAL, image=ECR_IMAGE))
    world.pods.when(PodScript(logs="Applied 1 migration\n", duration=0.1))
    allow_ecr_images(world)

    def approve_after_the_tag_moved(message: dict[str, Any]) -> None:
        assert f"Image digest: {digest}" in message["Message"]
        moved = push("1.4.0", "2")
        assert moved != digest
        assert cli.main([*command(message, "approve"), "--profile", "approver"]) == 0

    run = world.run_answering(world.event("manual-retrigger.json"), approve_after_the_tag_moved)

    assert run.status is InvocationStatus.SUCCEEDED, run.error
    pinned = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{digest}"
    assert run.result["image"] == pinned
    (job,) = world.jobs()
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == pinned
    reads = [c for c in world.iam.calls if c.action == "ecr:DescribeImages"]
    assert [(c.resource, c.allowed) for c in reads] == [(repository, True)]


def test_without_the_repository_granted_no_job_is_created(world: World):
    """ApprovalImageRepositories empty (the default): the template grants no ECR read, and the
    migration fails before any Job exists, saying so."""
    push("1.4.0", "1")
    world.set_profiles(profiles(approval=APPROVAL, image=ECR_IMAGE))

    run = world.run(world.event("manual-retrigger.json"))

    assert run.status is InvocationStatus.FAILED
    assert "not authorized to perform: ecr:DescribeImages" in (run.error or "")
    assert world.jobs() == [] and world.notifications()[-1]["Subject"].startswith(
        "[test] Migration FAILED"
    )
