"""The rollback, watch, shift and DR-drill playbooks run as AWX runs a job, against the sandbox.

Each job goes through ansible-runner's Python API (AWX's executor) on a private data directory
laid out the way AWX's RunJob lays one out (awx/main/tasks/jobs.py, AWX 24):

- project/: the checkout, as AWX's copy of the project (its ansible.cfg applies: the job runs
  in it); propie.rollback reached through ANSIBLE_COLLECTIONS_PATH from requirements_collections/,
  where a project sync installs collections/requirements.yml (`type: dir`, the checkout);
- inventory/hosts: the script AWX writes from its database, here from what an SCM inventory
  source imports from the repository's inventories/ (`ansible-inventory --list --export`);
- env/extravars: AWX's job variables (awx_job_id, awx_user_name, ...) and the survey answers as
  AWX passes them for the job templates awx_configure.yml creates (tests/awx_fake.py ports AWX's
  survey rules), every string tagged !unsafe, as AWX writes them;
- env/cmdline (`-u root`), env/envvars (AWX's ANSIBLE_* settings and job variables, the admin's
  extra environment: the sandbox endpoint and the state directory);
- the AWS credential injected as AWX injects one of type `PropIE AWS profile`
  (playbooks/files/awx_credential_types.yml, which awx_configure.yml creates): its file templates
  rendered into env/, its env injectors setting AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE and
  AWS_PROFILE. No key is in the job's environment (the pytest process's AWS_* are removed too:
  ansible-runner passes its own environment on), so botocore can only have used the profile.

Then: rc and status, the artifacts/<id>/ files AWX reads, the set_stats each playbook publishes
(artifact_data of the playbook_on_stats event, which AWX stores as the job's artifacts), and no
byte of the key id, secret key or session token anywhere under artifacts/. A job given AWX's
built-in "Amazon Web Services" credential (keys as environment variables) shows why: its
artifacts/<id>/command holds the secret.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import os
import re
import secrets
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.propie.rollback.plugins.filter.awx import awx_config
from sandbox.scenarios import propie_incident as incident
from tests.awx_fake import launch_variables
from tests.conftest import REPO
from tests.integration.test_dr_drill import _seed as _seed_drill
from tests.integration.test_rollback_playbook import _estate as _incident_estate, _seed as _seed_incident
from tests.integration.test_shift import _estate as _shift_estate, _mapping, _traffic
from tests.unit.test_awx_surveys import DATA, GROUPS, HOSTVARS

CREDENTIAL_TYPES = {t["name"]: t for t in yaml.safe_load(
    (REPO / "playbooks" / "files" / "awx_credential_types.yml").read_text())}
# The job templates and surveys awx_configure.yml makes for an AWX that can reach the sandbox
# (-e '{"awx_envs_excluded": []}'): the same filter, every environment of the inventory offered.
TEMPLATES = {t["name"]: t for t in awx_config(
    GROUPS, HOSTVARS, DATA["awx_job_templates"], DATA["awx_survey_questions"], DATA["awx_drill_schedule"],
    [], DATA["awx_notification_templates"])["job_templates"]}
# AWX's ANSIBLE_* settings (awx/settings/defaults.py), passed to every job.
AWX_SETTINGS_ENV = {"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False",
                    "ANSIBLE_FORCE_COLOR": "True", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"}
# The sandbox group's variables in this AWX: the shift's bake and gate in seconds of the sandbox.
SANDBOX_GROUP_VARS = {"traffic_shift_bake_seconds": 3, "traffic_shift_gate_interval": 2}
JOB_IDS = itertools.count(4201)
# What AWX reads of a job's artifacts/<id>/ (stdout: ansible-runner's; AWX streams it instead).
ARTIFACTS = {"job_events", "stdout", "status", "rc", "command"}


class _Unsafe(yaml.SafeDumper):
    """AWX's SafeStringDumper (awx/main/utils/safe_yaml.py): every string !unsafe."""

    def represent_data(self, data):
        if isinstance(data, str):
            return self.represent_scalar("!unsafe", data)
        return super().represent_data(data)


@functools.cache
def _imported() -> dict:
    """What an SCM inventory source imports from the repository's inventories/ (AWX runs
    ansible-inventory --list --export on it)."""
    return json.loads(subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(REPO / "inventories"), "--list",
         "--export"], cwd=REPO, check=True, capture_output=True, text=True).stdout)


