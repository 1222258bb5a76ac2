# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CUSTOMERS ?= 5000
SEED ?= 42
# `CUSTOMERS=100000 make bench` sets the bench's scale; without it the bench runs 10k.
BENCH_CUSTOMERS := $(if $(filter environment command line,$(origin CUSTOMERS)),$(CUSTOMERS),10000)
# The ML-only bench draws facts in memory and scales further: ML_BENCH_CUSTOMERS=1000000.
ML_BENCH_CUSTOMERS ?= $(BENCH_CUSTOMERS)

export DAGSTER_HOME := $(CURDIR)/data/dagster_home
export DO_NOT_TRACK := true
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := true

.PHONY: help install demo materialize test ui mlflow bench bench-load bench-ml bench-export bench-identity lint manifest dagster-home clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# dagster-dbt reads dbt's manifest when the definitions are imported.
manifest: install
	cd dbt_project && ../$(BIN)/dbt parse --profiles-dir . --quiet

# Every asset, on whatever is in data/landing (yours or the demo's). Dagster's notice that
# the command is superseded by `dg launch` (not installed here) says nothing to act on.
MATERIALIZE = PYTHONWARNINGS='ignore:Function `asset_materialize_command` is superseded:FutureWarning' \
	$(BIN)/dagster asset materialize --select '*' -m orchestration.definitions

materialize: manifest dagster-home
	$(MATERIALIZE)

dagster-home:
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# The demo's history ends when the generator says (2026-11-01), so it runs as of its newest
# event: against the clock its sources would be weeks late and every send held back.
demo: manifest dagster-home
	$(BIN)/python -m orchestration generate --customers $(CUSTOMERS) --seed $(SEED)
	@echo "Running as of the newest event in the demo data (MAILPIPE_AS_OF=latest)."
	MAILPIPE_AS_OF=latest $(MATERIALIZE)
	$(BIN)/python -m orchestration where
	$(BIN)/python -m orchestration evaluate-identity

# The headless browser the Data Docs tests drive (tests/headless_chromium.py).
$(VENV)/chromium/VERSION: $(BIN)/.installed tests/headless_chromium.py
	$(BIN)/python -m tests.headless_chromium $(VENV)/chromium
	touch $@

test: manifest dagster-home lint $(VENV)/chromium/VERSION
	$(BIN)/python -m pytest

ui: manifest dagster-home
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

mlflow: install
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 \
		--backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/data/mlflow.db} \
		--default-artifact-root $(CURDIR)/data/mlruns

bench: manifest dagster-home
	$(BIN)/python -m bench.pipeline --customers $(BENCH_CUSTOMERS) --seed $(SEED)
	$(BIN)/python -m bench.ml --customers $(ML_BENCH_CUSTOMERS) --seed $(SEED)
	$(BIN)/python -m bench.identity --records $(BENCH_CUSTOMERS) --seed $(SEED)

# Generate and load alone, next to DuckDB reading the same files: `CUSTOMERS=1000000 make bench-load`.
bench-load: manifest dagster-home
	$(BIN)/python -m bench.pipeline --customers $(BENCH_CUSTOMERS) --seed $(SEED) --until duckdb_read

# One campaign to N recipients on a copy of the 100k bench warehouse: `make bench-export`.
bench-export: install
	$(BIN)/python -m bench.export --recipients $(or $(RECIPIENTS),100000)

# Identity resolution alone at a million CRM records: `IDENTITY_BENCH_RECORDS=N make bench-identity`.
bench-identity: manifest
	$(BIN)/python -m bench.identity --records $(or $(IDENTITY_BENCH_RECORDS),1000000) --seed $(SEED)

# Model training and scoring alone, on facts drawn in memory: `ML_BENCH_CUSTOMERS=1000000 make bench-ml`.
bench-ml: install
	$(BIN)/python -m bench.ml --customers $(ML_BENCH_CUSTOMERS) --seed $(SEED)

lint: manifest
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	cd dbt_project && ../$(BIN)/sqlfluff lint models tests

clean:
	rm -rf data dbt_project/target great_expectations/uncommitted

help:
	@echo "make demo            install, generate demo data, materialize every asset, say where results are"
	@echo "make test            install, lint, run the whole test suite"
	@echo "make materialize     every asset on the files in data/landing (your own exports too)"
	@echo "make ui              the Dagster UI on http://127.0.0.1:3000"
	@echo "make mlflow          the MLflow UI on http://127.0.0.1:5000"
	@echo "make bench           time and memory per stage (CUSTOMERS=N for the scale)"
	@echo "make bench-load      generate and load next to DuckDB reading the same files"
	@echo "make bench-identity  identity resolution at a million CRM records"
	@echo "make bench-ml        model training and scoring alone"
	@echo "make bench-export    one campaign's export to RECIPIENTS recipients"
	@echo "make lint            ruff and sqlfluff"
	@echo "make clean           remove generated data, dbt target and GX output"
	@echo "python -m orchestration --help   generate, where, evaluate-identity, campaign, forget, access"
