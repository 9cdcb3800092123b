#!/usr/bin/env python
"""The sandbox side of the roles' molecule scenarios (roles/<role>/molecule/default/).

Subcommands (every path defaults to the scenario's $MOLECULE_EPHEMERAL_DIRECTORY):

  up      start a sandbox for the scenario on a free 127.0.0.1 port, or, when
          $PROPIE_MOLECULE_SANDBOX names a running one (`make molecule` starts one for every
          scenario), reset that one; write sandbox.json (endpoint, pid, owned) either way
  down    stop the sandbox `up` started (a shared one is left to its owner); idempotent
  seed    load named estates (below) into the scenario's sandbox; write their facts to seed.json
  aws     one boto3 call against the scenario's sandbox, printed as JSON (what verify asserts on)
  guard   fail loudly when a propie.rollback other than this checkout would be loaded
  all     `make molecule`: the guard, then `molecule test` for every role's scenario, --jobs at
          a time, each job with one sandbox its scenarios share; a summary with timings

Product code never imports this file, nor the sandbox.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sandbox.client import SandboxClient

SHARED_ENV = "PROPIE_MOLECULE_SANDBOX"
COLLECTION_LINK = REPO / ".venv" / "collections" / "ansible_collections" / "propie" / "rollback"
# Real seconds per emulated second: a 72 s Amplify build takes 0.72 s, a 60 s restore 0.6 s.
DEFAULT_TIME_SCALE = 0.01


# ---------------------------------------------------------------------------------------------
# The scenario's sandbox
# ---------------------------------------------------------------------------------------------

def _ephemeral(path: str | None) -> Path:
    chosen = path or os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if not chosen:
        raise SystemExit("molecule_scenarios: no directory given and MOLECULE_EPHEMERAL_DIRECTORY is not set")
    directory = Path(chosen)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _state(directory: Path) -> dict[str, Any]:
    path = directory / "sandbox.json"
    if not path.exists():
        raise SystemExit(f"molecule_scenarios: no sandbox for this scenario ({path} is missing); run prepare first")
    return json.loads(path.read_text(encoding="utf-8"))


def start_sandbox(workdir: Path, time_scale: float) -> tuple[int, str]:
    """Start `python -m sandbox serve` on a free 127.0.0.1 port in its own session; (pid, endpoint)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port_file, log_path = workdir / "sandbox.port", workdir / "sandbox.log"
    port_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "sandbox", "serve", "--port", "0", "--port-file", str(port_file),
           "--time-scale", str(time_scale)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"molecule_scenarios: the sandbox did not start:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.02)
    return proc.pid, f"http://127.0.0.1:{port_file.read_text(encoding='utf-8').strip()}"


