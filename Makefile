# The two commands a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
POSTGRES_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install demo test lint-bpmn bench clean

$(BIN)/dutyflow: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/dutyflow

## Run the service with the demo org, diagrams and work on SQLite (instance/dutyflow.db).
demo: install
	$(BIN)/dutyflow serve --demo --host 127.0.0.1 --port 5000

## The whole test suite, against SQLite and PostgreSQL.
test: install
	DUTYFLOW_TEST_POSTGRES_URL='$(POSTGRES_TEST_URL)' $(BIN)/pytest

lint-bpmn: install
	$(BIN)/dutyflow lint bpmn/*.bpmn

bench: install
	$(BIN)/python bench/engine_roundtrip.py

clean:
	rm -rf $(VENV) instance *.egg-info .pytest_cache
