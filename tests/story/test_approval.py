"""A profile's approval, over the story's fakes and through the durable execution SDK as in
Lambda (tests/durable.py answers each callback as a person would, or lets it time out).

What the SDK and Lambda do, read in their sources: `create_callback` checkpoints a CALLBACK
operation whose id the request carries; `Callback.result()` suspends until it is answered
(SendDurableExecutionCallbackSuccess, its Result passed through as text), raises
CallbackExternalError for SendDurableExecutionCallbackFailure (message and data kept) and
CallbackTimeoutError past CallbackOptions.TimeoutSeconds (aws-durable-execution-sdk-python,
context.py `Callback._raise_terminal_failure`, operation/callback.py). The service records no
caller: who answered travels in the answer (Lambda API reference, CallbackSucceededDetails holds
only the Result)."""

from __future__ import annotations

import json

from migration_trigger.adapters.sns import approval_body, approval_subject
from migration_trigger.domain.approval import fingerprint
from tests.story.world import (
    APPROVER,
    PASSWORD,
    RUNNING,
    PodScript,
    StoryWorld,
    approve,
    exited,
    reject,
    silence,
)

APPROVAL = {"required": True, "timeoutSeconds": 3600}
ECR_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders-migrations:1.4.0"
DIGEST = "sha256:" + "ab" * 32
MOVED = "sha256:" + "cd" * 32


def names(world: StoryWorld) -> list[str]:
    return world.steps_taken


def test_an_approved_migration_starts_only_after_the_yes_and_says_who_gave_it():
    world = StoryWorld(approval=APPROVAL)
    world.approvers.answers.append(approve(after=900))
    suspended_when_asked: list[bool] = []
    ask = world.approvers.ask

    def asked(request):  # type: ignore[no-untyped-def]
        job = world.jobs.jobs[request.job]
        suspended_when_asked.append(job["spec"]["suspend"] is True)
        ask(request)

    world.approvers.ask = asked  # type: ignore[method-assign]

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "SUCCEEDED", ended.error
    document = ended.result
    assert document["status"] == "succeeded"
    assert document["approved_by"] == APPROVER
    (request,) = world.approvers.requests
    assert document["fingerprint"] == request.fingerprint
    assert document["fingerprint"] == fingerprint(world.jobs.jobs[document["job"]])
    assert document["approved_at"].endswith("Z")
    assert suspended_when_asked == [True], "the request went out while the Job was suspended"
    taken = names(world)
    assert taken.index("approval-answer-0") < taken.index("start-job")
    # One request, though the execution was invoked again after each suspension (its replays).
    assert ended.invocations > 2
    assert request.trigger == "manual" and request.job == document["job"]
    assert request.region == "eu-west-1"
    runs = json.loads(request.runs)
    assert runs["containers"][0]["image"] == "ghcr.io/example/orders-migrations:1.0.0"
    body = approval_body(request) + approval_subject(request, "prod")
    assert PASSWORD not in body and PASSWORD not in json.dumps(ended.history)


def test_a_rejected_migration_is_declined_with_the_reason_its_job_deleted_and_not_a_failure():
    world = StoryWorld(approval=APPROVAL)
    world.approvers.answers.append(reject(reason="not during the sale"))

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "SUCCEEDED", "declined is not a failure: the execution succeeds"
    assert ended.result["status"] == "declined"
    assert ended.result["reason"].startswith(f"declined by {APPROVER}: not during the sale")
    assert "stop-job" in names(world) and "start-job" not in names(world)
    assert world.jobs.jobs == {}, "the suspended Job was deleted"
    assert [str(r.status) for r in world.recorded.notified] == ["declined"]


def test_without_an_answer_in_time_the_migration_times_out_and_its_job_is_deleted():
    world = StoryWorld(approval=APPROVAL)
    world.approvers.answers.append(silence())
    start = world.clock.now

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED"
    assert ended.result is None and ended.error is not None
    assert ended.error.startswith("timed_out: no approval within 3600s")
    assert world.clock.now - start >= 3600
    assert world.jobs.jobs == {}
    assert "start-job" not in names(world)


