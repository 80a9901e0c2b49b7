# gasguard: `make demo` runs the main job on the embedded defaults, `make test` runs every test.
# Both create .venv on first use, with only Python 3.11 and make on the machine.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast test-postgres bench lint venv clean help

help:
	@echo "make demo   - start the fleet and virtual boards, inject a leak, watch the alarm"
	@echo "make test   - every test (MicroPython and CPython; PostgreSQL suite when reachable)"
	@echo "make bench  - the long benchmarks (not part of make test)"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Interactive: runs until Ctrl-C. Options pass through, e.g. make demo DEMO_ARGS="--http-port 8080".
demo: $(STAMP)
	$(BIN)/gasguard demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	$(BIN)/gasguard bench perf --json bench/results/perf.json

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
