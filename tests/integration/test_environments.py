"""Environments are a real inventory: `-e env=NAME` reaches NAME's AWS, and nothing else's.

- production and staging, with no AWS_ENDPOINT_URL, call AWS's regional endpoints (seen by a
  loopback HTTPS proxy that records CONNECT targets and refuses every tunnel);
- the same facts resolve from the whole inventory and from an AWX-style one-env inventory;
- an environment configured like production (pointed at the sandbox only through
  AWS_ENDPOINT_URL) refuses to change anything without -e confirm=production, prints what it
  would do and the command that confirms; that command, run as printed, proceeds;
- the shared trigger table is overridden one field per environment.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from sandbox.scenarios import propie_incident as incident
from tests.conftest import COLLECTIONS_PATH, REPO

BIN = Path(sys.executable).parent
INVENTORIES = REPO / "inventories"
REGIONAL_ENDPOINT = re.compile(r"^[a-z0-9-]+\.us-east-1\.amazonaws\.com:443$")


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that records each CONNECT target and refuses the tunnel."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn = self.server.accept()[0]
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    head = conn.recv(4096).decode("latin-1")
                except OSError:
                    continue
                first = head.split("\r\n", 1)[0].split()
                if len(first) >= 2:
                    self.targets.append(first[1] if first[0] == "CONNECT" else f"{first[0]} {first[1]}")
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def proxy():
    server = RefusingProxy()
    yield server
    server.close()


def _production_shell_env(proxy_port: int) -> dict[str, str]:
    """A user's shell with credentials and no endpoint: what an on-call engineer has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_NOCOLOR="1",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEEXAMPLE00", AWS_SECRET_ACCESS_KEY="not-a-real-secret-key",
        AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="2", AWS_RETRY_MODE="standard",
        HTTPS_PROXY=f"http://127.0.0.1:{proxy_port}", HTTP_PROXY=f"http://127.0.0.1:{proxy_port}",
        NO_PROXY="", no_proxy="",
    )
    return env


