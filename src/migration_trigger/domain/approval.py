"""A person's yes on exactly what will run: a profile's `approval`. Pure.

Before a Job that has its turn and its run window starts, the execution asks for approval on a
durable callback and waits, at no cost, for the answer. What is approved is what runs: the request
carries the fingerprint of the Job as the cluster holds it (suspended, its pod template immutable:
Kubernetes refuses changes to a Job's `spec.template`), and an image in Amazon ECR is pinned to
the digest its tag names before the Job is created, so a tag moved after the approval cannot run
unapproved code. An answer approving another fingerprint does not start the Job: the execution
asks again.

The callback's answer is what `migration-trigger approve|reject` sends (or the same payload from
the AWS CLI): SendDurableExecutionCallbackSuccess with `{"fingerprint": …, "approver": …}` to
approve, SendDurableExecutionCallbackFailure (its ErrorMessage the reason) to reject.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Any, NamedTuple

from migration_trigger.domain.events import TriggerKind

#: The longest a profile may wait for an answer: a week, as a run window's longest wait.
MAX_TIMEOUT_SECONDS = 7 * 86400
#: The answer's payload, as `migration-trigger approve` sends it (SendDurableExecutionCallback-
#: Success's Result: a blob, here UTF-8 JSON).
MAX_ANSWER_BYTES = 8 * 1024
#: An image in Amazon ECR: <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>:<tag>
#: ("Pushing a Docker image", Amazon ECR User Guide: the repository URI's form).
_ECR_IMAGE = re.compile(
    r"(?P<registry>(?P<account>[0-9]{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)"
    r"\.amazonaws\.com(\.cn)?)/(?P<repository>[a-z0-9][a-z0-9._/-]*?)(:(?P<tag>[\w][\w.-]{0,127}))?"
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class Approval(NamedTuple):
    """A profile's `approval`: how long an answer may take, and which trigger kinds need one
    (None: every kind)."""

    timeout_seconds: int
    triggers: frozenset[TriggerKind] | None = None

    def applies(self, kind: TriggerKind) -> bool:
        """Whether a migration on this trigger kind waits for a person's yes."""
        return self.triggers is None or kind in self.triggers

    def describe(self) -> str:
        """As `plan` shows it."""
        kinds = "every trigger" if self.triggers is None else ", ".join(sorted(self.triggers))
        return f"required for {kinds}; an answer within {self.timeout_seconds}s"


