# Two commands on a fresh machine: `make run` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: run ui test test-all test-slow sandbox bench bench-large clean help

help:
	@echo "make run      run the pipeline for the default window (the embedded simulator when no credentials are set)"
	@echo "make ui       start the Dagster UI on http://127.0.0.1:3000 (the embedded simulator when no credentials are set)"
	@echo "make test     lint and run the test suite (without the slow tests)"
	@echo "make test-all lint and run every test, the slow fault, crash and load tests included"
	@echo "make sandbox  run the Pinterest API simulator in the foreground on 127.0.0.1:8787"
	@echo "make bench    run the benchmark scenarios S, M, Daily, With-latency; write bench/results/ and BENCHMARKS.md"
	@echo "make bench-large  the same and L (100,000 pins, 25,000 ads)"
	@echo "make clean    remove .venv and generated files"

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/pinterest-etl run

ui: $(INSTALLED)
	$(BIN)/pinterest-etl ui

# The fast tests wait on servers and child processes more than they compute: three at once (pytest-xdist, each
# test file in one worker) take well under half the time on two cores. The slow ones (kills, big runs) go one by one.
test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow" -n 3 --dist loadfile

test-slow: $(INSTALLED)  # exit status 5 means no test is marked slow: nothing to run is not a failure
	$(BIN)/python -m pytest -q -m slow || [ $$? -eq 5 ]

test-all: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

sandbox: $(INSTALLED)
	$(BIN)/pinterest-etl sandbox --port 8787

bench: $(INSTALLED)
	$(BIN)/python -m bench

bench-large: $(INSTALLED)
	$(BIN)/python -m bench --large

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
