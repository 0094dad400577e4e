# Linli: the front door. Every target sets up what it needs (virtual environment, locked
# dependencies, generated code, local servers); nothing is installed by hand.

PYTHON_CMD ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
# The interpreter itself, not a shim in front of it: uv keeps a venv only for the same interpreter.
PYTHON   := $(shell $(PYTHON_CMD) -c 'import sys; print(sys.executable)')
UV_VERSION := 0.13.8
STATE    := .linli
UV       := $(STATE)/uv/bin/uv
VENV     := .venv
PY       := $(VENV)/bin/python
PROTOS   := $(wildcard protos/linli/v1/*.proto)
GEN_STAMP := gen/.stamp
BUF      := tools/buf/node_modules/.bin/buf

export UV_PYTHON_DOWNLOADS := never
# No process of ours forks to run gRPC; its fork handlers can hang a child that a busy process
# forks to start PostgreSQL as its own user (tests restart it). See tests/conftest.py.
export GRPC_ENABLE_FORK_SUPPORT := false
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup protos wheel demo test test-unit test-usecase test-contract test-integration test-e2e k8s-check tools clients up down status lint fmt bench migrate token clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	@mkdir -p $(STATE)
	$(PYTHON) -m venv $(STATE)/uv
	$(STATE)/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --quiet --frozen --python $(PYTHON) --no-install-project
	@touch $@

# The editable install holds a copy of gen/linli, which a plain sync would keep stale.
$(GEN_STAMP): $(VENV)/.synced $(PROTOS) tools/gen_protos.py
	$(PY) tools/gen_protos.py
	$(UV) sync --quiet --frozen --python $(PYTHON) --reinstall-package linli
	@touch $@

setup: $(GEN_STAMP)  ## virtual environment, locked dependencies, generated code

protos: $(VENV)/.synced  ## regenerate the Python code from protos/
	$(PY) tools/gen_protos.py
	@touch $(GEN_STAMP)

wheel: setup  ## the linli wheel in dist/: services and generated code, no dev/ or bench/
	$(UV) build --wheel --out-dir dist

demo: setup  ## bring the system up on local servers, load the district, show the result
	$(PY) -m dev.demo

test: setup tools  ## the whole test suite: unit, use cases, store contracts, integration, e2e
	$(PY) -m pytest -q

test-unit: setup  ## fast tests, no I/O
	$(PY) -m pytest -q tests/unit

test-usecase: setup  ## the use cases on in-memory stores, no servers
	$(PY) -m pytest -q tests/usecase

test-contract: setup  ## one suite per store interface, against PostgreSQL and in memory
	$(PY) -m pytest -q tests/contract

test-integration: setup  ## tests against real PostgreSQL, NATS and gRPC
	$(PY) -m pytest -q tests/integration

test-e2e: setup tools
	$(PY) -m pytest -q tests/e2e

k8s-check: setup tools  ## render every overlay with kustomize and validate it
	$(PY) -m pytest -q tests/deploy

# Some tests need programs from Debian: the e2e tests look at the report in Chromium (with CJK
# fonts for its Chinese), the deploy tests render the overlays with kubectl's kustomize and check
# the alerts and the dashboard's queries with promtool (from the prometheus package).
# Installed when missing and possible (root with apt-get); otherwise those tests are skipped,
# loudly.
tools:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium fonts-noto-cjk"; \
	command -v kubectl >/dev/null 2>&1 || missing="$$missing kubectl"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing from Debian:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      $$missing >/dev/null) || echo "!! could not install$$missing"; \
	  else \
	    echo "!! missing$$missing (and this is not root with apt-get):"; \
	    echo "!! the browser, Kubernetes and alert checks will be SKIPPED"; \
	  fi; \
	fi

up: setup  ## run PostgreSQL, NATS and the services in the background; print their addresses
	$(PY) -m dev.stack up

down: setup  ## stop what `make up` started
	$(PY) -m dev.stack down

status: setup  ## show what `make up` is running
	$(PY) -m dev.stack status

migrate: setup  ## apply every service's migrations to LINLI_DATABASE_URL (or the local server)
	$(PY) -m dev.stack migrate

token: setup  ## issue a local token, e.g. make token ARGS="--role district_admin"
	$(VENV)/bin/linli token $(ARGS)

$(BUF): tools/buf/package.json tools/buf/package-lock.json
	cd tools/buf && npm ci --no-audit --no-fund --silent

# Go and Java plugins (and what compiles their stubs) come from Debian, the TypeScript plugin
# and compiler from the npm registry (pinned in tools/clients), installed into $(STATE)/clients.
CLIENT_DEBS := protobuf-compiler protoc-gen-go protoc-gen-go-grpc protobuf-compiler-grpc-java-plugin \
  golang-go golang-google-protobuf-dev golang-google-grpc-dev libprotobuf-java libgrpc-java \
  default-jdk-headless
$(STATE)/clients/.installed: tools/clients/package.json tools/clients/package-lock.json
	@missing=$$(for p in $(CLIENT_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	mkdir -p $(STATE)/clients && cp tools/clients/package*.json $(STATE)/clients/
	cd $(STATE)/clients && npm ci --no-audit --no-fund --silent
	@touch $@

clients: $(BUF) $(STATE)/clients/.installed  ## Go, Java and TypeScript stubs into clients/ (docs/clients.md)
	$(BUF) generate

lint: setup $(BUF)  ## ruff, mypy, the import contracts (pyproject.toml) and buf lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(BUF) lint

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup  ## benchmarks (print tables; see bench/)
	$(PY) -m bench.registry
	$(PY) -m bench.tasks
	$(PY) -m bench.matching
	$(PY) -m bench.matching_service
	$(PY) -m bench.audit

clean:  ## remove the environment, generated code and local server data
	-$(PY) -m dev.stack down 2>/dev/null
	rm -rf $(VENV) gen $(STATE)
