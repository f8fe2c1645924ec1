"""A Kubernetes API server emulator for tests and the local stack, with EKS-style auth.

Served over real HTTP(S) on loopback. It keeps objects with the API server's semantics the product
relies on (resourceVersion, conflicts, selectors, watches, garbage collection), runs a Job
controller whose pods are scripted or executed by a pluggable runner, authenticates EKS tokens and
authorizes with RBAC. It is development tooling: it never ships in the Lambda bundle.
"""

from kube_emulator.auth import AccessEntry, StaticToken
from kube_emulator.errors import ApiError
from kube_emulator.faults import Fault
from kube_emulator.pods import PodIO, PodRunner, PodScript, ScriptedRunner
from kube_emulator.server import Emulator, EmulatorConfig

__all__ = [
    "AccessEntry",
    "ApiError",
    "Emulator",
    "EmulatorConfig",
    "Fault",
    "PodIO",
    "PodRunner",
    "PodScript",
    "ScriptedRunner",
    "StaticToken",
]
