"""The Spaceport pipeline on AWS, in one CloudFormation stack.

    API Gateway POST /start-job ──> start-job Lambda ──> Step Functions state machine
      (IAM or API-key auth,          (checks the job's       sfm (Processing) → train (Training)
       throttled)                     photos, starts a run)  → compress (Processing) → SNS e-mail
    S3 bucket: jobs/<job>/{images,sfm,train,compress,site}/ and intermediate/ (expires)
    PublishSite Lambda: jobs/<job>/site/, the results page; CloudFront serves jobs/ from the
      private bucket through an origin access control (anyone with a job's link can view it)
    ECR: <prefix>-sfm, <prefix>-train, <prefix>-compress      CloudWatch: logs, failed-run alarm

Every role is scoped to this stack's resources; the only `Resource: "*"` statements are the
actions AWS does not scope (ECR login, metric data, the log-delivery API Step Functions uses).
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from spaceport_infra.config import PipelineConfig
from spaceport_orchestration.naming import job_resource
from spaceport_orchestration.stages import IMAGES, PIPELINE, image_for
from spaceport_orchestration.statemachine import substitution_values
from spaceport_shared.contract import GEOREFERENCE_NAME
from spaceport_shared.report import REPORT_NAME

START_JOB_HANDLER = "spaceport_orchestration.start_job_api.handler"
PUBLISH_SITE_HANDLER = "spaceport_orchestration.site.publish_s3.handler"
# Managed rules Step Functions creates for `.sync` SageMaker tasks (fixed names, AWS-documented).
SYNC_RULES = (
    "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
    "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
)


class SpaceportStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        lambda_code_dir: Path,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        operator_email = cdk.CfnParameter(
            self,
            "OperatorEmail",
            type="String",
            description="Address that receives every job's result and the failed-run alarm "
            "(confirm the subscription e-mail AWS sends).",
            allowed_pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            constraint_description="an e-mail address",
        )

        self.bucket = self._bucket()
        self.repositories = {image: self._repository(image) for image in IMAGES}

        self.topic = sns.Topic(
            self, "Notifications", display_name="Spaceport job results", enforce_ssl=True
        )
        self.topic.add_subscription(subs.EmailSubscription(operator_email.value_as_string))

        self.sagemaker_role = self._sagemaker_role()
        self.site = self._site_distribution()
        self.publish_site = self._publish_site_function(lambda_code_dir)
        self.state_machine = self._state_machine()
        self.start_job = self._start_job_function(lambda_code_dir)
        self.api = self._api()
        self.failed_alarm = self._alarm()

        for name, value in [
            ("BucketName", self.bucket.bucket_name),
            ("StateMachineArn", self.state_machine.state_machine_arn),
            ("NotificationTopicArn", self.topic.topic_arn),
            ("SageMakerRoleArn", self.sagemaker_role.role_arn),
            ("StartJobUrl", self.api.url_for_path("/start-job")),
            ("SiteUrl", f"https://{self.site.distribution_domain_name}/"),
            *[(f"{info.state}ImageUri", self._image_uri(info.name)) for info in PIPELINE],
        ]:
            cdk.CfnOutput(self, name, value=value)

    # --- storage and images --------------------------------------------------------------------

    def _bucket(self) -> s3.Bucket:
        config = self.config
        rules = [
            s3.LifecycleRule(
                id=f"expire-{p.strip('/').replace('/', '-')}",
                prefix=p,
                expiration=cdk.Duration.days(config.intermediate_expiry_days),
            )
            for p in config.intermediate_prefixes
        ]
        if config.job_expiry_days:
            rules.append(
                s3.LifecycleRule(
                    id="expire-jobs",
                    prefix=config.jobs_prefix,
                    expiration=cdk.Duration.days(config.job_expiry_days),
                )
            )
        rules.append(
            s3.LifecycleRule(
                id="abort-incomplete-uploads",
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            )
        )
        return s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=rules,
            # Photos and results are the user's: `make destroy` leaves the bucket behind.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _image_uri(self, stage: str) -> str:
        """The stage's image on its instance type (train on a CPU instance: train-cpu)."""
        image = image_for(stage, self.config.instance_type(stage))
        return self.repositories[image].repository_uri_for_tag(self.config.image_tag)

    def _repository(self, image: str) -> ecr.IRepository:
        name = f"{self.config.name_prefix}-{image}"
        construct_id = "".join(part.capitalize() for part in image.split("-")) + "Repo"
        if self.config.existing_repositories:
            return ecr.Repository.from_repository_name(self, construct_id, name)
        return ecr.Repository(
            self,
            construct_id,
            repository_name=name,
            image_scan_on_push=True,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description=f"keep the last {self.config.images_kept} images",
                    max_image_count=self.config.images_kept,
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    # --- roles ---------------------------------------------------------------------------------

    def _arn(self, service: str, resource: str) -> str:
        return cdk.Stack.of(self).format_arn(
            service=service, resource=resource, arn_format=cdk.ArnFormat.NO_RESOURCE_NAME
        )

    def _sagemaker_role(self) -> iam.Role:
        """What the sfm/train/compress containers (and SageMaker on their behalf) may do."""
        config = self.config
        role = iam.Role(
            self,
            "SageMakerExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Spaceport stage jobs: read and write job data, pull the stage images",
        )
        job_objects = [self.bucket.arn_for_objects(f"{p}*") for p in config.job_data_prefixes]
        upload_objects = [self.bucket.arn_for_objects(f"{config.uploads_prefix}*")]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadJobData",
                actions=["s3:GetObject"],
                resources=job_objects + upload_objects,
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteJobData",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=job_objects,
            )
        )
        readable = [*config.job_data_prefixes, config.uploads_prefix]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListJobData",
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in readable]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PullStageImages",
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                resources=[repo.repository_arn for repo in self.repositories.values()],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EcrLogin",  # GetAuthorizationToken has no resource-level permissions
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],
            )
        )
        job_log_groups = [
            self._arn("logs", f"log-group:/aws/sagemaker/{kind}")
            for kind in ("ProcessingJobs", "TrainingJobs")
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteJobLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                # `NAME:*` is the form CloudWatch Logs evaluates streams and most calls against.
                resources=job_log_groups + [f"{arn}:*" for arn in job_log_groups],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="JobMetrics",  # PutMetricData has no resources; scoped by namespace instead
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        return role

    # --- the state machine -----------------------------------------------------------------------

    def definition_substitutions(self) -> dict[str, str]:
        config = self.config
        values = {
            "ArtifactBucket": self.bucket.bucket_name,
            "SageMakerRoleArn": self.sagemaker_role.role_arn,
            "NotificationTopicArn": self.topic.topic_arn,
            "PublishSiteFunctionArn": self.publish_site.function_arn,
            "JobNamePrefix": config.name_prefix,
        }
        for info in PIPELINE:
            values[f"{info.state}ImageUri"] = self._image_uri(info.name)
            values[f"{info.state}InstanceType"] = config.instance_type(info.name)
            if info.kind == "training":
                values[f"{info.state}UseSpot"] = json.dumps(config.train_use_spot)
        return values

    def _state_machine(self) -> sfn.StateMachine:
        config = self.config
        prefix = config.name_prefix
        text = config.state_machine_path.read_text()
        # Placeholders this stack does not set (volume sizes, run-time limits) take the
        # orchestration's defaults; CloudFormation would fail a deploy on an unset ${Name}, so
        # fail the synth instead, naming it.
        try:
            substitutions = substitution_values(text, self.definition_substitutions())
        except KeyError as exc:
            raise ValueError(f"{config.state_machine_path}: {exc.args[0]}") from None

        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Spaceport pipeline: run the stage jobs, read reports, notify",
        )
        # The names the state machine gives its jobs (orchestration's naming.py).
        job_arns = [
            self._arn("sagemaker", job_resource(prefix, kind))
            for kind in sorted({info.kind for info in PIPELINE})
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RunStageJobs",
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",  # the jobs carry a spaceport:job tag
                    "sagemaker:ListTags",  # `.sync` reads them back (AWS's documented policy)
                ],
                resources=job_arns,
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SyncJobEvents",  # the managed rules `.sync` tasks wait on
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[self._arn("events", f"rule/{name}") for name in SYNC_RULES],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassSageMakerRole",
                actions=["iam:PassRole"],
                resources=[self.sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadStageReports",  # the reports, and the georeference it copies
                actions=["s3:GetObject"],
                resources=[
                    self.bucket.arn_for_objects(f"{p}*/{name}")
                    for p in config.job_data_prefixes
                    for name in (REPORT_NAME, GEOREFERENCE_NAME)
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PlaceGeoreference",  # georeference.json beside the final .sog
                actions=["s3:PutObject"],
                resources=[
                    self.bucket.arn_for_objects(
                        f"{config.jobs_prefix}*/{PIPELINE[-1].name}/{GEOREFERENCE_NAME}"
                    )
                ],
            )
        )
        self.topic.grant_publish(role)
        self.publish_site.grant_invoke(role)  # PublishSite: the results page

        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            log_group_name=f"/aws/vendedlogs/states/{prefix}-pipeline",
            retention=_retention(config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # State machine names are account-wide per region: the stack name keeps two deployments
        # (e.g. a second region's stack name) apart while the job-name prefix stays `prefix-`.
        machine = sfn.StateMachine(
            self,
            "Pipeline",
            state_machine_name=f"{prefix}-pipeline",
            definition_body=sfn.DefinitionBody.from_string(text),
            definition_substitutions=substitutions,
            role=role,
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ERROR, include_execution_data=False
            ),
            tracing_enabled=False,
        )
        return machine

    # --- the results pages --------------------------------------------------------------------

    def _site_distribution(self) -> cloudfront.Distribution:
        """HTTPS in front of the bucket's jobs/ prefix (the origin path): the bucket stays
        private, CloudFront reads it through an origin access control (SigV4)."""
        origin = origins.S3BucketOrigin.with_origin_access_control(
            self.bucket,
            origin_path="/" + self.config.jobs_prefix.strip("/"),
            origin_access_levels=[cloudfront.AccessLevel.READ],
        )
        return cloudfront.Distribution(
            self,
            "Site",
            comment="Spaceport results pages (jobs/<id>/site/index.html)",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            ),
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
        )

    def _lambda_role(self, name: str, description: str) -> tuple[iam.Role, logs.LogGroup]:
        """A function's own log group and a role that may write only to it (ids `<name>Logs`,
        `<name>Role`)."""
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=_retention(self.config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="OwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        return role, log_group

    def _publish_site_function(self, code_dir: Path) -> lambda_.Function:
        config = self.config
        role, log_group = self._lambda_role(
            "PublishSite", "Spaceport results page: read a job's outputs, write its site/ folder"
        )
        jobs = config.jobs_prefix
        for sid, actions, resources in [
            ("ReadJobOutputs", ["s3:GetObject"], [self.bucket.arn_for_objects(f"{jobs}*")]),
            ("WriteJobSite", ["s3:PutObject"], [self.bucket.arn_for_objects(f"{jobs}*/site/*")]),
        ]:
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListJobOutputs",  # the training job's name is found by listing
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{jobs}*"]}},
            )
        )
        return lambda_.Function(
            self,
            "PublishSite",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=PUBLISH_SITE_HANDLER,
            code=lambda_.Code.from_asset(str(code_dir)),
            role=role,
            log_group=log_group,
            timeout=cdk.Duration.minutes(5),
            memory_size=1024,
            ephemeral_storage_size=cdk.Size.gibibytes(4),  # model.tar.gz is read through /tmp
            tracing=lambda_.Tracing.DISABLED,
            environment={
                "SPACEPORT_SITE_URL": f"https://{self.site.distribution_domain_name}",
                "SPACEPORT_SITE_ORIGIN_PATH": jobs,
            },
        )

    # --- /start-job ------------------------------------------------------------------------------

    def _start_job_function(self, code_dir: Path) -> lambda_.Function:
        config = self.config
        role, log_group = self._lambda_role(
            "StartJob", "Spaceport /start-job: check the photos, subscribe the submitter, start"
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="StartPipeline",
                actions=["states:StartExecution"],
                resources=[self.state_machine.state_machine_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CheckJobImages",  # the handler lists the photo prefix before starting
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": list(config.image_patterns)}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SubscribeSubmitter",  # the submitter's address, filtered to their own jobs
                actions=["sns:Subscribe", "sns:ListSubscriptionsByTopic"],
                resources=[self.topic.topic_arn],
            )
        )
        return lambda_.Function(
            self,
            "StartJob",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=START_JOB_HANDLER,
            code=lambda_.Code.from_asset(str(code_dir)),
            role=role,
            log_group=log_group,
            timeout=cdk.Duration.seconds(30),
            memory_size=256,
            tracing=lambda_.Tracing.DISABLED,
            environment={
                "SPACEPORT_BUCKET": self.bucket.bucket_name,
                "SPACEPORT_STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
                "SPACEPORT_TOPIC_ARN": self.topic.topic_arn,
            },
        )

    def _api(self) -> apigw.RestApi:
        config = self.config
        iam_auth = config.api_auth == "iam"
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{config.name_prefix}-api",
            description="Spaceport: POST /start-job starts the pipeline on an uploaded photo set",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,  # no account-wide API Gateway logging role from this stack
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                throttling_rate_limit=config.api_rate_limit,
                throttling_burst_limit=config.api_burst_limit,
                tracing_enabled=False,
            ),
        )
        resource = api.root.add_resource("start-job")
        resource.add_method(
            "POST",
            apigw.LambdaIntegration(self.start_job),
            authorization_type=(
                apigw.AuthorizationType.IAM if iam_auth else apigw.AuthorizationType.NONE
            ),
            api_key_required=not iam_auth,
        )
        if not iam_auth:
            key = api.add_api_key("StartJobKey")
            plan = api.add_usage_plan(
                "StartJobPlan",
                throttle=apigw.ThrottleSettings(
                    rate_limit=config.api_rate_limit, burst_limit=config.api_burst_limit
                ),
                quota=apigw.QuotaSettings(limit=200, period=apigw.Period.DAY),
            )
            plan.add_api_key(key)
            plan.add_api_stage(stage=api.deployment_stage)
            cdk.CfnOutput(self, "ApiKeyId", value=key.key_id)
        return api

    # --- operations ----------------------------------------------------------------------------

    def _alarm(self) -> cloudwatch.Alarm:
        failed = self.state_machine.metric_failed(
            period=cdk.Duration.minutes(5), statistic=cloudwatch.Stats.SUM
        )
        timed_out = self.state_machine.metric_timed_out(
            period=cdk.Duration.minutes(5), statistic=cloudwatch.Stats.SUM
        )
        alarm = cloudwatch.Alarm(
            self,
            "FailedExecutions",
            alarm_description="A Spaceport pipeline run failed or timed out",
            metric=cloudwatch.MathExpression(
                expression="FILL(failed, 0) + FILL(timed_out, 0)",
                using_metrics={"failed": failed, "timed_out": timed_out},
                period=cdk.Duration.minutes(5),
                label="failed or timed-out runs",
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        # The topic's own policy (TLS only) replaces SNS's default one, so name the alarm
        # service as a publisher explicitly, for this account's alarms only.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {"aws:SourceArn": self._arn("cloudwatch", "alarm:*")},
                },
            )
        )
        return alarm


_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def _retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION:
        raise ValueError(f"log_retention_days must be one of {sorted(_RETENTION)}, not {days}")
    return _RETENTION[days]
