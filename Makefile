# Loupe — every task is one command. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: help install run bootstrap app test test-fast lint format train bench clean

help: ## List the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36mmake %-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP) ## Create or refresh .venv from the requirements

bootstrap: $(STAMP) ## Prepare runtime/ and register a first model if the registry is empty
	$(BIN)/python -m core bootstrap

run: bootstrap ## Set everything up and serve the console on http://localhost:8501 (PORT=... to change)
	$(BIN)/streamlit run Home.py --server.port $(PORT)

.PHONY: serve
serve: bootstrap ## Serve the model over HTTP, MLflow's scoring protocol, every request logged (ARGS="--port 5050 --workers 4")
	$(BIN)/python -m core serve $(ARGS)

test: $(STAMP) ## Run the whole test suite (two workers; each test file stays on one)
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: $(STAMP) ## Run the tests not marked slow (small real models, no browser; a few minutes)
	$(BIN)/python -m pytest -m "not slow" -n 2

lint: $(STAMP) ## Check style with ruff, types in core/ and storage/ with mypy, the Dockerfile with hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

format: $(STAMP) ## Fix style with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

train: $(STAMP) ## Train and register a model (ARGS="--estimator rf --alias challenger")
	$(BIN)/python -m core train $(ARGS)

bench: $(STAMP) ## Measure performance against baselines; writes bench/results.json
	$(BIN)/python -m bench

clean: ## Remove the runtime folder (models, logs) but keep .venv
	rm -rf runtime
