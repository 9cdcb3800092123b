"""Environment selection, the confirmation gate, trigger overrides, printed commands, state dir."""

from __future__ import annotations

import shlex

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.propie.rollback.plugins.filter.environment import (
    env_problem, playbook_command, run_gate, trigger_overrides)
from ansible_collections.propie.rollback.plugins.lookup.state_dir import state_dir

GROUPS = {"all": ["rollback-production", "rollback-sandbox"], "ungrouped": [],
          "production": ["rollback-production"], "sandbox": ["rollback-sandbox"]}
HOSTVARS = {"rollback-production": {"rollback_env": "production"}, "rollback-sandbox": {"rollback_env": "sandbox"}}


@pytest.mark.parametrize("env, expected", [
    ("production", ""),
    ("sandbox", ""),
    (None, "No environment given: pass -e env=NAME with NAME one of production, sandbox"),
    ("", "No environment given"),
    ("prod", "Environment prod is not in the inventory in use (inv): it holds production, sandbox"),
    ("all", "env='all' is not an environment name"),
    ("production:sandbox", "is not an environment name"),
    ("ungrouped", "is not an environment name"),
])
def test_env_problem(env, expected):
    problem = env_problem(env, GROUPS, HOSTVARS, ["inv"])
    assert (problem == "") if expected == "" else (expected in problem and "Nothing was changed." in problem)


def test_env_problem_needs_one_host_whose_facts_agree():
    two = {**GROUPS, "staging": ["a", "b"]}
    assert "has 2 hosts (a, b)" in env_problem("staging", two, HOSTVARS)
    mislabeled = {**HOSTVARS, "rollback-sandbox": {"rollback_env": "production"}}
    assert "Group sandbox's facts say rollback_env='production'" in env_problem("sandbox", GROUPS, mislabeled)
    assert "holds no environment" in env_problem("production", {"all": [], "ungrouped": []}, {}, [])


@pytest.mark.parametrize("needs, confirm, check, apply, preview", [
    (True, "", False, False, True),
    (True, "production", False, True, False),
    (True, "staging", False, False, True),
    ("true", "", "False", False, True),     # -e strings
    (False, "", False, True, False),
    ("false", "", False, True, False),
    (True, "", True, False, True),          # --check needs no confirmation and changes nothing
])
def test_run_gate(needs, confirm, check, apply, preview):
    gate = run_gate("production", confirm, needs, check, "ansible-playbook x -e confirm=production")
    assert (gate["apply"], gate["preview"]) == (apply, preview)
    if preview and not (check is True or check == "True"):
        assert "To run it: ansible-playbook x -e confirm=production" in gate["msg"]
        assert gate["notice"].startswith("PREVIEW: production needs -e confirm=production")


def test_run_gate_rejects_a_non_boolean():
    with pytest.raises(AnsibleFilterError, match="rollback_env_requires_confirmation must be true or false"):
        run_gate("production", "", "maybe", False)


TABLE = [{"name": "5XX error rate", "threshold": 5, "window": 300}, {"name": "Latency p99", "threshold": 3000}]


def test_trigger_overrides_change_one_field_and_leave_the_table_alone():
    out = trigger_overrides(TABLE, {"5XX error rate": {"threshold": 2}})
    assert out == [{"name": "5XX error rate", "threshold": 2, "window": 300}, TABLE[1]]
    assert TABLE[0]["threshold"] == 5
    assert trigger_overrides(TABLE, {}) is TABLE


@pytest.mark.parametrize("overrides, message", [
    ({"5XX": {"threshold": 2}}, "names unknown trigger(s) 5XX; the table has 5XX error rate, Latency p99"),
    ("threshold=2", "must be a mapping of trigger name to fields"),
    ({"Latency p99": 3}, "rollback_trigger_overrides['Latency p99'] must be a mapping"),
])
def test_trigger_overrides_bad_input(overrides, message):
    with pytest.raises(AnsibleFilterError) as err:
        trigger_overrides(TABLE, overrides)
    assert message in str(err.value)


def test_playbook_command_keeps_how_the_run_was_started():
    argv = ["ansible-playbook", "playbooks/dynamodb_rollback.yml", "-i", "inv dir", "-e", "env=production",
            "-e", "restore_point=2026-11-30T03:45:00Z", "--diff"]
    confirm = playbook_command({"confirm": "production"}, keep_extra_vars=True, argv=argv)
    assert shlex.split(confirm) == argv + ["-e", "confirm=production"]
    # A resumed run prints its own resume command: the incident id is given once, not again.
    resumed = argv + ["-e", "incident_id=rb-20261130T034501Z-9f2c1a"]
    again = playbook_command({"incident_id": "rb-20261130T034501Z-9f2c1a"}, keep_extra_vars=True, argv=resumed)
    assert shlex.split(again) == resumed
    back = playbook_command({"env": "production", "swap_back": "/s/r 1.json"}, playbook="dynamodb_rollback", argv=argv)
    assert shlex.split(back) == ["ansible-playbook", "playbooks/dynamodb_rollback.yml", "-i", "inv dir",
                                 "-e", "env=production", "-e", "swap_back=/s/r 1.json"]


@pytest.mark.parametrize("running, expected", [
    ("playbooks/rollback.yml", "playbooks/dynamodb_rollback.yml"),
    ("/opt/c/playbooks/rollback.yml", "/opt/c/playbooks/dynamodb_rollback.yml"),
    ("propie.rollback.rollback", "propie.rollback.dynamodb_rollback"),
])
def test_playbook_command_names_another_playbook_beside_this_one(running, expected):
    words = shlex.split(playbook_command({"env": "sandbox"}, playbook="dynamodb_rollback",
                                         argv=["ansible-playbook", "--inventory=x", running, "-e", "env=sandbox"]))
    assert words == ["ansible-playbook", expected, "--inventory=x", "-e", "env=sandbox"]


def test_state_dir_is_outside_the_collection_and_absolute():
    assert state_dir((), None, {}, "/home/oncall") == "/home/oncall/rollback-state"
    assert state_dir(("dynamodb",), None, {"PROPIE_ROLLBACK_STATE_DIR": "/var/lib/rb"}, "/x") == "/var/lib/rb/dynamodb"
    assert state_dir(("snapshots", "staging"), "state", {"PROPIE_ROLLBACK_STATE_DIR": "/v"}, "/w") == "/w/state/snapshots/staging"
