# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test lint services-up services-down browser bench

$(BIN)/upare: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/upare

run: install
	$(BIN)/upare serve --host 127.0.0.1 --port 8000

services-up:
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

browser:
	bash scripts/browser.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# two pytest-xdist processes take the suite; the tests that stop a shared service run after
# them, alone
test: install services-up browser lint
	$(BIN)/python -m pytest -n 2 -m "not outage"
	$(BIN)/python -m pytest -m outage

bench: install services-up
	bash scripts/services.sh bench-tools
	set -e; for bench in bench/bench_*.py; do UPARE_KAFKA_BOOTSTRAP=127.0.0.1:9092 $(BIN)/python $$bench; done
