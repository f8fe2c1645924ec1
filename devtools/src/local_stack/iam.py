"""template.yaml's IAM policy, enforced on the function's own AWS calls, in-process.

moto's IAM enforcement cannot hold the code to the deployed policy: it honours an Allow only when
its Resource is `*`, never applies a Deny to one resource and ignores Conditions (measured with
moto 5.2.5). So the function's calls are checked here instead, the way IAM evaluates an
identity-based policy: an explicit Deny wins, otherwise some Allow must match the action, the
resource ARN and every condition. The statements are read from template.yaml itself (never
copied), so a permission the code needs and the template lacks fails a test, and a secret the
function may not describe is refused as AWS would refuse it.

Only calls signed with the function's access key are checked: the tests' own arrangements use
other credentials. Each checked call is recorded, allowed or not.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from local_stack.template import SPOKE_TEMPLATE, TEMPLATE, Context, deployed, load, resolve

#: (service prefix, operation, API parameters) -> the authorizations IAM makes for the call
Resolver = Callable[[str, str, Mapping[str, Any]], "list[Authorization]"]

#: The error code each service answers a denial with (the rest: AccessDeniedException).
_DENIED_CODES = {
    "rds": "AccessDenied",
    "sns": "AuthorizationError",
    "sts": "AccessDenied",
}
#: The template's conditions with its parameters' defaults.
DEFAULT_CONDITIONS: Mapping[str, bool] = {
    "HasSecretKmsKeys": False,
    "HasProfilesParameter": False,
    "HasNotifyTargets": False,
    "HasApprovalImageRepositories": False,
    "TakesSnapshots": False,
    "HasSpokes": False,
}
#: Calls IAM never checks.
_ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


class Statement(NamedTuple):
    """One statement of an identity-based policy, intrinsics resolved."""

    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, Any]]


class Call(NamedTuple):
    """One AWS call the function made, as IAM saw it."""

    action: str
    resource: str
    allowed: bool


# -- reading the template -----------------------------------------------------------------------


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


def function_policy(context: Context, path: Path = TEMPLATE) -> list[Statement]:
    """The statements template.yaml gives the function's role (its `Policies`), in a deployment's
    `context` (its values, and the truth of the template's conditions)."""
    policies = load(path)["Resources"]["MigrationFunction"]["Properties"]["Policies"]
    return [s for policy in policies for s in _statements(policy["Statement"], context)]


def _statements(raw: Any, context: Context) -> list[Statement]:
    """A policy document's statements, intrinsics resolved (a statement under a false `!If`
    is gone)."""
    return [
        Statement(
            sid=statement.get("Sid", ""),
            effect=statement["Effect"],
            actions=_strings(statement["Action"]),
            resources=_strings(statement["Resource"]),
            conditions=statement.get("Condition", {}),
        )
        for statement in resolve(raw, context)
    ]


# -- evaluating it ------------------------------------------------------------------------------


def managed_policy(name: str, context: Context, path: Path = TEMPLATE) -> list[Statement]:
    """The statements of template.yaml's managed policy `name` (ApproversPolicy), in `context`."""
    document = load(path)["Resources"][name]["Properties"]["PolicyDocument"]
    return _statements(document["Statement"], context)


def _matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    # IAM wildcards are `*` and `?` only; fnmatch's `[...]` never appears in these patterns.
    if case_sensitive:
        return fnmatch.fnmatchcase(value, pattern)
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


class Authorization(NamedTuple):
    """One authorization IAM makes for a call: an action on one resource, with that resource's
    tags and the tags the request puts on it. A call may need several: RDS CreateDBSnapshot is
    authorized on the instance and on the new snapshot, and, with Tags, rds:AddTagsToResource
    on the snapshot too (Service Authorization Reference, Amazon RDS: CreateDBSnapshot's
    resource types db* and snapshot*, dependent action rds:AddTagsToResource)."""

    action: str
    resource: str
    tags: Mapping[str, str] = MappingProxyType({})
    request_tags: Mapping[str, str] = MappingProxyType({})
    #: Service condition keys the request sets (EventBridge's events:source, events:detail-type).
    context: Mapping[str, str] = MappingProxyType({})


def _condition_values(key: str, request: Authorization) -> list[str]:
    prefix, _, name = key.partition("/")
    if prefix in ("aws:ResourceTag", "secretsmanager:ResourceTag"):
        return [request.tags[name]] if name in request.tags else []
    if prefix == "aws:RequestTag":
        return [request.request_tags[name]] if name in request.request_tags else []
    if key == "aws:TagKeys":
        return sorted(request.request_tags)
    if key == "aws:ResourceAccount":
        # The account owning the resource: the one its ARN names (IAM User Guide, "AWS global
        # condition context keys").
        parts = request.resource.split(":")
        return [parts[4]] if len(parts) > 5 and parts[4] else []
    if key in request.context:
        return [request.context[key]]
    if key.startswith("events:"):
        return []
    raise NotImplementedError(f"condition key {key} is not evaluated here: add it")


def _condition_holds(operator: str, key: str, expected: Any, request: Authorization) -> bool:
    values = _condition_values(key, request)
    wanted = [str(item) for item in _strings(expected)]
    qualifier, _, test = operator.rpartition(":")
    if test == "Null":
        return (not values) == (wanted[0].lower() == "true")
    if test == "StringEquals":
        matches = [value in wanted for value in values]
    elif test == "StringLike":
        matches = [
            any(_matches(pattern, value, case_sensitive=True) for pattern in wanted)
            for value in values
        ]
    else:
        raise NotImplementedError(f"condition operator {operator} is not evaluated here: add it")
    # "ForAllValues" holds for every value of a multivalued key (and for none); "ForAnyValue"
    # for one at least; a single-valued key's operator needs its value (IAM User Guide,
    # "Condition keys with multiple values").
    if qualifier == "ForAllValues":
        return all(matches)
    if qualifier == "ForAnyValue":
        return any(matches)
    return bool(matches) and matches[0]


def _applies(statement: Statement, request: Authorization) -> bool:
    return (
        any(_matches(p, request.action, case_sensitive=False) for p in statement.actions)
        and any(_matches(p, request.resource, case_sensitive=True) for p in statement.resources)
        and all(
            _condition_holds(operator, key, expected, request)
            for operator, clauses in statement.conditions.items()
            for key, expected in clauses.items()
        )
    )


def allows(statements: list[Statement], request: Authorization) -> bool:
    """IAM's decision for an identity-based policy: explicit Deny, else some Allow, else deny."""
    if request.action in _ALWAYS_ALLOWED:
        return True
    relevant = [s for s in statements if _applies(s, request)]
    if any(s.effect == "Deny" for s in relevant):
        return False
    return any(s.effect == "Allow" for s in relevant)


class Enforcer:
    """Checks the function's calls against its policy on a boto3 session; records each call."""

    def __init__(
        self,
        statements: list[Statement],
        *,
        access_key: str,
        principal: str,
        resolve: Resolver,
        trusts: Callable[[str], bool] | None = None,
    ) -> None:
        self.statements = statements
        self.access_key = access_key
        self.principal = principal
        self.resolve = resolve
        #: For sts:AssumeRole: whether the role's trust policy lets this principal in (a role in
        #: another account needs both: IAM User Guide, "Cross-account policy evaluation logic").
        self.trusts = trusts
        self.calls: list[Call] = []

    def install(self, session: Any) -> None:
        """Check every call of clients created from `session` from now on."""
        session.events.register("before-parameter-build", self._keep_params)
        session.events.register("before-call", self._check)

    @staticmethod
    def _keep_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["iam_params"] = dict(params)

    def decide(self, service: str, operation: str, params: Mapping[str, Any]) -> str | None:
        """Record one call of the function (each authorization it needs); the denial message
        if the policy refuses one of them."""
        denied = None
        for request in self.resolve(service, operation, params):
            allowed = allows(self.statements, request)
            if request.action == "sts:AssumeRole" and self.trusts is not None:
                allowed = allowed and self.trusts(request.resource)
            self.calls.append(Call(request.action, request.resource, allowed))
            denied = denied or (None if allowed else request)
        if denied is None:
            return None
        return (
            f"User: {self.principal} is not authorized to perform: {denied.action} on resource: "
            f"{denied.resource} because no identity-based policy allows the {denied.action} action"
        )

    def _check(
        self, model: Any, request_signer: Any, context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        credentials = request_signer._credentials  # the signer knows who calls
        if credentials is None or credentials.get_frozen_credentials().access_key != (
            self.access_key
        ):
            return None
        # IAM's service prefix is the signing name (ECR's endpoints are api.ecr, its actions ecr:).
        service = model.service_model.signing_name or model.service_model.endpoint_prefix
        message = self.decide(service, model.name, context.get("iam_params", {}))
        if message is None:
            return None
        code = denied_code(service)
        error = {"Error": {"Code": code, "Message": message}}
        return (
            AWSResponse("", 400, HTTPHeaders(), None),
            {**error, "ResponseMetadata": {"HTTPStatusCode": 400}},
        )


def denied_code(service: str) -> str:
    """The error code a service answers a denial with."""
    return _DENIED_CODES.get(service, "AccessDeniedException")


class PolicyGate:
    """WSGI middleware in front of the moto server: requests signed with a key `choose` knows
    pass its enforcer's policy first, so a process of its own (the CLI in a shell), or a client
    of its own (a role session's), is held to it as in AWS."""

    def __init__(self, app: Any, choose: Callable[[str], Enforcer | None]) -> None:
        self.app = app
        self.choose = choose

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        # Signed in the Authorization header, or presigned in the query string.
        query = urllib.parse.unquote(environ.get("QUERY_STRING", ""))
        signer = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", "")) or _CREDENTIAL.search(
            query
        )
        enforcer = self.choose(signer[1]) if signer else None
        if signer is None or enforcer is None:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        service = signer[2]
        protocol, operation, params = _operation(environ, body)
        message = enforcer.decide(service, operation, params)
        if message is None:
            return self.app(environ, start_response)
        return _denial(protocol, start_response, denied_code(service), message)


def gate(server: Any, enforcer: Enforcer) -> None:
    """Put a PolicyGate in front of a started ThreadedMotoServer."""
    wsgi = server._server  # werkzeug's server looks its app up on every request
    wsgi.app = PolicyGate(wsgi.app, lambda key: enforcer if key == enforcer.access_key else None)


_CREDENTIAL = re.compile(r"Credential=([^/&]+)/\d{8}/[^/]+/([^/]+)/aws4_request")


def _operation(environ: Mapping[str, Any], body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(protocol, operation, parameters) of a request, in the AWS protocol it uses."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # JSON protocols (Secrets Manager, SSM): "secretsmanager.DescribeSecret"
        return "json", target.rsplit(".", 1)[-1], json.loads(body or b"{}")
    query = body.decode() if environ.get("REQUEST_METHOD") == "POST" and body else ""
    query = query or environ.get("QUERY_STRING", "")
    if "Action=" in query:  # query protocols (RDS, SNS, STS), in the body or the URL
        params = dict(urllib.parse.parse_qsl(query))
        return "query", params.get("Action", ""), params
    path = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") == "GET" and (
        match := re.fullmatch(r"/clusters/([^/]+)", path)
    ):
        return "rest-json", "DescribeCluster", {"name": urllib.parse.unquote(match[1])}
    return "rest-json", "", {}


def _denial(protocol: str, start_response: Any, code: str, message: str) -> Any:
    """An access-denied answer in the request's protocol, as botocore parses AWS's own."""
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1")]
    elif protocol == "query":
        error = f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        body = f"<ErrorResponse>{error}<RequestId>denied</RequestId></ErrorResponse>".encode()
        headers = [("Content-Type", "text/xml")]
    else:
        body = json.dumps({"message": message}).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    start_response("403 Forbidden", [*headers, ("Content-Length", str(len(body)))])
    return [body]


def function_enforcer(
    *,
    access_key: str,
    role_arn: str,
    region: str,
    account: str,
    refs: Mapping[str, str],
    conditions: Mapping[str, bool] = DEFAULT_CONDITIONS,
) -> Enforcer:
    """The function's policy, for its role's `access_key`, over moto's resources.

    `refs` gives what the policy's statements refer to besides the partition, region and account
    (the cluster's name, the topic's ARN, the key's ARN); `conditions`, the template's conditions
    as this deployment's parameters make them.
    """
    context = deployed(region=region, account=account, refs=refs, conditions=conditions)
    return Enforcer(
        function_policy(context),
        access_key=access_key,
        principal=role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/"),
        resolve=moto_resolver(
            partition="aws",
            region=region,
            account=account,
            function_name=str(
                resolve(
                    load()["Resources"]["MigrationFunction"]["Properties"]["FunctionName"], context
                )
            ),
        ),
    )


def approvers_enforcer(
    *, access_key: str, principal: str, region: str, account: str, refs: Mapping[str, str]
) -> Enforcer:
    """template.yaml's ApproversPolicy, for an approver's `access_key`, over moto's resources."""
    context = deployed(region=region, account=account, refs=refs, conditions=DEFAULT_CONDITIONS)
    function = load()["Resources"]["MigrationFunction"]["Properties"]["FunctionName"]
    return Enforcer(
        managed_policy("ApproversPolicy", context),
        access_key=access_key,
        principal=principal,
        resolve=moto_resolver(
            partition="aws",
            region=region,
            account=account,
            function_name=str(resolve(function, context)),
        ),
    )


def enforce_on_default_session(**deployment: Any) -> Enforcer:
    """From now on, the calls of boto3 clients made with the function's key pass its policy
    (`deployment`: function_enforcer's arguments)."""
    import boto3

    enforcer = function_enforcer(**deployment)
    boto3.setup_default_session()
    enforcer.install(boto3.DEFAULT_SESSION)
    return enforcer


# -- what each call is about, in moto -----------------------------------------------------------


def moto_resolver(
    *, partition: str, region: str, account: str, function_name: str = "migration-trigger"
) -> Resolver:
    """The ARN and tags of what a call names, looked up in the in-process moto backends.

    A durable execution of the testing SDK's runner is named by a bare id; Lambda names it
    `arn:…:function:<name>:<version>/durable-execution/<name>/<id>` (Lambda API reference,
    Execution: DurableExecutionArn), and that ARN is what IAM sees.
    """

    def resolve(service: str, operation: str, params: Mapping[str, Any]) -> list[Authorization]:
        arn = f"arn:{partition}:{service}:{region}:{account}"
        action = f"{service}:{operation}"
        if service == "rds":
            return _rds(action, params, arn)
        if service == "events" and isinstance(params.get("Entries"), list):
            # PutEvents is authorized on each event bus its entries name (Service Authorization
            # Reference, Amazon EventBridge: PutEvents, resource type event-bus; no name is the
            # default bus), with each entry's events:source and events:detail-type ("Using IAM
            # policy conditions in Amazon EventBridge").
            return [
                Authorization(
                    action,
                    bus if bus.startswith("arn:") else f"{arn}:event-bus/{bus}",
                    context={"events:source": source, "events:detail-type": kind},
                )
                for bus, source, kind in sorted(
                    {
                        (
                            str(e.get("EventBusName") or "default"),
                            str(e.get("Source", "")),
                            str(e.get("DetailType", "")),
                        )
                        for e in params["Entries"]
                    }
                )
            ]
        if service == "sts" and "RoleArn" in params:
            # AssumeRole is authorized on the role it names (Service Authorization Reference,
            # AWS STS: AssumeRole, resource type role).
            return [Authorization(action, str(params["RoleArn"]))]
        if service == "dynamodb" and isinstance(params.get("RequestItems"), Mapping):
            # BatchGetItem and BatchWriteItem are authorized on each table they name.
            return [Authorization(action, f"{arn}:table/{t}") for t in params["RequestItems"]]
        resource, tags = _resource(service, params, arn, region=region, account=account)
        if service == "lambda":
            resource = _lambda_resource(params, arn, function_name)
        return [Authorization(action, resource, tags)]

    return resolve


def _resource(
    service: str, params: Mapping[str, Any], arn: str, *, region: str, account: str
) -> tuple[str, dict[str, str]]:
    """The one resource a call of another service than RDS names, and its tags."""
    if service == "secretsmanager" and "SecretId" in params:
        return _secret(params["SecretId"], arn, region=region, account=account)
    named = {
        "sns": ("TopicArn", "{}"),
        "ssm": ("Name", arn + ":parameter/{}"),
        "eks": ("name", arn + ":cluster/{}"),
        "ecr": ("repositoryName", arn.rsplit(":", 1)[0] + ":{registry}:repository/{}"),
        "dynamodb": ("TableName", arn + ":table/{}"),
    }.get(service)
    if named is None or named[0] not in params:
        return "*", {}
    value = str(params[named[0]]).lstrip("/") if service == "ssm" else str(params[named[0]])
    registry = str(params.get("registryId") or account)
    return named[1].replace("{registry}", registry).format(value), {}


#: RDS's resource types by the parameter that names them, and what they are called in an ARN.
_RDS_NAMES = (
    ("DBSnapshotIdentifier", "snapshot"),
    ("DBClusterSnapshotIdentifier", "cluster-snapshot"),
    ("DBInstanceIdentifier", "db"),
    ("DBClusterIdentifier", "cluster"),
)


def _rds_tags(kind: str, identifier: str, arn: str) -> dict[str, str]:
    """A snapshot's tags, as moto keeps them (IAM reads aws:ResourceTag from the resource)."""
    from moto.rds.models import rds_backends

    _, _, _, region, account = arn.split(":", 4)
    backend = rds_backends[account][region]
    found: dict[str, Any] = {
        "snapshot": backend.database_snapshots,
        "cluster-snapshot": backend.cluster_snapshots,
    }
    snapshot = found[kind].get(identifier) if kind in found else None
    return {t["Key"]: t["Value"] for t in getattr(snapshot, "tags", None) or []}


def _rds(action: str, params: Mapping[str, Any], arn: str) -> list[Authorization]:
    """What an RDS call is authorized on: each resource it names (a snapshot's creation, its
    instance and the snapshot), the tags it puts on a new one, and rds:AddTagsToResource for
    them (RDS User Guide, "Grant permission to tag Amazon RDS resources during creation": "If
    tags are specified in the create action, RDS performs additional authorization on the
    rds:AddTagsToResource action")."""
    tags = _request_tags(params)
    named = [(kind, str(params[key])) for key, kind in _RDS_NAMES if key in params]
    creates = action.startswith("rds:Create")
    requests = [
        Authorization(
            action,
            f"{arn}:{kind}:{identifier}",
            tags={} if creates else _rds_tags(kind, identifier, arn),
            request_tags=tags if creates else {},
        )
        for kind, identifier in named
    ] or [Authorization(action, "*")]
    if creates and tags:
        resource = requests[0].resource
        requests.append(Authorization("rds:AddTagsToResource", resource, request_tags=tags))
    return requests


def _request_tags(params: Mapping[str, Any]) -> dict[str, str]:
    """The tags a request sets: `Tags` as boto3 passes it, or as the query protocol flattens
    it (Tags.Tag.1.Key, Tags.Tag.1.Value, ...)."""
    if isinstance(params.get("Tags"), list):
        return {str(t["Key"]): str(t.get("Value", "")) for t in params["Tags"]}
    keys = {
        k.rsplit(".", 1)[0]: v for k, v in params.items() if re.fullmatch(r"Tags\.\w+\.\d+\.Key", k)
    }
    return {str(v): str(params.get(f"{prefix}.Value", "")) for prefix, v in keys.items()}


def _lambda_resource(params: Mapping[str, Any], arn: str, function_name: str) -> str:
    """The durable execution a call names, by its ARN or by one of its callbacks."""
    if "DurableExecutionArn" in params:
        return _execution(str(params["DurableExecutionArn"]), arn, function_name)
    if "CallbackId" in params:
        return _execution(_callback_execution(str(params["CallbackId"])), arn, function_name)
    return "*"


def _callback_execution(callback_id: str) -> str:
    """The execution a callback belongs to: Lambda's ids are opaque, the testing SDK's carry it
    (CallbackToken: base64 JSON of the execution and the operation)."""
    from aws_durable_execution_sdk_python_testing.token import CallbackToken

    try:
        return str(CallbackToken.from_str(callback_id).execution_arn)
    except (ValueError, KeyError):
        return "unknown-execution"


def _execution(execution: str, arn: str, function_name: str) -> str:
    if execution.startswith("arn:"):
        return execution
    return f"{arn}:function:{function_name}:$LATEST/durable-execution/{execution}/{execution}"


def _secret(secret_id: str, arn: str, *, region: str, account: str) -> tuple[str, dict[str, str]]:
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    if secret is None:
        # IAM sees the ARN as the caller wrote it: a name stands for a secret of that name.
        return (secret_id if secret_id.startswith("arn:") else f"{arn}:secret:{secret_id}"), {}
    tags = {t["Key"]: t["Value"] for t in getattr(secret, "tags", None) or []}
    return str(secret.arn), tags


# -- resource-based policies ---------------------------------------------------------------------


def resource_policy_decision(
    statements: Iterable[Mapping[str, Any]], action: str, principal_arn: str, *, org: str = ""
) -> str | None:
    """What a resource's policy says to `principal_arn` (of AWS Organization `org`, if any) doing
    `action`: "Deny" if a statement denies it (an explicit deny overrides every allow: IAM User
    Guide, "Policy evaluation logic"), "Allow" if one allows it, None if none applies.
    Conditions: ArnLike/ArnNotLike and StringEquals/StringNotEquals on aws:PrincipalArn, and
    StringEquals on aws:PrincipalOrgID and aws:PrincipalAccount."""
    applies = [
        s for s in statements if _resource_statement_applies(s, action, principal_arn, org=org)
    ]
    if any(s["Effect"] == "Deny" for s in applies):
        return "Deny"
    if any(s["Effect"] == "Allow" for s in applies):
        return "Allow"
    return None


def _resource_statement_applies(
    statement: Mapping[str, Any], action: str, principal_arn: str, *, org: str = ""
) -> bool:
    actions = _strings(statement.get("Action", ()))
    if not any(_matches(p, action, case_sensitive=False) for p in actions):
        return False
    principal = statement.get("Principal")
    account = principal_arn.split(":")[4] if principal_arn.count(":") >= 5 else ""
    if principal != "*":
        named = _strings((principal or {}).get("AWS", ()))
        # An account's root, or its bare id, as principal stands for every principal of that
        # account (IAM User Guide, "AWS JSON policy elements: Principal").
        roots = (f"arn:aws:iam::{account}:root", account)
        if not any(n in (principal_arn, *roots) for n in named):
            return False
    return all(
        _principal_condition(
            operator, key, [str(p) for p in _strings(expected)], principal_arn, org
        )
        for operator, clauses in (statement.get("Condition") or {}).items()
        for key, expected in clauses.items()
    )


def _principal_condition(
    operator: str, key: str, patterns: list[str], principal_arn: str, org: str
) -> bool:
    """One condition of a resource policy's statement, about the principal."""
    if key == "aws:PrincipalOrgID" and operator == "StringEquals":
        return org in patterns
    if key == "aws:PrincipalAccount" and operator == "StringEquals":
        parts = principal_arn.split(":")
        return len(parts) > 4 and parts[4] in patterns
    if key != "aws:PrincipalArn":
        raise NotImplementedError(f"condition key {key} is not evaluated here: add it")
    like = operator in ("ArnLike", "StringLike")
    hit = any(
        _matches(p, principal_arn, case_sensitive=True)
        if like or operator == "ArnNotLike"
        else p == principal_arn
        for p in patterns
    )
    return not hit if operator in ("ArnNotLike", "StringNotEquals", "StringNotLike") else hit


# -- hub and spokes -----------------------------------------------------------------------------


def spoke_policy(context: Context, path: Path = SPOKE_TEMPLATE) -> list[Statement]:
    """The statements spoke/template.yaml gives the role the hub assumes (HubRole), in a spoke
    deployment's `context`."""
    role = load(path)["Resources"]["HubRole"]["Properties"]
    return [
        s
        for policy in role["Policies"]
        for s in _statements(policy["PolicyDocument"]["Statement"], context)
    ]


def spoke_trust(context: Context, path: Path = SPOKE_TEMPLATE) -> dict[str, Any]:
    """The trust policy spoke/template.yaml gives HubRole, resolved: the document to create the
    role with."""
    role = load(path)["Resources"]["HubRole"]["Properties"]
    return dict(resolve(role["AssumeRolePolicyDocument"], context))


def trusted_by_roles_in_moto(principal_arn: str, *, org: str = "") -> Callable[[str], bool]:
    """Whether a role, as moto's IAM holds it in its own account, trusts `principal_arn` (of
    organization `org`) to assume it: its trust policy must allow sts:AssumeRole."""
    from moto.iam.models import iam_backends

    def trusts(role_arn: str) -> bool:
        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        roles = iam_backends[account]["aws"].roles.values()
        role = next((r for r in roles if r.name == name), None)
        if role is None:
            return False
        document = json.loads(urllib.parse.unquote(role.assume_role_policy_document))
        statements = document.get("Statement", [])
        statements = [statements] if isinstance(statements, dict) else statements
        return resource_policy_decision(statements, "sts:AssumeRole", principal_arn, org=org) == (
            "Allow"
        )

    return trusts


def assumed_role_gate(app: Any, enforcers: Mapping[str, Enforcer]) -> PolicyGate:
    """A PolicyGate for role sessions: requests signed with a session of one of the given roles
    (`enforcers`, by role ARN) pass that role's policy, whichever client or process made them.
    moto's STS remembers each session's key and role."""
    return PolicyGate(app, lambda key: enforcers.get(_assumed_role(key)))


def _assumed_role(access_key: str) -> str:
    """The role a moto STS session's access key belongs to ('' if none)."""
    from moto.sts.models import sts_backends

    for account in list(sts_backends):
        for backend in list(sts_backends[account].values()):
            found = backend.get_assumed_role_from_access_key(access_key)
            if found is not None:
                return str(found.role_arn)
    return ""


def spoke_enforcer(
    *,
    account: str,
    region: str,
    role_arn: str,
    refs: Mapping[str, str],
    conditions: Mapping[str, bool],
) -> Enforcer:
    """spoke/template.yaml's HubRole policy in `account`, over moto's resources there (its
    sessions are told apart by assumed_role_gate, not by one access key)."""
    context = deployed(
        region=region, account=account, refs=refs, conditions=conditions, path=SPOKE_TEMPLATE
    )
    return Enforcer(
        spoke_policy(context),
        access_key="",
        principal=role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/"),
        resolve=moto_resolver(partition="aws", region=region, account=account),
    )
