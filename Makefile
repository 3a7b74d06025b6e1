# twostep: `make run` serves the API locally; `make test` installs what the tests need and runs all checks.
# The interpreter .venv is made with: the distribution's python3 when it is 3.11 or newer and can make a
# venv, else python3 from PATH. Distribution builds, like the python image the Dockerfile starts from,
# are compiled with profile-guided optimization and link-time optimization; pyenv's default build is
# not, and runs the service around each password hash with 4-10 % more CPU
# (docs/development/performance.md). `make PY=…` chooses another.
PY ?= $(shell for p in /usr/bin/python3 python3; do \
	if $$p -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	echo $$p; exit 0; fi; done; echo python3)
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
HOST ?= 127.0.0.1
PORT ?= 8000
APT_GET := $(shell command -v apt-get 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run install compiler dev test test-fast lint typecheck imports pytest docs aws-checks browser nginx postgres bench fuzz soak clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# setup.py compiles libargon2's vector builds (x86-64) while pip installs twostep.
NATIVE := setup.py $(wildcard native/argon2/*/*.[ch] native/argon2/src/blake2/*.[ch])

$(VENV)/.installed: pyproject.toml $(NATIVE) | $(BIN)/python compiler
	$(BIN)/pip install -q -e '.[aws]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(NATIVE) | $(BIN)/python compiler
	$(BIN)/pip install -q -e '.[aws,dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed browser nginx postgres $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

## Serve the API on $(HOST):$(PORT). The defaults keep data in ./twostep.db and texts in the console
## outbox; TWOSTEP_* variables and ./.env change that, exactly as for every other `twostep` command.
run: install
	$(BIN)/twostep serve --host $(HOST) --port $(PORT)

## A C compiler for libargon2's vector builds (setup.py). Without one twostep still installs and
## hashes passwords through libsodium or argon2-cffi, at about twice the CPU per check.
compiler:
	@command -v cc >/dev/null 2>&1 || { \
		[ -n "$(APT_GET)" ] && $(SUDO) apt-get update -qq \
			&& DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gcc libc6-dev; \
	} || echo "make: no C compiler could be installed: twostep installs without libargon2's vector" \
		"builds (password checks cost about twice the CPU)." >&2

## Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
## Without apt-get (macOS, Fedora, Arch) everything else still runs and the browser tests are skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ -n "$(APT_GET)" ]; then \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
		else \
			echo "make: chromium is missing and apt-get is unavailable: the browser tests (tests/e2e) will be" \
				"SKIPPED. Install Chromium (a 'chromium' on PATH) to run them." >&2; \
		fi; }

## Debian's nginx: the edge tests put a real reverse proxy in front of `twostep serve` (never started as a service).
## Without apt-get the reverse-proxy tests are skipped, with the reason, like the browser tests.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		if [ -n "$(APT_GET)" ]; then \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light; \
		else \
			echo "make: nginx is missing and apt-get is unavailable: the reverse-proxy tests will be SKIPPED." >&2; \
		fi; }

## Debian's PostgreSQL server for the storage tests (the fixtures run initdb in a temporary folder).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		if [ -n "$(APT_GET)" ]; then \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; \
		else \
			echo "make: PostgreSQL is missing and apt-get is unavailable: the PostgreSQL tests will be SKIPPED." >&2; \
		fi; }

## AWS SAM CLI lives in its own virtualenv: its pins conflict with the service's dependencies.
$(SAM_VENV)/.installed:
	$(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli
	touch $@

## checkov (the template's security checks) in its own virtualenv: it pins older boto3/botocore and packaging.
$(CHECKOV_VENV)/.installed:
	$(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q 'checkov>=3.2'
	touch $@

test: dev lint typecheck imports docs pytest

## The inner loop (a few minutes): unit, storage contract on memory and SQLite, functional; no browser,
## AWS or slow tests, no installs.
test-fast:
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q -x -m "not e2e and not aws and not slow and not container" \
		tests/unit tests/functional tests/contract -k "not dynamodb and not postgres"

## The documentation site (docs/, mkdocs.yml) in strict mode: broken links or anchors, an undocumented
## setting or a page missing from the navigation fail the build. Offline: no plugin fetches anything.
docs: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir .site

lint:
	$(BIN)/ruff check src tests bench tools setup.py
	$(BIN)/ruff format --check src tests bench tools setup.py

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
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache .aws-sam .site
