# InfoShare for Redmine. The two commands that matter:
#   make run    bring up a local stack: a real Redmine plus this service
#   make test   run the whole test suite (unit and against a real Redmine)
# Both install what is missing first (as root on Debian: see .ci/system-deps).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run stop status test test-unit test-integration test-e2e guide-images lint coverage bench bench-quick bootstrap system-deps venv spec doctor clean

run: bootstrap
	$(BIN)/python -m devstack up

stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m devstack down; else echo "Nothing to stop: the stack was never set up."; fi

status: venv
	$(BIN)/python -m devstack status

# The whole suite (unit, real Redmine, real browser); fails if branch coverage
# of the rules (plugin/policy) drops below 100%.
test: bootstrap lint
	$(BIN)/pytest tests/unit tests/integration tests/e2e --durations=15 --cov=plugin.policy --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=100

test-unit: venv
	$(BIN)/pytest tests/unit

test-integration: bootstrap
	$(BIN)/pytest tests/integration

test-e2e: bootstrap
	$(BIN)/pytest tests/e2e

# The role guides show the browser tests' screenshots: refresh them after a change to a page.
guide-images: test-e2e
	cp $(addprefix var/artifacts/e2e/,$(notdir $(wildcard docs/guide/images/*.png))) docs/guide/images/

lint: venv
	$(BIN)/ruff check plugin webhooks schemas tests benchmarks devstack

# Benchmarks on a real Redmine (about half an hour; writes benchmarks/RESULTS.md).
# `make bench-quick` runs them small, to try them out (writes nothing).
bench: bootstrap
	$(BIN)/python -m benchmarks.run

bench-quick: bootstrap
	$(BIN)/python -m benchmarks.run --quick

coverage: venv
	$(BIN)/pytest tests/unit --cov --cov-branch --cov-report=term-missing

bootstrap: system-deps venv

system-deps:
	@.ci/system-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

spec: venv
	$(BIN)/infoshare redmine spec

# Checks the Redmine of INFOSHARE_CONFIG, by default the local stack's.
doctor: venv
	INFOSHARE_CONFIG=$${INFOSHARE_CONFIG:-var/stack/config.toml} $(BIN)/infoshare doctor

clean: stop
	rm -rf var/stack var/stack.json var/cache .pytest_cache
