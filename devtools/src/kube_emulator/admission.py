"""ValidatingAdmissionPolicy: the policies that match a write, evaluated with a real CEL engine.

Policies and bindings (admissionregistration.k8s.io/v1, cluster-scoped) are stored like any other
kind (resources.py). api.py calls `admit` on every create and update it serves, after the object
is decoded, defaulted and validated and before it is stored (and on dry runs too), as
kube-apiserver runs its validating admission plugins: the write is refused with the first denial.

CEL is evaluated by cel-rust (the `cel` module of the common-expression-language package), with
the variables the API server binds: `object`, `oldObject`, `request`, `params`,
`namespaceObject` and `variables`. Kubernetes' environment adds cel-go's string extensions;
`split`, `trim`, `join`, `lowerAscii` and `upperAscii` are supplied here with cel-go's semantics
(cel-go ext/strings.go).

Read in kubernetes/kubernetes (staging/src/k8s.io/apiserver/pkg/admission/plugin/, release 1.31):

* registry/rest/delete.go (AdmissionToValidateObjectDeleteFunc): a DELETE is admitted with
  `object` null and `oldObject` the object as stored (`DeleteOptions` as `request.options`),
  for a delete and for each object of a deletecollection.
* policy/validating/plugin.go: CREATE, UPDATE, DELETE and CONNECT reach the plugin; variables,
  matchConditions, validations and messageExpressions compiled per policy.
* policy/validating/dispatcher.go: per policy, matchConstraints; then per binding its
  matchResources, its params (CollectParams), the namespace object, and one evaluation per
  param; a configuration error follows failurePolicy ("failed to configure binding: ..."); the
  first denial is answered by admission.NewForbidden with the reason (Invalid unless the
  validation names one) and its code (reasonToCode in policy_decision.go): 422
  `jobs.batch "x" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b' denied request:
  <message>`, with that sentence again as the Status' only cause.
* policy/validating/validator.go: matchConditions first; a validation that is not `true` denies
  with messageExpression's result (trimmed; a non-string, empty or multi-line result falls
  back), else `message`, else "failed expression: <expression>"; an evaluation error follows
  failurePolicy, with the error as the message.
* policy/generic/policy_dispatcher.go (CollectParams): no paramKind or no paramRef evaluates
  once with `params` null; a namespaced param kind is read in paramRef.namespace, else the
  request's; nothing found is no evaluation at all (Allow) or "no params found for policy
  binding with `Deny` parameterNotFoundAction" (Deny).
* policy/matching/matching.go, webhook/predicates/rules/rules.go and
  webhook/predicates/namespace/matcher.go: namespaceSelector (cluster-scoped objects always
  match), objectSelector, excludeResourceRules, resourceRules (`*`, `resource/subresource`,
  scope, resourceNames); a binding without matchResources matches everything
  (policy/generic/policy_matcher.go, BindingMatches).
* webhook/matchconditions/matcher.go: any condition false skips the policy; errors follow
  failurePolicy.
* cel/activation.go, cel/condition.go (CreateAdmissionRequest, CreateNamespaceObject) and
  cel/composition.go: the variables' values, the `request` document, errors as
  "expression '<e>' resulted in error: <cause>" and "composited variable \"<v>\" fails to
  evaluate: <cause>".
* webhook/predicates/rules/rules.go IsExemptAdmissionConfigurationResource: policies and
  bindings are never subject to policies.

Left out: validationActions Warn and Audit (only Deny acts), auditAnnotations, the `authorizer`
variable, type checking and cost budgets, matchPolicy Equivalent (the emulator serves each kind at
one version), CONNECT, paramRef.selector's
ordering guarantees, and the status.typeChecking the API server writes back. Objects written with
`Emulator.apply` (the tests' and local stack's admin shortcut) bypass admission, as they bypass
authorization.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kube_emulator import defaults, validation
from kube_emulator.auth import Identity
from kube_emulator.errors import ApiError
from kube_emulator.resources import ResourceType, by_kind, require
from kube_emulator.store import Obj, Store

GROUP = "admissionregistration.k8s.io"
POLICIES = require(GROUP, "v1", "validatingadmissionpolicies")
BINDINGS = require(GROUP, "v1", "validatingadmissionpolicybindings")
NAMESPACES = require("", "v1", "namespaces")
_EXEMPT_KINDS = frozenset(
    {
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    }
)
#: celconfig.MaxEvaluatedMessageExpressionSizeBytes (k8s.io/apiserver/pkg/apis/cel/config.go).
_MAX_MESSAGE_BYTES = 5 * 1024
_VARIABLE_REFERENCE = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)")


class _Route(Protocol):
    @property
    def rtype(self) -> ResourceType: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def subresource(self) -> str: ...


class _Request(Protocol):
    @property
    def who(self) -> Identity: ...
    @property
    def query(self) -> Mapping[str, str]: ...


class CelError(Exception):
    """A CEL expression failed to compile or evaluate; the text is what the API server says."""


@dataclass(frozen=True)
class _Denial:
    policy: str
    binding: str | None
    message: str
    reason: str = ""


@dataclass(frozen=True)
class _Attributes:
    """admission.Attributes: what the request does, to what, as whom."""

    operation: str  # CREATE | UPDATE | DELETE
    rtype: ResourceType
    namespace: str
    name: str
    subresource: str
    who: Identity
    obj: Obj | None  # None for a DELETE
    old: Obj | None
    dry_run: bool
    options: Mapping[str, str]


def admit(
    store: Store, route: _Route, request: _Request, obj: Obj | None, old: Obj | None = None
) -> None:
    """Refuse the create (`old` None), update, or delete (`obj` None) of an object as the
    matching policies say: ApiError with the API server's Status when one denies; nothing when
    all admit."""
    rtype = route.rtype
    if rtype.group == GROUP and rtype.kind in _EXEMPT_KINDS:
        return
    policies, _ = store.select(POLICIES, None)
    if not policies:
        return
    operation = "DELETE" if obj is None else "CREATE" if old is None else "UPDATE"
    meta = (obj if obj is not None else old or {}).get("metadata") or {}
    attributes = _Attributes(
        operation=operation,
        rtype=rtype,
        namespace=route.namespace if rtype.namespaced else "",
        name=route.name or str(meta.get("name") or meta.get("generateName") or ""),
        subresource=route.subresource,
        who=request.who,
        obj=obj,
        old=old,
        dry_run=request.query.get("dryRun") == "All",
        options=request.query,
    )
    if not any(_may_match(store, attributes, p) for p in policies):
        return
    # Only now, so that a write no policy concerns fails (or not) exactly as it would without.
    if obj is not None:
        attributes = dataclasses.replace(
            attributes, obj=_prepared(rtype, route.namespace, obj, old)
        )
    bindings, _ = store.select(BINDINGS, None)
    for denial in _denials(store, attributes, policies, bindings):
        raise _forbidden(attributes, denial)


def _may_match(store: Store, attributes: _Attributes, policy: Obj) -> bool:
    try:
        return _matches(store, attributes, (policy.get("spec") or {}).get("matchConstraints"))
    except ApiError:
        return True  # a configuration error, reported by the dispatch


def _prepared(rtype: ResourceType, namespace: str, obj: Obj, old: Obj | None) -> Obj:
    """The object as the registry holds it when admission runs: typed, defaulted, validated
    (k8s.io/apiserver pkg/registry/rest/create.go BeforeCreate runs strategy validation before
    the create validation callback, which is validating admission)."""
    prepared = copy.deepcopy(obj)
    meta = prepared.setdefault("metadata", {})
    if rtype.namespaced and isinstance(meta, dict):
        meta.setdefault("namespace", namespace)
    if old is not None and isinstance(meta, dict):
        for kept in ("uid", "creationTimestamp", "namespace", "name"):
            if kept in old.get("metadata", {}):
                meta[kept] = old["metadata"][kept]
    prepared["apiVersion"], prepared["kind"] = rtype.api_version, rtype.kind
    defaults.decoded(rtype, prepared)
    validation.validate(rtype, prepared)
    if old is not None:
        validation.validate_update(rtype, old, prepared)
    return prepared


def _forbidden(attributes: _Attributes, denial: _Denial) -> ApiError:
    """admission.NewForbidden with the decision's reason and code (validating/dispatcher.go)."""
    if denial.binding is not None:
        message = (
            f"ValidatingAdmissionPolicy '{denial.policy}' with binding '{denial.binding}' "
            f"denied request: {denial.message}"
        )
    else:
        message = f"ValidatingAdmissionPolicy '{denial.policy}' denied request: {denial.message}"
    rtype = attributes.rtype
    # apierrors.NewForbidden (k8s.io/apimachinery pkg/api/errors/errors.go).
    if attributes.name:
        text = f'{rtype.qualified} "{attributes.name}" is forbidden: {message}'
    else:
        text = f"{rtype.qualified} is forbidden: {message}"
    reason = denial.reason or "Invalid"
    code = {"Forbidden": 403, "Unauthorized": 401, "RequestEntityTooLarge": 413}.get(reason, 422)
    return ApiError(
        code,
        text,
        reason=reason,
        details={
            "name": attributes.name,
            "group": rtype.group,
            "kind": rtype.resource,
            "causes": [{"message": message}],
        },
    )


