"""Label and field selectors, parsed with the grammar of k8s.io/apimachinery/pkg/labels."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kube_emulator.errors import ApiError

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)\s*$")
_EQ = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<neg>!)?\s*(?P<key>{_KEY})\s*$")

Requirement = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: all requirements must hold."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """True when every requirement holds for these labels."""
        present = labels or {}
        return all(req(present) for req in self.requirements)


def _split_terms(text: str) -> list[str]:
    # Commas separate requirements, except inside the parentheses of a set.
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def _requirement(term: str) -> Requirement:
    if m := _SET.match(term):
        key, op = m["key"], m["op"]
        values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: key not in labels or labels[key] not in values
    if m := _EQ.match(term):
        key, op, value = m["key"], m["op"], m["value"] or ""
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS.match(term):
        key = m["key"]
        if m["neg"]:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise ApiError(400, f'unable to parse requirement: found "{term.strip()}", expected selector')


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `app=x,tier in (a,b),!legacy`; an empty selector matches everything."""
    if not text:
        return LabelSelector(())
    return LabelSelector(tuple(_requirement(t) for t in _split_terms(text)))


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector over dotted object paths."""

    terms: tuple[tuple[str, str, str], ...]

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """True when every `path op value` term holds for this object."""
        for path, op, value in self.terms:
            actual = _dig(obj, path)
            equal = (actual if actual is not None else "") == value
            if equal != (op != "!="):
                return False
        return True


def _dig(obj: Mapping[str, Any], path: str) -> str | None:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    if node is None:
        return None
    return str(node).lower() if isinstance(node, bool) else str(node)


def parse_field_selector(text: str | None, supported: tuple[str, ...]) -> FieldSelector:
    """Parse `metadata.name=x`; a label the resource does not support is a 400, as upstream."""
    if not text:
        return FieldSelector(())
    terms = []
    for term in _split_terms(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise ApiError(400, f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = m.groups()
        if path not in ("metadata.name", "metadata.namespace", *supported):
            raise ApiError(400, f'field label not supported: "{path}"')
        terms.append((path, op, value))
    return FieldSelector(tuple(terms))
