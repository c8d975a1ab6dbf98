# Two commands on a fresh machine:
#   make demo   installs, starts the embedded PostgreSQL, loads demo data and runs the job
#   make test   installs with the test extras and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CUSTOMERS ?= 10000

.PHONY: install install-test system-deps demo ui test test-long lint screenshots messages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"

demo: install
	$(BIN)/sqlcompiler demo --customers $(CUSTOMERS)
	@echo "open the workbench: make ui (or $(BIN)/sqlcompiler ui), then http://127.0.0.1:8700/"

ui: install
	$(BIN)/sqlcompiler ui

# PostgreSQL, python3-venv and chromium from apt when missing (as root; else it says what)
system-deps:
	bash .ci/system-deps

# the suite on TEST_JOBS processes (pytest-xdist): each worker starts its own throw-away
# PostgreSQL cluster and broker, so they share nothing but the machine. The property tests
# (product against the reference evaluator on generated configurations and data) draw an
# everyday number of examples here; `make test-long` draws the large numbers (CI runs both).
TEST_JOBS ?= 2
DIFF_EXAMPLES ?= 100
PREVIEW_EXAMPLES ?= 15
LONG_DIFF_EXAMPLES ?= 400
LONG_PREVIEW_EXAMPLES ?= 50
PYTEST = $(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist worksteal
test: system-deps install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SQLCOMPILER_DIFF_EXAMPLES=$(DIFF_EXAMPLES) SQLCOMPILER_PREVIEW_EXAMPLES=$(PREVIEW_EXAMPLES) $(PYTEST)

test-long: system-deps install-test
	SQLCOMPILER_DIFF_EXAMPLES=$(LONG_DIFF_EXAMPLES) SQLCOMPILER_PREVIEW_EXAMPLES=$(LONG_PREVIEW_EXAMPLES) SQLCOMPILER_PUBLISH_ROUNDS=60 $(PYTEST) -m property

# refresh the workbench pictures in docs/ui/ (the browser tests take them; a plain test run
# writes them to a scratch folder)
screenshots: install-test
	SQLCOMPILER_SCREENSHOTS=$(CURDIR)/docs/ui $(BIN)/python -m pytest -q tests/ui/test_browser.py tests/ui/test_browser_vi.py tests/ui/test_browser_policy.py

# the workbench's texts into the Vietnamese catalogue (translations kept; lists what is missing)
messages: install
	$(BIN)/python -m sqlcompiler.ui.catalogue vi

lint: install-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
