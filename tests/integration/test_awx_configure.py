"""playbooks/awx_configure.yml, the real playbook and awx.awx modules, against a fake AWX.

There is no AWX server here; tests/awx_fake.py serves the API calls the modules make (on
127.0.0.1, stopped after each test) and keeps what they create. The playbook runs through
ansible-runner (AWX's own executor): the first run creates everything, the second changes
nothing and writes nothing, --check after it reports nothing to do, and a change made in AWX by
hand is put back by the next run. The controller password reaches the run through a tower_cli.cfg file
or a variable, never the environment, and is nowhere in the runner's artifacts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.awx_fake import FakeAWX

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "awx_configure.yml"
DATA = yaml.safe_load((REPO / "playbooks/vars/awx.yml").read_text())
EE_IMAGE = "registry.example.invalid/propie/rollback-ee:0.1.0"
# What a project update of the repository finds (AWX refuses a job template whose playbook is not one).
PLAYBOOKS = sorted(str(p.relative_to(REPO)) for p in (REPO / "playbooks").glob("*.yml"))


class Run:
    def __init__(self, runner, private: Path):
        self.rc = runner.rc
        self.stdout = runner.stdout.read()
        self.private = private
        events = [json.loads(p.read_text()) for p in sorted(private.glob("artifacts/*/job_events/*.json"))]
        stats = [e for e in events if e["event"] == "playbook_on_stats"]
        self.changed = stats[-1]["event_data"]["changed"].get("localhost", 0) if stats else None
        self.failed = [e["event_data"] for e in events if e["event"] == "runner_on_failed"]


@pytest.fixture
def awx():
    with FakeAWX(playbooks=PLAYBOOKS) as server:
        yield server


@pytest.fixture
def configure(tmp_path):
    """Run awx_configure.yml with ansible-runner: configure(awx, how='file'|'vars', check=False)."""
    import ansible_runner

    counter = {"n": 0}

    def run(awx: FakeAWX, how: str = "file", check: bool = False, password: str | None = None, **extravars) -> Run:
        counter["n"] += 1
        password = awx.password if password is None else password
        private = tmp_path / f"runner{counter['n']}"
        private.mkdir()
        if how == "file":
            config = tmp_path / "tower_cli.cfg"
            config.write_text(f"[general]\nhost = {awx.url}\nusername = {awx.username}\npassword = {password}\n")
            config.chmod(0o600)
            extravars["controller_config_file"] = str(config)
        else:
            extravars.update(controller_host=awx.url, controller_username=awx.username,
                             controller_password=password)
        runner = ansible_runner.run(
            private_data_dir=str(private), playbook=str(PLAYBOOK), inventory=str(REPO / "inventories"),
            project_dir=str(REPO), quiet=True, cmdline="--check" if check else None,
            extravars={"awx_execution_environment_image": EE_IMAGE, **extravars},
            envvars={"ANSIBLE_COLLECTIONS_PATH": str(REPO / ".venv" / "collections"),
                     "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"})
        return Run(runner, private)

    return run


def _aws_credential(awx: FakeAWX) -> dict:
    """What an AWX admin makes once, by hand, with the keys typed into AWX (never in the repo)."""
    aws = awx.one("credential_types", name="Amazon Web Services")
    return awx.add("credentials", {"name": DATA["awx_aws_credential"], "credential_type": aws["id"],
                                   "inputs": {"username": "AKIAFAKEFAKEFAKE", "password": "fake-secret-key"}})


def _expected_config():
    from tests.unit.test_awx_surveys import CONFIG
    return CONFIG


def test_configure_creates_everything_then_changes_nothing_and_puts_hand_edits_back(awx, configure):
    credential = _aws_credential(awx)
    first = configure(awx)
    assert first.rc == 0, first.stdout
    assert first.changed and first.changed >= 8, first.stdout
    expected = _expected_config()

    org = awx.one("organizations", name="PropIE")
    ee = awx.one("execution_environments", name="PropIE rollback EE")
    assert (ee["image"], ee["pull"], ee["organization"]) == (EE_IMAGE, "missing", org["id"])
    project = awx.one("projects", name="PropIE rollback")
    assert {k: project[k] for k in ("scm_type", "scm_url", "scm_branch", "organization", "scm_update_on_launch",
                                    "scm_clean", "allow_override", "default_environment")} == {
        "scm_type": "git", "scm_url": DATA["awx_scm_url"], "scm_branch": "main", "organization": org["id"],
        "scm_update_on_launch": True, "scm_clean": True, "allow_override": False, "default_environment": ee["id"]}
    assert len(awx.find("project_updates", project=project["id"])) == 1  # the sync the module waited for
    inventory = awx.one("inventories", name="PropIE rollback")
    assert (inventory["organization"], inventory["kind"]) == (org["id"], "")
    source = awx.one("inventory_sources", name="PropIE rollback inventories")
    assert {k: source[k] for k in ("inventory", "source", "source_project", "source_path", "overwrite",
                                   "overwrite_vars", "update_on_launch")} == {
        "inventory": inventory["id"], "source": "scm", "source_project": project["id"],
        "source_path": "inventories/", "overwrite": True, "overwrite_vars": True, "update_on_launch": True}
    note = awx.one("notification_templates", name="PropIE rollback on-call")
    assert note["notification_type"] == "awssns"
    assert note["notification_configuration"]["sns_topic_arn"] == (
        "arn:aws:sns:us-east-1:000000000000:prop-ie-production-rollback-alerts")
    assert note["notification_configuration"]["aws_secret_access_key"] == ""  # AWX's own identity publishes

    templates = {t["name"]: t for t in awx.find("job_templates")}
    assert {n: t["playbook"] for n, t in templates.items()} == {
        t["name"]: t["playbook"] for t in DATA["awx_job_templates"]}
    assert "playbooks/dr_drill.yml" in PLAYBOOKS
    for want in expected["job_templates"]:
        got = templates[want["name"]]
        assert (got["project"], got["inventory"], got["organization"], got["execution_environment"]) == (
            project["id"], inventory["id"], org["id"], ee["id"]), want["name"]
        assert got["survey_enabled"] is True and got["ask_variables_on_launch"] is False
        assert got["ask_job_type_on_launch"] is want["ask_job_type_on_launch"]
        assert awx.survey(got["id"]) == want["survey_spec"], want["name"]
        assert awx.linked("job_templates", got["id"], "credentials") == [credential["id"]]
        for event in ("started", "success", "error"):
            linked = awx.linked("job_templates", got["id"], "notification_templates_" + event)
            assert linked == ([note["id"]] if want["notification_templates_" + event] else []), (want["name"], event)
    rollback = awx.survey(templates["PropIE rollback"]["id"])["spec"]
    assert [q["variable"] for q in rollback] == ["env", "confirm", "components", "restore_point", "incident_id",
                                                 "break_lock"]
    assert rollback[0]["choices"] == ["production", "staging"]

    schedules = {s["name"]: s for s in awx.find("schedules")}
    drill = templates["PropIE DR drill"]["id"]
    assert {n: (s["unified_job_template"], s["extra_data"], s["rrule"]) for n, s in schedules.items()} == {
        "PropIE weekly DR drill production": (
            drill, {"env": "production"}, "DTSTART;TZID=Europe/Dublin:20261201T040000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=WE"),
        "PropIE weekly DR drill staging": (
            drill, {"env": "staging"}, "DTSTART;TZID=Europe/Dublin:20261201T040000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=TU"),
    }
    assert awx.tokens == {}  # every module logged out (its token deleted)

    # Again, the controller's password given as a variable this time: nothing to change, nothing written.
    mark = len(awx.requests)
    second = configure(awx, how="vars")
    assert second.rc == 0, second.stdout
    assert second.changed == 0, second.stdout
    assert awx.writes(mark) == []

    mark = len(awx.requests)
    check = configure(awx, check=True)
    assert check.rc == 0 and check.changed == 0, check.stdout
    assert awx.writes(mark) == []

    # Changes made by hand in AWX are put back by the next run.
    template = templates["PropIE rollback"]
    spec = awx.survey(template["id"])
    awx.surveys[template["id"]]["spec"][0]["choices"].append("prod")  # a choice added in the UI
    schedule = schedules["PropIE weekly DR drill staging"]
    awx.objects["schedules"][schedule["id"]]["rrule"] = schedule["rrule"].replace("BYDAY=TU", "BYDAY=FR")
    awx.objects["job_templates"][template["id"]]["ask_variables_on_launch"] = True
    awx.links[("job_templates", template["id"], "credentials")] = []
    mark = len(awx.requests)
    fixed = configure(awx)
    assert fixed.rc == 0, fixed.stdout
    assert fixed.changed == 2, fixed.stdout  # the job template (fields, survey, credential) and the schedule
    assert awx.survey(template["id"]) == spec
    assert awx.one("schedules", name="PropIE weekly DR drill staging")["rrule"] == schedule["rrule"]
    assert awx.one("job_templates", name="PropIE rollback")["ask_variables_on_launch"] is False
    assert awx.linked("job_templates", template["id"], "credentials") == [credential["id"]]
    assert ("POST", f"/api/v2/job_templates/{template['id']}/survey_spec/", 200) in awx.writes(mark)

    for run in (first, second, check, fixed):
        leaked = [str(p) for p in run.private.glob("artifacts/**/*") if p.is_file()
                  and awx.password in p.read_text(errors="replace")]
        assert leaked == [], leaked
        assert awx.password not in run.stdout


def test_a_missing_aws_credential_stops_before_any_job_template(awx, configure):
    run = configure(awx)
    assert run.rc != 0
    failed = run.failed[-1]
    assert failed["task"] == "Create the job templates with their surveys"
    message = json.dumps(failed["res"])
    assert "/api/v2/credentials/" in message and "name=PropIE+AWS" in message and "returned 0 items" in message
    assert awx.find("job_templates") == [] and awx.find("schedules") == []


def test_a_wrong_controller_password_is_refused_and_nothing_is_made(awx, configure):
    _aws_credential(awx)
    run = configure(awx, password="wrong-" + awx.password)
    assert run.rc != 0
    assert run.failed[-1]["task"] == "Create the organization"
    assert "Failed to get token" in json.dumps(run.failed[-1]["res"])
    assert awx.find("organizations") == []