def _is_our_sandbox(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"sandbox" in cmdline and b"serve" in cmdline


def stop_sandbox(pid: int) -> None:
    """Stop the sandbox process `pid` (only if it still is one)."""
    if not _is_our_sandbox(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _is_our_sandbox(pid) and time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass  # not our child (started by an earlier `up`): poll /proc instead
        time.sleep(0.05)
    if _is_our_sandbox(pid):
        os.kill(pid, signal.SIGKILL)


def cmd_up(args: argparse.Namespace) -> int:
    directory = _ephemeral(args.dir)
    old = directory / "sandbox.json"
    if old.exists():  # an earlier prepare's sandbox (a scenario re-prepared without cleanup)
        previous = json.loads(old.read_text(encoding="utf-8"))
        if previous.get("owned") and previous.get("pid"):
            stop_sandbox(int(previous["pid"]))
    shared = os.environ.get(SHARED_ENV, "")
    if shared:
        state = {"endpoint": shared.rstrip("/"), "pid": None, "owned": False}
    else:
        pid, endpoint = start_sandbox(directory, args.time_scale)
        state = {"endpoint": endpoint, "pid": pid, "owned": True, "log": str(directory / "sandbox.log")}
    client = SandboxClient(state["endpoint"])
    client.reset()
    client.set_time_scale(args.time_scale)
    state["time_scale"] = args.time_scale
    old.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(state))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    directory = _ephemeral(args.dir)
    path = directory / "sandbox.json"
    if not path.exists():
        print(json.dumps({"stopped": False, "reason": "no sandbox was started for this scenario"}))
        return 0
    state = json.loads(path.read_text(encoding="utf-8"))
    if state.get("owned") and state.get("pid"):
        stop_sandbox(int(state["pid"]))
        result = {"stopped": True, "pid": state["pid"]}
    else:
        result = {"stopped": False, "reason": f"shared sandbox {state['endpoint']} is stopped by its owner"}
    path.unlink()
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------------------------
# Estates: name -> function(client) -> facts; `seed` merges the facts of every name it is given
# ---------------------------------------------------------------------------------------------

SHIFT_DOMAIN = "prop-ie-app.com"
SHIFT_RECORD = "app.prop-ie-app.com"
ALERTS_TOPIC = "prop-ie-sandbox-rollback-alerts"
SNAPSHOT_BUCKET = "propie-molecule-snapshots"


def seed_propie_incident(client: SandboxClient) -> dict[str, Any]:
    """`python -m sandbox seed --scenario propie-incident`: the PropIE estate mid-incident."""
    from sandbox.scenarios import propie_incident as incident

    facts = incident.seed(client)
    facts.pop("endpoint", None)
    facts.update(domain=incident.DOMAIN, blue=incident.BLUE, green=incident.GREEN,
                 table_parameter=incident.TABLE_PARAMETER, good_items=incident.GOOD_ITEMS)
    return facts


def seed_inbox(client: SandboxClient) -> dict[str, Any]:
    """An SQS queue subscribed to the alerts topic (created if missing): what SNS delivered."""
    topic, url = client.sqs_subscribed_to(ALERTS_TOPIC, "molecule-inbox")
    return {"topic_arn": topic, "inbox_url": url}


def seed_shift(client: SandboxClient) -> dict[str, Any]:
    """Blue (production) serving the domain, a good green build, a Route 53 weighted layer at
    blue 100 / green 0 in front of them, and eight minutes of healthy traffic metrics."""
    amplify = client.boto3_client("amplify")
    app_id = amplify.create_app(name="prop-ie-app", repository="https://github.com/propie/prop-ie-aws-app",
                                accessToken="sandbox-token", platform="WEB")["app"]["appId"]
    for branch in ("production", "green"):
        amplify.create_branch(appId=app_id, branchName=branch, stage="PRODUCTION")
        client.control("POST", "amplify/jobs", {"app_id": app_id, "branch_name": branch, "jobs": [
            {"status": "SUCCEED", "commitId": f"{branch}1", "jobType": "RELEASE", "minutes_ago": 30}]})
    amplify.create_domain_association(appId=app_id, domainName=SHIFT_DOMAIN, subDomainSettings=[
        {"prefix": "", "branchName": "production"}, {"prefix": "www", "branchName": "production"}])
    r53 = client.boto3_client("route53")
    zone_id = r53.create_hosted_zone(Name=SHIFT_DOMAIN, CallerReference="molecule-shift")["HostedZone"]["Id"]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {
            "Name": SHIFT_RECORD, "Type": "CNAME", "TTL": 60, "SetIdentifier": ident, "Weight": weight,
            "ResourceRecords": [{"Value": value}]}}
        for ident, value, weight in (("blue", "d111blue.cloudfront.net", 100), ("green", "d222green.cloudfront.net", 0))]})
    cloudwatch = client.boto3_client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc)
    dims = [{"Name": "App", "Value": app_id}]
    data = []
    for minute in range(8):
        stamp = now - dt.timedelta(minutes=minute, seconds=5)
        data += [{"MetricName": "Requests", "Dimensions": dims, "Timestamp": stamp, "Value": 1000.0},
                 {"MetricName": "5xxErrors", "Dimensions": dims, "Timestamp": stamp, "Value": 2.0}]
    cloudwatch.put_metric_data(Namespace="AWS/AmplifyHosting", MetricData=data)
    return {"app_id": app_id, "domain": SHIFT_DOMAIN, "zone_id": zone_id, "record": SHIFT_RECORD,
            "blue": "production", "green": "green"}


