"""What AWX needs besides its configuration: collections/requirements.yml for the project sync,
and the execution environment (execution-environment.yml, ansible-builder 3 schema).

- The project sync: AWX runs `ansible-galaxy collection install -r collections/requirements.yml`
  from the project's root. Run the same way here, offline with an unreachable Galaxy, it
  installs propie.rollback from the checkout and finds amazon.aws, community.aws and awx.awx in
  exactly the versions the `ansible` package ships (any other version would need Galaxy and fail).
- The execution environment: `ansible-builder create` writes the build context (Containerfile
  and _build/) from it; the context carries the pinned ansible-core and ansible-runner, the
  collections, the Python requirements and bindep file, and holds every pip install to
  constraints.txt. Its introspection script, run on the shipped collections, merges their
  Python requirements with ours, and each is met by the version constraints.txt pins. A
  container build is not run: it needs the base image's registry, which is not reachable here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EE = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
REQUIREMENTS = yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text())["collections"]
SHIPPED = Path(sys.executable).parent.parent / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / (
    "site-packages") / "ansible_collections"


def _pins(path: Path) -> dict[str, str]:
    """{name: version} of a pip requirements file's `name==version` lines."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[req.name.lower()] = spec.version
    return pins


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(tmp_path / "ansible_home"), ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "none"),
               ANSIBLE_GALAXY_SERVER="http://127.0.0.1:9/", ANSIBLE_NOCOLOR="1")
    return env


def _run(cmd, cwd, env=None):
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def _shipped_version(fqcn: str) -> str:
    namespace, name = fqcn.split(".")
    return json.loads((SHIPPED / namespace / name / "MANIFEST.json").read_text())["collection_info"]["version"]


def test_requirements_pin_the_versions_the_ansible_package_ships():
    galaxy = [r for r in REQUIREMENTS if r.get("type", "galaxy") == "galaxy"]
    assert {r["name"]: r["version"] for r in galaxy} == {
        "amazon.aws": _shipped_version("amazon.aws"), "community.aws": _shipped_version("community.aws"),
        "awx.awx": _shipped_version("awx.awx")}
    # Every collection the collection itself depends on (galaxy.yml) is there.
    depends = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]
    assert set(depends) <= {r["name"] for r in galaxy}
    # And the project's own collection comes from the checkout.
    assert [r for r in REQUIREMENTS if r.get("type") == "dir"] == [{"name": ".", "type": "dir"}]


def test_a_project_sync_installs_the_project_collection_and_finds_the_others(tmp_path):
    target = tmp_path / "requirements_collections"
    # As AWX's project update runs it: from the project's root.
    result = _run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-r", "collections/requirements.yml",
                   "-p", target], cwd=ROOT, env=_env(tmp_path))
    installed = target / "ansible_collections" / "propie" / "rollback"
    assert "propie.rollback:0.1.0 was installed successfully" in result.stdout, result.stdout
    for fqcn in ("amazon.aws", "community.aws", "awx.awx"):
        assert re.search(r"'%s:%s' is already installed" % (re.escape(fqcn), re.escape(_shipped_version(fqcn))),
                         result.stdout), result.stdout
    for path in ("playbooks/awx_configure.yml", "playbooks/vars/awx.yml", "playbooks/rollback.yml",
                 "inventories/production.yml", "plugins/filter/awx.py"):
        assert (installed / path).is_file(), path
    assert not (installed / "tests").exists() and not (installed / "sandbox").exists()


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    out = tmp_path_factory.mktemp("ee") / "context"
    _run([BIN / "ansible-builder", "create", "--file", "execution-environment.yml", "--context", out,
          "--output-filename", "Containerfile", "-v", "3"], cwd=ROOT)
    return out


def test_ansible_builder_is_the_pinned_one():
    assert _pins(ROOT / "requirements.txt")["ansible-builder"] == "3.2.0"
    version = _run([BIN / "ansible-builder", "--version"], cwd=ROOT).stdout.strip()
    assert version == "3.2.0"


def test_builder_create_writes_the_build_context(context):
    assert EE["version"] == 3
    files = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    assert {"Containerfile", "_build/requirements.yml", "_build/requirements.txt", "_build/bindep.txt",
            "_build/scripts/assemble", "_build/scripts/introspect.py"} <= set(files), files
    containerfile = (context / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{EE["images"]["base_image"]["name"]}"' in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    dev = _pins(ROOT / "requirements.txt")
    # The image runs the ansible-core and ansible-runner the tests run with.
    assert f'ARG ANSIBLE_INSTALL_REFS="ansible-core=={dev["ansible-core"]} ansible-runner=={dev["ansible-runner"]}"' in (
        containerfile)
    assert "ansible-galaxy collection install" in containerfile and "introspect.py introspect" in containerfile
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]
    assert galaxy == [r for r in REQUIREMENTS if r.get("type", "galaxy") == "galaxy"]
    assert (context / "_build" / "requirements.txt").read_text() == (ROOT / "ee" / "requirements.txt").read_text()
    assert (context / "_build" / "bindep.txt").read_text() == (ROOT / "ee" / "bindep.txt").read_text()
    # Every pip install of the build is held to the tested versions.
    assert (context / "_build" / "configs" / "constraints.txt").read_text() == (ROOT / "constraints.txt").read_text()
    base = containerfile.split("# Galaxy build stage")[0]
    assert base.index("ENV PIP_CONSTRAINT=/etc/propie-rollback/constraints.txt") < base.index("pip install")


def test_python_requirements_are_the_tested_pins_and_merge_with_the_collections(context, tmp_path):
    ours = _pins(ROOT / "ee" / "requirements.txt")
    tested = _pins(ROOT / "requirements.txt")
    assert ours and all(tested[name] == version for name, version in ours.items())
    # ansible-builder's own introspection, over the collections the image gets (as shipped here).
    folder = tmp_path / "collections"
    for fqcn in ("amazon.aws", "community.aws", "awx.awx"):
        namespace, name = fqcn.split(".")
        (folder / "ansible_collections" / namespace).mkdir(parents=True, exist_ok=True)
        (folder / "ansible_collections" / namespace / name).symlink_to(SHIPPED / namespace / name)
    merged_pip, merged_bindep = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    _run([sys.executable, context / "_build" / "scripts" / "introspect.py", "introspect", folder,
          "--user-pip", ROOT / "ee" / "requirements.txt", "--user-bindep", ROOT / "ee" / "bindep.txt",
          "--exclude-pip-reqs", context / "_build" / "exclude-requirements.txt",
          "--write-pip", merged_pip, "--write-bindep", merged_bindep], cwd=tmp_path)
    wanted = [Requirement(line.split("#", 1)[0]) for line in merged_pip.read_text().splitlines()
              if line.split("#", 1)[0].strip()]
    assert {r.name.lower() for r in wanted} >= {"boto3", "botocore"}
    assert not {r.name.lower() for r in wanted} & {"awxkit", "pytz"}  # excluded: unused, and unpinned
    constraints = _pins(ROOT / "constraints.txt")
    for req in wanted:  # every requirement of ours and of the collections is met by its pinned version
        pinned = constraints.get(req.name.lower())
        assert pinned and req.specifier.contains(pinned), (str(req), pinned)
    bindep = merged_bindep.read_text()
    assert "tzdata" in bindep and "ca-certificates" in bindep
