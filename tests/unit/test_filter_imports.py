"""Filter plugins stay free of AWS imports.

ansible-core runs each task in a forked worker, and resolving any `propie.rollback.*` filter
there loads every filter file of the collection. A filter that pulls in boto3 or botocore
(through module_utils.common, swap, or amazon.aws) makes every templated task of every role
pay for that import: 0.30-0.35 s a task instead of 0.12 s (docs/ci.md, "Suite time").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FILTERS = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.py") if p.stem != "__init__")
HEAVY = ("boto3", "botocore", "s3transfer", "ansible_collections.amazon.aws")


def test_there_are_filter_plugins_to_check():
    assert {"shift", "run", "drill", "awx", "environment"} <= set(FILTERS)


def test_no_filter_plugin_imports_boto3_botocore_or_amazon_aws():
    # A fresh interpreter with the controller's own imports already loaded, as in a worker.
    script = (
        "import json, sys\n"
        "import ansible.errors, ansible.template, ansible.plugins.filter\n"
        "before = set(sys.modules)\n"
        "for name in %r:\n"
        "    __import__('ansible_collections.propie.rollback.plugins.filter.' + name)\n"
        "print(json.dumps(sorted(m for m in set(sys.modules) - before if m.startswith(%r))))\n"
    ) % (FILTERS, HEAVY)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / ".venv" / "collections"), "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout) == []
