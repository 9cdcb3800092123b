"""kill -9 of an entry playbook at a given AWS call, and the resume command it printed.

The moment to kill is read from the sandbox's request log (not the clock): once the named
mutating operation has been made, the whole process group goes, as a lost controller would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import COLLECTIONS_PATH, REPO

BIN = Path(sys.executable).parent
RESUME_SAID = "If this run stops, finish it with: "


def kill_at(sandbox, tmp_path: Path, playbook: str, extra: list[str], operation: str, nth: int = 1) -> str:
    """Run `ansible-playbook playbook -e ...extra`, kill -9 it once `operation` has been called
    `nth` times since the start, and return the resume command the run printed."""
    env = {**os.environ, **sandbox.env(), "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH), "ANSIBLE_NOCOLOR": "1",
           "PROPIE_ROLLBACK_STATE_DIR": str(tmp_path / "state")}
    seq = sandbox.last_seq()
    cmd = [str(BIN / "ansible-playbook"), playbook] + [a for e in extra for a in ("-e", e)]
    log = tmp_path / "killed.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        try:
            while [r["operation"] for r in sandbox.mutating_since(seq)].count(operation) < nth:
                assert proc.poll() is None, "the run ended before %s:\n%s" % (operation, log.read_text())
                assert time.monotonic() < deadline, "%s never came:\n%s" % (operation, log.read_text())
                time.sleep(0.1)  # polls the request log; emulated time is the sandbox's
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    said = " ".join(log.read_text().split())
    assert RESUME_SAID in said, said[-3000:]
    return said.split(RESUME_SAID, 1)[1].split("'", 1)[0].strip()
