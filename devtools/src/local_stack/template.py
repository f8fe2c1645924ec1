"""template.yaml as the local world reads it: CloudFormation intrinsics resolved from given values.

The local stack, the IAM evaluator and the tests take the rules' patterns and the function's
policy from the template itself, so what runs here is what is deployed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "template.yaml").is_file())
TEMPLATE = ROOT / "template.yaml"
#: The hub-and-spokes template each spoke account deploys.
SPOKE_TEMPLATE = ROOT / "spoke" / "template.yaml"


class Intrinsic(NamedTuple):
    """A short-form intrinsic function (`!Sub`, `!Ref`, `!GetAtt`, `!If`, ...), unresolved."""

    function: str
    value: Any


class Context(NamedTuple):
    """What intrinsics resolve to: names (`AWS::Region`, parameters, `Resource.Attribute`) and
    the truth of conditions."""

    refs: Mapping[str, str]
    conditions: Mapping[str, bool] = {}


def _loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Intrinsic:
        if isinstance(node, yaml.SequenceNode):
            return Intrinsic(suffix, loader.construct_sequence(node, deep=True))
        if isinstance(node, yaml.MappingNode):
            return Intrinsic(suffix, loader.construct_mapping(node, deep=True))
        return Intrinsic(suffix, loader.construct_scalar(node))  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", intrinsic)
    return Loader


@cache
def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template, intrinsics left as Intrinsic values."""
    document = yaml.load(path.read_text(), Loader=_loader())  # noqa: S506 - a SafeLoader
    assert isinstance(document, dict)
    return document


#: What `!Ref AWS::NoValue` resolves to: the item or property is left out.
NO_VALUE: Any = object()


def resolve(value: Any, context: Context) -> Any:
    """`value` with every intrinsic it holds replaced by what it means in `context`."""
    if isinstance(value, Intrinsic):
        return _intrinsic(value, context)
    if isinstance(value, list):
        items = [resolve(item, context) for item in value]
        return [item for item in items if item is not NO_VALUE]
    if isinstance(value, dict):
        entries = {key: resolve(item, context) for key, item in value.items()}
        return {key: item for key, item in entries.items() if item is not NO_VALUE}
    return value


def deployed(
    *,
    region: str,
    account: str,
    refs: Mapping[str, Any] | None = None,
    conditions: Mapping[str, bool] | None = None,
    path: Path = TEMPLATE,
) -> Context:
    """A deployment's context: the pseudo parameters of `account` in `region`, and its values;
    a template parameter not given has its default, as in CloudFormation (a CommaDelimitedList's
    as a list)."""
    pseudo = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account}
    defaults = {
        name: _default(spec)
        for name, spec in (load(path).get("Parameters") or {}).items()
        if "Default" in spec
    }
    return Context({**defaults, **pseudo, **(refs or {})}, conditions or {})


def _default(spec: Mapping[str, Any]) -> Any:
    # CloudFormation gives a CommaDelimitedList's `!Ref` as a list: "" is [""].
    if spec.get("Type") == "CommaDelimitedList":
        return str(spec["Default"]).split(",")
    return str(spec["Default"])


def _intrinsic(value: Intrinsic, context: Context) -> Any:
    if value.function == "Sub":
        text = value.value if isinstance(value.value, str) else value.value[0]
        return re.sub(r"\$\{([^}]+)\}", lambda m: _ref(m[1], context), text)
    if value.function in ("Ref", "GetAtt"):
        name = value.value if isinstance(value.value, str) else ".".join(value.value)
        return _ref(name, context)
    if value.function == "If":
        condition, then, otherwise = value.value
        if condition not in context.conditions:
            raise KeyError(f"the template's condition {condition}: give its truth")
        return resolve(then if context.conditions[condition] else otherwise, context)
    if value.function == "Join":
        delimiter, items = value.value
        resolved = resolve(items, context)
        return delimiter.join([resolved] if isinstance(resolved, str) else map(str, resolved))
    if value.function == "Split":
        delimiter, text = value.value
        return str(resolve(text, context)).split(delimiter)
    if value.function == "Select":
        index, items = value.value
        return resolve(items, context)[int(resolve(index, context))]
    raise NotImplementedError(f"!{value.function} is not resolved here: add it")


def _ref(name: str, context: Context) -> Any:
    if name == "AWS::NoValue":
        return NO_VALUE
    if name not in context.refs:
        raise KeyError(f"the template refers to {name}: give its value")
    return context.refs[name]


def function_events(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """The function's event sources: name -> SAM event properties (with `Type`), unresolved."""
    events = load(path)["Resources"]["MigrationFunction"]["Properties"]["Events"]
    return {name: {"Type": spec["Type"], **spec["Properties"]} for name, spec in events.items()}
