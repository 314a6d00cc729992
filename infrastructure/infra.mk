# The AWS deployment (CDK app in infrastructure/). Included by the root Makefile.
#   make deploy OPERATOR_EMAIL=you@example.com   # account and region from your AWS credentials
#   make synth                                   # CloudFormation template, offline
#   make destroy                                 # removes the stack (keeps bucket and images)
# Extra settings: CDK_CONTEXT='-c train_use_spot=true -c api_auth=api-key' (see
# infrastructure/src/spaceport_infra/config.py).

CDK ?= $(CURDIR)/node_modules/.bin/cdk
CDK_STACK ?= Spaceport
CDK_CONTEXT ?=
OPERATOR_EMAIL ?=
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)$(if $(shell git status --porcelain 2>/dev/null | head -1),-dirty)
CDK_RUN = cd infrastructure && JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(CDK)
CDK_APP = --app "$(CURDIR)/.venv/bin/python -m spaceport_infra.app" --no-notices \
	-c image_tag=$(IMAGE_TAG) $(CDK_CONTEXT)

.PHONY: synth deploy destroy

# Synth needs no credentials; AWS_EC2_METADATA_DISABLED stops the CLI probing for an instance role.
synth: export AWS_EC2_METADATA_DISABLED = true
synth: setup ## synthesise the CloudFormation template into infrastructure/cdk.out (no AWS needed)
	$(CDK_RUN) synth $(CDK_APP) --quiet $(CDK_STACK)
	@echo "template: infrastructure/cdk.out/$(CDK_STACK).template.json"

deploy: setup ## deploy the pipeline to your AWS account (OPERATOR_EMAIL=you@example.com)
	@test -n "$(OPERATOR_EMAIL)" || { echo "deploy: set OPERATOR_EMAIL=you@example.com" >&2; exit 2; }
	$(CDK_RUN) bootstrap $(CDK_APP)
	$(CDK_RUN) deploy $(CDK_APP) --require-approval never \
	  --parameters OperatorEmail=$(OPERATOR_EMAIL) --outputs-file cdk-outputs.json $(CDK_STACK)
	@echo "stack outputs (bucket, state machine, topic, role, /start-job URL): infrastructure/cdk-outputs.json"

destroy: setup ## delete the stack (the bucket and ECR repositories are kept: they hold your data)
	$(CDK_RUN) destroy $(CDK_APP) --force $(CDK_STACK)
