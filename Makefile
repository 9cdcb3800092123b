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
PYTEST_WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))

.PHONY: setup test pytest iam-check lint sanity demo sandbox bench build clean molecule

$(BIN)/.installed: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

setup: $(BIN)/.installed $(COLLECTION_LINK)

test: setup pytest iam-check lint sanity molecule

pytest: setup
	# Two workers per core: with one per core the cores idle about a third of the time while
	# tests wait on emulated AWS, with 1.5 per core 12 % (docs/ci.md "Suite time"); the longest
	# files are collected first (tests/conftest.py).
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# Every AWS operation the integration tests saw the collection make is allowed by
# docs/iam-policy.json (docs/iam.md); needs the request logs pytest writes to tests/output.
iam-check: pytest
	$(BIN)/python tools/iam_policy_check.py tests/output

lint: setup
	tools/check_no_suppressions.sh
	$(BIN)/ansible-lint
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

sanity: setup
	VENV=$(VENV) tools/ansible_test_sanity.sh

# A molecule scenario per role (roles/<role>/molecule/default, docs/molecule.md): prepare starts
# and seeds the sandbox, converge, idempotence, verify through boto3 / *_info modules, cleanup.
# MOLECULE_JOBS scenarios at a time, each job with one sandbox on a free 127.0.0.1 port.
MOLECULE_JOBS ?= 2
molecule: setup
	$(BIN)/python tools/molecule_scenarios.py all --jobs $(MOLECULE_JOBS)

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

# The always-on alarm listener of one env (docs/eda.md): CloudWatch alarm -> SNS -> SQS ->
# ansible-rulebook -> playbooks/alarm_event.yml. Set the chain up once with
# `ansible-playbook playbooks/alarms.yml -e env=NAME -e rollback_alarms_listener_queue=true`.
#   make listen ENV=sandbox                      (the sandbox: `make sandbox` and its seed first)
#   make listen ENV=production CONFIRM=production  (standing confirmation for automatic rollbacks)
# Stop it with Ctrl-C. eda-deps (also run by `make test`) installs Java 17+ or says how.
ENV ?= sandbox
CONFIRM ?=
LISTENER_STATE := $(or $(PROPIE_ROLLBACK_STATE_DIR),$(CURDIR)/rollback-state)
LISTENER_VARS := $(LISTENER_STATE)/listener/$(ENV)/vars.yml
# The sandbox takes any credentials; real envs use the usual AWS credential chain.
LISTENER_AWS := $(if $(filter sandbox,$(ENV)),AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-testing} \
	AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-testing} AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1})
.PHONY: listen eda-deps
pytest: eda-deps

eda-deps: setup
	tools/eda_deps.sh $(VENV)

listen: setup eda-deps
	PROPIE_ROLLBACK_STATE_DIR=$(LISTENER_STATE) $(BIN)/ansible-playbook playbooks/listener_vars.yml \
		-e env=$(ENV) -e listener_vars_file=$(LISTENER_VARS) $(if $(CONFIRM),-e confirm=$(CONFIRM))
	$(LISTENER_AWS) PROPIE_ROLLBACK_STATE_DIR=$(LISTENER_STATE) ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg \
		$(BIN)/ansible-rulebook -r propie.rollback.rollback -i inventories --vars $(LISTENER_VARS) -v