def _awx_inventory_script(production_like: bool = False) -> str:
    """inventory/hosts as AWX writes it for the inventory synced from the repository's inventories/.

    The `all` group's variables become the inventory's; the job's script prints
    Inventory.get_script_data(hostvars=True, towervars=True), less remote_tower_id.
    `production_like`: the production group's facts are the sandbox estate's ids with production's
    rules (no endpoint: AWS_ENDPOINT_URL points botocore at the sandbox), as
    tests/integration/test_environments.py makes them.
    """
    exported = copy.deepcopy(_imported())
    meta = exported.pop("_meta")
    top = exported.pop("all")
    exported.pop("ungrouped", None)
    data = {"all": {"vars": top.get("vars", {}), "hosts": [], "children": sorted(exported)}}
    for name, group in sorted(exported.items()):
        data[name] = {k: group[k] for k in ("hosts", "children", "vars") if group.get(k)}
    data["sandbox"]["vars"] = {**data["sandbox"].get("vars", {}), **SANDBOX_GROUP_VARS}
    if production_like:
        facts = {k: v for k, v in data["sandbox"]["vars"].items() if k != "rollback_aws_endpoint_url"}
        data["production"]["vars"] = {**facts, "rollback_env": "production", "rollback_env_requires_confirmation": True}
    data["_meta"] = {"hostvars": {host: {**hostvars, "remote_tower_enabled": "true"}
                                  for host, hostvars in meta["hostvars"].items()}}
    return "#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(data)