# -- dispatch -------------------------------------------------------------------------------------


def _denials(
    store: Store, attributes: _Attributes, policies: list[Obj], bindings: list[Obj]
) -> Iterator[_Denial]:
    """Every denial, in the order the dispatcher collects them (policy by policy)."""
    for policy in policies:
        name = policy["metadata"]["name"]
        spec = policy.get("spec") or {}
        fail = spec.get("failurePolicy", "Fail") != "Ignore"
        try:
            matches = _matches(store, attributes, spec.get("matchConstraints"))
        except ApiError as error:
            if fail:
                yield _Denial(name, None, f"failed to configure policy: {error.message}")
            continue
        if not matches:
            continue
        for binding in bindings:
            if (binding.get("spec") or {}).get("policyName") == name:
                yield from _binding_denials(store, attributes, policy, binding, fail=fail)


def _binding_denials(
    store: Store, attributes: _Attributes, policy: Obj, binding: Obj, *, fail: bool
) -> Iterator[_Denial]:
    """One binding of a matching policy: its matchResources, its params, then the evaluations."""
    name, spec = policy["metadata"]["name"], policy.get("spec") or {}
    binding_name, binding_spec = binding["metadata"]["name"], binding.get("spec") or {}
    try:
        if "matchResources" in binding_spec and not _matches(
            store, attributes, binding_spec["matchResources"]
        ):
            return
        params = _params(store, spec.get("paramKind"), binding_spec.get("paramRef"), attributes)
    except ApiError as error:
        if fail:
            yield _Denial(name, binding_name, f"failed to configure binding: {error.message}")
        return
    if "Deny" not in (binding_spec.get("validationActions") or []):
        return  # Warn and Audit are left out: they never refuse a request.
    namespace = _namespace_object(store, attributes)
    for param in params:
        for message, reason in _evaluate(spec, attributes, param, namespace, fail=fail):
            yield _Denial(name, binding_name, message, reason)


