# Every target that runs Python first makes sure .venv exists and matches requirements.lock.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
# Two routes to the same pinned environment. Inside the conda environment made from
# environment.yml (activated, so CONDA_DEFAULT_ENV names it) make uses it as it is, after
# tools/check_env.py has checked it against the lock; otherwise make builds and uses .venv.
CONDA_ENV := ketamine-opioid
ifeq ($(CONDA_DEFAULT_ENV),$(CONDA_ENV))
BIN := $(CONDA_PREFIX)/bin
STAMP := conda-check
else
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
endif
PY := $(BIN)/python
# Extra arguments for a target, e.g. `make test ARGS="-k hypotheses"`.
ARGS ?=

$(STAMP): requirements.lock pyproject.toml .python-version tools/bootstrap.sh
	@tools/bootstrap.sh

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: env
env: $(STAMP) ## Create or update .venv from requirements.lock (in the conda route: check it)

.PHONY: conda-check
conda-check:
	@$(PY) tools/check_env.py

.PHONY: analysis
analysis: $(STAMP) ## Run the primary analysis on the shipped data (writes results/)
	$(PY) -m analyses run $(ARGS)

.PHONY: check-data
check-data: $(STAMP) ## Validate every study file in data/
	$(PY) -m analyses check-data $(ARGS)

.PHONY: test
test: $(STAMP) ## Run the test suite on the machine's cores (about 3-4 minutes on 2 cores)
	$(PY) -m pytest $(ARGS)

.PHONY: validate
validate: $(STAMP) ## Slow statistical validation; writes validation/results.json
	$(PY) -m analyses validate $(ARGS)

.PHONY: bench
bench: $(STAMP) ## Time the model fits and print the figures
	$(PY) -m analyses bench $(ARGS)

.PHONY: explore
explore: $(STAMP) ## Explore a run in the browser (RUN=results/<run id>; default results/latest)
	$(BIN)/marimo run notebooks/explore.py $(if $(RUN),-- --run $(RUN))

.PHONY: lint
lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: format
format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The current pins constrain the resolution, so adding a dependency moves no other pin;
# `make lock UPGRADE=1` re-resolves everything to the newest versions.
.PHONY: lock
lock: ## Re-resolve requirements.in into requirements.lock and environment.yml
	rm -rf .lock-venv
	python$$(tr -d '[:space:]' < .python-version) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	grep -v '^#' requirements.lock > .lock-venv/constraints.txt
	.lock-venv/bin/python -m pip install --quiet -r requirements.in \
		$(if $(UPGRADE),,-c .lock-venv/constraints.txt)
	.lock-venv/bin/python -m pip freeze --exclude-editable > .lock-venv/freeze.txt
	.lock-venv/bin/python tools/lock.py .lock-venv/freeze.txt
	rm -rf .lock-venv

.PHONY: clean
clean: ## Remove .venv and caches (results/ is kept)
	rm -rf $(VENV) .pytest_cache .ruff_cache