def _inject(credential_type: dict, inputs: dict, private: Path) -> dict:
    """AWX's CredentialType.inject_credential for a custom type: files into env/, then env vars."""
    namespace = {"tower": type("TowerNamespace", (), {})()}
    namespace.update({k: v for k, v in inputs.items() if v})  # an empty input is left undefined
    files = type("TowerNamespace", (), {})()
    sandbox_env = ImmutableSandboxedEnvironment()
    for label, template in credential_type["injectors"].get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=private / "env")
        with os.fdopen(handle, "w") as out:
            out.write(sandbox_env.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." in label:
            namespace["tower"].filename = files
            setattr(files, label.split(".", 1)[1], path)
        else:
            namespace["tower"].filename = path
    return {name: sandbox_env.from_string(template).render(**namespace)
            for name, template in credential_type["injectors"].get("env", {}).items()}


def _aws_builtin(inputs: dict) -> dict:
    """AWX's injector of the built-in "Amazon Web Services" type: the keys as env variables."""
    env = {"AWS_ACCESS_KEY_ID": inputs["access_key_id"], "AWS_SECRET_ACCESS_KEY": inputs["secret_access_key"]}
    if inputs.get("session_token"):
        env["AWS_SECURITY_TOKEN"] = env["AWS_SESSION_TOKEN"] = inputs["session_token"]
    return env


class Job:
    """A finished job: what AWX gets back from ansible-runner, read from the artifacts directory."""

    def __init__(self, runner, private: Path, job_id: int, secrets_: list[str]):
        self.rc, self.status = runner.rc, runner.status
        self.private, self.job_id, self.secrets = private, job_id, secrets_
        self.artifacts = private / "artifacts" / str(job_id)
        self.events = sorted((json.loads(p.read_text()) for p in (self.artifacts / "job_events").glob("*.json")),
                             key=lambda e: e["counter"])
        self.stdout = (self.artifacts / "stdout").read_text()

    @property
    def said(self) -> str:
        """The output as one line, without colours (AWX strips them the same way)."""
        return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", self.stdout).split())

    def stats(self) -> dict:
        """artifact_data of the playbook_on_stats event: what AWX stores as the job's artifacts."""
        (event,) = [e for e in self.events if e["event"] == "playbook_on_stats"]
        return event["event_data"].get("artifact_data", {})

    def command(self) -> dict:
        return json.loads((self.artifacts / "command").read_text())


@pytest.fixture
def awx_job(sandbox, tmp_path, monkeypatch):
    """launch(template, credential='profile'|'aws', production_like=False, **answers) -> Job: that job
    template launched with these survey answers, run as AWX runs it."""
    import ansible_runner

    # An execution environment has no AWS_* or ANSIBLE_CONFIG of a developer's shell; ansible-runner
    # hands its own environment on to the job (and into artifacts/<id>/command), so they go.
    for key in [k for k in os.environ if k.startswith("AWS_")] + ["ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH"]:
        monkeypatch.delenv(key, raising=False)

    def launch(template: str, credential: str = "profile", production_like: bool = False, **answers) -> Job:
        job_id = next(JOB_IDS)
        spec = TEMPLATES[template]
        private = Path(tempfile.mkdtemp(prefix=f"awx_{job_id}_", dir=tmp_path))
        for sub in ("project", "inventory", "env", "cp", "requirements_collections/ansible_collections/propie"):
            (private / sub).mkdir(parents=True, exist_ok=True)
        # The project: AWX's copy of the checkout (here each top-level entry, linked).
        for entry in REPO.iterdir():
            if not entry.name.startswith("."):
                (private / "project" / entry.name).symlink_to(entry)
        (private / "requirements_collections/ansible_collections/propie/rollback").symlink_to(REPO)
        hosts = private / "inventory" / "hosts"
        hosts.write_text(_awx_inventory_script(production_like))
        hosts.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IWUSR)

        extravars = {
            "awx_job_id": job_id, "awx_job_launch_type": "manual", "awx_job_template_id": 12,
            "awx_job_template_name": template, "awx_project_revision": "0" * 40, "awx_project_scm_branch": "main",
            "awx_execution_node": "awx-task-0", "awx_inventory_id": 3, "awx_inventory_name": DATA["awx_inventory"],
            "awx_user_id": 7, "awx_user_name": "oncall.jane", "awx_user_email": "jane@example.invalid",
            "awx_user_first_name": "Jane", "awx_user_last_name": "Oncall",
        }
        extravars.update({"tower_" + k[4:]: v for k, v in list(extravars.items())})
        extravars.update(launch_variables(spec["survey_spec"], answers))
        path = private / "env" / "extravars"
        path.write_text(yaml.dump(extravars, Dumper=_Unsafe, default_flow_style=False))
        path.chmod(stat.S_IRUSR)
        (private / "env" / "cmdline").write_text("-u root")  # AWX: no machine credential, user root

        key_id = "AKIA" + secrets.token_hex(8).upper()
        inputs = {"access_key_id": key_id, "secret_access_key": "propie-awx-secret-" + secrets.token_urlsafe(24),
                  "session_token": "propie-awx-token-" + secrets.token_urlsafe(48), "role_arn": ""}
        injected = (_inject(CREDENTIAL_TYPES["PropIE AWS profile"], inputs, private) if credential == "profile"
                    else _aws_builtin(inputs))
        envvars = {
            **AWX_SETTINGS_ENV,
            "AWX_PRIVATE_DATA_DIR": str(private), "JOB_ID": str(job_id), "INVENTORY_ID": "3",
            "PROJECT_REVISION": "0" * 40, "ANSIBLE_RETRY_FILES_ENABLED": "False", "MAX_EVENT_RES": "700000",
            "AWX_HOST": "https://awx.example.invalid", "ANSIBLE_SSH_CONTROL_PATH_DIR": str(private / "cp"),
            "ANSIBLE_COLLECTIONS_PATH": f"{private / 'requirements_collections'}:~/.ansible/collections:"
                                        "/usr/share/ansible/collections",
            "ANSIBLE_ROLES_PATH": f"{private / 'requirements_roles'}:roles:~/.ansible/roles:/usr/share/ansible/roles:"
                                  "/etc/ansible/roles",
            # AWX_TASK_ENV, the admin's extra environment of jobs: where AWS is, where state goes.
            "AWS_ENDPOINT_URL": sandbox.endpoint, "PROPIE_ROLLBACK_STATE_DIR": str(tmp_path / "state"),
            **injected,
        }
        (private / "env" / "envvars").write_text(yaml.safe_dump(envvars))
        runner = ansible_runner.run(
            private_data_dir=str(private), ident=str(job_id), playbook=spec["playbook"], inventory=str(hosts),
            settings={"job_timeout": 600, "suppress_ansible_output": True}, quiet=True)  # timeout: a safety net
        return Job(runner, private, job_id, [key_id, inputs["secret_access_key"], inputs["session_token"]])

    return launch


