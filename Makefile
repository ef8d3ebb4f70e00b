# Two commands for a newcomer: `make run` and `make test`. Everything else is set up on demand.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
FUNNEL := $(VENV)/bin/funnel
export FUNNEL_HOME ?= $(CURDIR)/data
DEMO_APPLICATIONS ?= 2000
DEMO_SEED ?= 7

.PHONY: setup run test ui clean bench

# uv itself lives in its own small venv, so nothing is installed outside the repository.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The project's venv, exactly as uv.lock pins it (dev tools included), compiled to bytecode at install:
# with PYTHONDONTWRITEBYTECODE set no process could cache it, and every run would pay ~1 s compiling imports.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced

run: setup
	$(FUNNEL) generate --if-empty --applications $(DEMO_APPLICATIONS) --seed $(DEMO_SEED)
	$(FUNNEL) run

test: setup
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile

ui: setup
	$(FUNNEL) ui

bench: setup
	$(VENV)/bin/python -m benchmarks

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache
