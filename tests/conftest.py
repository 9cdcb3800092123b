"""Shared pytest fixtures: one sandbox server per test session (per xdist worker)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
from sandbox.client import SandboxClient


def start_sandbox(time_scale: float | None = None) -> tuple[subprocess.Popen, SandboxClient]:
    """Start `python -m sandbox serve` on a free port; return the process and a client."""
    port_file = Path(tempfile.mkdtemp()) / "port"
    cmd = [sys.executable, "-m", "sandbox", "serve", "--port", "0", "--port-file", str(port_file)]
    if time_scale is not None:
        cmd += ["--time-scale", str(time_scale)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read().decode() if proc.stdout else ""
            proc.kill()
            raise RuntimeError(f"sandbox did not start: {out}")
        time.sleep(0.02)
    client = SandboxClient(f"http://127.0.0.1:{port_file.read_text()}")
    return proc, client


@pytest.fixture(scope="session")
def sandbox_server():
    proc, client = start_sandbox()
    yield client
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def sandbox(sandbox_server: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> SandboxClient:
    """A freshly reset sandbox, with AWS_* variables pointing boto3 and Ansible at it."""
    sandbox_server.reset()
    for key, value in sandbox_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return sandbox_server
