"""What the API server fills in that the client did not send, cited from kubernetes/kubernetes.

Two moments, as in kube-apiserver: `decoded` runs on every object a request carries in (the
scheme's defaulting and conversion happen when a body is decoded, so on create, update and the
result of a patch alike); `created` runs once more on create only (admission plugins and the
registry strategy's PrepareForCreate).
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from kube_emulator.resources import ResourceType

Obj = dict[str, Any]

_MILLI_SUFFIXES = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3")}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[a-zA-Z]{0,2})$")
_QOS_RESOURCES = ("cpu", "memory")


def decoded(rtype: ResourceType, obj: Obj) -> None:
    """Scheme defaults and conversions, applied to every object a request carries in."""
    if rtype.kind == "Pod":
        _pod_scheme_defaults(obj)
    elif rtype.kind == "Secret":
        _secret_conversion(obj)
    elif rtype.kind == "Namespace":
        # SetDefaults_Namespace (pkg/apis/core/v1/defaults.go): the name as a label, for selectors.
        name = obj.get("metadata", {}).get("name")
        if name:
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name


def created(rtype: ResourceType, obj: Obj) -> None:
    """Admission and PrepareForCreate, applied once to a new object (after `decoded`)."""
    if rtype.kind == "Pod":
        _pod_admission(obj["spec"])
        # pkg/registry/core/pod/strategy.go PrepareForCreate: Status{Phase: Pending, QOSClass}.
        # The Job controller creates its pods with a status of its own; what it set stays.
        status = obj.setdefault("status", {})
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", qos_class(obj["spec"]))
    elif rtype.kind == "Namespace":
        # pkg/registry/core/namespace/strategy.go PrepareForCreate: the `kubernetes` finalizer,
        # which the namespace controller removes once the contents are gone.
        finalizers = obj.setdefault("spec", {}).setdefault("finalizers", [])
        if "kubernetes" not in finalizers:
            finalizers.append("kubernetes")
        obj.setdefault("status", {"phase": "Active"})


# -- pods ----------------------------------------------------------------------------------------


def _pod_scheme_defaults(pod: Obj) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    # SetDefaults_PodSpec (pkg/apis/core/v1/defaults.go).
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    # SetDefaults_Pod: service links on, and container requests default to their limits.
    spec.setdefault("enableServiceLinks", True)
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _container_defaults(container)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _volume_defaults(volume)


def _container_defaults(container: Obj) -> None:
    # SetDefaults_Container: the pull policy follows the tag (ParseImageName in
    # pkg/util/parsers/parsers.go takes a missing tag without a digest as `latest`).
    if not container.get("imagePullPolicy"):
        tag = image_tag(str(container.get("image") or ""))
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    resources = container.setdefault("resources", {})
    limits = resources.get("limits") or {}
    if limits:
        requests = resources.setdefault("requests", {})
        for name, value in limits.items():
            requests.setdefault(name, value)
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def _volume_defaults(volume: Obj) -> None:
    # SetDefaults_Volume: a volume naming no source is an emptyDir; Secret and ConfigMap volumes
    # get mode 0644 (SetDefaults_SecretVolumeSource, SetDefaults_ConfigMapVolumeSource).
    sources = set(volume) - {"name"}
    if not sources:
        volume["emptyDir"] = {}
    for kind in ("secret", "configMap"):
        if isinstance(volume.get(kind), dict):
            volume[kind].setdefault("defaultMode", 0o644)


def _pod_admission(spec: Obj) -> None:
    # plugin/pkg/admission/serviceaccount: a pod naming no service account gets `default`; the
    # v1 conversion mirrors it into the deprecated `serviceAccount` field.
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
    spec["serviceAccount"] = spec["serviceAccountName"]
    # plugin/pkg/admission/priority: no priorityClassName and no global default class: priority 0.
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    # plugin/pkg/admission/defaulttolerationseconds: tolerate an unready or unreachable node for
    # 300 s unless the pod already tolerates it (by key, or with an empty key that matches all).
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(
            t.get("key") in (key, None, "") and t.get("effect") in (None, "", "NoExecute")
            for t in tolerations
        ):
            tolerations.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            )


def image_tag(image: str) -> str:
    """The tag of an image reference; `latest` when it has neither tag nor digest."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag and not digest:
        return "latest"
    return tag


def qos_class(spec: Obj) -> str:
    """The pod's QoS class, as pkg/apis/core/helper/qos GetPodQOS computes it."""
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        resources = container.get("resources") or {}
        for name, value in (resources.get("requests") or {}).items():
            amount = quantity(value)
            if name in _QOS_RESOURCES and amount > 0:
                requests[name] = requests.get(name, Decimal(0)) + amount
        found = set()
        for name, value in (resources.get("limits") or {}).items():
            amount = quantity(value)
            if name in _QOS_RESOURCES and amount > 0:
                found.add(name)
                limits[name] = limits.get(name, Decimal(0)) + amount
        if found != set(_QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def quantity(value: Any) -> Decimal:
    """A resource quantity ("500m", "1Gi", "2", "1e3") as a number; 0 when unreadable."""
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return Decimal(0)
    number, suffix = match.groups()
    try:
        amount = Decimal(number)
        if suffix[:1] in ("e", "E"):
            return amount * Decimal(10) ** int(suffix[1:])
    except (InvalidOperation, ValueError):
        return Decimal(0)
    if suffix in _BINARY:
        return amount * _BINARY[suffix]
    if suffix in _DECIMAL:
        return amount * _DECIMAL[suffix]
    return amount * _MILLI_SUFFIXES.get(suffix, Decimal(1))


# -- secrets -------------------------------------------------------------------------------------


def _secret_conversion(secret: Obj) -> None:
    # Convert_v1_Secret_To_core_Secret (pkg/apis/core/v1/conversion.go): stringData overwrites
    # data and, the internal type having no such field, is never stored or returned.
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = secret.get("data")
        if not isinstance(data, dict):
            data = secret["data"] = {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    # SetDefaults_Secret.
    if not secret.get("type"):
        secret["type"] = "Opaque"
