"""The IAM evaluator the request test relies on (iam_policy.py): each rule it claims to apply."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from iam_policy import Request, TemplatePolicies, condition_holds, evaluate

ROLE = "arn:aws:iam::123456789012:role/worker"
OBJECT = "arn:aws:s3:::bucket/jobs/a/report.json"


def request(action="s3:GetObject", resource=OBJECT, **context):
    return Request(action, resource, ROLE, {"aws:SecureTransport": "true", **context})


def allow(action="s3:GetObject", resource="arn:aws:s3:::bucket/jobs/*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_nothing_applicable_is_an_implicit_deny():
    assert not evaluate(request(), []).allowed
    assert not evaluate(request(), [allow(action="s3:PutObject")]).allowed
    assert not evaluate(request(), [allow(resource="arn:aws:s3:::bucket/uploads/*")]).allowed
    assert evaluate(request(), [allow()]).allowed


def test_an_explicit_deny_wins_over_any_allow_in_either_policy():
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Sid": "NoWay"}
    decision = evaluate(request(), [allow()], [{**deny, "Principal": "*"}])
    assert not decision.allowed and "NoWay" in decision.reason
    assert not evaluate(request(), [allow(), deny]).allowed


def test_wildcards_in_actions_ignore_case_and_in_arns_do_not():
    assert evaluate(request(action="s3:GetObject"), [allow(action="S3:get*")]).allowed
    assert evaluate(request(), [allow(resource="arn:aws:s3:::bucket/*/a/report.json")]).allowed
    assert evaluate(request(), [allow(resource="arn:aws:s3:::bucket/jobs/?/report.json")]).allowed
    assert not evaluate(
        request(), [allow(resource="arn:aws:s3:::bucket/jobs/??/report.json")]
    ).allowed
    assert not evaluate(request(), [allow(resource="arn:aws:s3:::Bucket/jobs/*")]).allowed
    # `.` and other regex characters are literal
    assert not evaluate(
        request(resource="arn:aws:s3:::bucketXjobs/a"),
        [allow(resource="arn:aws:s3:::bucket.jobs/*")],
    ).allowed


def test_not_action_and_not_resource():
    everything_but_delete = {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}
    assert evaluate(request(), [everything_but_delete]).allowed
    assert not evaluate(request(action="s3:DeleteObject"), [everything_but_delete]).allowed
    outside_uploads = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "NotResource": "arn:aws:s3:::bucket/uploads/*",
    }
    assert evaluate(request(), [outside_uploads]).allowed
    assert not evaluate(
        request(resource="arn:aws:s3:::bucket/uploads/x"), [outside_uploads]
    ).allowed


def test_conditions_and_or_and_missing_keys():
    listing = allow(
        action="s3:ListBucket",
        resource="arn:aws:s3:::bucket",
        Condition={"StringLike": {"s3:prefix": ["jobs/*", "uploads/*"]}},
    )
    lists = request(action="s3:ListBucket", resource="arn:aws:s3:::bucket")
    assert evaluate(
        Request(**{**lists.__dict__, "context": {"s3:prefix": "uploads/x/"}}), [listing]
    ).allowed
    assert not evaluate(
        Request(**{**lists.__dict__, "context": {"s3:prefix": "private/"}}), [listing]
    ).allowed
    assert not evaluate(lists, [listing]).allowed  # no prefix in the request: the condition fails
    # several keys and operators must all hold
    both = {"StringEquals": {"a": "1", "b": "2"}}
    assert condition_holds("StringEquals", "a", "1", {"A": "1"})  # keys ignore case
    assert evaluate(request(a="1", b="2"), [allow(Condition=both)]).allowed
    assert not evaluate(request(a="1", b="3"), [allow(Condition=both)]).allowed


def test_negated_ifexists_bool_and_arn_operators():
    assert condition_holds("StringNotEquals", "k", "x", {})  # missing key passes a negation
    assert not condition_holds("StringNotEquals", "k", "x", {"k": "x"})
    assert condition_holds("StringEqualsIfExists", "k", "x", {})
    assert not condition_holds("StringEquals", "k", "x", {})
    assert condition_holds("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "false"})
    assert not condition_holds(
        "Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "true"}
    )
    assert condition_holds(
        "ArnLike",
        "aws:SourceArn",
        "arn:aws:cloudwatch:*:1:alarm:*",
        {"aws:SourceArn": "arn:aws:cloudwatch:r:1:alarm:x"},
    )
    assert condition_holds("NumericLessThan", "n", "10", {"n": "9"})
    with pytest.raises(NotImplementedError):
        condition_holds("ForAnyValue:StringLike", "k", "x", {"k": "x"})


def test_resource_policy_principals():
    tls_only = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert evaluate(request(), [allow()], [tls_only]).allowed
    assert not evaluate(request(**{"aws:SecureTransport": "false"}), [allow()], [tls_only]).allowed
    service_only = {**allow(), "Principal": {"Service": "cloudwatch.amazonaws.com"}}
    assert not evaluate(request(), [], [service_only]).allowed  # a role is not that service
    own_account = {**allow(), "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}
    assert evaluate(request(), [], [own_account]).allowed


def test_template_intrinsics_resolve_to_physical_arns():
    template = {
        "Resources": {
            "Bucket1": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "Role1": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Policy1": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [{"Ref": "Role1"}],
                    "PolicyDocument": {
                        "Statement": [
                            allow(
                                resource={
                                    "Fn::Join": [
                                        "",
                                        [{"Fn::GetAtt": ["Bucket1", "Arn"]}, "/jobs/*"],
                                    ]
                                }
                            ),
                            allow(
                                action="logs:PutLogEvents",
                                resource={
                                    "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:"
                                    "${AWS::AccountId}:log-group:x:*"
                                },
                            ),
                        ]
                    },
                },
            },
        }
    }
    policies = TemplatePolicies(
        template,
        region="eu-west-1",
        account="123456789012",
        refs={"Bucket1": "bucket"},
        arns={"Bucket1": "arn:aws:s3:::bucket"},
    )
    first, second = policies.identity_statements("Role1")
    assert first["Resource"] == "arn:aws:s3:::bucket/jobs/*"
    assert second["Resource"] == "arn:aws:logs:eu-west-1:123456789012:log-group:x:*"
