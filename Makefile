# Every target that runs Python first makes sure .venv exists and matches requirements.lock.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Extra arguments for a target, e.g. `make test ARGS="-k hypotheses"`.
ARGS ?=

$(STAMP): requirements.lock pyproject.toml .python-version tools/bootstrap.sh
	@tools/bootstrap.sh

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: env
env: $(STAMP) ## Create or update .venv from requirements.lock

.PHONY: analysis
analysis: $(STAMP) ## Run the primary analysis on the shipped data (writes results/)
	$(PY) -m analyses run $(ARGS)

.PHONY: check-data
check-data: $(STAMP) ## Validate every study file in data/
	$(PY) -m analyses check-data $(ARGS)

.PHONY: test
test: $(STAMP) ## Run the test suite (about 5 minutes on 2 cores)
	$(PY) -m pytest $(ARGS)

.PHONY: validate
validate: $(STAMP) ## Slow statistical validation; writes validation/results.json
	$(PY) -m analyses validate $(ARGS)

.PHONY: bench
bench: $(STAMP) ## Time the model fits and print the figures
	$(PY) -m analyses bench $(ARGS)

.PHONY: lint
lint: $(STAMP) ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: format
format: $(STAMP) ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

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
