#!/usr/bin/env bash
# Runs the runbook's procedures against the seeded PropIE incident in the sandbox
# (called by `make demo` through `python -m sandbox demo`, which sets AWS_ENDPOINT_URL).
# Short poll delays: the demo sandbox runs emulated time fast.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=(-e env=sandbox -e amplify_redeploy_wait_delay=1 -e amplify_traffic_rollback_wait_delay=1
      -e cloudformation_rollback_wait_delay=1 -e dynamodb_pitr_rollback_wait_delay=1)
good_time=$(date -u -d '30 minutes ago' +%Y-%m-%dT%H:%M:%SZ)

echo "== Amplify: redeploy the last known-good build of production, then traffic back to it"
ansible-playbook playbooks/amplify_rollback.yml "${fast[@]}"
echo "== CloudFormation: the action the stack's status allows"
ansible-playbook playbooks/cloudformation_rollback.yml "${fast[@]}"
echo "== DynamoDB: restore to ${good_time}, verify, swap the app's table name"
ansible-playbook playbooks/dynamodb_rollback.yml "${fast[@]}" -e "restore_point=${good_time}"
