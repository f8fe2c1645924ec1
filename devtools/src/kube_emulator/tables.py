"""Server-side printing: the meta.k8s.io/v1 Table kubectl asks for on `get` (and `get -w`).

kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ..., application/json` and
prints the server's columns. Jobs get the columns of pkg/printers/internalversion/printers.go
(jobColumnDefinitions, printJob); other kinds keep the plain JSON answer, which kubectl prints
with its own NAME/AGE fallback.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from kube_emulator.openapi import definitions
from kube_emulator.resources import ResourceType

Obj = dict[str, Any]
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _doc(definition: str, field: str) -> str:
    """A field's SwaggerDoc: the description kube-openapi gives it in the definitions."""
    return str(definitions()[definition]["properties"][field]["description"])


@functools.cache
def _job_columns() -> list[dict[str, Any]]:
    """jobColumnDefinitions (pkg/printers/internalversion/printers.go, 1.31): descriptions are
    the SwaggerDoc of the field printed where upstream uses one, and every column carries
    `format` and `priority`, which metav1.TableColumnDefinition does not omit when empty."""
    columns = [
        ("Name", "name", 0, _doc(_OBJECT_META, "name")),
        ("Status", "", 0, "Status of the job."),
        ("Completions", "", 0, _doc("io.k8s.api.batch.v1.JobStatus", "succeeded")),
        ("Duration", "", 0, "Time required to complete the job."),
        ("Age", "", 0, _doc(_OBJECT_META, "creationTimestamp")),
        ("Containers", "", 1, "Names of each container in the template."),
        ("Images", "", 1, "Images referenced by each container in the template."),
        ("Selector", "", 1, _doc("io.k8s.api.batch.v1.JobSpec", "selector")),
    ]
    return [
        {"name": name, "type": "string", "format": fmt, "description": doc, "priority": priority}
        for name, fmt, priority, doc in columns
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
        "columnDefinitions": [dict(c) for c in _job_columns()] if headers else [],
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
        # 1.31 has no SuccessCriteriaMet branch (kubernetes/kubernetes#132832 added it in 1.34):
        # a Job with only that condition prints Running until the controller adds Complete.
        state = "FailureTarget"
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
    return [
        meta.get("name", ""),
        state,
        done,
        duration,
        age,
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        format_label_selector(spec.get("selector")),
    ]


def format_label_selector(selector: Obj | None) -> str:
    """metav1.FormatLabelSelector (apimachinery pkg/apis/meta/v1/helpers.go, v0.31): the
    selector as LabelSelectorAsSelector builds it, printed by labels.Selector String()
    (pkg/labels/selector.go): requirements sorted by key (matchLabels ahead of expressions on
    the same key, as Go's insertion sort keeps them), values sorted, joined with ",";
    "<none>" for a nil selector (Nothing) or an empty one (Everything), "<error>" for one
    NewRequirement refuses."""
    if not selector:
        return "<none>"
    requirements = [
        (key, f"{key}={value}") for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or []:
        key, values = expression.get("key", ""), sorted(expression.get("values") or [])
        match expression.get("operator"):
            case "In" | "NotIn" as operator if values:
                word = "in" if operator == "In" else "notin"
                requirements.append((key, f"{key} {word} ({','.join(values)})"))
            case "Exists" if not values:
                requirements.append((key, key))
            case "DoesNotExist" if not values:
                requirements.append((key, f"!{key}"))
            case _:
                return "<error>"
    requirements.sort(key=lambda requirement: requirement[0])
    return ",".join(text for _, text in requirements) or "<none>"


def _time(value: Any) -> float | None:
    if not value:
        return None
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def human_duration(seconds: float) -> str:
    """HumanDuration (k8s.io/apimachinery/pkg/util/duration/duration.go)."""
    # Go's int() truncates toward zero before the comparison: -1.9s is "0s", -2s "<invalid>".
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    s = max(s, 0)
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
