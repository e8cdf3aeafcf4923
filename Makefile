# The two commands: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BORROWERS ?= 50000
DOCS_PORT ?= 8001
SITE_DIR ?= site

.PHONY: install demo test test-fast check lint format bench docs docs-build clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/credit-platform demo --borrowers $(BORROWERS)

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow and not e2e"

# What CI runs before the tests: lint, layout (ruff format decides it) and types.
check: install
	$(VENV)/bin/ruff check credit_assets scoring_api tests bench docs
	$(VENV)/bin/ruff format --check credit_assets scoring_api tests bench docs
	$(VENV)/bin/mypy

# check, plus known vulnerabilities in the installed packages (needs the PyPI advisory feed).
lint: check
	$(VENV)/bin/pip-audit --skip-editable --progress-spinner off

format: install
	$(VENV)/bin/ruff check --fix credit_assets scoring_api tests bench docs
	$(VENV)/bin/ruff format credit_assets scoring_api tests bench docs

bench: install
	$(PY) bench/run_all.py

# The documentation site: built strictly (a broken link or anchor fails it; the configuration
# and CLI references are regenerated from the code first), then served on 127.0.0.1 only.
docs: docs-build
	$(VENV)/bin/mkdocs serve -a 127.0.0.1:$(DOCS_PORT)

docs-build: install
	$(VENV)/bin/mkdocs build --strict --site-dir $(SITE_DIR)

clean:
	rm -rf .credit_home .pytest_cache .mypy_cache .ruff_cache site docs/reference/configuration.md docs/reference/cli.md
