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
FLEET_SIZE ?=
BACKEND_FLAG := $(if $(BACKEND),--backend $(BACKEND),)
PATTERN_FLAG := $(if $(PATTERN),--pattern $(PATTERN),)
FLEET_FLAG := $(if $(FLEET_SIZE),--fleet-size $(FLEET_SIZE),)

.DEFAULT_GOAL := help
.PHONY: help up status teardown down plan validate test test-fast bench train emulator-start emulator-stop venv tools clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[train,analysis,dev,lightning,huggingface]'
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

up: $(STAMP) ## Start a run: make up STRATEGY=adaptive [BACKEND=local|gcp] [PATTERN=poisson] [FLEET_SIZE=2]
	$(BIN)/spotshield up --strategy $(STRATEGY) $(BACKEND_FLAG) $(PATTERN_FLAG) $(FLEET_FLAG)

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

test-fast: $(STAMP) $(TOOLS_STAMP) ## Run the suite without the slow end-to-end tests
	$(BIN)/python -m pytest -q -m "not slow"

train: $(STAMP) ## Train tiny-cnn on digits once, locally, into .spotshield/train-demo
	$(BIN)/spotshield train --model tiny-cnn --data digits --epochs 3 --strategy naive --store file://$(CURDIR)/.spotshield/train-demo --seed 0

emulator-start: $(STAMP) ## Start the local region emulator by hand
	$(BIN)/spotshield local start

emulator-stop: $(STAMP) ## Stop the local region emulator (checkpoints stay)
	$(BIN)/spotshield local stop

bench: $(STAMP) ## Run the benchmarks and write bench/out/results.json
	$(BIN)/python -m bench

clean: ## Remove the virtualenvs (never .spotshield/: it holds the emulator's checkpoints)
	rm -rf $(VENV) $(TOOLS)
