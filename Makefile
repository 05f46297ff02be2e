# SpotShield. Every target bootstraps its own virtualenv (.venv) on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
STRATEGY ?= adaptive
BACKEND ?=
PATTERN ?=
BACKEND_FLAG := $(if $(BACKEND),--backend $(BACKEND),)
PATTERN_FLAG := $(if $(PATTERN),--pattern $(PATTERN),)

.DEFAULT_GOAL := help
.PHONY: help up status teardown down plan validate test bench venv tools clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[train,analysis,dev]'
	touch $@

# checkov and the Terraform plugin framework need their own venv: checkov's bc-python-hcl2
# clashes with python-hcl2, and `tf` needs protobuf<6 while google-cloud-compute needs >=6.
$(TOOLS_STAMP): tools/requirements.txt tools/requirements-nodeps.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --upgrade pip
	$(TOOLS)/bin/pip install -q -r tools/requirements.txt
	$(TOOLS)/bin/pip install -q --no-deps -r tools/requirements-nodeps.txt
	touch $@

venv: $(STAMP) ## Create .venv with everything installed

tools: $(TOOLS_STAMP) ## Create .venv-tools (checkov, Terraform plugin framework)

up: $(STAMP) ## Start a run: make up STRATEGY=adaptive [BACKEND=local|gcp] [PATTERN=poisson]
	$(BIN)/spotshield up --strategy $(STRATEGY) $(BACKEND_FLAG) $(PATTERN_FLAG)

status: $(STAMP) ## Show the live status view
	$(BIN)/spotshield status

teardown: $(STAMP) ## Stop the fleet (checkpoints stay)
	$(BIN)/spotshield down $(BACKEND_FLAG)

down: teardown

plan: $(STAMP) ## Show what up would create
	$(BIN)/spotshield plan $(BACKEND_FLAG)

validate: $(STAMP) $(TOOLS_STAMP) ## CI plan validation: fmt, init/validate/test, invariants, checkov
	$(BIN)/spotshield validate

test: $(STAMP) $(TOOLS_STAMP) ## Run the whole test suite (slow end-to-end tests included)
	$(BIN)/python -m pytest -q

bench: $(STAMP) ## Run the benchmarks and write bench/out/results.json
	$(BIN)/python -m bench

clean: ## Remove virtualenvs and local state
	rm -rf $(VENV) $(TOOLS) .spotshield
