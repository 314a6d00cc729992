# Spaceport: drone photos -> georeferenced, web-ready Gaussian splats.
# `make help` lists the targets. Every target that needs the environment depends on `setup`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Extra index for torch on machines without the local CPU wheel (e.g. the PyTorch CPU index).
TORCH_INDEX ?=
DATA ?= ../shared/data
# A trained 3DGS PLY for the compress benchmark (else it searches $(DATA), then synthesises one).
COMPRESS_PLY ?=
PACKAGES := shared synth stages/sfm stages/train stages/compress orchestration
PACKAGES += $(wildcard infrastructure)
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
SETUP_STAMP := $(VENV)/.spaceport-setup
NODE_STAMP := node_modules/.spaceport-setup
HAVE_NODE := $(shell command -v npm >/dev/null 2>&1 && echo yes)
# The results page's viewer, copied from the pinned npm package into the orchestration package.
VIEWER_VENDOR := orchestration/src/spaceport_orchestration/site/vendor/supersplat-viewer
# The page tests' browser: Debian's chromium, installed where missing and apt works (as root).
NEED_CHROMIUM := $(shell command -v chromium >/dev/null 2>&1 || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 && echo yes; })

include containers.mk infrastructure/infra.mk

.PHONY: help setup chromium test test-fast lint format demo bench bench-large clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

setup: $(SETUP_STAMP) $(if $(HAVE_NODE),$(NODE_STAMP)) $(if $(NEED_CHROMIUM),chromium) ## make .venv, install pinned dependencies and every package (editable); fast when done

$(SETUP_STAMP): $(PYPROJECTS) constraints.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) torch==2.13.0
	$(PIP) install -q -c constraints.txt -r requirements-dev.txt $(foreach p,$(PACKAGES),-e "$(p)[test]")
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VIEWER_VENDOR) && mkdir -p $(VIEWER_VENDOR)
	cp node_modules/@playcanvas/supersplat-viewer/{package.json,LICENSE,public/index.js,public/index.css} $(VIEWER_VENDOR)/
	@touch $@

chromium: ## Debian's chromium for the page tests (make setup runs it where chromium is missing)
	apt-get update -q && apt-get install -y -q --no-install-recommends chromium

lint: setup ## ruff check, ruff format --check, hadolint on every Dockerfile
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint $(wildcard stages/*/Dockerfile)

format: setup ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup lint ## lint, then every test this machine can run (slow ones included)
	$(PY) -m pytest

test-fast: setup ## the tests without the slow ones
	$(PY) -m pytest -m "not slow"

demo: setup ## the main job: synthetic drone survey -> sfm -> train -> compress, locally (no AWS)
	$(VENV)/bin/spaceport demo --out demo-output

bench: setup ## speed and size figures (never pass/fail), each stage against its anchor
	$(PY) stages/sfm/bench/bench_sfm.py --data $(DATA)
	$(PY) stages/train/bench/bench_train.py --fit-cost-model
	$(PY) stages/compress/bench/bench_compress.py --data $(DATA) $(if $(COMPRESS_PLY),--ply $(COMPRESS_PLY))

bench-large: setup ## SfM scaling on the 400-photo synthetic survey: 50-400 photos, time exponent (~17 min on 2 idle cores, plus rendering the survey once)
	$(PY) stages/sfm/bench/bench_large.py --fit-cost-model --json bench-output/sfm-large.json

clean: ## remove the environment, node_modules and outputs
	rm -rf $(VENV) node_modules demo-output bench-output .pytest_cache .ruff_cache
