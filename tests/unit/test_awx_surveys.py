"""AWX job templates, surveys and schedules (plugins/filter/awx.py, playbooks/vars/awx.yml)
checked against what each playbook validates.

Every survey is built from the data file and the repository's inventory, exactly as
playbooks/awx_configure.yml builds it; then every choice, default and limit goes through AWX's
own survey rules (tests/awx_fake.py ports them) to the extra variables AWX would pass, and those
through the playbook's own check: env_problem (select_env.yml), run_gate (tasks/gate.yml),
rollback_request (the one command), the restore-point parser, the assert of watch.yml, the
traffic_shift role's argument spec. A choice the playbook would reject fails here.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.vars.manager import VariableManager
from dateutil import rrule as dateutil_rrule

from ansible_collections.propie.rollback.plugins.filter.awx import (
    QUESTIONS, awx_config, awx_envs, awx_rrule, awx_survey, run_status)
from ansible_collections.propie.rollback.plugins.filter.drill import drill_request
from ansible_collections.propie.rollback.plugins.filter.environment import env_problem, known_envs, run_gate
from ansible_collections.propie.rollback.plugins.filter.run import COMPONENTS, rollback_request
from ansible_collections.propie.rollback.plugins.module_utils.common import new_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.dynamodb import parse_restore_point
from tests.awx_fake import launch_variables, survey_spec_errors

REPO = Path(__file__).resolve().parents[2]
DATA = yaml.safe_load((REPO / "playbooks/vars/awx.yml").read_text())
# Task keywords whose values are bare Jinja expressions.
_CONDITIONS = ("when", "that", "until", "failed_when", "changed_when")


def _inventory():
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(REPO / "inventories")])
    manager = VariableManager(loader=loader, inventory=inventory)
    hostvars = {h.name: manager.get_vars(host=h) for h in inventory.get_hosts()}
    return inventory.get_groups_dict(), hostvars


GROUPS, HOSTVARS = _inventory()
CONFIG = awx_config(GROUPS, HOSTVARS, DATA["awx_job_templates"], DATA["awx_survey_questions"],
                    DATA["awx_drill_schedule"], DATA["awx_envs_excluded"], DATA["awx_notification_templates"])
TEMPLATES = {t["name"]: t for t in CONFIG["job_templates"]}
QUESTION_CASES = [(t["name"], q["variable"]) for t in CONFIG["job_templates"] for q in t["survey_spec"]["spec"]]


def _spec(template):
    return TEMPLATES[template]["survey_spec"]


def _question(template, variable):
    return next(q for q in _spec(template)["spec"] if q["variable"] == variable)


def _awx_passes(template, **answers):
    """The extra variables AWX gives the playbook for these survey answers."""
    return launch_variables(_spec(template), answers)


def _refused(template, **answers):
    with pytest.raises(ValueError):
        launch_variables(_spec(template), answers)


def _templates_asking(variable):
    return [name for name, variable_ in QUESTION_CASES if variable_ == variable]


# -- what the playbooks read ------------------------------------------------------------------

def _files_of(playbook: Path) -> list[Path]:
    """The playbook and every playbook, task file and role task file it pulls in."""
    seen, todo = [], [playbook]
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():
            continue
        seen.append(path)
        for node in _walk(yaml.safe_load(path.read_text())):
            if not isinstance(node, dict):
                continue
            for key, value in node.items():
                short = key.rsplit(".", 1)[-1]
                if short in ("import_playbook", "import_tasks", "include_tasks") and isinstance(value, str):
                    todo += [path.parent / value, playbook.parent / value]
                elif short in ("include_role", "import_role") and isinstance(value, dict):
                    todo += sorted((REPO / "roles" / value["name"].rsplit(".", 1)[-1] / "tasks").glob("*.yml"))
                elif key == "roles" and isinstance(value, list):
                    for role in value:
                        name = role["role"] if isinstance(role, dict) else role
                        todo += sorted((REPO / "roles" / name.rsplit(".", 1)[-1] / "tasks").glob("*.yml"))
    return seen


def _walk(node):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _expressions(path: Path) -> list[str]:
    """Every Jinja expression of a YAML file: templated strings and bare conditions."""
    out = []
    for node in _walk(yaml.safe_load(path.read_text())):
        if isinstance(node, str) and "{{" in node:
            out += re.findall(r"\{\{(.*?)\}\}", node, re.S)
        if isinstance(node, dict):
            for key in _CONDITIONS:
                value = node.get(key)
                out += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return out


def _task_vars(path: Path) -> set[str]:
    """Names a playbook sets itself in a vars: block (an extra variable would override them)."""
    names = set()
    for node in _walk(yaml.safe_load(path.read_text())):
        if isinstance(node, dict) and isinstance(node.get("vars"), dict):
            names |= set(node["vars"])
    return names


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_each_job_template_runs_an_entry_playbook_of_the_repository(template):
    playbook = REPO / TEMPLATES[template]["playbook"]
    assert playbook.is_file(), f"{template}: {playbook} is not in the repository"
    first = yaml.safe_load(playbook.read_text())[0]
    assert first.get("ansible.builtin.import_playbook") == "select_env.yml", (
        f"{playbook.name} must select the env first, as every entry playbook does")


@pytest.mark.parametrize("template, variable", QUESTION_CASES)
def test_each_survey_variable_is_one_the_playbook_reads(template, variable):
    playbook = REPO / TEMPLATES[template]["playbook"]
    if not playbook.exists():
        pytest.skip(f"{playbook.name} is not in the repository yet")
    files = _files_of(playbook)
    used = [f for f in files for e in _expressions(f) if re.search(r"(?<![\w.'\"])%s\b" % variable, e)]
    assert used, f"{template}: no task of {playbook.name} (or what it includes) reads {variable}"
    setters = [f.name for f in files if variable in _task_vars(f)]
    assert not setters, (f"{template}: {variable} is set by {setters} itself; a survey answer would "
                         "override it as an extra variable")


def test_the_watch_does_not_ask_for_components_it_sets_itself():
    assert "components" not in [q["variable"] for q in _spec("PropIE rollback watch")["spec"]]


def test_every_survey_is_one_awx_accepts():
    for template in TEMPLATES.values():
        assert survey_spec_errors(template["survey_spec"]) is None, template["name"]
        assert template["ask_variables_on_launch"] is False  # only survey answers reach the playbook


# -- each answer, through AWX, to the playbook's own check ------------------------------------

def test_env_choices_are_the_inventory_envs_select_env_accepts():
    expected = [e for e in known_envs(GROUPS) if e not in DATA["awx_envs_excluded"]]
    assert CONFIG["envs"] == expected == ["production", "staging"]
    for template in _templates_asking("env"):
        assert _question(template, "env")["required"] is True
        for env in _question(template, "env")["choices"]:
            passed = _awx_passes(template, env=env)
            assert env_problem(passed["env"], GROUPS, HOSTVARS, ["inventories"]) == ""
        _refused(template, env="prod")
        _refused(template)  # an env must be chosen


def test_confirm_allows_changes_only_when_it_names_the_env():
    for template in _templates_asking("confirm"):
        for env in CONFIG["envs"]:
            needs = HOSTVARS[GROUPS[env][0]]["rollback_env_requires_confirmation"]
            passed = _awx_passes(template, env=env, confirm=env)
            assert run_gate(env, passed.get("confirm", ""), needs, False)["apply"] is True
            left_empty = _awx_passes(template, env=env)
            assert "confirm" not in left_empty  # AWX passes nothing for an empty optional text with min 1
            assert run_gate(env, left_empty.get("confirm", ""), needs, False)["apply"] is (not needs)
            wrong = _awx_passes(template, env=env, confirm="staging" if env == "production" else "production")
            assert run_gate(env, wrong["confirm"], needs, False)["apply"] is (not needs)
        _refused(template, env="production", confirm="")


def test_component_choices_and_default_are_what_rollback_request_accepts():
    question = _question("PropIE rollback", "components")
    assert question["choices"] == list(COMPONENTS)
    default = question["default"].splitlines()
    assert rollback_request(default, "")["components"] == default == rollback_request(
        HOSTVARS["rollback-production"]["rollback_components"], "")["components"]
    for choice in question["choices"]:
        passed = _awx_passes("PropIE rollback", env="staging", components=[choice])
        assert rollback_request(passed["components"], "")["components"] == [choice]
    everything = _awx_passes("PropIE rollback", env="staging", components=list(reversed(COMPONENTS)))
    assert rollback_request(everything["components"], "")["components"] == list(COMPONENTS)
    _refused("PropIE rollback", env="staging", components=["dns"])
    _refused("PropIE rollback", env="staging", components="traffic")  # AWX wants a list
    # Not answered (an API launch, a schedule): AWX passes nothing and the playbook's default applies.
    assert "components" not in _awx_passes("PropIE rollback", env="staging")


def test_incident_and_lock_ids_pass_awx_and_the_playbook():
    minted = new_rollback_id()
    for template in _templates_asking("incident_id"):
        passed = _awx_passes(template, env="staging", incident_id=minted)
        assert rollback_request("traffic", passed["incident_id"])["incident_id"] == minted
        _refused(template, env="staging", incident_id="rb-123")
        _refused(template, env="staging", incident_id="")
        # The right length but not an id: AWX lets it through and the playbook refuses it.
        passed = _awx_passes(template, env="staging", incident_id="x" * len(minted))
        with pytest.raises(AnsibleFilterError, match="is not an incident id"):
            rollback_request("traffic", passed["incident_id"])
    for template in _templates_asking("break_lock"):
        assert _awx_passes(template, env="staging", break_lock=minted)["break_lock"] == minted
        _refused(template, env="staging", break_lock="")


def test_restore_points_pass_awx_and_the_restore_point_parser():
    for template in _templates_asking("restore_point"):
        for point in ("latest", "2026-11-30T03:45:00Z", "2026-11-30T03:45:00+00:00"):
            passed = _awx_passes(template, env="staging", components=["data"], restore_point=point)
            assert parse_restore_point(passed["restore_point"])
        assert "restore_point" not in _awx_passes(template, env="staging")
        _refused(template, env="staging", restore_point="")


def test_watch_minutes_pass_the_assert_of_watch_yml():
    watch = yaml.safe_load((REPO / "playbooks/watch.yml").read_text())[1]["tasks"]
    check = next(t for t in watch if t["name"] == "Check how long to watch")["ansible.builtin.assert"]["that"]
    question = _question("PropIE rollback watch", "watch_minutes")
    assert question["default"] == HOSTVARS["rollback-production"]["rollback_watch_minutes"]
    for minutes in (question["default"], question["min"], question["max"]):
        passed = _awx_passes("PropIE rollback watch", env="staging", watch_minutes=minutes)
        templar = Templar(loader=DataLoader(), variables={**passed, "rollback_watch_minutes": question["default"]})
        assert all(templar.evaluate_conditional(trust_as_template(c)) for c in check), minutes
    assert _awx_passes("PropIE rollback watch", env="staging")["watch_minutes"] == question["default"]
    _refused("PropIE rollback watch", env="staging", watch_minutes=0)
    _refused("PropIE rollback watch", env="staging", watch_minutes="30")  # AWX sends integers


def test_shift_decisions_are_what_the_traffic_shift_role_accepts():
    specs = yaml.safe_load((REPO / "roles/traffic_shift/meta/argument_specs.yml").read_text())
    option = specs["argument_specs"]["main"]["options"]["traffic_shift_decision"]
    validator = ArgumentSpecValidator({"traffic_shift_decision": option})
    question = _question("PropIE traffic shift", "shift_decision")
    assert question["choices"] == ["continue", "abort"]
    for decision in question["choices"]:
        passed = _awx_passes("PropIE traffic shift", env="staging", shift_decision=decision)
        assert validator.validate({"traffic_shift_decision": passed["shift_decision"]}).error_messages == []
    # Not answered: nothing is passed, shift.yml's default('') is a new shift.
    assert "shift_decision" not in _awx_passes("PropIE traffic shift", env="staging")
    assert validator.validate({"traffic_shift_decision": ""}).error_messages == []
    _refused("PropIE traffic shift", env="staging", shift_decision="retry")


def _drill_request(env, passed):
    """dr_drill.yml's own check of its request, with the inventory's facts of `env`."""
    facts = HOSTVARS[GROUPS[env][0]]
    return drill_request(env, passed.get("drill_full", False), passed.get("drill_id", ""),
                         facts["rollback_dynamodb_tables"], facts["rollback_drill_full_refused_envs"],
                         facts["rollback_env_requires_confirmation"], passed.get("confirm", ""), False)


def test_drill_answers_pass_awx_and_the_drills_own_check():
    question = _question("PropIE DR drill", "drill_full")
    assert question["choices"] == ["false", "true"] and question["default"] == "false"
    for env in CONFIG["envs"]:
        facts = HOSTVARS[GROUPS[env][0]]
        plain = _awx_passes("PropIE DR drill", env=env)
        assert plain["drill_full"] == "false" and _drill_request(env, plain)["full"] is False
        full = _awx_passes("PropIE DR drill", env=env, drill_full="true", confirm=env)
        if env in facts["rollback_drill_full_refused_envs"]:
            # The one answer a survey cannot refuse per env: the drill refuses it before any call.
            with pytest.raises(AnsibleFilterError, match="drill_full=true is refused for %s" % env):
                _drill_request(env, full)
        else:
            assert _drill_request(env, full)["full"] is True
    minted = "dr-" + new_rollback_id()[3:]
    resumed = _awx_passes("PropIE DR drill", env="staging", drill_id=minted)
    assert _drill_request("staging", resumed)["drill_id"] == minted
    _refused("PropIE DR drill", env="staging", drill_id="dr-1")
    _refused("PropIE DR drill", env="staging", drill_full="yes")


# -- schedules --------------------------------------------------------------------------------

def test_each_env_has_one_weekly_drill_its_extra_data_passes_awx_and_the_drill():
    schedules = CONFIG["schedules"]
    assert sorted(s["extra_data"]["env"] for s in schedules) == CONFIG["envs"]
    for schedule in schedules:
        env = schedule["extra_data"]["env"]
        assert schedule["unified_job_template"] == "PropIE DR drill" and schedule["enabled"] is True
        passed = launch_variables(_spec("PropIE DR drill"), schedule["extra_data"])
        assert env_problem(passed["env"], GROUPS, HOSTVARS) == ""
        # An unattended drill must be one the drill runs: a scratch-table drill, no confirmation.
        assert _drill_request(env, passed)["full"] is False


def test_drill_rules_are_weekly_at_the_time_in_the_time_zone():
    schedules = {s["extra_data"]["env"]: s for s in CONFIG["schedules"]}
    tz = zoneinfo.ZoneInfo(HOSTVARS["rollback-production"]["rollback_time_zone"])
    expect = {"staging": dateutil_rrule.TU, "production": dateutil_rrule.WE}
    for env, weekday in expect.items():
        rule = dateutil_rrule.rrulestr(schedules[env]["rrule"].replace(" RRULE:", "\nRRULE:"))
        runs = list(rule.xafter(dt.datetime(2027, 3, 1, tzinfo=tz), count=6))
        assert all(r.weekday() == weekday.weekday and (r.hour, r.minute) == (4, 0) for r in runs), runs
        # Across the spring clock change the drill stays at 04:00 local time, a week apart.
        assert all((b.date() - a.date()).days == 7 for a, b in zip(runs, runs[1:]))
        assert {r.utcoffset() for r in runs} == {dt.timedelta(0), dt.timedelta(hours=1)}  # GMT, then IST


# -- the filter's own checks ------------------------------------------------------------------

def test_rrule_is_what_awx_wants():
    assert awx_rrule("mo", "03:30", "UTC", "2026-12-07") == (
        "DTSTART;TZID=UTC:20261207T033000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO")


@pytest.mark.parametrize("args, message", [
    (("XX", "03:00", "UTC", "2026-12-07"), "drill day 'XX'"),
    (("MO", "3am", "UTC", "2026-12-07"), "drill time '3am'"),
    (("MO", "24:00", "UTC", "2026-12-07"), "drill time '24:00'"),
    (("MO", "03:00", "Mars/Olympus", "2026-12-07"), "is not a time zone name"),
    (("MO", "03:00", "UTC", ""), "drill start '' must be a date"),
])
def test_rrule_rejects_bad_input(args, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        awx_rrule(*args)


def test_a_survey_variable_no_playbook_validates_is_refused():
    with pytest.raises(AnsibleFilterError, match="survey variable 'colour' is not one the playbooks validate"):
        awx_survey(["env", "colour"], {"env": {"question_name": "Env"}, "colour": {"question_name": "C"}}, ["staging"])
    with pytest.raises(AnsibleFilterError, match="no question_name for confirm"):
        awx_survey(["confirm"], {}, ["staging"])
    assert set(DATA["awx_survey_questions"]) == set(QUESTIONS)


def test_excluding_an_env_the_inventory_lacks_is_refused():
    with pytest.raises(AnsibleFilterError, match="awx_envs_excluded names prod, which the inventory does not hold"):
        awx_envs(GROUPS, HOSTVARS, ["prod"])
    with pytest.raises(AnsibleFilterError, match="no environment left for AWX"):
        awx_envs(GROUPS, HOSTVARS, known_envs(GROUPS))
    bad = {**HOSTVARS, "rollback-staging": {**HOSTVARS["rollback-staging"], "rollback_env": "production"}}
    with pytest.raises(AnsibleFilterError, match="facts say rollback_env='production', not 'staging'"):
        awx_envs(GROUPS, bad, ["sandbox"])


@pytest.mark.parametrize("change, message", [
    ({"survey": ["confirm"]}, "its survey must ask for env"),
    ({"colour": "red"}, "unknown keys colour"),
    ({"notify": {"finished": True}}, "notify events finished"),
    ({"playbook": ""}, "needs playbook"),
])
def test_bad_job_template_data_is_refused(change, message):
    templates = [dict(DATA["awx_job_templates"][0], **change)]
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        awx_config(GROUPS, HOSTVARS, templates, DATA["awx_survey_questions"], None, ["sandbox"])


def test_a_schedule_for_a_missing_template_or_env_is_refused():
    with pytest.raises(AnsibleFilterError, match="is none of the job templates"):
        awx_config(GROUPS, HOSTVARS, DATA["awx_job_templates"][:1], DATA["awx_survey_questions"],
                   DATA["awx_drill_schedule"], ["sandbox"])
    schedule = dict(DATA["awx_drill_schedule"], per_env={"sandbox": {"day": "MO"}})
    with pytest.raises(AnsibleFilterError, match="per_env names sandbox, not offered to AWX"):
        awx_config(GROUPS, HOSTVARS, DATA["awx_job_templates"], DATA["awx_survey_questions"], schedule, ["sandbox"])


def test_notifications_go_to_the_env_topic_with_no_key_stored():
    (note,) = CONFIG["notification_templates"]
    assert note["notification_configuration"] == {
        "aws_region": "us-east-1", "aws_access_key_id": "", "aws_secret_access_key": "", "aws_session_token": "",
        "sns_topic_arn": HOSTVARS["rollback-production"]["rollback_sns_topic_arns"]["alerts"]}
    with pytest.raises(AnsibleFilterError, match="env 'sandbox' is not one AWX offers"):
        awx_config(GROUPS, HOSTVARS, [], {}, None, ["sandbox"], [{"name": "x", "env": "sandbox"}])


@pytest.mark.parametrize("outcome, gate, check, status", [
    ("", None, False, "failed"),
    (None, {"preview": False}, False, "failed"),
    ("succeeded", None, False, "succeeded"),
    ("succeeded", {"preview": True}, False, "preview"),
    ("succeeded", {"preview": True}, True, "check"),
    ("running", {"preview": False}, False, "completed"),
    ("held", {"preview": True}, True, "held"),
    ("abort", {"preview": False}, False, "aborted"),
])
def test_run_status(outcome, gate, check, status):
    assert run_status(outcome, gate, check) == status


# -- no prompts -------------------------------------------------------------------------------

def test_nothing_prompts_every_input_is_a_variable():
    # vars_prompt, or the prompt of a pause: the two ways a play or task asks at the terminal.
    prompting = [str(p.relative_to(REPO)) for p in sorted((REPO / "playbooks").rglob("*.yml"))
                 + sorted((REPO / "roles").rglob("*.yml"))
                 if re.search(r"^[\s-]*(vars_prompt|prompt)\s*:", p.read_text(), re.M)]
    assert prompting == []
