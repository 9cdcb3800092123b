"""Issue 11's bad-input table: every entry playbook, run with one bad input against the seeded
PropIE incident, fails with a message that names the input and the fix, and makes no mutating
call: bad input is found before the first change, and before the env lock is written.

One sandbox, seeded once for the whole table (a seed takes seconds, a case about as long as its
ansible-playbook run): a case that changes nothing leaves the estate as the next case expects
it. The sandbox is this module's own, so no other test resets it between two cases.

A held lock is found the same way: rollback_lock reads the lease before its one conditional
write, so a lock another incident holds fails with no write at all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.scenarios import propie_incident as incident
from tests.conftest import COLLECTIONS_PATH, REPO, start_sandbox
from tests.integration.test_environments import _production_like

BIN = Path(sys.executable).parent
APP_ID = "d4cebxzd5u3ynb"  # the sandbox inventory's rollback_amplify_app_id
RID = "rb-20261130T034501Z-9f2c1a"
HOLDER = "rb-20261130T034501Z-0ther1"  # the incident that holds the lock in the lock cases
LOCK_TABLE = "propie-rollback-locks"
LONG_NAME = "t" * 300
NOPE_DOMAIN = "nope.example.com"
RECOVERY = f"{incident.TABLE}-pitr-{RID}"
ALARM_5XX = {"name": "propie-sandbox-5XX-error-rate", "state": "ALARM", "old_state": "OK",
             "reason": "Threshold Crossed: 5XX error rate 12% > 5%", "time": "2026-11-30T03:40:00Z"}

SSM_TARGET = {"type": "ssm_parameter", "name": incident.TABLE_PARAMETER}
AMPLIFY_TARGET = {"type": "amplify_branch_env", "app_id": APP_ID, "branch_name": incident.BLUE,
                  "variable": "DATA_TABLE_NAME"}


def _tables(*swap_targets: dict, **fields) -> list[dict]:
    """The sandbox inventory's table, with these swap targets (and other fields)."""
    return [{"name": incident.TABLE, "swap_targets": list(swap_targets), "verify_min_item_count": 120, **fields}]


def _record(**changes) -> dict:
    """A swap record as dynamodb_table_swap writes it, for the sandbox's table and SSM target."""
    record = {
        "kind": "propie.rollback.dynamodb_swap", "version": 1, "rollback_id": RID, "env": "sandbox",
        "source_table": incident.TABLE, "recovery_table": RECOVERY, "restore_date_time": "2026-11-30T03:00:00Z",
        "recorded_at": "2026-11-30T03:50:00Z", "swap_back_command": "",
        "targets": [{"id": f"ssm:{incident.TABLE_PARAMETER}", "target": SSM_TARGET,
                     "previous": {"value": incident.TABLE}}],
    }
    record.update(changes)
    return record


# Swap-back records (file name -> content), written to the module's directory; "{records}" in a
# case's extra vars is that directory.
RECORDS = {
    "other-env.json": _record(env="staging"),
    "other-table.json": _record(
        source_table="prop-ie-other-data", recovery_table=f"prop-ie-other-data-pitr-{RID}",
        targets=[{"id": f"ssm:{incident.TABLE_PARAMETER}", "target": SSM_TARGET,
                  "previous": {"value": "prop-ie-other-data"}}]),
    "template.json": _record(targets=[{"id": f"ssm:{incident.TABLE_PARAMETER}", "target": SSM_TARGET,
                                       "previous": {"value": "{{ lookup('env', 'HOME') }}"}}]),
    "empty.json": "",
    "corrupt.json": '{"kind": "propie.rollback.dynamodb_swap", "targets": [',
    "targets-string.json": _record(targets=f"ssm:{incident.TABLE_PARAMETER}"),
    # This table's record, but the parameter holds neither its recovery table nor its previous value.
    "changed-since.json": _record(targets=[{"id": f"ssm:{incident.TABLE_PARAMETER}", "target": SSM_TARGET,
                                            "previous": {"value": f"{incident.TABLE}-before"}}]),
}


@dataclasses.dataclass
class Case:
    id: str
    playbook: str
    extravars: dict
    # Each must be in the output (whitespace folded): the input, the bad value, what to do.
    expect: list
    lock_held: bool = False  # another incident holds the env's lock
    inventory: str = "inventories"  # or "production-like" (tests.integration.test_environments)
    check: bool = False


