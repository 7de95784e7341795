# Every target creates the virtual environment it needs; `make test` is what CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve demo test lint typecheck pytest scenarios bench clean

$(BIN)/incident-commander: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

## Run the gateway and the commander on a live simulated estate (embedded emulator; API on :8080).
serve: $(BIN)/incident-commander
	$(BIN)/incident-commander serve

## Run the spec's example scenario on the embedded AWS emulator (no account, no Docker).
demo: $(BIN)/incident-commander
	$(BIN)/incident-commander scenario run checkout-bad-deploy

## Lint, type-check, run every test, then every built-in scenario through the commander.
test: lint typecheck pytest scenarios

lint: $(BIN)/incident-commander
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(BIN)/incident-commander
	$(BIN)/mypy

pytest: $(BIN)/incident-commander
	$(BIN)/pytest

scenarios: $(BIN)/incident-commander
	$(BIN)/incident-commander scenario run --library --check

bench: $(BIN)/incident-commander
	$(BIN)/python benchmarks/simulator_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
