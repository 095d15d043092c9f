# bannercheck — every target installs what it needs (Debian packages included).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json
PORT ?= 3000

.PHONY: setup system-deps test lint typecheck unit integration demo run build bench slack tick template-lint clean

# --- set-up --------------------------------------------------------------
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[aws,dev]'
	touch $(STAMP)

setup: $(STAMP) system-deps $(NODE_STAMP)

system-deps:
	bash scripts/install-system-deps.sh

# dynalite (npm): the second DynamoDB implementation of the tests and the local stack.
$(NODE_STAMP): package.json package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null)
	npm ci --silent --no-audit --no-fund
	touch $(NODE_STAMP)

# --- quality ---------------------------------------------------------------
lint: setup
	$(VENV)/bin/ruff check layers functions tests scripts bench
	$(VENV)/bin/ruff format --check layers functions tests scripts bench

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest tests/unit -q

# The SAM build (which fetches the layer's arm64 wheels from PyPI) runs first, as
# a build step; the tests then inspect its output without touching the network.
# The tests that load the whole machine (marked heavy) run after the others, alone:
# beside them, the lab tests' one-second DNS and SMTP timeouts would be a lottery.
test: setup lint typecheck build
	BANNERCHECK_SAM_BUILD_DIR=$(CURDIR)/.aws-sam/build $(PY) -m pytest -q -n 2 --dist loadgroup -m "not heavy"
	BANNERCHECK_SAM_BUILD_DIR=$(CURDIR)/.aws-sam/build $(PY) -m pytest -q -m heavy

# --- the lab and the CLI -------------------------------------------------
demo: setup
	$(PY) -m tests.lab.demo

# --- the serverless application ---------------------------------------------
# The local stack: API + Slack endpoint on 127.0.0.1:$(PORT), dynalite, in-process probe.
# LAB=1 (the default) also starts the test lab and points the resolver at it, so a
# first check works with no internet; LAB=0 checks real domains via this machine's DNS.
LAB ?= 1
run: setup
	PORT=$(PORT) LAB=$(LAB) $(PY) -m bannercheck.local run

# Run the scheduled dispatch once against a running `make run`.
tick: setup
	$(PY) -m bannercheck.local tick --port $(PORT)

# What Slack would show for `/bannercheck $(TEXT)`, against a running `make run`.
# TEXT reaches the script through the environment, never through the shell's
# parser: `<http://x|x>`, `;`, `*` or quotes in it stay literal text.
TEXT ?= help
slack: export BANNERCHECK_SLACK_TEXT = $(value TEXT)
slack: setup
	$(PY) scripts/slack_local.py --port $(PORT) -- "$$BANNERCHECK_SLACK_TEXT"

# sam build: offline, no Docker (the layer is built by layers/bannercheck/Makefile).
# PATH holds no pyenv shims and DOCKER_HOST no engine: the build must need neither.
build: setup
	PATH=$(CURDIR)/$(VENV)/bin:/usr/local/bin:/usr/bin:/bin DOCKER_HOST=unix:///nonexistent/docker.sock \
	  SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(VENV)/bin/sam build

# Benchmarks against swaks, nmap and bare clients on a generated loopback lab (~5 min):
# rewrites bench/RESULTS.md, bench/results.json, bench/*.png and README's Benchmarks block.
bench: setup build
	$(PY) -m bench.run

template-lint: setup
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} \
	  AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-offline} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-offline} \
	  $(VENV)/bin/sam validate --lint

clean:
	rm -rf $(VENV) .aws-sam build .pytest_cache .mypy_cache .ruff_cache