def test_an_approval_of_another_fingerprint_starts_nothing_and_asks_again():
    world = StoryWorld(approval=APPROVAL)
    stale = "sha256:" + "00" * 32
    world.approvers.answers += [approve(after=60, fingerprint=stale), approve(after=60)]

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    first, second = world.approvers.requests
    assert first.refused is None and second.refused == stale
    assert second.fingerprint == first.fingerprint
    assert second.timeout_seconds == 3600 - 60, "the one timeout spans both requests"
    taken = names(world)
    assert taken.index("approval-answer-1") < taken.index("start-job")
    assert any(
        message == "an answer approved another Job than this one: asking again"
        for _, message, _ in world.recorded.log
    )


def test_an_approval_of_another_fingerprint_does_not_extend_the_time_to_answer():
    world = StoryWorld(approval=APPROVAL)
    world.approvers.answers += [approve(after=1000, fingerprint="sha256:" + "00" * 32), silence()]
    start = world.clock.now

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert (ended.error or "").startswith("timed_out: no approval within 3600s")
    assert 3600 <= world.clock.now - start < 3600 + 60, "one timeout in all, not one per request"


def test_answers_that_keep_approving_another_fingerprint_fail_the_migration_unstarted():
    world = StoryWorld(approval=APPROVAL)
    world.approvers.answers += [approve(after=10, fingerprint="sha256:" + "00" * 32)] * 3

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED"
    assert "3 answers approved another Job than this one" in (ended.error or "")
    assert world.jobs.jobs == {} and "start-job" not in names(world)


def test_an_unreadable_answer_asks_again():
    world = StoryWorld(approval=APPROVAL)
    world.approvers.answers += [lambda request: (30, "SUCCEEDED", "yes"), approve(after=30)]

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    assert world.approvers.requests[1].refused == "an unreadable answer"


def test_a_trigger_kind_the_approval_does_not_name_runs_without_asking():
    world = StoryWorld(approval={**APPROVAL, "triggers": ["secret-rotated", "manual"]})

    ended = world.run_durably(world.event())  # db-created

    assert ended.result["status"] == "succeeded"
    assert world.approvers.requests == []
    assert "approved_by" not in ended.result and "fingerprint" not in ended.result


def test_an_ecr_image_runs_by_the_digest_its_tag_named_when_the_job_was_created():
    """The tag moves while the execution waits for approval: the Job still runs the digest the
    request named, which is what the approver saw."""
    world = StoryWorld(approval=APPROVAL, image=ECR_IMAGE)
    world.images.digests[ECR_IMAGE] = DIGEST

    def approve_after_the_tag_moved(request):  # type: ignore[no-untyped-def]
        world.images.digests[ECR_IMAGE] = MOVED
        return approve(after=120)(request)

    world.approvers.answers.append(approve_after_the_tag_moved)

    ended = world.run_durably(world.event("manual-retrigger.json"))

    pinned = ECR_IMAGE.rsplit(":", 1)[0] + "@" + DIGEST
    assert ended.result["status"] == "succeeded"
    assert ended.result["image"] == pinned
    job = world.jobs.jobs[ended.result["job"]]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == pinned
    (request,) = world.approvers.requests
    assert request.digest == DIGEST
    assert world.images.asked == [ECR_IMAGE], "pinned once, before the Job was created"
    taken = names(world)
    assert taken.index("pin-image") < taken.index("create-job")


def test_an_ecr_tag_that_cannot_be_read_fails_before_any_job_exists():
    world = StoryWorld(approval=APPROVAL, image=ECR_IMAGE)  # the tag names no image

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED"
    assert "ImageNotFoundException" in (ended.error or "")
    assert world.jobs.jobs == {} and world.approvers.requests == []


