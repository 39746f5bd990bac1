# recimpact — the same commands for people and CI.
#   make demo   the end-to-end story on the embedded server
#   make test   lint, types and the whole test suite
# Both bootstrap .venv from a fresh clone (idempotent: re-running installs nothing new).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv chromium java lint test explore demo screenshots clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

venv: $(STAMP) chromium java ## create .venv with the project and its dev and spark extras

# The dashboard tests drive Debian's Chromium through Playwright (no browser download at run time).
chromium: ## install Debian's chromium with apt-get when /usr/bin/chromium is absent
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "chromium is missing: apt-get install chromium (as root) to run tests/ui" >&2; exit 0; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# The Spark engine (--engine spark, tests/conformance) runs on Java 17 or later.
java: ## install Debian's openjdk-17-jre-headless with apt-get when java is older than 17 or absent
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1); \
	test -n "$$v" && test "$$v" -ge 17 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "Java 17 is missing: apt-get install openjdk-17-jre-headless (as root) for the Spark engine" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@touch $(STAMP)

lint: venv ## ruff (lint and format), mypy, and the architecture contract (import-linter)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint ## lint, types, then every test
	$(BIN)/pytest

# Property tests are derandomized in `make test` (the same examples on every clone and in CI). This runs every test
# that uses Hypothesis (the `hypothesis` marker, put on them by tests/hypothesis_profiles.py) with fresh random
# examples, ten times as many, and a longer per-test timeout. A failure it finds stays in its test as an @example.
explore: venv ## the property tests with new random examples, ten times as many (a failure found: add an @example)
	HYPOTHESIS_PROFILE=explore $(BIN)/pytest -m hypothesis --timeout=3600 --hypothesis-show-statistics

demo: venv ## run the demo on the embedded server
	$(BIN)/recimpact demo

screenshots: venv ## rewrite docs/screenshots from the dashboard tests (a plain test run leaves them alone)
	RECIMPACT_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/ui -q

clean: ## remove the venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache demo-data
