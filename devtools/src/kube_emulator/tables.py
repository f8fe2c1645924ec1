"""Server-side printing: the meta.k8s.io/v1 Table kubectl asks for on `get` (and `get -w`).

kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ..., application/json` and
prints the server's columns. Jobs get the columns of pkg/printers/internalversion/printers.go
(jobColumnDefinitions, printJob); other kinds keep the plain JSON answer, which kubectl prints
with its own NAME/AGE fallback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kube_emulator.resources import ResourceType

Obj = dict[str, Any]

_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)
_JOB_COLUMNS: list[dict[str, Any]] = [
    {"name": "Name", "type": "string", "format": "name", "description": _NAME_DOC},
    {"name": "Status", "type": "string", "description": "Status of the job."},
    {
        "name": "Completions",
        "type": "string",
        "description": "The number of pods which reached phase Succeeded.",
    },
    {"name": "Duration", "type": "string", "description": "Time required to complete the job."},
    {"name": "Age", "type": "string", "description": _AGE_DOC},
    {
        "name": "Containers",
        "type": "string",
        "priority": 1,
        "description": "Names of each container in the template.",
    },
    {
        "name": "Images",
        "type": "string",
        "priority": 1,
        "description": "Images referenced by each container in the template.",
    },
    {"name": "Selector", "type": "string", "priority": 1, "description": "Selector for the job."},
]


def wants_table(accept: str) -> bool:
    """Whether the Accept header's first choice is a meta.k8s.io/v1 Table."""
    first = accept.split(",", maxsplit=1)[0]
    params = {p.strip() for p in first.split(";")[1:]}
    return {"as=Table", "v=v1", "g=meta.k8s.io"} <= params


def supported(rtype: ResourceType) -> bool:
    """Whether the emulator prints this kind itself."""
    return rtype.kind == "Job"


def table(
    items: list[Obj], *, now: float, include: str, metadata: Obj | None = None, headers: bool = True
) -> Obj:
    """A Table of Jobs: one row per item, the object as includeObject asks (Metadata by default;
    transformObject/asTable in k8s.io/apiserver pkg/endpoints/handlers/response.go)."""
    rows = []
    for item in items:
        row: Obj = {"cells": _job_cells(item, now)}
        if include == "Object":
            row["object"] = item
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item.get("metadata", {}),
            }
        rows.append(row)
    answer: Obj = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata or {},
        "columnDefinitions": [{"priority": 0, **c} for c in _JOB_COLUMNS] if headers else [],
        "rows": rows,
    }
    return answer


def _job_cells(job: Obj, now: float) -> list[Any]:
    """printJob (pkg/printers/internalversion/printers.go, 1.31)."""
    meta, spec, status = job.get("metadata", {}), job.get("spec", {}), job.get("status", {})
    kinds = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    state: str
    if "Complete" in kinds:
        state = "Complete"
    elif "Failed" in kinds:
        state = "Failed"
    elif meta.get("deletionTimestamp"):
        state = "Terminating"
    elif "Suspended" in kinds:
        state = "Suspended"
    elif "FailureTarget" in kinds:
        state = "FailureTarget"
    elif "SuccessCriteriaMet" in kinds:
        state = "SuccessCriteriaMet"
    else:
        state = "Running"
    succeeded = int(status.get("succeeded") or 0)
    completions = spec.get("completions")
    parallelism = int(spec.get("parallelism") or 1)
    if completions is not None:
        done = f"{succeeded}/{completions}"
    elif parallelism > 1:
        done = f"{succeeded}/1 of {parallelism}"
    else:
        done = f"{succeeded}/1"
    started, finished = _time(status.get("startTime")), _time(status.get("completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration((finished if finished is not None else now) - started)
    created = _time(meta.get("creationTimestamp"))
    age = "<unknown>" if created is None else human_duration(now - created)
    containers = job.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    return [
        meta.get("name", ""),
        state,
        done,
        duration,
        age,
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
    ]


def _time(value: Any) -> float | None:
    if not value:
        return None
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def human_duration(seconds: float) -> str:
    """HumanDuration (k8s.io/apimachinery/pkg/util/duration/duration.go)."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    minutes, hours = s // 60, s // 3600
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    return _days(hours)


def _days(hours: int) -> str:
    days, years = hours // 24, hours // 24 // 365
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"
