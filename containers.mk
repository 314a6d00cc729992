# Stage images: build, push to ECR, smoke-test. Included by the root Makefile.
#   make build                 # all three images (linux/amd64), tagged <repo>:<commit> and :latest
#   make build STAGE=sfm       # one image
#   make build-push            # build, log in to ECR, create missing repositories, push both tags
#   make smoke                 # run each built image on a tiny synthetic input (needs Docker)
# Account and region come from the AWS CLI's configuration unless given; nothing is committed.

DOCKER ?= docker
AWS ?= aws
STAGES ?= sfm train compress
STAGE ?=
IMAGE_STAGES = $(if $(STAGE),$(STAGE),$(STAGES))
REPOSITORY_PREFIX ?= spaceport
# The commit the images are built from (with -dirty for uncommitted changes); infra.mk deploys
# the state machine against the same tag.
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)$(if $(shell git status --porcelain 2>/dev/null | head -1),-dirty)
IMAGES_KEPT ?= 10
# Evaluated only when a push needs them (recursive variables), so `make build` needs no AWS.
AWS_REGION ?= $(or $(AWS_DEFAULT_REGION),$(shell $(AWS) configure get region 2>/dev/null),us-east-1)
AWS_ACCOUNT_ID ?= $(shell $(AWS) sts get-caller-identity --query Account --output text)
ECR_REGISTRY ?= $(AWS_ACCOUNT_ID).dkr.ecr.$(AWS_REGION).amazonaws.com
DOCKER_BUILD_FLAGS ?=

.PHONY: build push build-push smoke ecr-login ecr-repositories lint-dockerfiles

build: ## build the stage images for linux/amd64 (all, or STAGE=sfm|train|compress)
	@for stage in $(IMAGE_STAGES); do \
	  echo "== building $(REPOSITORY_PREFIX)-$$stage:$(IMAGE_TAG)"; \
	  DOCKER_BUILDKIT=1 $(DOCKER) build --platform linux/amd64 $(DOCKER_BUILD_FLAGS) \
	    -f stages/$$stage/Dockerfile \
	    -t $(REPOSITORY_PREFIX)-$$stage:$(IMAGE_TAG) -t $(REPOSITORY_PREFIX)-$$stage:latest . \
	    || exit 1; \
	done

ecr-login: ## log Docker in to your account's ECR registry (aws ecr get-login-password)
	set -o pipefail; $(AWS) ecr get-login-password --region $(AWS_REGION) \
	  | $(DOCKER) login --username AWS --password-stdin $(ECR_REGISTRY)

# `make deploy` creates them (infrastructure/); this covers pushing before or without it.
ecr-repositories: ## create the ECR repositories that do not exist yet (scan on push, keep last N)
	@for stage in $(IMAGE_STAGES); do \
	  repo=$(REPOSITORY_PREFIX)-$$stage; \
	  $(AWS) ecr describe-repositories --region $(AWS_REGION) --repository-names $$repo \
	    >/dev/null 2>&1 && continue; \
	  echo "== creating ECR repository $$repo"; \
	  $(AWS) ecr create-repository --region $(AWS_REGION) --repository-name $$repo \
	    --image-scanning-configuration scanOnPush=true >/dev/null || exit 1; \
	  $(AWS) ecr put-lifecycle-policy --region $(AWS_REGION) --repository-name $$repo \
	    --lifecycle-policy-text '{"rules":[{"rulePriority":1,"description":"keep the last $(IMAGES_KEPT) images","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":$(IMAGES_KEPT)},"action":{"type":"expire"}}]}' \
	    >/dev/null || exit 1; \
	done

push: ecr-login ecr-repositories ## push the built images to ECR, tagged with the git commit and latest
	@for stage in $(IMAGE_STAGES); do \
	  for tag in $(IMAGE_TAG) latest; do \
	    remote=$(ECR_REGISTRY)/$(REPOSITORY_PREFIX)-$$stage:$$tag; \
	    $(DOCKER) tag $(REPOSITORY_PREFIX)-$$stage:$(IMAGE_TAG) $$remote && \
	    $(DOCKER) push $$remote || exit 1; \
	  done; \
	done

build-push: build push ## build, then push to ECR (the tags the deployed state machine runs)

smoke: ## run each built image against a tiny synthetic /opt/ml tree (needs a Docker engine)
	SPACEPORT_IMAGE_PREFIX=$(REPOSITORY_PREFIX) SPACEPORT_IMAGE_TAG=$(IMAGE_TAG) \
	  .venv/bin/python -m pytest tests/integration/test_containers.py -v -rs

lint-dockerfiles: ## hadolint on every stage Dockerfile (.hadolint.yaml)
	.venv/bin/hadolint stages/*/Dockerfile