def test_the_request_is_asked_when_the_run_window_opens_not_before():
    window = {"days": ["mon"], "start": "16:00", "end": "17:00", "timeZone": "UTC"}
    world = StoryWorld(approval=APPROVAL, window=window)
    asked_at: list[float] = []
    ask = world.approvers.ask

    def asked(request):  # type: ignore[no-untyped-def]
        asked_at.append(world.clock.now)
        ask(request)

    world.approvers.ask = asked  # type: ignore[method-assign]
    world.approvers.answers.append(approve(after=300))

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    (at,) = asked_at
    assert 16 * 3600 <= at % 86400 < 17 * 3600, "asked once the window was open"
    assert "window-approved-0" in names(world), "the window is checked again after the yes"


def test_an_approval_that_comes_after_the_window_closed_waits_for_it_to_open_again():
    window = {"days": ["mon", "tue"], "start": "14:00", "end": "15:00", "timeZone": "UTC"}
    world = StoryWorld(approval=APPROVAL | {"timeoutSeconds": 7200}, window=window)
    world.approvers.answers.append(approve(after=3600))  # the window closes at 15:00
    started_at = world.start_times()

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    assert "wait:window-approved-closed-0" in names(world)
    (start,) = started_at
    assert 14 * 3600 <= start % 86400 < 14 * 3600 + 60, "started as Tuesday's window opened"


def test_a_retrys_job_that_is_not_the_one_approved_does_not_start():
    """The Job template changed (a deploy) while the retry waited: its Job differs from the one
    approved, and it is refused rather than run unapproved."""
    retry = {"attempts": 2, "delaySeconds": 60, "whenLogMatches": "lock timeout"}
    world = StoryWorld(approval=APPROVAL, retry=retry)
    world.jobs.scripts.append(
        PodScript(timeline=[(0, RUNNING), (3, exited(1))], log="ERROR: lock timeout\n")
    )
    world.approvers.answers.append(approve(after=60))
    template = world.services.job_template

    def after_a_deploy(request):  # type: ignore[no-untyped-def]
        def changed() -> dict:
            manifest = template()
            container = manifest["spec"]["template"]["spec"]["containers"][0]
            container.setdefault("env", []).append({"name": "DEBUG_HOOK", "value": "1"})
            return manifest

        world.services.job_template = changed
        return approve(after=60)(request)

    world.approvers.answers[0] = after_a_deploy

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.status == "FAILED"
    assert "is not the one approved" in (ended.error or "")
    assert "attempt-2/approved-job" in names(world)
    assert "attempt-2/start-job" not in names(world)


def test_a_retry_runs_the_approved_job_again_without_asking_twice():
    retry = {"attempts": 2, "delaySeconds": 60, "whenLogMatches": "lock timeout"}
    world = StoryWorld(approval=APPROVAL, retry=retry)
    world.jobs.scripts += [
        PodScript(timeline=[(0, RUNNING), (3, exited(1))], log="ERROR: lock timeout\n"),
        PodScript(),
    ]
    world.approvers.answers.append(approve(after=60))

    ended = world.run_durably(world.event("manual-retrigger.json"))

    assert ended.result["status"] == "succeeded"
    assert ended.result["reason"].endswith("(attempt 2 of 2)")
    assert ended.result["approved_by"] == APPROVER
    assert len(world.approvers.requests) == 1
    assert not any(name.startswith("attempt-2/approval") for name in names(world))
    assert "attempt-2/approved-job" in names(world), "its Job checked against the approval"


def test_outside_lambda_a_migration_that_needs_approval_fails_saying_why():
    world = StoryWorld(approval=APPROVAL)

    _, error = world.run(world.event("manual-retrigger.json"))

    assert error is not None and "only the deployed function can wait for" in error
    assert world.jobs.jobs == {}, "the Job it created was deleted"
