# twostep: `make run` serves the API locally; `make test` installs what the tests need and runs all checks.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
HOST ?= 127.0.0.1
PORT ?= 8000
APT_GET := $(shell command -v apt-get 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run install dev test lint typecheck imports pytest aws-checks browser nginx postgres bench fuzz soak clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[aws]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[aws,dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed browser nginx postgres $(SAM_VENV)/.installed

## Serve the API on $(HOST):$(PORT) with SQLite at ./twostep.db and SMS to the console outbox.
run: install
	TWOSTEP_STORAGE=sqlite TWOSTEP_SQLITE_PATH=./twostep.db TWOSTEP_SMS_PROVIDERS=console \
		$(BIN)/twostep serve --host $(HOST) --port $(PORT)

## Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		[ -n "$(APT_GET)" ] || { echo "chromium missing and apt-get unavailable" >&2; exit 1; }; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

## Debian's nginx: the edge tests put a real reverse proxy in front of `twostep serve` (never started as a service).
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		[ -n "$(APT_GET)" ] || { echo "nginx missing and apt-get unavailable" >&2; exit 1; }; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light; }

## Debian's PostgreSQL server for the storage tests (the fixtures run initdb in a temporary folder).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		[ -n "$(APT_GET)" ] || { echo "PostgreSQL missing and apt-get unavailable" >&2; exit 1; }; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }

## AWS SAM CLI lives in its own virtualenv: its pins conflict with the service's dependencies.
$(SAM_VENV)/.installed:
	$(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli
	touch $@

test: dev lint typecheck imports pytest

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck:
	$(BIN)/mypy

imports:
	$(BIN)/lint-imports

pytest:
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(BIN)/pytest -q

bench: dev
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench

fuzz: dev
	TWOSTEP_FUZZ=long PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q -m slow tests/adversarial

soak: dev
	TWOSTEP_SOAK_SECONDS=60 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q tests/adversarial/test_soak.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .mypy_cache .ruff_cache .aws-sam
