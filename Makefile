# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Everything installs into a project-local virtualenv from pinned requirements.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The collection must sit at ansible_collections/propie/rollback for Ansible to load it.
COLLECTIONS := $(CURDIR)/$(VENV)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/propie/rollback
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(CURDIR)/$(BIN):$(PATH)
SANDBOX_PORT ?= 4566
PYTEST_ARGS ?=

.PHONY: setup test pytest lint sanity demo sandbox bench build clean

$(BIN)/.installed: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

setup: $(BIN)/.installed $(COLLECTION_LINK)

test: setup pytest lint sanity

pytest: setup
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: setup
	tools/check_no_suppressions.sh
	$(BIN)/ansible-lint
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

sanity: setup
	VENV=$(VENV) tools/ansible_test_sanity.sh

build: setup
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist

# Benchmarks print JSON figures; docs/measurements.md records them.
bench: setup
	$(BIN)/python bench/sandbox_latency.py
	@for b in bench/dynamodb_verify.py bench/decision_latency.py bench/rollback.py; do \
		if [ -f $$b ]; then echo "== $$b"; $(BIN)/python $$b || exit 1; fi; done

sandbox: setup
	$(BIN)/python -m sandbox serve --port $(SANDBOX_PORT)

# Seed the PropIE incident, show it, run the runbook's procedures on it, show it again.
demo: setup
	$(BIN)/python -m sandbox demo --port $(SANDBOX_PORT) --time-scale 0.05 -- tools/demo_rollback.sh

clean:
	rm -rf $(VENV) .build tests/output
