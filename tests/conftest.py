"""Shared pytest fixtures: one sandbox server per test session (per xdist worker)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
from sandbox.client import SandboxClient


def start_sandbox(time_scale: float | None = None) -> tuple[subprocess.Popen, SandboxClient]:
    """Start `python -m sandbox serve` on a free port; return the process and a client.

    The server's output goes to a log file (a pipe nobody reads would fill up and stall it);
    its path is in the client's `log_path` for post-mortems.
    """
    workdir = Path(tempfile.mkdtemp(prefix="sandbox-"))
    port_file, log_path = workdir / "port", workdir / "server.log"
    cmd = [sys.executable, "-m", "sandbox", "serve", "--port", "0", "--port-file", str(port_file)]
    if time_scale is not None:
        cmd += ["--time-scale", str(time_scale)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"sandbox did not start: {log_path.read_text()}")
        time.sleep(0.02)  # a real poll: the server process writes its port once it listens
    client = SandboxClient(f"http://127.0.0.1:{port_file.read_text()}")
    client.log_path = log_path
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
    """A freshly reset sandbox at time scale 1, with AWS_* variables pointing boto3 and Ansible at it."""
    sandbox_server.reset()
    sandbox_server.set_time_scale(1.0)  # a reset keeps the scale: each test starts from 1
    for key, value in sandbox_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return sandbox_server


# ---------------------------------------------------------------------------
# Running real playbooks (through ansible-runner) against the sandbox.
# ---------------------------------------------------------------------------

COLLECTIONS_PATH = REPO / ".venv" / "collections"
# ansible-runner looks ansible-playbook up on PATH: use the one beside this interpreter.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


class PlaybookRun:
    """The outcome of one ansible-playbook run: rc, stdout and each task's results."""

    def __init__(self, runner) -> None:
        self.rc: int = runner.rc
        self.status: str = runner.status
        self.stdout: str = runner.stdout.read()
        self.events = list(runner.events)
        self.task_results: dict[str, list[dict]] = {}
        self.failed_tasks: list[str] = []
        for event in self.events:
            kind = event.get("event", "")
            if kind in ("runner_on_ok", "runner_on_failed", "runner_on_skipped",
                        "runner_on_unreachable"):
                data = event["event_data"]
                res = dict(data.get("res", {}))
                res["_event"] = kind
                self.task_results.setdefault(data.get("task", ""), []).append(res)
                if kind == "runner_on_failed" and not data.get("ignore_errors"):
                    self.failed_tasks.append(data.get("task", ""))

    def result(self, task: str) -> dict:
        """The last result of the task with this name (fails the test if it never ran)."""
        assert task in self.task_results, (
            f"task {task!r} did not run; tasks that ran: {list(self.task_results)}\n{self.stdout}"
        )
        return self.task_results[task][-1]

    @property
    def changed_tasks(self) -> list[str]:
        return [t for t, rs in self.task_results.items() if any(r.get("changed") for r in rs)]


@pytest.fixture
def run_playbook(sandbox: SandboxClient, tmp_path: Path):
    """Run a playbook (a path, or YAML text) with ansible-runner against the sandbox.

    run_playbook(playbook, extravars=None, check=False, diff=False, env=None) -> PlaybookRun
    Relative playbook paths are taken from the repository root; the sandbox inventory is used.
    """
    import ansible_runner

    counter = {"n": 0}

    def run(playbook: str | Path, extravars: dict | None = None, check: bool = False,
            diff: bool = False, env: dict | None = None,
            inventory: str = "inventories") -> PlaybookRun:
        counter["n"] += 1
        private = tmp_path / f"runner{counter['n']}"
        private.mkdir()
        if isinstance(playbook, str) and "\n" in playbook:
            path = private / "playbook.yml"
            path.write_text(playbook)
        else:
            path = REPO / playbook
        cmdline = " ".join(x for x in ("--check" if check else "", "--diff" if diff else "") if x)
        envvars = {
            **sandbox.env(),
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            # What runs write (swap records, snapshots, incident records) stays in the test's
            # tmp_path, never in the checkout.
            "PROPIE_ROLLBACK_STATE_DIR": str(tmp_path / "state"),
            **(env or {}),
        }
        runner = ansible_runner.run(
            private_data_dir=str(private),
            playbook=str(path),
            inventory=str(REPO / inventory),
            extravars=extravars or {},
            envvars=envvars,
            cmdline=cmdline or None,
            quiet=True,
            project_dir=str(REPO),
        )
        return PlaybookRun(runner)

    return run


