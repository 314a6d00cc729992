"""Test-only: IAM's policy evaluation for one account, over a synthesised CloudFormation template.

No well-kept Python library evaluates IAM requests: moto's `IAMPolicyStatement` turns an Allow
whose condition does not hold into a Deny and knows no `NotResource`; policyuniverse and
policy_sentry parse and expand policies but do not decide requests. So this is a small evaluator
of the rules the stack's policies use, tested in `test_iam_policy.py`:

- a request is allowed when some applicable statement allows it and none denies it (an explicit
  Deny wins, in identity and resource policies alike; nothing applicable is an implicit deny);
- a statement applies when its `Action`/`NotAction`, `Resource`/`NotResource`, `Principal`
  (resource policies) and every condition match;
- `*` and `?` wildcards: in actions case-insensitively, in ARNs case-sensitively, `*` crossing
  `/` and `:`;
- condition operators `String(Not)Equals`, `StringEqualsIgnoreCase`, `String(Not)Like`,
  `Arn(Not)Equals`, `Arn(Not)Like`, `Bool`, `Numeric{Equals,LessThan,...}`, each with
  `...IfExists`; values of one key are ORed, keys and operators ANDed; a key missing from the
  request fails a positive operator and passes a negated one.

`TemplatePolicies` resolves the template's intrinsic functions (Ref, Fn::GetAtt, Fn::Join,
Fn::Sub, Fn::Select, Fn::Split) with physical names the test chooses, so ARNs compare as AWS
would compare them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# ---- matching ----------------------------------------------------------------------------------


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return (
        re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
        is not None
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _number(text: str) -> float:
    return float(text)


_OPERATORS = {
    "StringEquals": lambda want, got: want == got,
    "StringNotEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringNotEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: _glob(want, got),
    "StringNotLike": lambda want, got: _glob(want, got),
    "ArnEquals": lambda want, got: want == got,
    "ArnNotEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: _glob(want, got),
    "ArnNotLike": lambda want, got: _glob(want, got),
    "Bool": lambda want, got: str(want).lower() == str(got).lower(),
    "NumericEquals": lambda want, got: _number(got) == _number(want),
    "NumericNotEquals": lambda want, got: _number(got) == _number(want),
    "NumericLessThan": lambda want, got: _number(got) < _number(want),
    "NumericLessThanEquals": lambda want, got: _number(got) <= _number(want),
    "NumericGreaterThan": lambda want, got: _number(got) > _number(want),
    "NumericGreaterThanEquals": lambda want, got: _number(got) >= _number(want),
}
_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericNotEquals",
}


def condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if base not in _OPERATORS:
        raise NotImplementedError(f"condition operator {operator} is not evaluated here")
    # Condition keys are case-insensitive.
    found = {k.lower(): v for k, v in context.items()}.get(key.lower())
    if found is None:
        return if_exists or base in _NEGATED
    matches = any(_OPERATORS[base](str(w), str(found)) for w in _as_list(wanted))
    return not matches if base in _NEGATED else matches


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    principal_arn: str
    context: Mapping[str, str]


def _principal_matches(principal: Any, principal_arn: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise NotImplementedError(f"principal {principal!r}")
    for kind, values in principal.items():
        for value in _as_list(values):
            if kind == "AWS" and (value == "*" or value == principal_arn):
                return True
            account = re.fullmatch(r"arn:aws:iam::(\d{12}):root|(\d{12})", str(value))
            if (
                kind == "AWS"
                and account
                and f":{account.group(1) or account.group(2)}:" in principal_arn
            ):
                return True
            # Service and federated principals are never one of the roles asking here.
    return False


def statement_applies(
    statement: Mapping[str, Any], request: Request, resource_policy: bool
) -> bool:
    if "Action" in statement:
        if not any(
            _glob(a, request.action, ignore_case=True) for a in _as_list(statement["Action"])
        ):
            return False
    elif any(_glob(a, request.action, ignore_case=True) for a in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(_glob(r, request.resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(
        _glob(r, request.resource) for r in _as_list(statement["NotResource"])
    ):
        return False
    if resource_policy:
        if "Principal" in statement:
            if not _principal_matches(statement["Principal"], request.principal_arn):
                return False
        elif "NotPrincipal" in statement and _principal_matches(
            statement["NotPrincipal"], request.principal_arn
        ):
            return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, wanted in keys.items():
            if not condition_holds(operator, key, wanted, request.context):
                return False
    return True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "allowed by <sid>", "explicitly denied by <sid>", "no statement allows it"


def evaluate(
    request: Request,
    identity: Iterable[Mapping[str, Any]],
    resource: Iterable[Mapping[str, Any]] = (),
) -> Decision:
    """IAM's decision for a principal and a resource in the same account."""
    applicable = [(s, False) for s in identity if statement_applies(s, request, False)]
    applicable += [(s, True) for s in resource if statement_applies(s, request, True)]
    for statement, _ in applicable:
        if statement["Effect"] == "Deny":
            return Decision(False, f"explicitly denied by {statement.get('Sid', 'a statement')}")
    for statement, _ in applicable:
        if statement["Effect"] == "Allow":
            return Decision(True, f"allowed by {statement.get('Sid', 'a statement')}")
    return Decision(False, "no statement allows it")


