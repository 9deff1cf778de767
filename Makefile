# `make run` and `make test` are the whole quick start: both bootstrap .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench install clean

$(STAMP): pyproject.toml constraints.txt contrib/odh-plugin-example/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[sandbox,test]' -e contrib/odh-plugin-example
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/odh-core serve --sandbox --dev

# The example plugin is its own project (own rootdir and pytest config), proving the test kit
# works for a package team.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)
	cd contrib/odh-plugin-example && ../../$(PY) -m pytest

# Benchmarks drive load with wrk (Debian package); installed here when missing.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench

clean:
	rm -rf $(VENV)
