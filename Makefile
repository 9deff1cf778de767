# `make run` and `make test` are the whole quick start: both bootstrap .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench install clean container soak browser

$(STAMP): pyproject.toml constraints.txt contrib/odh-plugin-example/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[sandbox,test]' -e contrib/odh-plugin-example
	touch $(STAMP)

install: $(STAMP)

# The built stock frontends, when at hand (../shared/frontends, or FRONTENDS=dir): the dashboard
# at http://localhost:8080, ODH-TEC at http://tec.localhost:8080 (browsers resolve *.localhost
# to loopback); each owns the root of its own host name, the API is on both.
FRONTENDS ?= ../shared/frontends
TEC_HOST ?= tec.localhost
RUN_ENV := $(if $(wildcard $(FRONTENDS)/odh-dashboard/index.html),\
  ODH_PLUGINS__DASHBOARD__STATIC_DIR=$(abspath $(FRONTENDS)/odh-dashboard)) \
  $(if $(wildcard $(FRONTENDS)/odh-tec/index.html),\
  ODH_PLUGINS__S3__STATIC_DIR=$(abspath $(FRONTENDS)/odh-tec) ODH_PLUGINS__S3__HOST=$(TEC_HOST))

run: $(STAMP)
	$(RUN_ENV) $(VENV)/bin/odh-core serve --sandbox --dev

# The browser suite (tests/e2e) drives Debian's Chromium; installed here when missing and when
# this user may (root, as in CI). Without it the suite skips and says why.
browser:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The example plugin is its own project (own rootdir and pytest config), proving the test kit
# works for a package team.
test: $(STAMP) browser
	$(PY) -m pytest $(PYTEST_ARGS)
	cd contrib/odh-plugin-example && ../../$(PY) -m pytest

# Benchmarks drive load with wrk (Debian package); installed here when missing.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench

# The production image (Containerfile). Uses podman, else docker, if one can actually build
# here; otherwise it says so and succeeds, unless CONTAINER_REQUIRED=1 (CI that must build).
IMAGE ?= quay.io/opendatahub/odh-core:latest
container:
	@engine=""; for e in podman docker; do \
	  if command -v $$e >/dev/null 2>&1 && $$e info >/dev/null 2>&1; then engine=$$e; break; fi; \
	done; \
	if [ -z "$$engine" ]; then \
	  echo "container: no working podman or docker here (missing, or no daemon/socket): image NOT built"; \
	  [ "$(CONTAINER_REQUIRED)" = "1" ] && exit 1 || exit 0; \
	fi; \
	echo "container: building $(IMAGE) with $$engine"; \
	$$engine build -f Containerfile -t $(IMAGE) .

# Load-and-fault suite: odh-core in a child process against the sandbox, faults injected,
# loopback only. SOAK_SECONDS bounds it (default 180); exits non-zero on lost events,
# leaked multipart uploads or corrupted objects.
SOAK_SECONDS ?= 180
soak: $(STAMP)
	SOAK_SECONDS=$(SOAK_SECONDS) $(PY) -m bench.soak

clean:
	rm -rf $(VENV)
