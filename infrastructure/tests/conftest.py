"""The synthesised stack, shared by the template tests and the IAM request test."""

from __future__ import annotations

import os
import shutil

import pytest

# Node 20 works; jsii's end-of-life banner would only bury the test output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory):
    """The app synthesised offline with IAM auth and with API-key auth (seconds each)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the AWS CDK needs it to synthesise")
    from aws_cdk.assertions import Template

    from spaceport_infra.app import STACK_NAME, build_app

    out = tmp_path_factory.mktemp("cdk")
    templates = {}
    for auth in ("iam", "api-key"):
        app = build_app(
            outdir=str(out / auth),
            context={
                "api_auth": auth,
                "image_tag": "abc123def456",
                "intermediate_expiry_days": "9",
                # the second variant adopts repositories that `make build-push` created
                "existing_repositories": auth == "api-key",
            },
        )
        templates[auth] = Template.from_stack(app.node.find_child(STACK_NAME))
    return templates
