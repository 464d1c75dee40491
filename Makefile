# warecast: `make demo` and `make test` each set up .venv on first use (or when the
# dependency files change), then run.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.warecast-installed

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export WARECAST_HOME ?= $(CURDIR)/.warecast
export DAGSTER_HOME ?= $(CURDIR)
export WARECAST_DAGSTER_DIR ?= $(WARECAST_HOME)/dagster
export WARECAST_DAGSTER_LOGS ?= $(WARECAST_HOME)/dagster/logs
export MLFLOW_TRACKING_URI ?= sqlite:///$(WARECAST_HOME)/mlflow.db

.PHONY: install demo test readme-output screenshots ui mlflow-ui docs lint format clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@mkdir -p $(WARECAST_HOME)
	$(BIN)/warecast run --target duckdb

# Two workers (pytest-xdist): most tests wait on one process at a time (dbt, a server, one
# LightGBM thread), so two keep both cores busy; worksteal evens out the long end-to-end tests.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

# README.md's quoted CLI output, rewritten from this home's run (run `make demo` first).
readme-output: $(STAMP)
	$(BIN)/python docs/quoted_output.py

# docs/img/*.png, the README's screenshots, from this home's run (run `make demo` first; needs
# Debian's chromium and chromium-driver, and ports 3000 and 5000 free).
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py

ui: $(STAMP)
	@mkdir -p $(WARECAST_DAGSTER_DIR)
	$(BIN)/dagster dev --host 127.0.0.1 --port 3000 -m orchestration.definitions

mlflow-ui: $(STAMP)
	@echo "MLflow UI: the runs table is http://127.0.0.1:5000/#/experiments/<id>/runs (warecast run prints the link)"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --host 127.0.0.1 --port 5000 \
		--workers 1 --backend-store-uri $(MLFLOW_TRACKING_URI)

# dbt docs on http://127.0.0.1:8080: every mart, its columns, the lineage graph and the BI
# exposures (dbt_project/models/marts/exposures.yml). The catalog reads the WARECAST_TARGET
# warehouse (default: the DuckDB file of `make demo`).
docs: $(STAMP)
	@mkdir -p $(WARECAST_HOME)  # the catalog opens the DuckDB file
	cd dbt_project && $(CURDIR)/$(BIN)/dbt docs generate --profiles-dir ../profiles
	cd dbt_project && $(CURDIR)/$(BIN)/dbt docs serve --profiles-dir ../profiles \
		--host 127.0.0.1 --port 8080 --no-browser

lint: $(STAMP)
	@mkdir -p $(WARECAST_HOME)  # the dbt templater opens the DuckDB file
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(WARECAST_HOME) dbt_project/target dbt_project/logs

# benchmarks/ (docs/benchmarks.md): io.py compares warecast's warehouse I/O with the usual paths
# (`bench` is the full 8.76M-row run, ~11 min on 2 idle cores); data_path.py compares the training
# data path with pytorch-forecasting's loader; accuracy.py re-measures the demo backtest's
# leaderboard (docs/evaluation.md); scale.py runs 10,000 hourly series raw -> forecasts on
# DuckDB and the Day-N refresh on PostgreSQL and DuckDB (docs/scaling.md); short_history.py runs
# M1's 617 monthly series and 300 generated short series through `warecast load` + `warecast run`
# (docs/evaluation.md, "Short histories"; needs the `bench` extra, installed by its own stamp);
# peer.py runs the pandas + statsforecast + mlforecast notebook beside warecast's path on the
# same hourly and demo data (`bench` extra: mlforecast); gpu.py measures the networks' training
# on an accelerator (samples/s, utilisation, CPU/GPU parity; "no GPU" and the CPU elsewhere).
# `bench-smoke` keeps the scripts working in CI (small sizes, about a minute each) and never
# asserts timings.
.PHONY: bench bench-accuracy bench-data-path bench-scale bench-m1 bench-short bench-peer bench-gpu \
	bench-smoke
BENCH_STAMP := $(VENV)/.warecast-bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench: $(STAMP)
	$(BIN)/python benchmarks/io.py

bench-accuracy: $(STAMP)
	$(BIN)/python benchmarks/accuracy.py

bench-data-path: $(STAMP)
	$(BIN)/python benchmarks/data_path.py

bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py

bench-m1: $(BENCH_STAMP)
	$(BIN)/python benchmarks/short_history.py --dataset m1_monthly --per-model

bench-short: $(STAMP)
	$(BIN)/python benchmarks/short_history.py --dataset short_monthly

bench-peer: $(BENCH_STAMP)
	$(BIN)/python benchmarks/peer.py

bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/gpu.py

bench-smoke: $(BENCH_STAMP)
	$(BIN)/python benchmarks/accuracy.py --small
	$(BIN)/python benchmarks/short_history.py --dataset m1_monthly --small
	$(BIN)/python benchmarks/io.py --small
	$(BIN)/python benchmarks/data_path.py --series 20 --hours 240
	$(BIN)/python benchmarks/scale.py --small
	$(BIN)/python benchmarks/peer.py --small
	$(BIN)/python benchmarks/gpu.py --small