SANDBOX = {"env": "sandbox"}
CASES = [
    # -- rollback.yml -------------------------------------------------------------------------
    Case("rollback-unknown-env", "rollback", {"env": "nosuch"},
         ["Environment nosuch is not in the inventory in use", "pass -e env= with one of those", "Nothing was changed"]),
    Case("rollback-bad-components", "rollback", {**SANDBOX, "components": "traffic,dns"},
         ["components=traffic,dns: unknown dns", "Use a comma-separated subset of traffic,frontend,infra,data"]),
    Case("rollback-bad-incident-id", "rollback", {**SANDBOX, "incident_id": "rb-bad"},
         ["incident_id='rb-bad' is not an incident id", "leave it out to start a new incident"]),
    Case("rollback-restore-point-before-window", "rollback", {**SANDBOX, "restore_point": "2020-01-01T00:00:00Z"},
         ["restore_point 2020-01-01T00:00:00Z is before the earliest restorable time", "fix -e restore_point="]),
    Case("rollback-unknown-domain", "rollback", {**SANDBOX, "restore_point": "latest", "rollback_amplify_domain": NOPE_DOMAIN},
         [f"has no domain association '{NOPE_DOMAIN}' (its domains: {incident.DOMAIN})",
          "fix amplify.domain (rollback_amplify_domain in the inventory)"]),
    Case("rollback-stacks-as-a-string", "rollback", {**SANDBOX, "rollback_cloudformation_stacks": incident.STACK},
         [f'rollback_cloudformation_stacks of environment sandbox must be a list of stack names, got the string "{incident.STACK}"',
          "Write it as a YAML list"]),
    # Traffic moves first in a rollback: a bad table name found at the restore would come too late.
    Case("rollback-target-table-of-300-characters", "rollback",
         {**SANDBOX, "components": "traffic,data", "restore_point": "latest",
          "rollback_dynamodb_tables": _tables(SSM_TARGET, target_table=LONG_NAME)},
         ["tables[0].target_table 'tttt", "(300 characters)", "it is 300 characters long",
          "a table name is 3 to 255 characters"]),
    Case("rollback-lock-held", "rollback", {**SANDBOX, "components": "traffic"},
         [f"the rollback lock on env sandbox is held by incident {HOLDER}", f"-e break_lock={HOLDER}"], lock_held=True),
    Case("rollback-confirm-of-another-env", "rollback", {"env": "production", "confirm": "staging", "restore_point": "latest"},
         ["confirm='staging' does not match env=production", "nothing was changed", "-e confirm=production"],
         inventory="production-like"),
    # -- watch.yml ----------------------------------------------------------------------------
    Case("watch-minutes-not-a-number", "watch", {**SANDBOX, "watch_minutes": "abc"},
         ["watch_minutes must be a whole number of minutes of at least 1, got abc", "e.g. -e watch_minutes=30"]),
    # The seeded 5XX spike breaches the rollback trigger: the watch rolls back, and its plan refuses.
    Case("watch-breach-with-an-unknown-domain", "watch", {**SANDBOX, "watch_minutes": 1, "rollback_amplify_domain": NOPE_DOMAIN},
         [f"has no domain association '{NOPE_DOMAIN}'", "rollback_amplify_domain in the inventory"]),
    Case("watch-breach-with-bad-components", "watch", {**SANDBOX, "watch_minutes": 1, "rollback_watch_components": "traffic,dns"},
         ["components=traffic,dns: unknown dns", "Use a comma-separated subset"]),
    # -- amplify_rollback.yml -----------------------------------------------------------------
    Case("amplify-unknown-domain", "amplify_rollback", {**SANDBOX, "rollback_amplify_domain": NOPE_DOMAIN},
         [f"amplify.domain: Amplify app {APP_ID} (prop-ie-app) has no domain association '{NOPE_DOMAIN}'",
          "fix amplify.domain (rollback_amplify_domain in the inventory)"]),
    Case("amplify-unknown-blue-branch", "amplify_rollback", {**SANDBOX, "rollback_amplify_blue_branch": "nope"},
         ["has no branch 'nope' (its branches: green, production)",
          "fix amplify.blue_branch (rollback_amplify_blue_branch in the inventory)"]),
    Case("amplify-unknown-app", "amplify_rollback", {**SANDBOX, "rollback_amplify_app_id": "dnope00000000"},
         ["amplify.app_id:", "dnope00000000", "fix amplify.app_id (rollback_amplify_app_id in the inventory)"]),
    Case("amplify-unknown-step", "amplify_rollback", {**SANDBOX, "amplify_steps": "redeploy,dns"},
         ["amplify_steps must be a comma-separated subset of redeploy,traffic; got redeploy,dns"]),
    Case("amplify-bad-rollback-id", "amplify_rollback", {**SANDBOX, "rollback_id": "nope"},
         ["rollback_id 'nope' is not of the form rb-YYYYMMDDTHHMMSSZ-xxxxxx", "leave it out for a new one"]),
    Case("amplify-lock-held", "amplify_rollback", SANDBOX,
         [f"the rollback lock on env sandbox is held by incident {HOLDER}", f"-e break_lock={HOLDER}"], lock_held=True),
    # -- cloudformation_rollback.yml ----------------------------------------------------------
    Case("cloudformation-unknown-stack", "cloudformation_rollback",
         {**SANDBOX, "rollback_cloudformation_stacks": [incident.STACK, "nope-stack"]},
         ["stacks: stack nope-stack does not exist", "fix stacks (rollback_cloudformation_stacks in the inventory)"]),
    Case("cloudformation-stacks-as-a-string", "cloudformation_rollback",
         {**SANDBOX, "rollback_cloudformation_stacks": f"{incident.STACK},nope-stack"},
         ["rollback_cloudformation_stacks of environment sandbox must be a list of stack names",
          f'(rollback_cloudformation_stacks: ["{incident.STACK}", "nope-stack"])']),
    Case("cloudformation-strategy-that-does-not-fit", "cloudformation_rollback",
         {**SANDBOX, "cloudformation_rollback_strategy": "cancel"},
         [f"infra: {incident.STACK}: strategy cancel calls CancelUpdateStack, which accepts only",
          "the stack is UPDATE_ROLLBACK_FAILED"]),
    Case("cloudformation-bad-rollback-id", "cloudformation_rollback", {**SANDBOX, "rollback_id": "rb-1"},
         ["rollback_id 'rb-1' is not of the form rb-YYYYMMDDTHHMMSSZ-xxxxxx"]),
    # -- dynamodb_rollback.yml ----------------------------------------------------------------
    Case("dynamodb-unknown-table", "dynamodb_rollback", {**SANDBOX, "table": "nope"},
         [f"Unknown table nope; sandbox has {incident.TABLE}"]),
    Case("dynamodb-restore-point-before-window", "dynamodb_rollback", {**SANDBOX, "restore_point": "2020-01-01T00:00:00Z"},
         ["restore_point 2020-01-01T00:00:00Z is before the earliest restorable time", "fix -e restore_point="]),
    Case("dynamodb-missing-ssm-swap-target", "dynamodb_rollback",
         {**SANDBOX, "rollback_dynamodb_tables": _tables(AMPLIFY_TARGET, {"type": "ssm_parameter", "name": "/prop-ie/sandbox/nope"})},
         ["tables[0].swap_targets[1] (ssm_parameter:/prop-ie/sandbox/nope): SSM parameter /prop-ie/sandbox/nope does not exist",
          "(rollback_dynamodb_tables in the inventory)"]),
    Case("dynamodb-missing-amplify-branch-swap-target", "dynamodb_rollback",
         {**SANDBOX, "rollback_dynamodb_tables": _tables(SSM_TARGET, dict(AMPLIFY_TARGET, branch_name="staging"))},
         ["tables[0].swap_targets[1]", "has no branch 'staging' (its branches: green, production)",
          "fix tables[0].swap_targets[1] (rollback_dynamodb_tables in the inventory)"]),
    Case("dynamodb-swap-targets-as-a-string", "dynamodb_rollback",
         {**SANDBOX, "rollback_dynamodb_tables": [{"name": incident.TABLE, "swap_targets": "ssm_parameter"}]},
         ["rollback_dynamodb_tables[0] of environment sandbox is", "must be a list of tables"]),
    Case("dynamodb-target-table-of-300-characters", "dynamodb_rollback",
         {**SANDBOX, "dynamodb_pitr_rollback_target_table": LONG_NAME},
         ["is not a DynamoDB table name: it is 300 characters long", "-e dynamodb_pitr_rollback_target_table="]),
    Case("dynamodb-bad-rollback-id", "dynamodb_rollback", {**SANDBOX, "rollback_id": "rb-20261130-x"},
         ["rollback_id 'rb-20261130-x' is not of the form rb-YYYYMMDDTHHMMSSZ-xxxxxx"]),
    Case("dynamodb-lock-held", "dynamodb_rollback", {**SANDBOX, "restore_point": "latest"},
         [f"the rollback lock on env sandbox is held by incident {HOLDER}", f"-e break_lock={HOLDER}"], lock_held=True),
    Case("dynamodb-swap-back-of-another-env", "dynamodb_rollback", {**SANDBOX, "swap_back": "{records}/other-env.json"},
         ["is for env 'staging', not 'sandbox': use the record of this env"]),
    Case("dynamodb-swap-back-of-another-table", "dynamodb_rollback", {**SANDBOX, "swap_back": "{records}/other-table.json"},
         [f"is for table prop-ie-other-data, which env sandbox does not have (its tables: {incident.TABLE})",
          "use the record a swap of this environment printed"]),
    Case("dynamodb-swap-back-whose-target-changed-since", "dynamodb_rollback",
         {**SANDBOX, "swap_back": "{records}/changed-since.json"},
         ["a target holds neither the recovery table this record swapped to nor the value it held before",
          f"ssm:{incident.TABLE_PARAMETER} names '{incident.TABLE}' (the swap set {RECOVERY}",
          "swap back with that swap's record first", "else set the target by hand"]),
    Case("dynamodb-swap-back-with-template-text", "dynamodb_rollback", {**SANDBOX, "swap_back": "{records}/template.json"},
         ["holds template text ({{ lookup('env', 'HOME') }}), which would be written literally",
          "restore the record the swap wrote"]),
    Case("dynamodb-swap-back-of-an-empty-record", "dynamodb_rollback", {**SANDBOX, "swap_back": "{records}/empty.json"},
         ["empty.json is empty", "restore it from the incident record or set the targets by hand"]),
    Case("dynamodb-swap-back-of-a-corrupt-record", "dynamodb_rollback", {**SANDBOX, "swap_back": "{records}/corrupt.json"},
         ["corrupt.json is not valid JSON", "restore it from the incident record or set the targets by hand"]),
    Case("dynamodb-swap-back-whose-targets-is-a-string", "dynamodb_rollback",
         {**SANDBOX, "swap_back": "{records}/targets-string.json"},
         ["has targets of type str, not a list of {id, target, previous}", "restore the record the swap wrote"]),
    # -- alarms.yml ---------------------------------------------------------------------------
    Case("alarms-override-of-an-unknown-trigger", "alarms",
         {**SANDBOX, "rollback_trigger_overrides": {"5XX rate": {"threshold": 2}}},
         ["rollback_trigger_overrides names unknown trigger(s) 5XX rate; the table has 5XX error rate"]),
    # -- shift.yml ----------------------------------------------------------------------------
    Case("shift-unknown-decision", "shift", {**SANDBOX, "shift_decision": "bogus"},
         ["shift_decision must be continue", "or abort", "got bogus"]),
    Case("shift-unknown-domain", "shift", {**SANDBOX, "rollback_amplify_domain": NOPE_DOMAIN},
         [f"has no domain association '{NOPE_DOMAIN}'; its domains: {incident.DOMAIN}", "rollback_amplify_domain in the inventory"]),
    Case("shift-weighted-layer-without-a-zone", "shift",
         {**SANDBOX, "rollback_weighted_layer": {"record": "app.prop-ie.example", "blue_value": "a", "green_value": "b"}},
         ["Invalid rollback_weighted_layer (nothing was changed): zone is required"]),
    # -- snapshot.yml -------------------------------------------------------------------------
    Case("snapshot-reserved-env-name", "snapshot", {"env": "all"},
         ["env='all' is not an environment name", "Known environments: production, sandbox, staging"]),
    Case("snapshot-prefixes-as-a-string", "snapshot", {**SANDBOX, "rollback_amplify_prefixes": "www"},
         ['rollback_amplify_prefixes of environment sandbox must be a list of sub-domain prefixes', 'got the string "www"']),
    # -- dr_drill.yml -------------------------------------------------------------------------
    Case("drill-bad-drill-id", "dr_drill", {**SANDBOX, "drill_id": "nope"},
         ["drill_id 'nope' is not a drill id (dr-YYYYMMDDTHHMMSSZ-xxxxxx", "leave it out to start a new drill"]),
    Case("drill-full-on-production", "dr_drill", {"env": "production", "confirm": "production", "drill_full": True},
         ["drill_full=true is refused for production"], inventory="production-like"),
    Case("drill-under-check", "dr_drill", SANDBOX,
         ["A DR drill does not run under --check", "playbooks/rollback.yml -e env=sandbox --check"], check=True),
    # -- alarm_event.yml ----------------------------------------------------------------------
    Case("alarm-event-without-an-alarm", "alarm_event", {**SANDBOX, "alarm_action": "rollback"},
         ["alarm must be the listener's event alarm", "-e @alarm.yml"]),
    Case("alarm-event-unknown-action", "alarm_event", {**SANDBOX, "alarm_action": "page", "alarm": ALARM_5XX},
         ["alarm_action must be rollback or alert, not 'page'", "-e alarm_action=rollback or -e alarm_action=alert"]),
    Case("alarm-event-rollback-with-an-unknown-domain", "alarm_event",
         {**SANDBOX, "alarm_action": "rollback", "alarm": ALARM_5XX, "rollback_amplify_domain": NOPE_DOMAIN},
         [f"has no domain association '{NOPE_DOMAIN}'", "rollback_amplify_domain in the inventory"]),
]


