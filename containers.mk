# Stage images: build, push to ECR, smoke-test. Included by the root Makefile.
#   make engine                # a Docker engine where none answers (scripts/docker-engine)
#   make build                 # every image (linux/amd64), tagged <repo>:<commit> and :latest;
#                              # the gpu train image only where its CUDA base can be pulled
#   make build STAGE=sfm       # one image (sfm, compress, train-cpu, train = the gpu variant)
#   make build-push            # build, log in to ECR, create missing repositories, push both tags
#   make smoke                 # run each built image on a tiny synthetic input (needs Docker)
# Account and region come from the AWS CLI's configuration unless given; nothing is committed.

# Debian's docker.io client (/usr/bin/docker) builds with its built-in BuildKit; a newer client
# without the buildx plugin cannot (`RUN --mount`), so that one is preferred where both exist.
DOCKER ?= $(if $(wildcard /usr/bin/docker),/usr/bin/docker,docker)
AWS ?= aws
STAGES ?= sfm compress train-cpu train
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

.PHONY: build push build-push smoke engine engine-stop ecr-login ecr-repositories lint-dockerfiles

build: ## build the stage images for linux/amd64, printing size and time (all, or STAGE=...)
	DOCKER=$(DOCKER) IMAGE_TAG=$(IMAGE_TAG) REPOSITORY_PREFIX=$(REPOSITORY_PREFIX) \
	  DOCKER_BUILD_FLAGS="$(DOCKER_BUILD_FLAGS)" PYTHON=$(or $(wildcard .venv/bin/python),python3) \
	  scripts/build-images $(if $(STAGE),,--skip-unpullable) $(IMAGE_STAGES)

# The engine stays up after make returns; point the shell at it with the line it prints:
#   eval "$(make -s engine)"
engine: ## start a Docker engine where none answers; prints the DOCKER_HOST to export
	@scripts/docker-engine start

engine-stop: ## stop the engine `make engine` started (by its pid); leaves any other alone
	@scripts/docker-engine stop

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
	  if ! $(DOCKER) image inspect $(REPOSITORY_PREFIX)-$$stage:$(IMAGE_TAG) >/dev/null 2>&1; then \
	    [ -z "$(STAGE)" ] || { echo "$(REPOSITORY_PREFIX)-$$stage:$(IMAGE_TAG) is not built" >&2; exit 1; }; \
	    echo "== $(REPOSITORY_PREFIX)-$$stage:$(IMAGE_TAG) is not built here; not pushed"; continue; \
	  fi; \
	  for tag in $(IMAGE_TAG) latest; do \
	    remote=$(ECR_REGISTRY)/$(REPOSITORY_PREFIX)-$$stage:$$tag; \
	    $(DOCKER) tag $(REPOSITORY_PREFIX)-$$stage:$(IMAGE_TAG) $$remote && \
	    $(DOCKER) push $$remote || exit 1; \
	  done; \
	done

build-push: build push ## build, then push to ECR (the tags the deployed state machine runs)

smoke: ## run each built image the way SageMaker starts it, and the chain in them (needs Docker)
	SPACEPORT_IMAGE_PREFIX=$(REPOSITORY_PREFIX) SPACEPORT_IMAGE_TAG=$(IMAGE_TAG) \
	  TESTCONTAINERS_RYUK_DISABLED=true \
	  .venv/bin/python -m pytest tests/integration/test_containers.py -v -rs

lint-dockerfiles: ## hadolint on every stage Dockerfile (.hadolint.yaml)
	.venv/bin/hadolint stages/*/Dockerfile
