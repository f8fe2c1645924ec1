"""Approval: a person's yes on exactly the Job that will run (domain/approval.py).

Once the Job has its turn and its run window is open, the execution sends a request to the
results topic and waits on a durable callback (nothing is billed while it waits) for the answer:
approved (for this Job's fingerprint) starts it; rejected ends the migration as `declined`; no
answer in time ends it as `timed_out`; an approval of another fingerprint asks again. Before the
Job is created, an image in Amazon ECR is pinned to the digest its tag names.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from migration_trigger.domain import approval
from migration_trigger.domain.jobspec import JobPlan, utc_iso
from migration_trigger.domain.result import Status
from migration_trigger.domain.schedule import APPROVAL
from migration_trigger.errors import ConfigurationError, MigrationTriggerError
from migration_trigger.ports import Services
from migration_trigger.records import Asked, Fingerprinted, Judged, Pinned, Refused
from migration_trigger.steps import Reply, Steps


def asks(plan: JobPlan) -> bool:
    """Whether this migration waits for a person's yes."""
    wanted = plan.profile.approval
    return wanted is not None and wanted.applies(plan.trigger.kind)


def pin_image(plan: JobPlan, services: Services) -> Pinned:
    """The profile's ECR image by the digest its tag names now."""
    image = approval.ecr_image(plan.profile.image)
    if image is None or services.images is None:
        raise ConfigurationError(f"no registry to read the digest of {plan.profile.image} from")
    digest = services.images.digest(plan.profile.image)
    services.log.info("pinned the image to its digest", image=plan.profile.image, digest=digest)
    return Pinned(image.pinned(digest), digest)


def pinned(plan: JobPlan, steps: Steps, services: Services) -> JobPlan:
    """The plan, its image pinned by digest if the migration asks for approval and the image is
    in Amazon ECR (step `pin-image`, before the Job is created: what is approved is what runs)."""
    if not asks(plan) or approval.ecr_image(plan.profile.image) is None:
        return plan
    pin = steps.step(APPROVAL.pin, lambda: pin_image(plan, services))
    return plan._replace(image=pin.image)


def request(
    plan: JobPlan,
    job: dict[str, Any],
    *,
    callback_id: str,
    refused: str | None,
    seconds: int,
) -> approval.ApprovalRequest:
    """The request a person reads."""
    return approval.ApprovalRequest(
        callback_id=callback_id,
        database=plan.database_arn,
        profile=plan.profile.name,
        trigger=str(plan.trigger.kind),
        event_id=plan.trigger.event_id,
        detail=plan.trigger.detail[:512],
        job=plan.name,
        namespace=plan.profile.namespace,
        fingerprint=approval.fingerprint(job),
        runs=json.dumps(approval.what_runs(job), indent=2, sort_keys=True),
        digest=plan.image.rsplit("@", 1)[1] if plan.image and "@" in plan.image else None,
        timeout_seconds=seconds,
        refused=refused,
        region=plan.database_arn.split(":")[3],
    )


def held_job(plan: JobPlan, services: Services, before: str) -> dict[str, Any]:
    """The Job as the cluster holds it: what is fingerprinted. One deleted meanwhile fails the
    migration (nothing of it can run)."""
    job = services.jobs_for(plan.profile).get_job(plan.name)
    if job is None:
        raise MigrationTriggerError(f"Job {plan.name} was deleted before it could {before}")
    return job


def ask(
    plan: JobPlan,
    callback_id: str,
    services: Services,
    *,
    refused: str | None,
    seconds: int,
) -> Asked:
    """Send the request for approval (step `approval-N-request`: never again on replay; like
    every step, at least once, so a publish SNS took but whose answer was lost is sent twice)."""
    if services.approvers is None:
        raise ConfigurationError("approval needs a results topic (TOPIC_ARN) to ask on")
    job = held_job(plan, services, "be approved")
    asked = request(
        plan,
        job,
        callback_id=callback_id,
        refused=refused,
        seconds=seconds,
    )
    services.approvers.ask(asked)
    services.log.info(
        "asked for approval",
        job=plan.name,
        callback_id=callback_id,
        fingerprint=asked.fingerprint,
    )
    return Asked(services.clock(), callback_id, asked.fingerprint)


