# Each target mirrors a CI step one-for-one; `make test` is what .ci/run calls.
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

TOOLS := .venv-tools
.PHONY: setup setup-validators setup-sam-local setup-kubernetes lint validate test unit functional e2e demo sam-local bench clean build-MigrationFunction

setup:
	@bash scripts/setup.sh

setup-validators:
	@bash scripts/setup.sh --validators

# Docker (docker.io) and debootstrap, for `sam local invoke` in a container: only this path needs them.
setup-sam-local:
	@bash scripts/setup.sh --validators --sam-local

# The real control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd), built
# with Go from the modules tools/kubernetes/go.mod pins, cached outside the work tree.
setup-kubernetes:
	@bash scripts/setup_kubernetes.sh

lint: setup
	$(BIN)/ruff check src devtools tests scripts conftest.py
	$(BIN)/ruff format --check src devtools tests scripts conftest.py
	$(BIN)/mypy
	$(BIN)/lint-imports

# Offline validators of what is deployed: the template, the manifests, the workflows.
validate: setup-validators
	$(TOOLS)/sam/bin/cfn-lint template.yaml spoke/template.yaml
	SAM_CLI_TELEMETRY=0 $(TOOLS)/sam/bin/sam validate --lint --region eu-west-1 --template template.yaml
	$(TOOLS)/checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(TOOLS)/checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -f spoke/template.yaml
	$(TOOLS)/checkov/bin/checkov --quiet --compact --skip-download --framework kubernetes -d k8s
	for version in 1.31.0 1.32.0 1.33.0 1.34.0; do \
		$(BIN)/kubernetes-validate --strict --quiet -k $$version k8s/*.yaml k8s/templates/*.yaml || exit 1; \
	done
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

test: lint validate setup-sam-local setup-kubernetes
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

functional: setup
	$(BIN)/pytest tests/functional

e2e: setup
	$(BIN)/pytest tests/e2e

demo: setup
	$(BIN)/migration-trigger-local demo

# `sam build` + `sam local invoke` of the function in a container, on the local stack
# (docs/local-stack.md). SAM_LOCAL_ARCH=arm64 runs the deployed architecture under emulation;
# SAM_LOCAL_BASE_IMAGE names a base image to use instead of the stand-in built locally.
sam-local: setup-sam-local
	$(BIN)/migration-trigger-local sam-local $(if $(SAM_LOCAL_ARCH),--architecture $(SAM_LOCAL_ARCH)) \
		$(if $(SAM_LOCAL_BASE_IMAGE),--base-image $(SAM_LOCAL_BASE_IMAGE))

bench: setup
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .pytest_cache .ruff_cache build dist tools/node_modules devtools/build

# `sam build` (BuildMethod: makefile) calls this with ARTIFACTS_DIR: the runtime dependencies as
# wheels for the Lambda platform (Python 3.13 on LAMBDA_ARCHITECTURE, which must match the
# template's Architecture parameter: SAM does not pass it to make), the package, then precompiled
# modules so the function does not compile them on every cold start.
BUILD_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3.13)
LAMBDA_ARCHITECTURE ?= arm64
WHEEL_PLATFORM = $(if $(filter x86_64,$(LAMBDA_ARCHITECTURE)),manylinux2014_x86_64,manylinux2014_aarch64)
build-MigrationFunction:
	$(BUILD_PYTHON) -m pip install --quiet --no-compile --target "$(ARTIFACTS_DIR)" \
		--platform $(WHEEL_PLATFORM) --implementation cp --python-version 3.13 \
		--only-binary=:all: $$($(BUILD_PYTHON) scripts/runtime_requirements.py)
	$(BUILD_PYTHON) -m pip install --quiet --no-compile --no-deps --target "$(ARTIFACTS_DIR)" .
	rm -rf "$(ARTIFACTS_DIR)"/bin  # console scripts: nothing in Lambda runs them
	$(BUILD_PYTHON) -m compileall -q -j 0 "$(ARTIFACTS_DIR)"