class Estate:
    """The module's sandbox (seeded once), its swap-back records and a production-like inventory."""

    def __init__(self, client, base: Path) -> None:
        self.client = client
        self.base = base
        self.records = base / "records"
        self.records.mkdir()
        for name, content in RECORDS.items():
            (self.records / name).write_text(content if isinstance(content, str) else json.dumps(content))
        self.inventories = {"inventories": REPO / "inventories", "production-like": _production_like(base)}

    def run(self, case: Case) -> subprocess.CompletedProcess:
        extravars = json.loads(json.dumps(case.extravars).replace("{records}", str(self.records)))
        varfile = self.base / f"{case.id}.json"
        varfile.write_text(json.dumps(extravars))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
        env.update(self.client.env(), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PROPIE_ROLLBACK_STATE_DIR=str(self.base / "state"))
        cmd = [str(BIN / "ansible-playbook"), f"playbooks/{case.playbook}.yml", "-i", str(self.inventories[case.inventory]),
               "-e", f"@{varfile}"] + (["--check"] if case.check else [])
        return subprocess.run(cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=300, check=False)

    def hold_lock(self) -> None:
        """The env's lock, held by another incident (what a run in progress leaves)."""
        ddb = self.client.boto3_client("dynamodb")
        if LOCK_TABLE not in ddb.list_tables()["TableNames"]:
            ddb.create_table(TableName=LOCK_TABLE, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "env", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "env", "KeyType": "HASH"}])
            ddb.get_waiter("table_exists").wait(TableName=LOCK_TABLE, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ddb.put_item(TableName=LOCK_TABLE, Item={
            "env": {"S": "sandbox"}, "incident_id": {"S": HOLDER}, "holder": {"S": "alice"}, "host": {"S": "laptop"},
            "started": {"S": "2026-11-30T03:45:01Z"}, "renewed": {"S": "2026-11-30T03:45:01Z"},
            "expires": {"S": "2099-01-01T00:00:00Z"}, "expires_at": {"N": "4070908800"}, "version": {"N": "1"}})

    def release_lock(self) -> None:
        self.client.boto3_client("dynamodb").delete_item(TableName=LOCK_TABLE, Key={"env": {"S": "sandbox"}})


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    proc, client = start_sandbox()
    try:
        client.set_time_scale(0.01)  # the seed restores this scale when it is done
        incident.seed(client)
        yield Estate(client, tmp_path_factory.mktemp("bad-input"))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_table_covers_every_entry_playbook_and_is_big_enough():
    entry = {p.stem for p in (REPO / "playbooks").glob("*.yml")} - {"select_env", "awx_configure", "listener_vars"}
    assert {c.playbook for c in CASES} == entry
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_naming_it_before_any_change(estate, case):
    if case.lock_held:
        estate.hold_lock()
    seq = estate.client.last_seq()
    try:
        run = estate.run(case)
    finally:
        calls = estate.client.mutating_since(seq)
        if case.lock_held:
            estate.release_lock()
    said = " ".join(run.stdout.split())
    assert run.returncode != 0, run.stdout[-4000:]
    missing = [text for text in case.expect if text not in said]
    assert not missing, f"not in the output: {missing}\n{run.stdout[-4000:]}"
    made = [(r["service"], r["operation"], r["status"], r.get("error_code")) for r in calls]
    assert made == [], made
