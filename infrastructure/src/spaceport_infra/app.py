"""`cdk synth|deploy|destroy` entry point: `python -m spaceport_infra.app` (see cdk.json).

Settings come from CDK context (`-c image_tag=abc123 -c api_auth=api-key`, see
`PipelineConfig`); account and region from the AWS environment (`CDK_DEFAULT_ACCOUNT`/`REGION`,
which the CDK CLI fills in from the credentials in use).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import aws_cdk as cdk

from spaceport_infra.config import PipelineConfig
from spaceport_infra.lambda_bundle import bundle_start_job
from spaceport_infra.stack import SpaceportStack

STACK_NAME = "Spaceport"


def build_app(outdir: str | None = None, context: dict[str, object] | None = None) -> cdk.App:
    app = cdk.App(outdir=outdir, context=context)
    config = PipelineConfig.from_context(app.node.try_get_context)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    with tempfile.TemporaryDirectory(prefix="spaceport-start-job-") as code_dir:
        SpaceportStack(
            app,
            STACK_NAME,
            config=config,
            lambda_code_dir=bundle_start_job(Path(code_dir)),
            env=env,
            description="Spaceport: drone photos to web-ready Gaussian splats on SageMaker",
        )
        app.synth()  # stages the Lambda asset into cdk.out while its sources still exist
    return app


def main() -> None:
    build_app()


if __name__ == "__main__":
    main()
