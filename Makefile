# Every target creates the virtual environment it needs; `make test` is what CI runs.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve demo test lint typecheck pytest scenarios scenarios-llm bench clean

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

## Lint, type-check, run every test, then every built-in scenario through the commander, without
## and with the optional model (a local Bedrock Converse stub stands in for Bedrock).
test: lint typecheck pytest scenarios scenarios-llm

lint: $(BIN)/incident-commander
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(BIN)/incident-commander
	$(BIN)/mypy

# Test files are shared out to one worker per CPU (pytest-xdist; a file stays on one worker, so
# its module fixtures start once, and the multi-process cluster tests run one after another:
# tests/conftest.py); PYTEST_WORKERS=0 runs everything in this process, one at a time.
PYTEST_WORKERS ?= auto
pytest: $(BIN)/incident-commander
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

scenarios: $(BIN)/incident-commander
	$(BIN)/incident-commander scenario run --library --check

LLM_STUB_PORT ?= 18599
scenarios-llm: $(BIN)/incident-commander
	$(BIN)/python tests/bedrockkit.py $(LLM_STUB_PORT) & stub=$$!; \
	trap 'kill $$stub' EXIT; \
	for i in $$(seq 50); do (echo > /dev/tcp/127.0.0.1/$(LLM_STUB_PORT)) 2>/dev/null && break; sleep 0.1; done; \
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing IC_LLM_PROVIDER=bedrock \
	IC_LLM_ENDPOINT_URL=http://127.0.0.1:$(LLM_STUB_PORT) \
	$(BIN)/incident-commander scenario run --library --check

bench: $(BIN)/incident-commander
	$(BIN)/python benchmarks/simulator_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
