# The README's two commands: `make run` (install, then the default workflow) and
# `make test` (install, then lint and the test suite). Both start from nothing.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-all mlflow-ui mlflow-flush mlflow-server pin report readme dag

# Pinned install: pyproject.toml pins the direct dependencies, requirements.lock the rest.
$(INSTALLED): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c requirements.lock -e '.[test]'
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/snakemake --cores all

test: install
	$(BIN)/ruff check src tests workflow_scripts
	$(BIN)/pytest

# The README's leaderboard section, generated from the finished default run's tables
# (numbers are never typed; docs/results/ keeps the tables it came from).
readme: install
	$(BIN)/python -m decoybench.leaderboard readme

# The README's picture of the DAG: the rule graph (docs/dag.dot) drawn by Graphviz's dot.
dag: install
	PYTHONHASHSEED=0 $(BIN)/snakemake --rulegraph --nolock > docs/dag.dot.tmp
	mv docs/dag.dot.tmp docs/dag.dot
	dot -Tsvg docs/dag.dot > docs/dag.svg.tmp
	mv docs/dag.svg.tmp docs/dag.svg

# Also the tests marked slow.
test-all: install
	$(BIN)/pytest -m ''

# Browse every run in the MLflow UI at http://127.0.0.1:5000 (bound to localhost only).
mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/results/mlflow.db \
		--default-artifact-root file://$(CURDIR)/results/mlflow-artifacts \
		--host 127.0.0.1 --port 5000 --workers 1

# Write the MLflow runs still spooled under results/mlflow-spool (e.g. after a killed run).
mlflow-flush: install
	$(BIN)/python -m decoybench.tracking flush --spool-dir results/mlflow-spool

# A tracking server for a cluster's login node, bound to 127.0.0.1 (runs are written by the
# workflow's head process, see README "MLflow on a cluster"). BACKEND may name PostgreSQL,
# e.g. make mlflow-server BACKEND=postgresql://user@127.0.0.1/mlflow (needs psycopg2).
BACKEND ?= sqlite:///$(CURDIR)/results/mlflow-server.db
mlflow-server: install
	$(BIN)/mlflow server --backend-store-uri $(BACKEND) \
		--default-artifact-root file://$(CURDIR)/results/mlflow-artifacts \
		--host 127.0.0.1 --port 5000 --workers 1

# Pin the finished run in DVC and push it (README "Pinned reproductions"), and build the
# report of every table and figure. CONFIG: a config file over config/config.yaml, e.g.
# make pin CONFIG=config/paper/luring-mnist.yaml
CONFIG ?=
pin: install
	$(BIN)/snakemake pin --cores all $(if $(CONFIG),--configfile $(CONFIG))

report: install
	$(BIN)/snakemake --report report.zip $(if $(CONFIG),--configfile $(CONFIG))
