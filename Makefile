# Each target mirrors a CI step one-for-one; `make test` is what .ci/run calls.
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup lint test unit functional e2e demo bench clean

setup:
	@bash scripts/setup.sh

lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

functional: setup
	$(BIN)/pytest tests/functional

e2e: setup
	$(BIN)/pytest tests/e2e

demo: setup
	$(BIN)/migration-trigger demo

bench: setup
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist tools/node_modules