def _artifacts_as_awx_reads_them(job: Job) -> None:
    assert ARTIFACTS <= {p.name for p in job.artifacts.iterdir()}, sorted(p.name for p in job.artifacts.iterdir())
    assert (job.artifacts / "status").read_text() == job.status
    assert (job.artifacts / "rc").read_text() == str(job.rc)
    kinds = [e["event"] for e in job.events]
    assert kinds[0] == "playbook_on_start" and "playbook_on_stats" in kinds
    assert [e["counter"] for e in job.events] == list(range(1, len(job.events) + 1))
    assert all(e["runner_ident"] == str(job.job_id) and e["uuid"] for e in job.events)
    command = job.command()
    assert command["cwd"] == str(job.private / "project")
    assert "ansible-playbook" in Path(command["command"][0]).name
    assert f"@{job.private / 'env' / 'extravars'}" in command["command"]
    # The job's environment names the credential's files; it holds no key.
    env = command["env"]
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"} & set(env)
    assert env["AWS_PROFILE"] == "propie"
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        assert Path(env[name]).parent == job.private / "env" and stat.S_IMODE(Path(env[name]).stat().st_mode) == 0o600


def _no_secret_in_artifacts(job: Job) -> None:
    """Not one byte of the key id, the secret key or the session token under artifacts/."""
    files = [p for p in (job.private / "artifacts").rglob("*") if p.is_file()]
    assert len(files) > 10, files
    for value in job.secrets:
        needle = value.encode()
        found = [str(p.relative_to(job.private)) for p in files if needle in p.read_bytes()]
        assert found == [], f"{value[:8]}... is in {found}"
    # The search can find them: the credential file AWX wrote (outside artifacts/) holds them.
    written = b"".join(p.read_bytes() for p in (job.private / "env").iterdir() if p.name.startswith("tmp"))
    assert all(value.encode() in written for value in job.secrets[:2])


def _succeeded(job: Job) -> None:
    assert (job.rc, job.status) == (0, "successful"), job.stdout
    _artifacts_as_awx_reads_them(job)
    _no_secret_in_artifacts(job)


def test_rollback_job_rolls_the_incident_back_and_hands_on_its_record(sandbox, awx_job, tmp_path):
    point = _seed_incident(sandbox)
    job = awx_job("PropIE rollback", env="sandbox", components=["traffic", "frontend", "infra", "data"],
                  restore_point=point)
    _succeeded(job)
    rollback = job.stats()["rollback"]
    assert (rollback["env"], rollback["status"], rollback["todo"]) == (
        "sandbox", "succeeded", ["traffic", "frontend", "infra", "data"])
    assert rollback["incident_id"].startswith("rb-") and rollback["summary"]
    assert set(rollback["record"]) == {"json", "markdown", "html"}
    record = json.loads(Path(rollback["record"]["json"]).read_text())
    assert Path(rollback["record"]["json"]).parent == tmp_path / "state" / "incidents" / "sandbox"
    assert record["status"] == "succeeded" and record["incident_id"] == rollback["incident_id"]
    assert "oncall.jane" in json.dumps(record) and str(job.job_id) in json.dumps(record)  # who ran it: AWX's user
    after = _incident_estate(sandbox)
    assert after["traffic"] == {"": "production", "www": "production"} and after["stack"] == "UPDATE_ROLLBACK_COMPLETE"
    assert after["table"] == f"{incident.TABLE}-pitr-{rollback['incident_id']}"


def test_watch_job_decides_rollback_and_hands_on_both_outcomes(sandbox, awx_job):
    _seed_incident(sandbox)  # 5XX at 15 %: the rollback trigger breaches
    job = awx_job("PropIE rollback watch", env="sandbox", watch_minutes=1)
    _succeeded(job)
    stats = job.stats()
    assert (stats["watch"]["env"], stats["watch"]["decision"], stats["watch"]["held"]) == ("sandbox", "rollback", False)
    assert any(r.startswith("5XX error rate") for r in stats["watch"]["reasons"])
    assert (stats["rollback"]["status"], stats["rollback"]["todo"]) == ("succeeded", ["traffic", "frontend", "infra"])
    assert _incident_estate(sandbox)["traffic"] == {"": "production", "www": "production"}


def test_shift_job_moves_traffic_to_green_and_hands_on_the_steps(sandbox, awx_job):
    app_id, _sqs, _url = _shift_estate(sandbox)
    _traffic(sandbox, app_id)
    job = awx_job("PropIE traffic shift", env="sandbox")
    _succeeded(job)
    shift = job.stats()["shift"]
    # No decision asked for (a new shift): the survey sends none. It started on blue.
    assert (shift["env"], shift["status"], shift["decision"], shift["on_green"]) == ("sandbox", "completed", "", False)
    assert [s["percent"] for s in shift["steps"]] == [100] and shift["gate"]["decision"] == "healthy"
    assert shift["green_branch"] == "green"
    assert _mapping(sandbox, app_id) == {"": "green", "www": "green"}


