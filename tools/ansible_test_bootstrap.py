#!/usr/bin/env python
"""Prepare an offline `ansible-test sanity` run of this collection.

Two things stand between a fresh checkout and `ansible-test sanity` on this network:

1. ansible-test refuses to run unless the working directory is
   `.../ansible_collections/<namespace>/<name>`, and its import/validate-modules tests
   need every dependency collection (amazon.aws) in the same `ansible_collections` tree.
   `stage` copies the collection into `.build/ansible_collections/propie/rollback` and
   links each galaxy.yml dependency (shipped inside the `ansible` wheel in the venv)
   beside it.
2. Each sanity test runs in its own virtualenv, created `--without-pip` and bootstrapped
   by a get-pip script that ansible-test downloads from ci-files.testing.ansible.com, a
   host that is unreachable here. ansible-test looks for that script in its cache first
   (`~/.ansible/test/cache/get_pip_<version>.py`, see `bootstrap()` in
   ansible_test/_util/target/setup/requirements.py), so `get-pip` writes a stand-in
   there that does the same job with `ensurepip` plus pip from the configured index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

# ansible-test's own answer to "which pip does a sanity venv get", so a new ansible-test
# release that bumps it gets a matching stand-in without edits here.
from ansible_test._internal.host_configs import NativePythonConfig
from ansible_test._internal.python_requirements import get_venv_packages

NAMESPACE = "propie"
NAME = "rollback"

# Never staged: local state, build output and ansible-test's own results.
STAGE_EXCLUDES = (".git", ".venv", ".build", ".ansible", "tests/output")

STAND_IN_MARKER = "propie.rollback offline get-pip stand-in"

# Run by ansible-test's quiet_pip.py through runpy inside a fresh `venv --without-pip`,
# with argv = pip options + requirement pins (e.g. `pip==24.2`) + --no-setuptools/--no-wheel,
# exactly as the real get-pip.py is.
STAND_IN = '''\
"""{marker}.

ansible-test downloads get-pip from ci-files.testing.ansible.com, which is not reachable
here; this file takes its place in ansible-test's cache (written by
tools/ansible_test_bootstrap.py). It installs the bundled pip with ensurepip, then the
pip version ansible-test asked for from the configured package index.
"""
import subprocess
import sys


def main():
    args = sys.argv[1:]
    # get-pip's own flags; ensurepip on Python < 3.12 also installs setuptools, which
    # get-pip would not have installed when asked for --no-setuptools.
    no_setuptools = "--no-setuptools" in args
    pip_args = [a for a in args if a not in ("--no-setuptools", "--no-wheel")]
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "pip", "install", *pip_args], check=True)
    if no_setuptools:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"], check=True)


if __name__ == "__main__":
    main()
'''


def required_pip_versions() -> set[str]:
    """The pip versions ansible-test bootstraps sanity venvs with, from ansible-test itself."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return {get_venv_packages(NativePythonConfig(version=version, path=sys.executable))["pip"]}


def install_get_pip_stand_in(cache_dir: Path) -> list[Path]:
    """Write the stand-in for every pip version needed; never overwrite a real get-pip."""
    written = []
    cache_dir.mkdir(parents=True, exist_ok=True)
    for version in sorted(required_pip_versions()):
        target = cache_dir / f"get_pip_{version.replace('.', '_')}.py"
        if target.exists() and STAND_IN_MARKER not in target.read_text(encoding="utf-8", errors="replace"):
            continue  # a genuine download (e.g. on a connected machine) is better than ours
        target.write_text(STAND_IN.format(marker=STAND_IN_MARKER), encoding="utf-8")
        written.append(target)
    return written


def collection_files(root: Path) -> list[str]:
    """Files that belong to the collection: tracked or untracked-but-not-ignored by git."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            check=True,
            capture_output=True,
        ).stdout.decode()
        candidates = [p for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout (e.g. an unpacked tarball): take everything on disk.
        candidates = [str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()]
    return sorted(
        p
        for p in candidates
        if not any(p == ex or p.startswith(ex + "/") for ex in STAGE_EXCLUDES)
        and "__pycache__" not in p.split("/")
        and os.path.lexists(root / p)  # tracked but deleted in the work tree
    )


def stage(root: Path, venv: Path) -> Path:
    """Copy the collection to .build/ansible_collections/propie/rollback, dependencies beside it."""
    tree = root / ".build" / "ansible_collections"
    dest = tree / NAMESPACE / NAME
    if dest.exists():
        shutil.rmtree(dest)  # a fresh copy: files deleted in the source must not linger
    for rel in collection_files(root):
        src, dst = root / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)  # keeps the mode: the shebang test checks executables
    if shutil.which("git"):
        # ansible-test walks up to the nearest .git to list content; without a repo here it
        # would find the checkout's, where .build/ is ignored, and test nothing at all.
        subprocess.run(["git", "init", "--quiet", str(dest)], check=True)

    link_dependencies(root, dest.parent.parent, venv)
    return dest


def link_dependencies(root: Path, tree: Path, venv: Path) -> None:
    """Link each galaxy.yml dependency from the venv (the `ansible` wheel ships them) into tree."""
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    installed = Path(purelib) / "ansible_collections"
    # Start clean so a dependency dropped from galaxy.yml cannot keep satisfying imports.
    for entry in tree.iterdir():
        if entry.name == NAMESPACE:
            continue
        if entry.is_symlink():
            entry.unlink()
        else:
            shutil.rmtree(entry)
    galaxy = yaml.safe_load((root / "galaxy.yml").read_text(encoding="utf-8"))
    for fqcn in galaxy.get("dependencies") or {}:
        namespace, name = fqcn.split(".")
        source = installed / namespace / name
        if not (source / "MANIFEST.json").exists():
            raise SystemExit(f"{fqcn} (a galaxy.yml dependency) is not in {installed}: run `make setup`")
        (tree / namespace).mkdir(exist_ok=True)
        (tree / namespace / name).symlink_to(source, target_is_directory=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--venv", type=Path, default=None, help="virtualenv holding the dependencies (default: ROOT/.venv)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("~/.ansible/test/cache").expanduser(),
        help="ansible-test's download cache (fixed by ansible-test to ~/.ansible/test/cache)",
    )
    parser.add_argument("what", nargs="*", choices=["get-pip", "stage"], default=["get-pip", "stage"])
    args = parser.parse_args()
    root = args.root.resolve()
    venv = (args.venv or root / ".venv").absolute()

    if "get-pip" in args.what:
        for path in install_get_pip_stand_in(args.cache_dir):
            print(f"get-pip stand-in: {path}")
    if "stage" in args.what:
        print(f"staged collection: {stage(root, venv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
