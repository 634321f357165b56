# The README's two commands. `make run` installs into .venv and runs the default (offline,
# synthetic) workflow; `make test` installs and runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: install run test lint report clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# pip byte-compiles what it installs, but not the editable sources in src/; with
# PYTHONDONTWRITEBYTECODE set (as on CI) every rule's process would compile them afresh. Compiling
# them here (only what changed) saves each process that; Python still checks every .pyc against
# its source.
install: $(BIN)/.installed
	$(BIN)/python -m compileall -q src

run: install
	$(BIN)/snakemake --workflow-profile profiles/default --cores $(CORES)
	$(BIN)/snakemake --workflow-profile profiles/default --cores $(CORES) --report results/report.html

# the README's test command, and all that CI runs: lint first, then the test suite
test: lint
	$(BIN)/python -m pytest -q

# ruff for the Python code, snakefmt for the rules (both configured in pyproject.toml)
lint: install
	$(BIN)/ruff check src tests workflow/scripts benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules

clean:
	rm -rf results/* resources/automatic/* .snakemake