def seed_snapshot_bucket(client: SandboxClient) -> dict[str, Any]:
    """An S3 bucket for snapshot uploads."""
    client.boto3_client("s3").create_bucket(Bucket=SNAPSHOT_BUCKET)
    return {"bucket": SNAPSHOT_BUCKET}


ESTATES: dict[str, Callable[[SandboxClient], dict[str, Any]]] = {
    "propie-incident": seed_propie_incident,
    "inbox": seed_inbox,
    "shift": seed_shift,
    "snapshot-bucket": seed_snapshot_bucket,
}


def cmd_seed(args: argparse.Namespace) -> int:
    unknown = [name for name in args.estates if name not in ESTATES]
    if unknown:
        raise SystemExit(f"molecule_scenarios: unknown estate(s) {unknown}; known: {sorted(ESTATES)}")
    directory = _ephemeral(args.dir)
    client = SandboxClient(_state(directory)["endpoint"])
    facts: dict[str, Any] = {}
    for name in args.estates:
        facts.update(ESTATES[name](client))
    (directory / "seed.json").write_text(json.dumps(facts, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps(facts, default=str))
    return 0


def cmd_aws(args: argparse.Namespace) -> int:
    """Make each call of a JSON list [[service, operation, params], ...]; print the responses."""
    client = SandboxClient(_state(_ephemeral(args.dir))["endpoint"])
    responses = []
    for service, operation, params in json.loads(args.calls):
        response = getattr(client.boto3_client(service), operation)(**params)
        response.pop("ResponseMetadata", None)
        if hasattr(response.get("Body"), "read"):  # S3 get_object: the content, as text
            response["Body"] = response["Body"].read().decode("utf-8", "replace")
        responses.append(response)
    print(json.dumps(responses, default=str))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """What every scenario's prepare does, in one process: guard, up, seed."""
    unknown = [name for name in args.estates if name not in ESTATES]
    if unknown:
        raise SystemExit(f"molecule_scenarios: unknown estate(s) {unknown}; known: {sorted(ESTATES)}")
    guard(dict(os.environ), [Path(d) for d in args.also])
    cmd_up(args)
    return cmd_seed(args)


# ---------------------------------------------------------------------------------------------
# The stale-copy guard
# ---------------------------------------------------------------------------------------------

def copies_of_the_collection(env: dict[str, str]) -> list[Path]:
    """Every propie.rollback Ansible can see with `env`, in the order it searches them."""
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "list",
                             "propie.rollback", "--format", "json"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        return []  # ansible-galaxy exits non-zero when it finds no copy at all
    listing = json.loads(result.stdout or "{}")
    roots = [Path(root) for root, found in listing.items() if "propie.rollback" in found]
    # ansible-galaxy lists its paths sorted by name, not in the order Ansible searches them.
    order = [Path(p) for p in env.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p]

    def searched(root: Path) -> int:
        return next((i for i, p in enumerate(order) if root in (p, p / "ansible_collections")), len(order))

    return [root / "propie" / "rollback" for root in sorted(roots, key=searched)]


def guard_problems(env: dict[str, str], extra_dirs: list[Path]) -> list[str]:
    """Why the scenarios would not run this checkout's collection (empty: they will)."""
    checkout = REPO.resolve()
    problems = []
    copies = copies_of_the_collection(env)
    if not copies:
        problems.append(f"Ansible finds no propie.rollback with ANSIBLE_COLLECTIONS_PATH="
                        f"{env.get('ANSIBLE_COLLECTIONS_PATH', '(unset)')}; run `make setup` "
                        f"(it links {COLLECTION_LINK} -> {checkout})")
    elif copies[0].resolve() != checkout:
        problems.append(f"Ansible would load propie.rollback from {copies[0]} (-> {copies[0].resolve()}), "
                        f"not from this checkout {checkout}: that copy shadows your edits")
    problems += [f"another copy of propie.rollback is on Ansible's path: {copy} (-> {copy.resolve()})"
                 for copy in copies[1:] if copy.resolve() != checkout]
    # Where molecule's prerun (and ansible-galaxy without -p) copy the collection, and a
    # playbook-adjacent collections/ directory, which Ansible searches before every other path.
    home = Path(os.environ.get("ANSIBLE_HOME", "~/.ansible")).expanduser()
    for base in [home / "collections", *extra_dirs]:
        copy = base / "ansible_collections" / "propie" / "rollback"
        if (copy.exists() or copy.is_symlink()) and copy.resolve() != checkout and copy not in copies:
            problems.append(f"a copy of propie.rollback is at {copy} (-> {copy.resolve()}): molecule's "
                            f"prerun or an ansible-galaxy install put it there, and any run without this "
                            f"checkout's ANSIBLE_COLLECTIONS_PATH would load it")
    return problems


def guard(env: dict[str, str], extra_dirs: list[Path] | None = None) -> None:
    problems = guard_problems(env, extra_dirs or [])
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise SystemExit(
            "STALE OR MISSING propie.rollback: the molecule scenarios must test this checkout "
            f"({REPO}), and would not.\n{lines}\nRemove each copy named above (rm -rf <path>), "
            f"keep ANSIBLE_COLLECTIONS_PATH={COLLECTION_LINK.parents[2]} and prerun: false "
            "(.config/molecule/config.yml), then re-run.")


def cmd_guard(args: argparse.Namespace) -> int:
    guard(dict(os.environ), [Path(d) for d in args.also])
    print(f"propie.rollback resolves to this checkout ({REPO}) and nothing shadows it")
    return 0


# ---------------------------------------------------------------------------------------------
# make molecule
# ---------------------------------------------------------------------------------------------

def scenario_roles() -> list[str]:
    return sorted(p.parent.parent.parent.name for p in (REPO / "roles").glob("*/molecule/default/molecule.yml"))


def run_scenario(role: str, workdir: Path, sandboxes: queue.Queue[str]) -> tuple[str, int, float, Path]:
    """`molecule test` in roles/<role> with its own ephemeral directory and a free shared
    sandbox from the pool (its prepare resets it); (role, rc, seconds, log)."""
    endpoint = sandboxes.get()
    try:
        env = {**os.environ, "MOLECULE_EPHEMERAL_DIRECTORY": str(workdir / role), SHARED_ENV: endpoint,
               "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"}
        log_path = workdir / f"{role}.log"
        started = time.monotonic()
        with open(log_path, "w", encoding="utf-8") as log:
            rc = subprocess.call([str(Path(sys.executable).parent / "molecule"), "test"], cwd=REPO / "roles" / role,
                                 env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return role, rc, time.monotonic() - started, log_path
    finally:
        sandboxes.put(endpoint)


def cmd_all(args: argparse.Namespace) -> int:
    started = time.monotonic()
    known = scenario_roles()
    missing = sorted(set(args.roles) - set(known))
    if missing:
        raise SystemExit(f"molecule_scenarios: no scenario roles/<role>/molecule/default for {missing}")
    roles = args.roles or known
    # The scenarios' own collections path (.config/molecule/config.yml sets the same).
    guard({**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTION_LINK.parents[2])},
          [REPO / "roles" / role / "molecule" / "default" / "collections" for role in known])
    workdir = Path(tempfile.mkdtemp(prefix="propie-molecule-"))
    jobs = max(1, min(args.jobs, len(roles)))
    pids: list[int] = []
    try:
        # One sandbox per job, shared by the scenarios that job runs one after the other (each
        # prepare resets it): each service's first-request import is paid once per sandbox.
        sandboxes: queue.Queue[str] = queue.Queue()
        for n in range(jobs):
            pid, endpoint = start_sandbox(workdir / f"sandbox-{n}", args.time_scale)
            pids.append(pid)
            sandboxes.put(endpoint)
            print(f"molecule: sandbox {endpoint} (pid {pid}), time scale {args.time_scale}", flush=True)
        results = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_scenario, role, workdir, sandboxes) for role in roles]
            for future in concurrent.futures.as_completed(futures):
                role, rc, seconds, log_path = future.result()
                results.append((role, rc, seconds, log_path))
                print(f"molecule: {role:<26} {'passed' if rc == 0 else f'FAILED (exit {rc})'} in {seconds:5.1f} s",
                      flush=True)
        failed = sorted(r for r in results if r[1] != 0)
        for role, rc, _seconds, log_path in failed:
            print(f"\n===== {role}: molecule test exited {rc}; its log ({log_path}):\n", flush=True)
            print(log_path.read_text(encoding="utf-8", errors="replace"), flush=True)
        print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed "
              f"(molecule scenarios, {jobs} at a time, {time.monotonic() - started:.0f} s)", flush=True)
        return 1 if failed else 0
    finally:
        for pid in pids:
            stop_sandbox(pid)
        if args.keep:
            print(f"molecule: logs and ephemeral directories kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/molecule_scenarios.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start (or reset the shared) sandbox for a scenario")
    up.add_argument("--dir", help="the scenario's ephemeral directory")
    up.add_argument("--time-scale", type=float, default=DEFAULT_TIME_SCALE)
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop the sandbox `up` started")
    down.add_argument("--dir")
    down.set_defaults(func=cmd_down)
    seed = sub.add_parser("seed", help="load estates into the scenario's sandbox")
    seed.add_argument("estates", nargs="+", help=f"one or more of {', '.join(sorted(ESTATES))}")
    seed.add_argument("--dir")
    seed.set_defaults(func=cmd_seed)
    aws = sub.add_parser("aws", help="boto3 calls against the scenario's sandbox; the responses as JSON")
    aws.add_argument("calls", help='a JSON list of [service, operation, params], e.g. [["ssm", "get_parameter", {"Name": "/x"}]]')
    aws.add_argument("--dir")
    aws.set_defaults(func=cmd_aws)
    prep = sub.add_parser("prepare", help="guard, up and seed, as a scenario's prepare does")
    prep.add_argument("estates", nargs="*", help=f"estates to seed: {', '.join(sorted(ESTATES))}")
    prep.add_argument("--dir")
    prep.add_argument("--time-scale", type=float, default=DEFAULT_TIME_SCALE)
    prep.add_argument("--also", action="append", default=[], help="another collections directory to check")
    prep.set_defaults(func=cmd_prepare)
    check = sub.add_parser("guard", help="fail if a copy other than this checkout would be loaded")
    check.add_argument("--also", action="append", default=[], help="another collections directory to check")
    check.set_defaults(func=cmd_guard)
    every = sub.add_parser("all", help="molecule test for every role's scenario (make molecule)")
    every.add_argument("roles", nargs="*", help="only these roles")
    every.add_argument("--jobs", type=int, default=int(os.environ.get("MOLECULE_JOBS", "2")),
                       help="scenarios at a time, each job with its own sandbox (default %(default)s, $MOLECULE_JOBS)")
    every.add_argument("--time-scale", type=float, default=DEFAULT_TIME_SCALE)
    every.add_argument("--keep", action="store_true", help="keep the logs and ephemeral directories")
    every.set_defaults(func=cmd_all)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
