# bannercheck — every target installs what it needs (Debian packages included).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: setup system-deps test lint typecheck unit integration demo run build bench slack tick clean

# --- set-up --------------------------------------------------------------
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[aws,dev]'
	touch $(STAMP)

setup: $(STAMP) system-deps

system-deps:
	bash scripts/install-system-deps.sh

# --- quality ---------------------------------------------------------------
lint: setup
	$(VENV)/bin/ruff check layers functions tests scripts
	$(VENV)/bin/ruff format --check layers functions tests scripts

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest tests/unit -q

test: setup lint typecheck
	$(PY) -m pytest -q -n 2 --dist loadgroup

# --- the lab and the CLI -------------------------------------------------
demo: setup
	$(PY) -m tests.lab.demo

clean:
	rm -rf $(VENV) .aws-sam build .pytest_cache .mypy_cache .ruff_cache