# ---- the template's policies -------------------------------------------------------------------


class TemplatePolicies:
    """The identity policies of each role and the resource policies of a synthesised template.

    `names` gives each resource's physical value: `Ref` (a bucket's name, a topic's or state
    machine's ARN, a role's name) and `arns` each `Fn::GetAtt X.Arn`, by logical id.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        region: str,
        account: str,
        refs: Mapping[str, str],
        arns: Mapping[str, str],
    ):
        self.resources = template["Resources"]
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "Spaceport",
        }
        self.refs = dict(refs)
        self.arns = dict(arns)

    def logical_id(self, kind: str, prefix: str) -> str:
        (found,) = [
            k for k, v in self.resources.items() if v["Type"] == kind and k.startswith(prefix)
        ]
        return found

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {k: self.resolve(v) for k, v in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            if argument in self.pseudo:
                return self.pseudo[argument]
            return self.refs[argument]
        if function == "Fn::GetAtt":
            logical, attribute = argument if isinstance(argument, list) else argument.split(".")
            if attribute != "Arn":
                raise NotImplementedError(f"Fn::GetAtt {logical}.{attribute}")
            return self.arns[logical]
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(p)) for p in parts)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return str(self.resolve(variables[name]))
                if "." in name:
                    return str(self.resolve({"Fn::GetAtt": name.split(".")}))
                return str(self.resolve({"Ref": name}))

            return re.sub(r"\$\{([^}]+)\}", substitute, text)
        raise NotImplementedError(function)

    def identity_statements(self, role: str) -> list[dict[str, Any]]:
        """Every statement of the role's inline and attached (AWS::IAM::Policy) policies."""
        props = self.resources[role]["Properties"]
        if props.get("ManagedPolicyArns"):
            raise NotImplementedError("managed policies are not evaluated here")
        statements = [
            s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]
        ]
        for resource in self.resources.values():
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource[
                "Properties"
            ].get("Roles", []):
                statements += resource["Properties"]["PolicyDocument"]["Statement"]
        return self.resolve(statements)

    def resource_statements(self, resource_arn: str) -> list[dict[str, Any]]:
        """The bucket policy (for the bucket and its objects) and topic policies that cover it."""
        statements: list[dict[str, Any]] = []
        for resource in self.resources.values():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::S3::BucketPolicy":
                bucket = self.resolve(props["Bucket"])
                if resource_arn == f"arn:aws:s3:::{bucket}" or resource_arn.startswith(
                    f"arn:aws:s3:::{bucket}/"
                ):
                    statements += self.resolve(props["PolicyDocument"]["Statement"])
            elif resource["Type"] == "AWS::SNS::TopicPolicy" and resource_arn in self.resolve(
                props["Topics"]
            ):
                statements += self.resolve(props["PolicyDocument"]["Statement"])
        return statements