class ModuleRun:
    """The outcome of in-process module runs (run_module, run_task), shaped like a PlaybookRun:
    rc, stdout (the results as JSON), result(), task_results, failed_tasks, changed_tasks."""

    def __init__(self, results: list[tuple[str, dict]]) -> None:
        self.task_results: dict[str, list[dict]] = {}
        self.failed_tasks: list[str] = []
        for task, result in results:
            failed = bool(result.get("failed"))
            self.task_results.setdefault(task, []).append(
                dict(result, _event="runner_on_failed" if failed else "runner_on_ok"))
            if failed:
                self.failed_tasks.append(task)
        self.rc = 2 if self.failed_tasks else 0
        self.stdout = json.dumps(dict(results), indent=1, sort_keys=True, default=str)

    def result(self, task: str | None = None) -> dict:
        """The named task's last result; that of the only task when no name was asked for or given
        (run_module without task=)."""
        if task is None or list(self.task_results) == [None]:
            [task] = list(self.task_results)
        assert task in self.task_results, f"task {task!r} did not run; {list(self.task_results)} did"
        return self.task_results[task][-1]

    @property
    def changed_tasks(self) -> list[str]:
        return [t for t, rs in self.task_results.items() if any(r.get("changed") for r in rs)]


@pytest.fixture
def run_module(sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run one of the collection's modules in this process against the sandbox.

    run_module(module, args, check=False, diff=False, task=None) -> ModuleRun
    The module's real main(): AnsibleAWSModule, its argument spec, its boto3 clients over HTTP;
    only ansible-playbook is left out (a module-level property does not need its 2-3 s).
    Arguments go in the way ansible-core's own module tests pass them
    (ansible.module_utils.testing.patch_module_args). The playbooks' wiring of the same
    modules is tested by the playbook runs; this is for the module's own behaviour.
    """
    import importlib
    import io

    from ansible.module_utils import _internal as module_internal
    from ansible.module_utils.common import warnings as module_warnings
    from ansible.module_utils.testing import patch_module_args

    monkeypatch.setenv("PROPIE_ROLLBACK_STATE_DIR", str(tmp_path / "state"))
    # Once this process has imported any controller code (another test's filter plugins, say),
    # module_utils sends warnings to the controller's display instead of the module result;
    # a module run is on the target's side of that line.
    monkeypatch.setattr(module_internal, "is_controller", False)

    def run(module: str, args: dict, check: bool = False, diff: bool = False, task: str | None = None) -> ModuleRun:
        return ModuleRun([(task, result_of(module, args, check, diff))])

    def result_of(module: str, args: dict, check: bool, diff: bool) -> dict:
        code = importlib.import_module(f"ansible_collections.propie.rollback.plugins.modules.{module}")
        # What module_defaults gives the playbook tests' plays; the module's own options win.
        full = {"region": "us-east-1", **args, "_ansible_check_mode": check, "_ansible_diff": diff,
                "_ansible_tmpdir": str(tmp_path)}
        # A process-wide list in module_utils: empty it, or one run's warnings show in the next.
        module_warnings._global_warnings.clear()
        module_warnings._global_deprecations.clear()
        out = io.StringIO()
        with patch_module_args(json.loads(json.dumps(full))), contextlib.redirect_stdout(out), \
                _OWN_AWS_CALLS.collections_calls():
            try:
                code.main()
            except SystemExit:
                pass
        result = json.loads(out.getvalue())
        # As the controller gives them to a registered result: message texts, not the module's
        # serialized warning events.
        for key, messages in (("warnings", module_warnings.get_warning_messages()),
                              ("deprecations", module_warnings.get_deprecation_messages())):
            result.pop(key, None)
            if messages:
                result[key] = list(messages)
        return result

    run.result_of = result_of
    return run


@pytest.fixture
def run_task(run_module):
    """run_playbook's stand-in for a play of collection module tasks, run in-process.

    run_task(play, check=False, diff=False) -> ModuleRun
    Takes the YAML text the module tests would hand run_playbook (one play whose tasks call
    propie.rollback modules with literal arguments) and runs each module with run_module,
    stopping at the first failure as the play would; a test keeps its play and loses only
    ansible-playbook's start-up.
    """
    import yaml

    prefix = "propie.rollback."

    def run(play: str, check: bool = False, diff: bool = False) -> ModuleRun:
        [only] = yaml.safe_load(play)
        results = []
        for step in only["tasks"]:
            step = dict(step)
            name = step.pop("name")
            step.pop("register", None)
            [(module, args)] = step.items()
            assert module.startswith(prefix), f"run_task runs the collection's modules, not {module}"
            results.append((name, run_module.result_of(module[len(prefix):], args, check, diff)))
            if results[-1][1].get("failed"):
                break
        return ModuleRun(results)

    return run


@pytest.fixture
def run_printed(sandbox: SandboxClient, tmp_path: Path):
    """Run a command the tool printed, as printed, in a shell from `cwd` (default: the checkout).

    run_printed(command, cwd=None, env=None) -> subprocess.CompletedProcess (text, stdout+stderr)
    The environment is a user's shell pointed at the sandbox: AWS_* from the sandbox, the
    collections path, the same state directory as run_playbook's runs.
    """
    def run(command: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **sandbox.env(), "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
                    "ANSIBLE_NOCOLOR": "1", "PROPIE_ROLLBACK_STATE_DIR": str(tmp_path / "state"),
                    **(env or {})}
        return subprocess.run(["bash", "-c", command], cwd=cwd or REPO, env=full_env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600, check=False)

    return run


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host from ansible-playbook's output."""
    counts = {}
    for line in output.splitlines():
        match = re.match(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", line.strip())
        if match:
            counts[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return counts


# ---------------------------------------------------------------------------
# The AWS operations the collection made (issue 11: docs/iam-policy.json must allow each one;
# `tools/iam_policy_check.py tests/output` checks it after the run, docs/iam.md).
# After each test that used `sandbox`, its request log (still this test's own: the next test's
# `sandbox` resets it) less the calls this pytest process made itself with boto3 to set up and
# check estates (counted per HTTP attempt through botocore's history events) is what the
# collection's processes called. Each worker writes the union to
# tests/output/aws-operations-<test run>-<worker>.json at the end of its session (and removes the
# files of runs that had finished before it started). Control routes (/_sandbox/...) are never
# in the log; tests of the sandbox itself (tests/sandbox/) are left out.
# ---------------------------------------------------------------------------

AWS_OPERATIONS_DIR = REPO / "tests" / "output"


class _OwnAwsCalls:
    """A botocore history handler: (endpoint, service, operation) of each HTTP attempt made here."""

    def __init__(self) -> None:
        import collections
        import threading

        self.lock = threading.Lock()
        self.counts: collections.Counter = collections.Counter()
        self.local = threading.local()
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            from botocore.history import get_global_history_recorder

            recorder = get_global_history_recorder()
            recorder.add_handler(self)
            recorder.enable()
            self.installed = True

    def emit(self, event_type: str, payload: dict, _source: str) -> None:
        from urllib.parse import urlsplit

        if getattr(self.local, "collection", False):  # a module run in this process (run_module)
            return
        if event_type == "API_CALL":
            self.local.operation = (payload.get("service"), payload.get("operation"))
        elif event_type == "HTTP_REQUEST" and getattr(self.local, "operation", None):
            netloc = urlsplit(str(payload.get("url", ""))).netloc
            with self.lock:
                self.counts[(netloc,) + self.local.operation] += 1

    @contextlib.contextmanager
    def collections_calls(self):
        """The calls made in this thread meanwhile are the collection's, not the test's own."""
        self.local.collection = True
        try:
            yield
        finally:
            self.local.collection = False

    def take(self, endpoint: str) -> dict:
        """The calls made to this endpoint since the last take: {(service, operation): count}."""
        from urllib.parse import urlsplit

        netloc = urlsplit(endpoint).netloc
        with self.lock:
            mine = {key[1:]: n for key, n in self.counts.items() if key[0] == netloc}
            for key in [key for key in self.counts if key[0] == netloc]:
                del self.counts[key]
        return mine


_OWN_AWS_CALLS = _OwnAwsCalls()
# {(service, operation): {calls, tests}}, the number of sandbox tests seen, when this process started.
_AWS_OPERATIONS: dict = {"operations": {}, "tests": 0, "started": time.time()}


@pytest.fixture(autouse=True)
def _collection_aws_operations(request: pytest.FixtureRequest):
    """Record what the collection called during a test that used the sandbox (see above)."""
    if "sandbox" not in request.fixturenames or (REPO / "tests" / "sandbox") in Path(str(request.node.path)).parents:
        yield
        return
    _OWN_AWS_CALLS.install()
    server = request.getfixturevalue("sandbox_server")
    _OWN_AWS_CALLS.take(server.endpoint)  # what earlier tests left counted
    yield
    try:
        log = server.requests()
    except RuntimeError:  # the sandbox is gone: nothing to record
        return
    own = _OWN_AWS_CALLS.take(server.endpoint)
    _AWS_OPERATIONS["tests"] += 1
    seen: dict = {}
    for entry in log:
        key = (entry["service"], entry["operation"])
        seen[key] = seen.get(key, 0) + 1
    for key, calls in seen.items():
        theirs = calls - own.get(key, 0)
        if theirs > 0:
            found = _AWS_OPERATIONS["operations"].setdefault(key, {"calls": 0, "tests": []})
            found["calls"] += theirs
            if len(found["tests"]) < 3:
                found["tests"].append(request.node.nodeid)


# Files of whole playbook runs that take a minute or more per test, longest first. They are
# collected first so that xdist's workers start on them and the run does not end with one
# worker alone on a long test while the others idle (docs/ci.md, "Suite time").
LONG_FIRST = (
    "test_fault_matrix.py", "test_shift_weighted.py", "test_rollback_playbook.py", "test_dr_drill.py",
    "test_awx_configure.py", "test_dynamodb_playbook.py", "test_kill_resume.py", "test_awx_stats.py",
    "test_incident_playbooks.py", "test_awx_runner.py", "test_dynamodb_rollback.py",
)


def pytest_collection_modifyitems(items: list) -> None:
    """Put the LONG_FIRST files' tests first, in that order; the rest keep theirs (a stable sort)."""
    rank = {name: n for n, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))


def pytest_sessionfinish() -> None:
    """Write this worker's union of the collection's AWS operations (if it ran sandbox tests)."""
    import datetime
    import json
    import uuid

    if not _AWS_OPERATIONS["tests"]:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    testrun = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
    data = {
        "testrun": testrun,
        "worker": worker,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "tests": _AWS_OPERATIONS["tests"],
        "operations": [{"service": service, "operation": operation, **found}
                       for (service, operation), found in sorted(_AWS_OPERATIONS["operations"].items())],
    }
    AWS_OPERATIONS_DIR.mkdir(parents=True, exist_ok=True)
    for old in AWS_OPERATIONS_DIR.glob("aws-operations-*.json"):
        try:
            if old.stat().st_mtime < _AWS_OPERATIONS["started"]:
                old.unlink()
        except FileNotFoundError:
            pass  # another worker removed it
    path = AWS_OPERATIONS_DIR / ("aws-operations-%s-%s.json" % (testrun[:12], worker))
    path.write_text(json.dumps(data, indent=1) + "\n")
