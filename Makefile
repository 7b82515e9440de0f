# Every target sets up what it needs: on a fresh clone with only python3 and make,
# `make demo` and `make test` create .venv and install the pinned dependencies.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.9
UV_INSTALL = $(UV) pip install --quiet --python $(BIN)/python

.PHONY: demo test lint typecheck imports validate contract bench dev soak lock clean

demo: $(VENV)/.runtime
	$(BIN)/retab-warehouse demo

test: $(VENV)/.dev lint typecheck imports validate
	$(BIN)/pytest -n 2 --dist loadgroup -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# The layers of pipelines/ import downwards only; the engine imports no Dagster (pyproject.toml).
imports: $(VENV)/.dev
	$(BIN)/lint-imports

validate: $(VENV)/.runtime
	DAGSTER_HOME= $(BIN)/dg check defs

# README.md's table contract, regenerated from pipelines/load/sql/contract.md (the one source).
contract: $(VENV)/.runtime
	$(BIN)/python -m pipelines.load.contract README.md

soak: $(VENV)/.dev
	$(BIN)/pytest -n 2 -q -m soak

bench: $(VENV)/.bench
	$(BIN)/python -m bench

# The Dagster UI's port: `make dev PORT=3001` when 3000 is taken (`:=`: an exported PORT is ignored).
PORT := 3000
dev: $(VENV)/.runtime
	$(BIN)/retab-warehouse dev --port $(PORT)

# Re-pin after editing pyproject.toml dependencies.
lock: $(UV)
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml -o requirements/runtime.lock
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml --extra dev -o requirements/dev.lock
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml --extra dev --extra bench -o requirements/bench.lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.runtime: requirements/runtime.lock pyproject.toml | $(UV)
	$(UV_INSTALL) -r requirements/runtime.lock
	$(UV_INSTALL) --no-deps -e .
	touch $@

$(VENV)/.dev: requirements/dev.lock pyproject.toml $(VENV)/.runtime | $(UV)
	$(UV_INSTALL) -r requirements/dev.lock
	touch $@

$(VENV)/.bench: requirements/bench.lock pyproject.toml $(VENV)/.dev | $(UV)
	$(UV_INSTALL) -r requirements/bench.lock
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
