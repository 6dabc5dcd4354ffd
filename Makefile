# wbl-placements: `make demo` (run it) and `make test` (test it). See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
CACHE ?= $(or $(WBL_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/wbl-placements)
UV_VERSION := 0.13.8
UV_HOME := $(CACHE)/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
INFRA := $(PY) deploy/local/infra
SERVICES := $(PY) deploy/local/run_services.py

# `make test` runs its own Kafka, FerretDB and services on other ports and in another run
# directory, so it never disturbs a system started with `make up`. The ports stay below
# Linux's ephemeral range (32768-60999), where a client connection could hold one.
# Each is overridable (`make test TEST_KAFKA_PORT=...`), so two suites can run side by side.
TEST_KAFKA_PORT ?= 19092
TEST_KAFKA_CONTROLLER_PORT ?= 19093
TEST_MONGO_PORT ?= 17017
TEST_HTTP_BASE ?= 18000
TEST_ENV := WBL_RUN_DIR=$(CURDIR)/.run/test WBL_KAFKA_PORT=$(TEST_KAFKA_PORT) \
	WBL_KAFKA_CONTROLLER_PORT=$(TEST_KAFKA_CONTROLLER_PORT) WBL_MONGO_PORT=$(TEST_MONGO_PORT) \
	WBL_TEST_KAFKA_BOOTSTRAP=127.0.0.1:$(TEST_KAFKA_PORT) \
	WBL_TEST_MONGO_URI=mongodb://127.0.0.1:$(TEST_MONGO_PORT)/ WBL_TEST_HTTP_BASE=$(TEST_HTTP_BASE) \
	WBL_AXE_JS=$(CACHE)/axe-core-4.14.1/node_modules/axe-core/axe.min.js
PYTEST_ARGS ?=
# How many last lines of each log `make logs` prints.
LINES ?= 20

.PHONY: help setup browser up down demo demo-reset test lint status logs schemas

help:
	@echo "make demo        bring everything up from nothing and play a short scenario (again and again)"
	@echo "make demo-reset  retire what the demo made (its openings, students, coordinator, key)"
	@echo "make test        run every test against real Kafka and FerretDB (own ports)"
	@echo "make up          start Kafka, FerretDB and the three services in the background"
	@echo "make down        stop them"
	@echo "make lint        ruff and mypy"
	@echo "make status      what is running;  make logs [LINES=n]: every log's path and last lines"

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

setup: $(VENV)/.synced

# Debian's chromium and axe-core (npm), for the browser tests (quick when present; one clear
# line when it cannot).
browser:
	@bash deploy/local/install-browser.sh
	@bash deploy/local/install-axe.sh $(CACHE)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml schemas/pyproject.toml services/*/pyproject.toml \
		services/matcher/core/pyproject.toml services/matcher/core/setup.py \
		services/matcher/core/src/wbl_match_core/_core.c
	$(UV) sync --all-packages --frozen --python $(PYTHON)
	@touch $@

up: setup
	$(INFRA) start
	$(SERVICES) start

down:
	@if [ -x $(PY) ]; then $(SERVICES) stop; $(INFRA) stop; else echo "nothing to stop (no $(VENV))"; fi

demo: up
	$(PY) deploy/local/demo.py

demo-reset: setup
	$(PY) deploy/local/demo.py reset

status:
	@$(INFRA) status; $(SERVICES) status

logs:
	@$(INFRA) logs --lines $(LINES); $(SERVICES) logs --lines $(LINES)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

schemas: setup
	$(PY) -m wbl_schemas.jsonschema
	$(PY) -m wbl_schemas.asyncapi

test: setup browser
	@$(TEST_ENV) $(SERVICES) stop >/dev/null; $(TEST_ENV) $(INFRA) stop >/dev/null; rm -rf .run/test
	$(TEST_ENV) $(INFRA) start
	@set +e; $(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -ne 0 ]; then echo "--- tests failed: the servers' last log lines"; \
	$(TEST_ENV) $(INFRA) logs --lines 40; \
	WBL_RUN_DIR=$(CURDIR)/.run/test/e2e $(SERVICES) logs --lines 40; fi; \
	$(TEST_ENV) $(SERVICES) stop >/dev/null; $(TEST_ENV) $(INFRA) stop; exit $$rc
