# Quick start: `make demo` (creates .venv, installs, runs the demo DAG and its
# report), then `make test`. Everything installs into .venv from requirements.txt.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: install demo report test lint bench config-readme clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" snakemake --cores $(CORES) --configfile config/demo.yaml
	PATH="$(abspath $(BIN)):$$PATH" snakemake --cores 1 --configfile config/demo.yaml --report results/report.html
	@echo "Demo done: tables in results/tables/, report in results/report.html"

test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests workflow/scripts
	$(BIN)/snakefmt --check Snakefile workflow/rules
	PATH="$(abspath $(BIN)):$$PATH" snakemake --lint

bench: $(STAMP)
	$(BIN)/rsnn-decoding bench

# config/README.md is generated from the config schema's descriptions (tests/test_configdoc.py checks it).
config-readme: $(STAMP)
	$(BIN)/python -c "from rsnn_decoding.configdoc import write_config_readme; write_config_readme('config/README.md')"

clean:
	rm -rf results .snakemake
