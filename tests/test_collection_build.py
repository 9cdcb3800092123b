"""The collection builds into an artifact that installs offline and documents every module.

Built from the work tree with `ansible-galaxy collection build`, installed with
`ansible-galaxy collection install --offline` into a temporary collections path: no Galaxy
server is contacted (the configured server is an unroutable address, so any attempt
fails), and the `amazon.aws` dependency from galaxy.yml must be satisfied by the copy the
`ansible` package ships in the venv's site-packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
# Development tooling that must never ship (see build_ignore in galaxy.yml).
NOT_SHIPPED = ("sandbox/", "tests/", "tools/", "bench/", ".venv/", ".build/", ".ci/", "Makefile")


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | dict[str, str]]:
    work = tmp_path_factory.mktemp("collection_build")
    collections = work / "collections"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_HOME=str(work / "ansible_home"),
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        # Nothing listens here: a Galaxy lookup would fail the install instead of passing unseen.
        ANSIBLE_GALAXY_SERVER="http://127.0.0.1:9/",
        ANSIBLE_NOCOLOR="1",
    )
    run([str(BIN / "ansible-galaxy"), "collection", "build", str(ROOT), "--output-path", str(work)], env, work)
    tarball = work / f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
    assert tarball.is_file()
    install = run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections), str(tarball)],
        env,
        work,
    )
    return {
        "work": work,
        "tarball": tarball,
        "installed": collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"],
        "env": env,
        "install_log": install.stdout,
    }


def test_manifest_carries_galaxy_metadata(built):
    with tarfile.open(built["tarball"]) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert manifest["namespace"] == "propie" and manifest["name"] == "rollback"
    assert manifest["version"] == "0.1.0"
    assert manifest["license"] == ["GPL-3.0-or-later"]
    assert manifest["dependencies"] == {"amazon.aws": ">=10.0.0", "community.aws": ">=10.0.0"}
    assert manifest["readme"] == "README.md"
    for key in ("repository", "documentation", "homepage", "issues"):
        assert manifest[key].startswith("https://github.com/propie/propie.rollback"), key


def test_artifact_ships_content_and_no_dev_tooling(built):
    with tarfile.open(built["tarball"]) as tar:
        names = tar.getnames()
    for required in ("COPYING", "README.md", "meta/runtime.yml", "changelogs/changelog.yaml"):
        assert required in names
    assert {f"plugins/modules/{m}.py" for m in MODULES} <= set(names)
    leaked = [n for n in names if n.startswith(NOT_SHIPPED) or n == NOT_SHIPPED[-1] or n.endswith(".pyc")]
    assert leaked == []


def test_install_is_offline_and_uses_installed_dependencies(built):
    assert (built["installed"] / "MANIFEST.json").is_file()
    # --offline resolves dependencies against what is installed instead of downloading them.
    for dependency in GALAXY["dependencies"]:
        assert f"'{dependency}:" in built["install_log"] and "is already installed, skipping" in built["install_log"]
    verify = run(
        [str(BIN / "ansible-galaxy"), "collection", "verify", "--offline", FQCN],
        built["env"],
        built["work"],
    )
    assert "Successfully verified" in verify.stdout


def test_installed_runtime_declares_action_group(built):
    runtime = yaml.safe_load((built["installed"] / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    group = runtime["action_groups"]["rollback"]
    extends = [g for e in group if isinstance(e, dict) for g in e.get("metadata", {}).get("extend_group", [])]
    assert "amazon.aws.aws" in extends
    # A group can only be extended from a collection that is installed with this one.
    assert {g.rsplit(".", 1)[0] for g in extends} <= set(GALAXY["dependencies"])
    names = {e for e in group if isinstance(e, str)}
    # module_defaults for group/propie.rollback.rollback (region, endpoint) must reach every AWS
    # module, and no other: a module without the AWS options would refuse them.
    aws_modules = {p.stem for p in (built["installed"] / "plugins" / "modules").glob("*.py")
                   if "AnsibleAWSModule" in p.read_text(encoding="utf-8")}
    assert names == aws_modules


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_reads_installed_module(built, module):
    result = run(
        [str(BIN / "ansible-doc"), "--json", "-t", "module", f"{FQCN}.{module}"],
        built["env"],
        built["work"],
    )
    doc = json.loads(result.stdout)[f"{FQCN}.{module}"]
    # Documentation must come from the installed artifact, not the work tree.
    assert Path(doc["doc"]["filename"]).is_relative_to(built["installed"])
    assert doc["doc"]["short_description"]
    assert doc["examples"] and doc["return"] is not None


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_installed_collection_runs_by_fqcn_from_an_empty_directory(built, sandbox, tmp_path):
    """The path a user of the tarball takes: FQCN playbook, the shipped inventory, an empty cwd.

    The run writes only below the working directory (its state directory), nothing inside the
    installed collection, and the swap-back command it prints works as printed.
    """
    import datetime as dt
    import shlex

    from sandbox.scenarios import propie_incident as incident

    sandbox.set_time_scale(0.01)
    incident.seed(sandbox)
    installed = built["installed"]
    before = _tree(installed)
    cwd = tmp_path / "oncall"
    cwd.mkdir()
    env = {**built["env"], **sandbox.env()}
    env.pop("PROPIE_ROLLBACK_STATE_DIR", None)
    point = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # -e key=value strings, as typed: a boolean and an integer among them.
    command = [str(BIN / "ansible-playbook"), f"{FQCN}.dynamodb_rollback", "-i", str(installed / "inventories"),
               "-e", "env=sandbox", "-e", f"restore_point={point}", "-e", "dynamodb_pitr_rollback_amplify_rebuild=false",
               "-e", "dynamodb_pitr_rollback_wait_delay=1"]
    rollback = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    ssm = sandbox.boto3_client("ssm")
    recovery = ssm.get_parameter(Name=incident.TABLE_PARAMETER)["Parameter"]["Value"]
    assert recovery.startswith(f"{incident.TABLE}-pitr-")

    records = sorted((cwd / "rollback-state" / "dynamodb").glob("*.json"))
    assert len(records) == 1, list(cwd.rglob("*"))
    assert _tree(installed) == before  # nothing written inside the installed collection

    # The command as printed (the console folds long lines; the record keeps it whole).
    printed = json.loads(records[0].read_text())["swap_back_command"]
    assert f"To swap back: {printed}" in " ".join(rollback.stdout.split())
    words = shlex.split(printed)
    assert words[:2] == ["ansible-playbook", f"{FQCN}.dynamodb_rollback"], words
    assert f"swap_back={records[0]}" in words
    back = subprocess.run(["bash", "-c", printed], cwd=cwd, env={**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}"},
                          capture_output=True, text=True, timeout=600, check=False)
    assert back.returncode == 0, back.stdout + back.stderr
    assert ssm.get_parameter(Name=incident.TABLE_PARAMETER)["Parameter"]["Value"] == incident.TABLE
    assert _tree(installed) == before
