"""`kubectl apply -f k8s/` on a fresh cluster: every namespaced object finds its Namespace.

kubectl does not put Namespaces first. It expands a directory with filepath.Walk, which visits
names in lexical order, skips subdirectories unless `-R` is given, and keeps the extensions
.json, .yaml and .yml (k8s.io/cli-runtime pkg/resource/visitor.go ExpandPathsToFileVisitors and
ignoreFile; the extensions are kubectl's FileNameFlags default); each file's documents are then
applied in file order (StreamVisitor). An object whose namespace is created later fails with
`namespaces "migrations" not found`: a missing params ConfigMap would then refuse every Job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.helpers import ROOT

#: Kinds without a namespace that may appear in k8s/ (extend when a new one is added there).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
    }
)
KUBECTL_EXTENSIONS = (".json", ".yaml", ".yml")


def kubectl_apply_order(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) in the order `kubectl apply -f <directory>` sends them."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in KUBECTL_EXTENSIONS)
    return [
        (p.name, document)
        for p in files
        for document in yaml.safe_load_all(p.read_text())
        if document
    ]


def test_every_namespaced_object_is_applied_after_its_namespace():
    created: set[str] = set()
    late = []
    namespaced = []
    for name, document in kubectl_apply_order(ROOT / "k8s"):
        kind, meta = document["kind"], document.get("metadata") or {}
        if kind == "Namespace":
            created.add(meta["name"])
        if kind in CLUSTER_SCOPED:
            continue
        namespaced.append(f"{name}: {kind}/{meta['name']}")
        if meta.get("namespace") not in created:
            late.append(f"{name}: {kind}/{meta['name']} in {meta.get('namespace')!r}")

    assert late == [], "applied before their Namespace (or without a namespace)"
    assert "validating-admission-policy.yaml: ConfigMap/migration-trigger-job-policy" in namespaced