def parse_approval(raw: object) -> Approval | None:
    """A profile's `approval` object (None when `required` is false); ValueError saying what is
    wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError(
            'must be an object: {"required": true, "timeoutSeconds": 86400, '
            '"triggers": ["secret-rotated", "manual"]}'
        )
    unknown = sorted(set(raw) - {"required", "timeoutSeconds", "triggers"})
    if unknown:
        raise ValueError(f"unknown keys {unknown}; allowed: required, timeoutSeconds, triggers")
    required, timeout = raw.get("required"), raw.get("timeoutSeconds", 86400)
    if not isinstance(required, bool):
        raise ValueError("required must be true or false")
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int)
        or not 60 <= timeout <= MAX_TIMEOUT_SECONDS
    ):
        raise ValueError(f"timeoutSeconds must be an integer from 60 to {MAX_TIMEOUT_SECONDS}")
    kinds = raw.get("triggers")
    triggers: frozenset[TriggerKind] | None = None
    if kinds is not None:
        known = {str(kind) for kind in TriggerKind}
        if (
            not isinstance(kinds, list)
            or not kinds
            or not all(isinstance(k, str) and k in known for k in kinds)
        ):
            raise ValueError(f"triggers must be a non-empty list of {sorted(known)}")
        triggers = frozenset(TriggerKind(kind) for kind in kinds)
    return Approval(timeout, triggers) if required else None


# -- what is approved -------------------------------------------------------------------------


def what_runs(job: dict[str, Any]) -> dict[str, Any]:
    """What a Job will run, as a person approves it: per container its image, command, args,
    resources and the names (never the values) of its environment; the service account."""
    spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}

    def container(c: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": c.get("name"),
            "image": c.get("image"),
            "command": c.get("command") or [],
            "args": c.get("args") or [],
            # Names only: values are the database's connection (and a Secret named per Job).
            "env": sorted(str(e.get("name")) for e in c.get("env") or []),
            "resources": c.get("resources") or {},
        }

    return {
        "serviceAccountName": spec.get("serviceAccountName") or "default",
        "initContainers": [container(c) for c in spec.get("initContainers") or []],
        "containers": [container(c) for c in spec.get("containers") or []],
    }


def fingerprint(job: dict[str, Any]) -> str:
    """`sha256:<hex>` of what_runs(job), in canonical JSON: the same Job, the same fingerprint."""
    text = json.dumps(what_runs(job), sort_keys=True, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


class EcrImage(NamedTuple):
    """An image reference in Amazon ECR, by tag."""

    registry: str
    account: str
    region: str
    repository: str
    tag: str

    def pinned(self, digest: str) -> str:
        """The reference by digest: what the Job runs once approved."""
        return f"{self.registry}/{self.repository}@{digest}"


def ecr_image(image: str) -> EcrImage | None:
    """The ECR repository and tag of an image (`latest` if untagged); None for an image in
    another registry or already named by digest (nothing to resolve)."""
    if "@" in image:
        return None
    match = _ECR_IMAGE.fullmatch(image)
    if match is None:
        return None
    return EcrImage(
        match["registry"],
        match["account"],
        match["region"],
        match["repository"],
        match["tag"] or "latest",
    )


def is_digest(value: str) -> bool:
    """Whether `value` is an image digest (sha256:<64 hex>)."""
    return _DIGEST.fullmatch(value) is not None


class ApprovalRequest(NamedTuple):
    """What a person is asked to approve, and how to answer."""

    callback_id: str
    database: str
    profile: str
    trigger: str
    event_id: str
    detail: str
    job: str
    namespace: str
    #: fingerprint(job) of the Job as the cluster holds it.
    fingerprint: str
    #: what_runs(job), as JSON.
    runs: str
    #: The digest the image runs by (resolved from its ECR tag), if it is in Amazon ECR.
    digest: str | None
    timeout_seconds: int
    #: The fingerprint an earlier answer approved instead of this one (then asked again).
    refused: str | None = None
    #: The function's region: callback ids are answered there.
    region: str = ""


# -- the answer -------------------------------------------------------------------------------


class Outcome(StrEnum):
    """What an answer to a request for approval was."""

    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"
    UNREADABLE = "unreadable"


class Next(StrEnum):
    """What an answer means for the Job."""

    START = "start"
    DECLINE = "decline"
    TIME_OUT = "time_out"
    ASK_AGAIN = "ask_again"


def verdict(outcome: Outcome, approved: str | None, asked: str, left: int) -> Next:
    """An approval of the fingerprint asked for starts the Job; a rejection declines it; no
    answer, or none left time for, times it out; anything else (another fingerprint approved,
    an unreadable answer) asks again, within the same time."""
    if outcome is Outcome.APPROVED and approved == asked:
        return Next.START
    if outcome is Outcome.REJECTED:
        return Next.DECLINE
    if outcome is Outcome.TIMED_OUT or left < 1:
        return Next.TIME_OUT
    return Next.ASK_AGAIN


def time_left(timeout: int, *, first_asked: float, now: float) -> int:
    """Seconds an answer may still take: one timeout from the first request, for all of them."""
    return timeout - int(now - first_asked)


class Answer(NamedTuple):
    """What an approval's callback said: approved (a fingerprint and who sent it), rejected (the
    reason and who), or nothing in time."""

    outcome: Outcome
    fingerprint: str | None = None
    approver: str | None = None
    reason: str | None = None


def approve_payload(fingerprint: str, approver: str, reason: str | None = None) -> str:
    """The callback result `migration-trigger approve` sends."""
    document = {"fingerprint": fingerprint, "approver": approver}
    if reason:
        document["reason"] = reason
    return json.dumps(document, separators=(",", ":"))


def reject_data(approver: str) -> str:
    """The ErrorData `migration-trigger reject` sends with its reason."""
    return json.dumps({"approver": approver}, separators=(",", ":"))


def _short(value: Any, limit: int = 512) -> str | None:
    return value[:limit] if isinstance(value, str) and value.strip() else None


def read_approval(payload: str | None) -> Answer:
    """The answer in a succeeded callback's result."""
    try:
        document = json.loads(payload or "")
    except ValueError:
        document = None
    if (
        not isinstance(document, dict)
        or len((payload or "").encode()) > MAX_ANSWER_BYTES
        or not isinstance(document.get("fingerprint"), str)
    ):
        return Answer(
            Outcome.UNREADABLE,
            reason='the answer is not {"fingerprint": "sha256:…", "approver": "…"}',
        )
    return Answer(
        Outcome.APPROVED,
        fingerprint=document["fingerprint"][:80],
        approver=_short(document.get("approver")) or "unnamed",
        reason=_short(document.get("reason")),
    )


def read_rejection(message: str | None, data: str | None) -> Answer:
    """The answer in a failed callback's error: its message the reason, its data who sent it."""
    try:
        document = json.loads(data or "")
    except ValueError:
        document = None
    approver = _short(document.get("approver")) if isinstance(document, dict) else None
    return Answer(
        Outcome.REJECTED,
        approver=approver or "unnamed",
        reason=_short(message) or "no reason given",
    )
