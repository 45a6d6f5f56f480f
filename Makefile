# The two commands a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
POSTGRES_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

CATALOG := web/translations/zh/LC_MESSAGES/messages

.PHONY: install system-deps demo test lint-bpmn bench clean translations

# The install's build step (setup.py) copies the npm files the pages load into web/vendor/.
$(BIN)/dutyflow: setup.cfg setup.py pyproject.toml node_modules/.package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# JS/CSS (bpmn-js, Chart.js) come from npm and are served by Flask itself.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(CATALOG).mo: $(CATALOG).po $(BIN)/dutyflow
	$(BIN)/pybabel compile --use-fuzzy -d web/translations -D messages

install: $(BIN)/dutyflow node_modules/.package-lock.json $(CATALOG).mo

## Re-extract UI strings and merge them into the Chinese catalogue (then translate the new ones).
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations -D messages

## Run the service with the demo org, diagrams and work on SQLite (instance/dutyflow.db).
demo: install
	$(BIN)/dutyflow serve --demo --host 127.0.0.1 --port 5000

## Chromium and CJK fonts for the browser tests: installed when run as root, else the command to run.
system-deps:
	.ci/system-deps

## The whole test suite, against SQLite and PostgreSQL.
test: system-deps install
	DUTYFLOW_TEST_POSTGRES_URL='$(POSTGRES_TEST_URL)' $(BIN)/pytest

lint-bpmn: install
	$(BIN)/dutyflow lint bpmn/*.bpmn

bench: install
	$(BIN)/python bench/engine_roundtrip.py

clean:
	rm -rf $(VENV) instance *.egg-info .pytest_cache build web/vendor
