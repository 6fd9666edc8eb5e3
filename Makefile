# causalmol: `make run` serves the API in embedded mode; `make test` runs the whole suite (CI calls it).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export CAUSALMOL_HOME ?= $(CURDIR)/var

.PHONY: install run test lint bench redis-server chromium postgresql stack-up stack-down clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "causalmol needs Python 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/causalmol models build-reference --if-missing
	@# The local development key (an admin key of project "local"), made once and kept in $$CAUSALMOL_HOME/dev-api-key.
	@KEY="$$(env -u CAUSALMOL_REDIS_URL $(BIN)/causalmol keys dev 2>/dev/null)" && echo && \
	echo "causalmol is starting on http://$(HOST):$(PORT) (embedded mode: no Redis needed)." && \
	echo "Your local API key: $$KEY (also in $(CAUSALMOL_HOME)/dev-api-key). Try:" && \
	echo "  curl -s -X POST http://$(HOST):$(PORT)/v1/predictions -H 'Content-Type: application/json' \\" && \
	echo "    -H \"Authorization: Bearer $$KEY\" \\" && \
	echo "    -d '{\"model\": \"akt1\", \"wait\": 10, \"molecules\": [{\"id\": \"capivasertib\", \"smiles\": \"NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1\"}, {\"id\": \"bad\", \"smiles\": \"C1CC\"}]}'" && \
	echo "Pages in a browser: http://$(HOST):$(PORT)/v1/models/akt1/card (it asks for the key once)."
	@echo
	env -u CAUSALMOL_REDIS_URL $(BIN)/causalmol gateway --bind $(HOST):$(PORT)

# Tests start their own redis-server; install Debian's package when we may, else say exactly what to do.
redis-server:
	@if ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "redis-server missing: installing Debian's redis-server package"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is needed by the tests. Install it: sudo apt-get install redis-server (Debian/Ubuntu)"; \
	    exit 1; \
	  fi; \
	fi

# The page tests drive Debian's headless Chromium and its driver (never a downloaded browser).
chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "chromium missing: installing Debian's chromium and chromium-driver packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "the page tests need headless Chromium. Install it: sudo apt-get install chromium chromium-driver"; \
	    exit 1; \
	  fi; \
	fi

# The integration tests start their own PostgreSQL (initdb in a temporary directory): the same, for its binaries.
postgresql:
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "PostgreSQL missing: installing Debian's postgresql package"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "PostgreSQL is needed by the tests. Install it: sudo apt-get install postgresql (Debian/Ubuntu)"; \
	    exit 1; \
	  fi; \
	fi

test: install redis-server chromium postgresql
	$(BIN)/ruff check services shared tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

# mypy checks services and shared, as [tool.mypy] in pyproject.toml says.
lint: install
	$(BIN)/ruff check services shared tests
	$(BIN)/mypy

bench: install
	$(BIN)/python tests/benchmarks/pipeline.py

stack-up: install
	deploy/local/stack.sh up

stack-down:
	deploy/local/stack.sh down

clean:
	rm -rf $(VENV) var build *.egg-info