def judge(plan: JobPlan, reply: Reply, services: Services) -> Judged:
    """What the answer says (step `approval-N-answer`, so it is logged and timed once)."""
    if reply.outcome == "timed_out":
        answer = approval.Answer(approval.Outcome.TIMED_OUT)
    elif reply.outcome == "failed":
        answer = approval.read_rejection(reply.message, reply.data)
    else:
        answer = approval.read_approval(reply.result)
    services.log.info(
        "the request for approval was answered",
        job=plan.name,
        outcome=answer.outcome,
        approver=answer.approver,
        fingerprint=answer.fingerprint,
    )
    return Judged(
        answer.outcome, services.clock(), answer.approver, answer.reason, answer.fingerprint
    )


def wait_for_approval(plan: JobPlan, steps: Steps, services: Services) -> Judged | Refused | None:
    """Ask, and wait durably for the answer; the approval, of the fingerprint the request named
    (None if the profile asks for none), or why the Job must not start."""
    wanted = plan.profile.approval
    if wanted is None or not wanted.applies(plan.trigger.kind):
        return None
    left, refused, since = wanted.timeout_seconds, None, None
    for n in range(APPROVAL.checks):

        def send(callback_id: str, refused: str | None = refused, left: int = left) -> Asked:
            return ask(plan, callback_id, services, refused=refused, seconds=left)

        asked, reply = steps.callback(f"{APPROVAL.callback}-{n}", send, left)
        judged = steps.step(f"{APPROVAL.answer}-{n}", partial(judge, plan, reply, services))
        since = asked.at if since is None else since
        left = approval.time_left(wanted.timeout_seconds, first_asked=since, now=judged.at)
        decided = approval.verdict(judged.outcome, judged.fingerprint, asked.fingerprint, left)
        if decided is approval.Next.START:
            return judged
        if decided is approval.Next.DECLINE:
            return Refused(
                Status.DECLINED,
                f"declined by {judged.approver}: {judged.reason}. The Job was deleted and "
                "nothing ran",
            )
        if decided is approval.Next.TIME_OUT:
            return Refused(
                Status.TIMED_OUT,
                f"no approval within {wanted.timeout_seconds}s (the profile's "
                "approval.timeoutSeconds): the Job was deleted and nothing ran",
            )
        refused = judged.fingerprint or "an unreadable answer"
        services.log.warning(
            "an answer approved another Job than this one: asking again",
            job=plan.name,
            approved=refused,
            fingerprint=asked.fingerprint,
        )
    return Refused(
        Status.FAILED,
        f"{APPROVAL.checks} answers approved another Job than this one (fingerprint "
        f"{asked.fingerprint}): the Job was deleted and nothing ran",
    )


def fingerprinted(plan: JobPlan, services: Services) -> Fingerprinted:
    """The fingerprint of the Job as the cluster holds it (step `approved-job`)."""
    return Fingerprinted(approval.fingerprint(held_job(plan, services, "start")))


def same_as_approved(
    plan: JobPlan, approved: str, steps: Steps, services: Services
) -> Refused | None:
    """A later attempt's Job is the one approved, or it does not start: the Job template or the
    image behind the profile could have changed while the execution waited."""
    now = steps.step(RETRY_CHECK, lambda: fingerprinted(plan, services))
    if now.fingerprint == approved:
        return None
    return Refused(
        Status.FAILED,
        f"the Job of this attempt ({now.fingerprint}) is not the one approved ({approved}): the "
        "Job was deleted and nothing ran. Request the migration again to approve it",
    )


def approved_fields(judged: Judged | None, plan: JobPlan) -> dict[str, str]:
    """What a result says about its approval: who, when, which Job, which image."""
    if judged is None:
        return {}
    fields = {
        "approved_by": judged.approver or "unnamed",
        "approved_at": utc_iso(judged.at),
        "fingerprint": judged.fingerprint or "",
    }
    if plan.image:
        fields["image"] = plan.image
        fields["image_ref"] = plan.profile.image
    return fields


#: The step that checks a later attempt's Job against the approval (schedule.STORY).
RETRY_CHECK = "approved-job"

#: The bodies of this stage's steps: each returns a record (records.py) for its checkpoint.
STEP_BODIES = (pin_image, ask, judge, fingerprinted)
