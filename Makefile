# The two commands a newcomer needs: `make run` and `make test`. Each builds its own environment
# (.venv from the hash-checked lock requirements.lock, node_modules from package-lock.json) and is
# a no-op when that environment is already up to date. `make lock` regenerates the lock after a pin
# in requirements*.txt changes.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
# The whole dependency tree, hashes included, for requirements.txt + requirements-dev.txt +
# requirements-extras.txt. uv installs it (measured several times faster than pip, cold and warm);
# uv itself comes from requirements-bootstrap.txt, hash-checked by pip.
LOCK := requirements.lock
LOCK_INPUTS := requirements.txt requirements-dev.txt requirements-extras.txt
UV_VERSION := 0.13.8
UV := $(BIN)/uv
NODE_STAMP := node_modules/.installed
ENV ?= dev
WORK_DIR ?= .mlops

# No notices, telemetry or version checks from the CDK CLI or jsii: synthesis stays offline.
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export SAGEMAKER_SUPPRESS_V2_WARNING := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# uv installs into the project's venv only: it never downloads a Python of its own. It compiles
# bytecode at install, as pip does: without it the first start of each server or job process
# compiles its imports (measured +8 s for the inference server on a loaded machine).
export UV_PYTHON_DOWNLOADS := never
# The machine's pip config names local mirrors that may be absent; pip's warnings about them are noise.
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help run test lint synth inventory bench clean deps lock

help:
	@echo "make run    - the main job: the MLOps loop offline (see README)"
	@echo "make test   - lint, type-check and the whole test suite"
	@echo "make synth  - synthesize every environment with the pinned CDK CLI into cdk.out/"
	@echo "make inventory - synthesize and list what each environment's stacks provision"
	@echo "make bench  - the benchmarks in bench/ (figures, not pass/fail)"
	@echo "make lock   - re-resolve requirements.lock (with hashes) after a pin in requirements*.txt changes"
	@echo "make clean  - remove .venv, node_modules, cdk.out and the local work folder"

$(UV): requirements-bootstrap.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@set -o pipefail; $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-bootstrap.txt $(PIP_QUIET)
	@touch $@

$(PY_STAMP): $(UV) $(LOCK) pyproject.toml
	@echo "Installing Python packages into $(VENV) from $(LOCK), hash-checked (first run: a minute or two)..."
	@$(UV) pip install --quiet --python $(BIN)/python --require-hashes --compile-bytecode -r $(LOCK)
	@$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	@$(BIN)/python -c "import aws_cdk, sagemaker, moto, sklearn, xgboost, lightgbm"
	@# The inference server's compiled kernel into numba's cache, as the image build does: servers
	@# (local mode's, the tests') then load it instead of each compiling it on first start.
	@$(BIN)/python -m containers.inference.small_batch
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@echo "Installing the pinned CDK CLI into node_modules..."
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(PY_STAMP) $(NODE_STAMP)

# The main job: the whole MLOps loop offline (pipeline, registry, approval, serving with capture,
# monitoring, alarms, alert, HTML report) from the same definitions the cloud uses.
run: $(PY_STAMP)
	@$(BIN)/mlops local run --env $(ENV) --work-dir $(WORK_DIR)

# What `cdk deploy` would provision, per environment and stack (synthesis runs both nag packs).
inventory: synth
	@$(BIN)/python -m mlops.inventory cdk.out

synth: deps
	@npx --no-install cdk synth --quiet

lint: $(PY_STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/mypy .

test: deps lint
	@$(BIN)/pytest -n 2 --dist loadfile

bench: deps
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Resolve the pins of requirements*.txt into the full tree with every file's hash, for Python 3.11 on
# any platform, and the bootstrap pin of uv likewise. Needs the registry; review the diff.
lock: $(UV)
	@$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" -o $(LOCK) $(LOCK_INPUTS)
	@echo "uv==$(UV_VERSION)" | $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" -o requirements-bootstrap.txt -

clean:
	rm -rf $(VENV) node_modules cdk.out $(WORK_DIR) .mypy_cache .ruff_cache .pytest_cache

# --- CI/CD route (README "CI/CD"): the commands its buildspecs run ------------------------------
.PHONY: cicd-synth route-aws-config images

# The route's synth: each stage's newest Approved version (read from its registry) as cdk context.
cicd-synth: deps
	@set -o pipefail; versions="$$($(BIN)/python -m mlops.route versions)" && \
		npx --no-install cdk synth --quiet -c env=cicd $$versions

# One AWS profile per environment (its ml-engineer role) for the post-deploy steps.
route-aws-config: $(PY_STAMP)
	@$(BIN)/python -m mlops.route aws-config > .route-aws-config

# Build every image with the tag the pipeline definition names (needs a Docker engine).
images: $(PY_STAMP)
	@tag="$$($(BIN)/python -c 'from config.images import source_tag; print(source_tag())')" && \
		for image in training inference monitor; do \
			docker build --file containers/$$image/Dockerfile --tag $$image:$$tag . || exit 1; \
		done