def _matches(store: Store, attributes: _Attributes, criteria: Mapping[str, Any] | None) -> bool:
    """matching.Matcher.Matches: namespace and object selectors, exclusions, then the rules."""
    criteria = criteria or {}
    if not _namespace_selected(store, attributes, criteria.get("namespaceSelector")):
        return False
    if not _object_selected(attributes, criteria.get("objectSelector")):
        return False
    if any(_rule_matches(r, attributes) for r in criteria.get("excludeResourceRules") or []):
        return False
    rules = criteria.get("resourceRules") or []
    return not rules or any(_rule_matches(r, attributes) for r in rules)


def _namespace_selected(
    store: Store, attributes: _Attributes, selector: Mapping[str, Any] | None
) -> bool:
    is_namespace = attributes.rtype.kind == "Namespace"
    if not attributes.namespace and not is_namespace:
        return True  # cluster-scoped objects are never exempted
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return True
    if is_namespace:
        labels = (attributes.obj or attributes.old or {}).get("metadata", {}).get("labels") or {}
    else:
        namespace = store.get(NAMESPACES, "", attributes.namespace)
        labels = namespace["metadata"].get("labels") or {}
    return label_selector_matches(selector, labels)


def _object_selected(attributes: _Attributes, selector: Mapping[str, Any] | None) -> bool:
    """object.Matcher: the new or the old object's labels match."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return True
    candidates = [o for o in (attributes.obj, attributes.old) if o is not None]
    return any(
        label_selector_matches(selector, o.get("metadata", {}).get("labels") or {})
        for o in candidates
    )


def _rule_matches(rule: Mapping[str, Any], attributes: _Attributes) -> bool:
    """rules.Matcher.Matches, then resourceNames (matchesResourceRules)."""
    rtype = attributes.rtype
    scope = rule.get("scope") or "*"
    if scope == "Namespaced" and (rtype.kind == "Namespace" or not attributes.namespace):
        return False
    if scope == "Cluster" and not (rtype.kind == "Namespace" or not attributes.namespace):
        return False

    def wild(items: Sequence[str] | None, value: str) -> bool:
        return any(item in ("*", value) for item in items or [])

    if not wild(rule.get("operations"), attributes.operation):
        return False
    if not wild(rule.get("apiGroups"), rtype.group):
        return False
    if not wild(rule.get("apiVersions"), rtype.version):
        return False
    resource_match = False
    for entry in rule.get("resources") or []:
        res, _, sub = str(entry).partition("/")
        if res in ("*", rtype.resource) and sub in ("*", attributes.subresource):
            resource_match = True
    names = rule.get("resourceNames") or []
    return resource_match and (not names or attributes.name in names)


def label_selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels and matchExpressions) against a set of labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _params(
    store: Store,
    kind: Mapping[str, Any] | None,
    ref: Mapping[str, Any] | None,
    attributes: _Attributes,
) -> list[Obj | None]:
    """CollectParams (policy/generic/policy_dispatcher.go)."""
    if not kind or not ref:
        return [None]
    rtype = by_kind(str(kind.get("apiVersion", "")), str(kind.get("kind", "")))
    if rtype is None:
        raise ApiError(
            500, f"paramKind kind `{kind.get('apiVersion')}, Kind={kind.get('kind')}` not known"
        )
    namespace = _params_namespace(rtype, ref, attributes)
    found: list[Obj | None]
    if ref.get("name"):
        param = store.find(rtype, namespace, ref["name"])
        found = [param] if param is not None else []
    elif ref.get("selector") is not None:
        items, _ = store.select(rtype, namespace or None)
        found = [
            i
            for i in items
            if label_selector_matches(ref["selector"], i["metadata"].get("labels") or {})
        ]
    else:
        raise ApiError(500, "one of name or selector must be provided")
    if not found and ref.get("parameterNotFoundAction") == "Deny":
        raise ApiError(
            500, "no params found for policy binding with `Deny` parameterNotFoundAction"
        )
    for param in found:
        if param is not None:
            param.setdefault("apiVersion", rtype.api_version)
            param.setdefault("kind", rtype.kind)
    return found


def _params_namespace(rtype: ResourceType, ref: Mapping[str, Any], attributes: _Attributes) -> str:
    """Where the params are read: paramRef.namespace, else the request's (namespaced kinds)."""
    if not rtype.namespaced:
        if ref.get("namespace"):
            raise ApiError(
                500, "paramRef.namespace must not be provided for a cluster-scoped `paramKind`"
            )
        return ""
    namespace = str(ref.get("namespace") or attributes.namespace)
    if not namespace:
        raise ApiError(
            500,
            "cannot use namespaced paramRef in policy binding that matches cluster-scoped "
            "resources",
        )
    return namespace


