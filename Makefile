# jobyard — `make help` lists the targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test chaos lint fmt docs bench clean browser

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP) ## set up and run server, engine and a demo worker on the embedded SQLite default (http://127.0.0.1:7420)
	$(BIN)/jobyard up --app jobyard.demo.app:app --demo

browser: ## install Debian's chromium for the dashboard's browser tests, unless it is there
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

test: $(STAMP) browser lint ## set up, lint and run the whole test suite (both backends)
	$(BIN)/pytest -n 4

chaos: $(STAMP) ## the fault-injection suite at full size (5,000-job drains, repeated faults, 30-min soak): test-output/chaos-report.md
	JOBYARD_CHAOS_SCALE=long $(BIN)/pytest -n 2 tests/chaos

lint: $(STAMP) ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

fmt: $(STAMP) ## format the code
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

docs: $(STAMP) ## regenerate docs/cli.md from the commands' --help
	$(BIN)/python -m jobyard.cli.reference > docs/cli.md

BENCH_VENV := bench/.venv

bench: ## benchmarks against peer queues (long; BENCH_ARGS=--quick for a short run): docs/benchmarks.md
	test -x $(BENCH_VENV)/bin/python || $(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements.txt -e .
	$(BENCH_VENV)/bin/python -m bench.run $(BENCH_ARGS)

clean: ## remove the virtualenv and local databases
	rm -rf $(VENV) jobyard.db jobyard.db-wal jobyard.db-shm