def test_drill_job_as_the_schedule_launches_it_passes_with_rto_and_rpo(sandbox, awx_job, tmp_path):
    _seed_drill(sandbox)
    before = sorted(sandbox.boto3_client("dynamodb").list_tables()["TableNames"])
    job = awx_job("PropIE DR drill", env="sandbox")  # a schedule's extra_data: the env alone
    _succeeded(job)
    drill = job.stats()["dr_drill"]
    assert (drill["env"], drill["status"], drill["passed"], drill["left_behind"]) == ("sandbox", "succeeded", True, [])
    assert drill["rto_seconds"] > 0 and drill["rpo_seconds"] > 0 and drill["full_rollback"] is None
    report = json.loads(Path(drill["report"]["json"]).read_text())
    assert (report["drill_id"], report["rto_seconds"], report["rpo_seconds"]) == (
        drill["drill_id"], drill["rto_seconds"], drill["rpo_seconds"])
    assert Path(drill["report"]["json"]).parent == tmp_path / "state" / "drills" / "sandbox"
    assert sorted(sandbox.boto3_client("dynamodb").list_tables()["TableNames"]) == before


def test_a_refused_job_fails_and_keys_as_environment_variables_land_in_the_artifacts(sandbox, awx_job):
    # production (the sandbox estate under production's rules), no confirmation typed into the
    # survey: the plan, then a preview that fails the job, changing nothing.
    point = _seed_incident(sandbox)
    seq = sandbox.last_seq()
    refused = awx_job("PropIE rollback", production_like=True, env="production",
                      components=["traffic", "frontend", "infra", "data"], restore_point=point)
    assert refused.rc != 0 and refused.status == "failed"
    assert "production needs confirmation: nothing was changed" in refused.said, refused.said
    assert sandbox.mutating_since(seq) == []
    _artifacts_as_awx_reads_them(refused)
    _no_secret_in_artifacts(refused)

    # A survey choice the drill refuses (drill_full for production), with the built-in AWS
    # credential: refused before any AWS call, and its keys are in artifacts/<id>/command.
    seq = sandbox.last_seq()
    keyed = awx_job("PropIE DR drill", credential="aws", env="production", drill_full="true", confirm="production")
    assert keyed.rc != 0 and keyed.status == "failed"
    assert "drill_full" in keyed.said and sandbox.requests(seq) == []
    env = keyed.command()["env"]
    assert [env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")] == keyed.secrets
    leaked = [p.name for p in keyed.artifacts.iterdir() if p.is_file() and keyed.secrets[1].encode() in p.read_bytes()]
    assert leaked == ["command"]


@pytest.mark.parametrize("role_arn", ["", "arn:aws:iam::123456789012:role/propie-rollback"])
def test_the_profile_credential_type_gives_botocore_the_keys_or_the_role(tmp_path, monkeypatch, role_arn):
    """Its files as AWX renders them, read by botocore: the keys of profile propie, or (with a role
    ARN) profile propie assuming that role with the keys as its source profile."""
    import botocore.session

    (tmp_path / "env").mkdir()
    inputs = {"access_key_id": "AKIAPROPIEAWXTEST001", "secret_access_key": "propie-awx-secret", "session_token": "",
              "role_arn": role_arn}
    injected = _inject(CREDENTIAL_TYPES["PropIE AWS profile"], inputs, tmp_path)
    assert set(injected) == {"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_PROFILE"}
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in injected.items():
        monkeypatch.setenv(key, value)
    session = botocore.session.Session()
    if not role_arn:
        credentials = session.get_credentials()
        assert (credentials.access_key, credentials.secret_key, credentials.token) == (
            "AKIAPROPIEAWXTEST001", "propie-awx-secret", None)
        assert credentials.method == "shared-credentials-file"
    else:
        assert session.get_scoped_config() == {"role_arn": role_arn, "source_profile": "propie-keys",
                                               "role_session_name": "awx-job"}
        assert session.full_config["profiles"]["propie-keys"] == {
            "aws_access_key_id": "AKIAPROPIEAWXTEST001", "aws_secret_access_key": "propie-awx-secret"}