def _namespace_object(store: Store, attributes: _Attributes) -> Obj | None:
    """CreateNamespaceObject (cel/condition.go): name, labels, annotations and the like, spec and
    status; null for cluster-scoped objects and for a Namespace itself."""
    if not attributes.namespace or attributes.rtype.kind == "Namespace":
        return None
    namespace = store.find(NAMESPACES, "", attributes.namespace)
    if namespace is None:
        return None
    meta = namespace.get("metadata") or {}
    kept = (
        "name",
        "generateName",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "finalizers",
    )
    return {
        "metadata": {k: meta[k] for k in kept if k in meta},
        "spec": namespace.get("spec") or {},
        "status": namespace.get("status") or {},
    }


# -- evaluation -----------------------------------------------------------------------------------


def _evaluate(
    spec: Mapping[str, Any],
    attributes: _Attributes,
    param: Obj | None,
    namespace: Obj | None,
    *,
    fail: bool,
) -> Iterator[tuple[str, str]]:
    """validator.Validate: (message, reason) for each validation that denies."""
    scope = _Scope(
        {
            "object": attributes.obj,
            "oldObject": attributes.old,
            "request": _admission_request(attributes),
            "params": param,
            "namespaceObject": namespace,
        },
        spec.get("variables") or [],
    )
    errors = []
    for condition in spec.get("matchConditions") or []:
        try:
            if scope.evaluate(str(condition.get("expression", ""))) is False:
                return  # any condition that does not hold: the policy does not apply
        except CelError as error:
            errors.append(str(error))
    if errors:
        if fail:  # utilerrors.NewAggregate's text
            yield (errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"), ""
        return
    for item in spec.get("validations") or []:
        expression = str(item.get("expression", ""))
        try:
            result = scope.evaluate(expression)
        except CelError as error:
            if fail:
                yield str(error), ""
            continue
        if result is True:
            continue
        yield _message(scope, item, expression), str(item.get("reason") or "Invalid")


def _message(scope: _Scope, item: Mapping[str, Any], expression: str) -> str:
    """messageExpression's string if usable, else `message`, else the failed expression."""
    message = ""
    if item.get("messageExpression"):
        try:
            value = scope.evaluate(str(item["messageExpression"]))
        except CelError:
            value = None  # logged by the API server, then the fallbacks
        if isinstance(value, str):
            message = value.strip()
            if len(message.encode()) > _MAX_MESSAGE_BYTES or "\n" in message:
                message = ""
    if not message and item.get("message"):
        message = str(item["message"]).strip()
    return message or f"failed expression: {expression.strip()}"


def _admission_request(attributes: _Attributes) -> dict[str, Any]:
    """The AdmissionRequest CEL sees as `request` (cel/condition.go CreateAdmissionRequest):
    object and oldObject left out, uid empty."""
    rtype = attributes.rtype
    kind = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    resource = {"group": rtype.group, "version": rtype.version, "resource": rtype.resource}
    user: dict[str, Any] = {"username": attributes.who.username}
    if attributes.who.groups:
        user["groups"] = list(attributes.who.groups)
    options_kind = {"CREATE": "CreateOptions", "DELETE": "DeleteOptions"}.get(
        attributes.operation, "UpdateOptions"
    )
    options: dict[str, Any] = {"kind": options_kind, "apiVersion": "meta.k8s.io/v1"}
    if attributes.dry_run:
        options["dryRun"] = ["All"]
    if attributes.options.get("fieldManager"):
        options["fieldManager"] = attributes.options["fieldManager"]
    request: dict[str, Any] = {
        "uid": "",
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "operation": attributes.operation,
        "userInfo": user,
        "dryRun": attributes.dry_run,
        "options": options,
    }
    if attributes.subresource:
        request["subResource"] = request["requestSubResource"] = attributes.subresource
    if attributes.name:
        request["name"] = attributes.name
    if attributes.namespace:
        request["namespace"] = attributes.namespace
    return request


class _Scope:
    """One evaluation's activation: the bound variables and the policy's `variables`, each
    evaluated once, in order, the first time an expression refers to it (cel/composition.go)."""

    def __init__(self, bound: dict[str, Any], variables: Sequence[Mapping[str, Any]]) -> None:
        self._bound = bound
        self._definitions = {str(v.get("name")): str(v.get("expression", "")) for v in variables}
        self._values: dict[str, Any] = {}
        self._errors: dict[str, CelError] = {}

    def evaluate(self, expression: str) -> Any:
        """The expression's value; CelError with the API server's message when it fails."""
        program = _compiled(expression)
        try:
            values = {
                name: self._variable(name)
                for name in dict.fromkeys(_VARIABLE_REFERENCE.findall(expression))
                if name in self._definitions
            }
            return _execute(program, {**self._bound, "variables": values})
        except CelError as error:
            raise CelError(f"expression '{expression}' resulted in error: {error}") from None

    def _variable(self, name: str) -> Any:
        if name in self._errors:
            raise self._errors[name]
        if name not in self._values:
            expression = self._definitions[name]
            try:
                program = _compiled(expression)
                values = {}
                for used in dict.fromkeys(_VARIABLE_REFERENCE.findall(expression)):
                    if used in self._definitions and used != name:
                        values[used] = self._variable(used)
                self._values[name] = _execute(program, {**self._bound, "variables": values})
            except CelError as error:
                failure = CelError(f'composited variable "{name}" fails to evaluate: {error}')
                self._errors[name] = failure
                raise failure from None
        return self._values[name]


# -- the CEL engine ------------------------------------------------------------------------------

_programs: dict[str, Any] = {}
_programs_lock = threading.Lock()


def _compiled(expression: str) -> Any:
    """The expression compiled once per text; CelError("compilation error: ...") if it does not
    parse (cel/activation.go)."""
    with _programs_lock:
        found = _programs.get(expression)
    if found is None:
        # Imported on first use: the package loads its command-line interface with it (about
        # 0.4 s), which emulators that never see a policy need not pay.
        import cel  # noqa: PLC0415

        try:
            found = cel.compile(expression)
        except (ValueError, RuntimeError) as error:
            found = CelError(f"compilation error: {error}")
        with _programs_lock:
            _programs[expression] = found
    if isinstance(found, CelError):
        raise found
    return found


def _execute(program: Any, variables: dict[str, Any]) -> Any:
    import cel  # noqa: PLC0415 - see _compiled

    context = cel.Context(variables=variables, functions=dict(EXTENSIONS))
    try:
        return program.execute(context)
    except KeyError as error:
        raise CelError(f"no such key: {error.args[0] if error.args else ''}") from None
    except ZeroDivisionError:
        raise CelError("division by zero") from None
    except TypeError as error:
        text = str(error)
        raise CelError(
            "no such overload" if text.startswith("No such overload") else text
        ) from None
    except (RuntimeError, ValueError, OverflowError) as error:
        raise CelError(str(error)) from None


def _split(text: str, separator: str, limit: int = -1) -> list[str]:
    """ext.Strings `split` (cel-go ext/strings.go): a limit of 0 is an empty list, a negative
    limit no limit, and otherwise at most `limit` parts."""
    if limit == 0:
        return []
    if separator == "":
        parts = list(text)
        if limit > 0 and len(parts) > limit:
            parts = [*parts[: limit - 1], "".join(parts[limit - 1 :])]
        return parts
    return text.split(separator, limit - 1 if limit > 0 else -1)


def _join(items: list[str], separator: str = "") -> str:
    """ext.Strings `join`: a list of strings, separated."""
    if not all(isinstance(i, str) for i in items):
        raise TypeError("No such overload: join on a list of non-strings")
    return separator.join(items)


def _ascii(change: Callable[[str], str]) -> Callable[[str], str]:
    def convert(text: str) -> str:
        return "".join(change(ch) if ch.isascii() else ch for ch in text)

    return convert


#: The string extensions Kubernetes' CEL environment has and cel-rust lacks.
EXTENSIONS: Mapping[str, Callable[..., Any]] = {
    "split": _split,
    # Unicode white space, as strings.TrimSpace.
    "trim": lambda text: text.strip(),
    "join": _join,
    "lowerAscii": _ascii(str.lower),
    "upperAscii": _ascii(str.upper),
}
