"""The molecule scenarios' plumbing (tools/molecule_scenarios.py, .config/molecule/config.yml).

The scenarios themselves run with `make molecule`; these tests check, in seconds, that every
role has one, that they test this checkout and nothing else (the stale-copy guard), and that a
scenario's sandbox starts on 127.0.0.1 and is stopped again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import COLLECTIONS_PATH, REPO

TOOL = REPO / "tools" / "molecule_scenarios.py"
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


def tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=REPO, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


def stale_copy(collections: Path, version: str = "0.0.9") -> Path:
    """A copy of propie.rollback as ansible-galaxy installs one (MANIFEST.json), not the checkout."""
    copy = collections / "ansible_collections" / "propie" / "rollback"
    copy.mkdir(parents=True)
    (copy / "MANIFEST.json").write_text(json.dumps({
        "collection_info": {"namespace": "propie", "name": "rollback", "version": version},
        "file_manifest_file": {"name": "FILES.json"}}))
    return copy


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_a_scenario_that_converges_it_by_fqcn(role):
    scenario = REPO / "roles" / role / "molecule" / "default"
    for playbook in ("molecule.yml", "converge.yml", "verify.yml"):
        assert (scenario / playbook).is_file(), f"{scenario / playbook} is missing"
    converge = yaml.safe_load((scenario / "converge.yml").read_text())
    assert [r["role"] for play in converge for r in play.get("roles", [])] == [f"propie.rollback.{role}"]
    sequence = yaml.safe_load((scenario / "molecule.yml").read_text()).get("scenario", {}).get("test_sequence")
    if sequence is not None:  # a scenario that changes the shared sequence keeps prepare..cleanup
        assert sequence[0] == "prepare" and sequence[-1] == "cleanup" and "verify" in sequence


def test_shared_config_tests_the_checkout_not_a_copy():
    config = yaml.safe_load((REPO / ".config" / "molecule" / "config.yml").read_text())
    # prerun would install the collection into ~/.ansible/collections; the galaxy step would
    # try to reach Galaxy.
    assert config["prerun"] is False
    assert config["dependency"]["enabled"] is False
    assert config["ansible"]["env"]["ANSIBLE_COLLECTIONS_PATH"] == "${MOLECULE_PROJECT_DIRECTORY}/../../.venv/collections"
    assert (REPO / "roles" / "x" / ".." / ".." / ".venv" / "collections").resolve() == COLLECTIONS_PATH.resolve()
    assert config["driver"] == {"name": "default", "options": {"managed": False}}
    assert config["scenario"]["test_sequence"] == ["prepare", "converge", "idempotence", "verify", "cleanup"]


def test_guard_passes_on_the_checkout(tmp_path):
    result = tool("guard", env={"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH), "ANSIBLE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "resolves to this checkout" in result.stdout


def test_guard_fails_loudly_when_a_stale_copy_comes_first(tmp_path):
    copy = stale_copy(tmp_path / "stale")
    result = tool("guard", env={"ANSIBLE_COLLECTIONS_PATH": f"{tmp_path / 'stale'}:{COLLECTIONS_PATH}",
                                "ANSIBLE_HOME": str(tmp_path / "home")})
    assert result.returncode != 0
    assert "STALE OR MISSING propie.rollback" in result.stderr
    assert f"Ansible would load propie.rollback from {copy}" in result.stderr
    assert "that copy shadows your edits" in result.stderr and "rm -rf" in result.stderr


def test_guard_fails_on_a_copy_where_molecule_prerun_installs_it(tmp_path):
    # ~/.ansible/collections (ANSIBLE_HOME here): not on the scenarios' path, but every run
    # without it (molecule with prerun, ansible-playbook without the venv's path) loads it.
    copy = stale_copy(tmp_path / "home" / "collections")
    result = tool("guard", env={"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH), "ANSIBLE_HOME": str(tmp_path / "home")})
    assert result.returncode != 0
    assert f"a copy of propie.rollback is at {copy}" in result.stderr


def test_guard_fails_when_ansible_finds_no_copy(tmp_path):
    result = tool("guard", env={"ANSIBLE_COLLECTIONS_PATH": str(tmp_path), "ANSIBLE_HOME": str(tmp_path / "home")})
    assert result.returncode != 0
    assert "Ansible finds no propie.rollback" in result.stderr and "make setup" in result.stderr


def test_all_runs_the_guard_before_anything(tmp_path):
    stale_copy(tmp_path / "home" / "collections")
    result = tool("all", "--jobs", "1", env={"ANSIBLE_HOME": str(tmp_path / "home")})
    assert result.returncode != 0
    assert "STALE OR MISSING propie.rollback" in result.stderr
    assert "molecule: sandbox" not in result.stdout  # nothing was started


def _alive(pid: int) -> bool:
    try:
        return b"sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_up_starts_a_sandbox_on_loopback_and_down_stops_it(tmp_path):
    env = {"MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path), "PROPIE_MOLECULE_SANDBOX": ""}
    up = tool("up", "--time-scale", "0.02", env=env)
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "sandbox.json").read_text())
    try:
        assert state["owned"] is True and state["endpoint"].startswith("http://127.0.0.1:")
        assert _alive(state["pid"])
        calls = json.dumps([["sqs", "list_queues", {}]])
        aws = tool("aws", calls, env=env)
        assert aws.returncode == 0, aws.stderr
        assert json.loads(aws.stdout) == [{}]  # a fresh (reset) sandbox has no queues
    finally:
        down = tool("down", env=env)
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout) == {"stopped": True, "pid": state["pid"]}
    assert not _alive(state["pid"])
    assert not (tmp_path / "sandbox.json").exists()
    again = tool("down", env=env)  # idempotent: cleanup also runs when nothing was prepared
    assert again.returncode == 0 and json.loads(again.stdout)["stopped"] is False


def test_up_with_a_shared_sandbox_resets_it_and_down_leaves_it_running(sandbox_server, tmp_path):
    scale = sandbox_server.health()["time_scale"]
    sandbox_server.boto3_client("sqs").create_queue(QueueName="left-over")
    env = {"MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path), "PROPIE_MOLECULE_SANDBOX": sandbox_server.endpoint}
    try:
        up = tool("up", "--time-scale", "0.02", env=env)
        assert up.returncode == 0, up.stderr
        assert json.loads((tmp_path / "sandbox.json").read_text())["owned"] is False
        assert "QueueUrls" not in sandbox_server.boto3_client("sqs").list_queues()  # reset
        assert sandbox_server.health()["time_scale"] == 0.02
        down = tool("down", env=env)
        assert down.returncode == 0 and json.loads(down.stdout)["stopped"] is False
        assert sandbox_server.health()  # still serving
    finally:
        sandbox_server.set_time_scale(scale)  # the session's sandbox serves other tests too