@pytest.mark.parametrize("env_name, playbook, service", [
    ("production", "playbooks/amplify_rollback.yml", "amplify"),
    # staging changes things without confirmation: its first call reads the stacks (the preflight,
    # before the env's lock is taken).
    ("staging", "playbooks/cloudformation_rollback.yml", "cloudformation"),
])
def test_real_environments_call_aws_regional_endpoints(proxy, tmp_path, env_name, playbook, service):
    env = _production_shell_env(proxy.port)
    env["PROPIE_ROLLBACK_STATE_DIR"] = str(tmp_path / "state")
    run = subprocess.run([str(BIN / "ansible-playbook"), playbook, "-e", f"env={env_name}"], cwd=REPO, env=env,
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    assert run.returncode != 0, run.stdout
    assert proxy.targets, f"no connection went through the proxy:\n{run.stdout}"
    assert all(REGIONAL_ENDPOINT.match(t) for t in proxy.targets), proxy.targets
    assert f"{service}.us-east-1.amazonaws.com:443" in proxy.targets
    assert not any("127.0.0.1" in t or "4566" in t for t in proxy.targets)
    said = " ".join(run.stdout.split())
    assert "Failed to connect to proxy" in said or "Could not connect to the endpoint URL" in said, run.stdout
    assert "AKIAEXAMPLE" not in run.stdout and "not-a-real-secret-key" not in run.stdout


def _facts(inventory: Path, env_name: str, tmp_path: Path) -> dict:
    """Every rollback_* variable of the env's host, templated, as a play sees it."""
    out = tmp_path / f"facts-{inventory.name}-{env_name}.json"
    playbook = tmp_path / "facts.yml"
    playbook.write_text(f"""
- name: Select the environment
  ansible.builtin.import_playbook: {REPO}/playbooks/select_env.yml
- name: Dump the facts
  hosts: "{{{{ env }}}}"
  gather_facts: false
  tasks:
    - name: Write them
      ansible.builtin.copy:
        content: "{{{{ dict(_names | zip(_names | map('extract', vars) )) | to_json }}}}"
        dest: {out}
        mode: "0600"
      vars:
        _names: "{{{{ query('ansible.builtin.varnames', '^rollback_') | reject('equalto', 'rollback_triggers') | list }}}}"
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_NOCOLOR="1")
    cmd = [str(BIN / "ansible-playbook"), str(playbook), "-e", f"env={env_name}"]
    if inventory != INVENTORIES:
        cmd[2:2] = ["-i", str(inventory)]
    run = subprocess.run(cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stdout
    return json.loads(out.read_text())


@pytest.mark.parametrize("env_name", ["production", "staging", "sandbox"])
def test_same_facts_from_the_default_inventory_and_an_awx_style_one(env_name, tmp_path):
    by_env = _facts(INVENTORIES, env_name, tmp_path)  # -e env= alone: ansible.cfg's inventory
    by_awx = _facts(INVENTORIES / f"{env_name}.yml", env_name, tmp_path)  # -i inventories/<env>.yml
    assert by_env == by_awx
    assert by_env["rollback_env"] == env_name
    assert by_env["rollback_poll_delay"] == (1 if env_name == "sandbox" else 15)
    if env_name == "sandbox":
        assert by_env["rollback_aws_endpoint_url"].startswith("http://127.0.0.1:")
        assert by_env["rollback_env_requires_confirmation"] is False
    else:
        assert "rollback_aws_endpoint_url" not in by_env  # never an endpoint for a real env
        assert by_env["rollback_env_requires_confirmation"] is True or env_name == "staging"


def test_the_trigger_table_is_defined_once():
    """One trigger table and one contacts table for every env; envs override fields only."""
    defined = {}
    for path in sorted(INVENTORIES.rglob("*.yml")):
        for key in (yaml.safe_load(path.read_text()) or {}):
            defined.setdefault(key, []).append(path.relative_to(INVENTORIES).as_posix())
    assert defined["rollback_triggers"] == ["group_vars/all/triggers.yml"]
    assert defined["rollback_contacts"] == ["group_vars/all/triggers.yml"]
    assert defined["rollback_aws_endpoint_url"] == ["group_vars/sandbox.yml"]


def _production_like(tmp_path: Path, overrides: dict | None = None) -> Path:
    """An inventory whose production group has the sandbox estate's ids but production's rules.

    It has no endpoint (AWS_ENDPOINT_URL from the environment points botocore at the sandbox)
    and needs confirmation; the shared group_vars/all is the repository's own.
    """
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "group_vars" / "all").symlink_to(INVENTORIES / "group_vars" / "all")
    facts = yaml.safe_load((INVENTORIES / "group_vars" / "sandbox.yml").read_text())
    facts.pop("rollback_aws_endpoint_url")
    facts.update({"rollback_env": "production", "rollback_env_requires_confirmation": True, **(overrides or {})})
    (inventory / "group_vars" / "production.yml").write_text(yaml.safe_dump(facts))
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"production": {"hosts": {"rollback-production": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    return inventory


def test_production_without_confirm_previews_and_the_printed_command_proceeds(
        sandbox, run_playbook, run_printed, tmp_path):
    sandbox.set_time_scale(0.01)
    incident.seed(sandbox)
    inventory = _production_like(tmp_path)
    cfn = sandbox.boto3_client("cloudformation")
    stack = cfn.describe_stacks(StackName=incident.STACK)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_FAILED"

    seq = sandbox.last_seq()
    preview = run_playbook("playbooks/cloudformation_rollback.yml", inventory=str(inventory),
                           extravars={"env": "production"})
    assert preview.rc != 0
    assert sandbox.mutating_since(seq) == []
    assert sandbox.requests(seq), "the preview reads the stacks"
    said = " ".join(preview.stdout.split())
    assert "PREVIEW: production needs -e confirm=production" in said
    # What it would do: the stack's action, predicted in check mode.
    recovered = preview.result("Recover each stack")
    assert recovered["results"][0]["action"] == "continue" and recovered["results"][0]["predicted"]
    message = preview.result("Stop after the preview, confirmation is needed")["msg"]
    assert "production needs confirmation: nothing was changed" in message
    command = message.split("To run it: ", 1)[1]
    assert command.split()[0] == "ansible-playbook" and command.endswith("-e confirm=production")

    wrong = run_playbook("playbooks/cloudformation_rollback.yml", inventory=str(inventory),
                         extravars={"env": "production", "confirm": "staging"})
    assert wrong.rc != 0 and "confirm='staging' does not match env=production" in " ".join(wrong.stdout.split())
    assert sandbox.mutating_since(seq) == []

    confirmed = run_printed(command)
    assert confirmed.returncode == 0, confirmed.stdout
    assert "Confirmed for production: changes are made." in confirmed.stdout
    ops = [r["operation"] for r in sandbox.mutating_since(seq)]
    assert ops.count("ContinueUpdateRollback") == 1, ops
    assert cfn.describe_stacks(StackName=incident.STACK)["Stacks"][0]["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"


def test_check_mode_needs_no_confirmation(sandbox, run_playbook, tmp_path):
    incident.seed(sandbox)
    inventory = _production_like(tmp_path)
    seq = sandbox.last_seq()
    check = run_playbook("playbooks/cloudformation_rollback.yml", inventory=str(inventory),
                         extravars={"env": "production"}, check=True)
    assert check.rc == 0, check.stdout
    assert sandbox.mutating_since(seq) == []


def test_a_per_env_threshold_override_is_honoured(sandbox, run_playbook, tmp_path):
    inventory = _production_like(tmp_path, {"rollback_trigger_overrides": {"5XX error rate": {"threshold": 2}}})
    sandbox.boto3_client("sns").create_topic(Name="prop-ie-sandbox-rollback-alerts")
    run = run_playbook("playbooks/alarms.yml", inventory=str(inventory),
                       extravars={"env": "production", "confirm": "production"})
    assert run.rc == 0, run.stdout
    alarms = {a["AlarmName"]: a for a in sandbox.boto3_client("cloudwatch").describe_alarms()["MetricAlarms"]}
    thresholds = {name.split("-", 1)[-1]: a["Threshold"] for name, a in alarms.items()}
    table = yaml.safe_load((INVENTORIES / "group_vars" / "all" / "triggers.yml").read_text())["rollback_triggers"]
    assert len(alarms) == len(table)
    five_xx = [a["Threshold"] for n, a in alarms.items() if "5xx" in n.lower()]
    latency = [a["Threshold"] for n, a in alarms.items() if "latency" in n.lower()]
    assert five_xx == [2.0], thresholds
    assert latency == [3000.0], thresholds  # the rest of the shared table as it is

    bad = _production_like(tmp_path / "bad", {"rollback_trigger_overrides": {"5XX rate": {"threshold": 2}}})
    seq = sandbox.last_seq()
    failed = run_playbook("playbooks/alarms.yml", inventory=str(bad), extravars={"env": "production", "confirm": "production"})
    assert failed.rc != 0
    assert "rollback_trigger_overrides names unknown trigger(s) 5XX rate" in " ".join(failed.stdout.split())
    assert sandbox.mutating_since(seq) == []


def test_an_inventory_whose_group_says_another_env_is_refused(sandbox, run_playbook, tmp_path):
    inventory = _production_like(tmp_path, {"rollback_env": "staging"})
    run = run_playbook("playbooks/cloudformation_rollback.yml", inventory=str(inventory),
                       extravars={"env": "production", "confirm": "production"})
    assert run.rc != 0
    assert "Group production's facts say rollback_env='staging'" in " ".join(run.stdout.split())
    assert sandbox.requests() == []


def test_no_inventory_at_all_says_how_to_give_one(sandbox, tmp_path):
    env = {**os.environ, **sandbox.env(), "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH), "ANSIBLE_NOCOLOR": "1"}
    empty = tmp_path / "empty"
    empty.mkdir()
    run = subprocess.run([str(BIN / "ansible-playbook"), "propie.rollback.cloudformation_rollback", "-e", "env=production"],
                         cwd=empty, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                         check=False)
    assert run.returncode != 0
    said = " ".join(run.stdout.split())
    assert "this inventory holds no environment; pass -i with the collection's inventories/ directory" in said
    assert sandbox.requests() == []
