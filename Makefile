# recimpact — the same commands for people and CI.
#   make demo   the end-to-end story on the embedded server
#   make test   lint, types and the whole test suite
# Both bootstrap .venv from a fresh clone (idempotent: re-running installs nothing new).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv lint test demo clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv with the project and its dev extras

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: venv ## ruff (lint and format) and mypy
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint ## lint, types, then every test
	$(BIN)/pytest

demo: venv ## run the demo on the embedded server
	$(BIN)/recimpact demo

clean: ## remove the venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache demo-data
