"""rollback_lock against the sandbox: table creation, held locks, resume, release, expiry, break_lock
and check mode with the module run in-process (run_task); two concurrent runs, the heartbeat and
controller_pid through real ansible-playbook runs."""

from __future__ import annotations

import base64
import calendar
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from ansible_collections.propie.rollback.plugins.module_utils import lock as lk

REPO = Path(__file__).resolve().parents[2]
TABLE = "propie-rollback-locks"
ENV = "production"


def lock_play(**args) -> str:
    """A one-task playbook calling rollback_lock with these arguments (env defaults to production)."""
    args.setdefault("env", ENV)
    return f"""
- name: Rollback lock
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Lock
      propie.rollback.rollback_lock: {json.dumps(args)}
"""


def stored(sandbox, env: str = ENV) -> dict | None:
    ddb = sandbox.boto3_client("dynamodb")
    return lk.from_typed(ddb.get_item(TableName=TABLE, Key={"env": {"S": env}}, ConsistentRead=True).get("Item"))


def dynamodb_calls(sandbox, since: int) -> list[tuple[str, int, str | None]]:
    return [(r["operation"], r["status"], r.get("error_code"))
            for r in sandbox.requests(since) if r["service"] == "dynamodb"]


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    """Poll with a deadline (the heartbeat runs in real time)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)  # a real poll: the heartbeat is a detached process renewing on the wall clock


def acquire(runner, incident_id: str, **args):
    """Take the lock with run_task (in-process) or run_playbook (a real ansible-playbook run)."""
    run = runner(lock_play(incident_id=incident_id, **args))
    return run, run.result("Lock")


def test_first_use_creates_the_table_and_acquires(sandbox, run_task):
    run, res = acquire(run_task, "INC-1", holder="alice")
    assert run.rc == 0, run.stdout
    assert res["changed"] and res["acquired"] and res["action"] == "acquired" and res["table_created"]
    assert res["previous"] is None and res["heartbeat"] is None
    assert dynamodb_calls(sandbox, 0) == [
        ("GetItem", 400, "ResourceNotFoundException"), ("CreateTable", 200, None), ("DescribeTable", 200, None),
        ("DescribeTimeToLive", 200, None), ("UpdateTimeToLive", 200, None), ("UpdateItem", 200, None)]
    ddb = sandbox.boto3_client("dynamodb")
    table = ddb.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "env", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "env", "AttributeType": "S"}]
    assert ddb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    item = stored(sandbox)
    assert item == res["lock"]
    assert item["incident_id"] == "INC-1" and item["holder"] == "alice" and item["host"] == socket.gethostname()
    assert item["version"] == 1 and item["started"] == item["renewed"]
    assert item["started"].endswith("Z") and item["expires"] == lk.iso_utc(item["expires_at"])
    renewed = calendar.timegm(time.strptime(item["renewed"], "%Y-%m-%dT%H:%M:%SZ"))
    assert 900 <= item["expires_at"] - renewed <= 901


def test_held_lock_fails_at_once_naming_the_holder(sandbox, run_task):
    acquire(run_task, "INC-1", holder="alice", host="ctl-1")
    before = stored(sandbox)
    seq = sandbox.last_seq()
    run, res = acquire(run_task, "INC-2", holder="bob")
    assert run.rc != 0 and run.failed_tasks == ["Lock"]
    assert res["action"] == "held" and res["acquired"] is False and res["changed"] is False
    assert res["lock"] == before
    msg = res["msg"]
    for part in ("held by incident INC-1", "who: alice", "host: ctl-1", "started " + before["started"],
                 "expires " + before["expires"], "Wait for it to finish, or if that run is dead: -e break_lock=INC-1"):
        assert part in msg, (part, msg)
    # The lease is read before the write: held by another incident, no write is tried at all.
    assert sandbox.mutating_since(seq) == []
    assert dynamodb_calls(sandbox, seq) == [("GetItem", 200, None)]
    assert stored(sandbox) == before


def test_same_incident_resumes_and_keeps_started(sandbox, run_task):
    _run, first = acquire(run_task, "INC-1", holder="alice")
    run, res = acquire(run_task, "INC-1", holder="alice (re-run)")
    assert run.rc == 0, run.stdout
    assert res["action"] == "resumed" and res["changed"] and res["previous"] == first["lock"]
    assert res["lock"]["started"] == first["lock"]["started"] and res["lock"]["version"] == 2
    assert res["lock"]["holder"] == "alice (re-run)" and stored(sandbox) == res["lock"]


def test_release_then_another_incident_acquires(sandbox, run_task):
    _run, first = acquire(run_task, "INC-1")
    run = run_task(lock_play(incident_id="INC-2", state="absent"))
    res = run.result("Lock")
    assert run.rc == 0 and res["changed"] is False and res["action"] == "held"
    assert "left it alone" in res["msg"] and any("left it alone" in w for w in res.get("warnings", []))
    assert stored(sandbox) == first["lock"]
    run = run_task(lock_play(incident_id="INC-1", state="absent"), diff=True)
    res = run.result("Lock")
    assert res["changed"] and res["action"] == "released" and res["previous"] == first["lock"] and res["lock"] is None
    assert res["diff"] == {"before": first["lock"], "after": {}}
    assert stored(sandbox) is None
    seq = sandbox.last_seq()
    res = run_task(lock_play(incident_id="INC-1", state="absent")).result("Lock")
    assert res["changed"] is False and res["action"] == "absent"
    # no item: the delete's condition fails with no item in the error, and a read confirms it
    assert dynamodb_calls(sandbox, seq) == [("DeleteItem", 400, "ConditionalCheckFailedException"), ("GetItem", 200, None)]
    run, res = acquire(run_task, "INC-2")
    assert run.rc == 0 and res["action"] == "acquired" and res["previous"] is None


def test_an_expired_lease_is_taken_over(sandbox, run_task):
    acquire(run_task, "INC-0")  # creates the table
    now = int(time.time())
    dead = {"env": ENV, "incident_id": "INC-OLD", "holder": "carol", "host": "ctl-9", "started": lk.iso_utc(now - 4000),
            "renewed": lk.iso_utc(now - 1000), "expires": lk.iso_utc(now - 100), "expires_at": now - 100, "version": 7}
    sandbox.boto3_client("dynamodb").put_item(TableName=TABLE, Item=lk.to_typed(dead))
    seq = sandbox.last_seq()
    run, res = acquire(run_task, "INC-2")
    assert run.rc == 0, run.stdout
    assert res["action"] == "acquired" and res["previous"] == dead
    assert "previous holder: incident INC-OLD (who: carol, host: ctl-9" in res["msg"] and "expired " in res["msg"]
    lock = stored(sandbox)
    assert lock == res["lock"] and lock["incident_id"] == "INC-2" and lock["version"] == 8
    assert lock["started"] == lock["renewed"] != dead["started"]  # its own start, not the dead run's
    # the one conditional write, then the guarded fix-up of `started`
    assert [(r["operation"], r["status"]) for r in sandbox.mutating_since(seq)] == [("UpdateItem", 200), ("UpdateItem", 200)]


def test_break_lock_needs_the_holders_id(sandbox, run_task):
    _run, first = acquire(run_task, "INC-1", holder="alice")
    seq = sandbox.last_seq()
    run, res = acquire(run_task, "INC-2", break_lock="INC-9")
    assert run.rc != 0 and res["action"] == "held"
    assert "break_lock=INC-9 does not name that holder" in res["msg"] and "-e break_lock=INC-1" in res["msg"]
    assert stored(sandbox) == first["lock"]
    assert sandbox.mutating_since(seq) == []  # refused on the lease it read, before any write
    run, res = acquire(run_task, "INC-2", break_lock="INC-1", holder="bob")
    assert run.rc == 0, run.stdout
    assert res["action"] == "broken" and res["previous"] == first["lock"]
    assert stored(sandbox) == res["lock"] and res["lock"]["incident_id"] == "INC-2"
    assert res["lock"]["version"] == 2 and res["lock"]["started"] == res["lock"]["renewed"]
    # Deleting a dead run's lock without taking it: the wrong id changes nothing, the right one deletes.
    run = run_task(lock_play(state="absent", break_lock="INC-1"))
    assert run.rc != 0 and "does not name that holder" in run.result("Lock")["msg"]
    assert stored(sandbox) == res["lock"]
    run = run_task(lock_play(state="absent", break_lock="INC-2"))
    assert run.rc == 0 and run.result("Lock")["action"] == "broken" and stored(sandbox) is None


def test_check_mode_writes_nothing(sandbox, run_task):
    run = run_task(lock_play(incident_id="INC-1"), check=True, diff=True)
    res = run.result("Lock")
    assert run.rc == 0, run.stdout
    assert res["changed"] and res["action"] == "acquired" and res["table_created"] and res["msg"].startswith("check mode")
    assert res["diff"]["before"] == {} and res["diff"]["after"] == res["lock"]
    assert sandbox.mutating_since(0) == []
    assert "propie-rollback-locks" not in sandbox.boto3_client("dynamodb").list_tables()["TableNames"]

    _run, first = acquire(run_task, "INC-1")
    seq = sandbox.last_seq()
    run = run_task(lock_play(incident_id="INC-2"), check=True)
    assert run.rc != 0 and "held by incident INC-1" in run.result("Lock")["msg"]
    res = run_task(lock_play(incident_id="INC-1"), check=True).result("Lock")
    assert res["action"] == "resumed" and res["lock"]["version"] == 2 and res["lock"]["started"] == first["lock"]["started"]
    res = run_task(lock_play(incident_id="INC-1", state="absent"), check=True, diff=True).result("Lock")
    assert res["changed"] and res["action"] == "released" and res["diff"] == {"before": first["lock"], "after": {}}
    assert sandbox.mutating_since(seq) == []
    assert {op for op, _status, _code in dynamodb_calls(sandbox, seq)} == {"GetItem"}
    assert stored(sandbox) == first["lock"]


def test_two_concurrent_runs_exactly_one_acquires(sandbox, tmp_path):
    """Two ansible-playbook processes at once on a fresh sandbox (both may race to create the table)."""
    env = {**os.environ, **sandbox.env(), "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".venv" / "collections"),
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    # The sandbox imports its DynamoDB extension on the first DynamoDB request; two first requests
    # at once can race in that import (a 500 the module retries). Load it first.
    sandbox.boto3_client("dynamodb").list_tables()
    procs = {}
    for incident_id in ("INC-A", "INC-B"):
        playbook = tmp_path / f"{incident_id}.yml"
        playbook.write_text(lock_play(incident_id=incident_id, holder=incident_id.lower()))
        procs[incident_id] = subprocess.Popen(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
             "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = {name: proc.communicate(timeout=180)[0] for name, proc in procs.items()}
    codes = {name: proc.returncode for name, proc in procs.items()}
    winner = stored(sandbox)["incident_id"]
    loser = "INC-B" if winner == "INC-A" else "INC-A"
    assert codes == {winner: 0, loser: 2}, outputs
    assert f"held by incident {winner} (who: {winner.lower()}" in outputs[loser]
    assert f"-e break_lock={winner}" in outputs[loser]
    writes = [(r["status"], r["error_code"]) for r in sandbox.requests(0) if r["operation"] == "UpdateItem"]
    # One write succeeded. The loser either read the winner's lease (no write) or read no lease and
    # raced: then its one write was refused by the condition. Any others are server errors retried.
    assert writes.count((200, None)) == 1 and writes.count((400, "ConditionalCheckFailedException")) <= 1, writes
    assert all(w[1] == "ConditionalCheckFailedException" or w[0] >= 500 for w in writes if w[0] != 200), writes
    assert [r["status"] for r in sandbox.requests(0) if r["operation"] == "CreateTable"].count(200) == 1


def test_heartbeat_renews_while_its_process_lives(sandbox, run_playbook, tmp_path):
    hb_dir = tmp_path / "heartbeats"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        args = dict(incident_id="INC-HB", ttl_seconds=3, heartbeat_pid=sleeper.pid, heartbeat_dir=str(hb_dir))
        run = run_playbook(lock_play(**args))
        res = run.result("Lock")
        assert run.rc == 0, run.stdout
        beat = res["heartbeat"]
        assert beat["started"] and beat["running"] and beat["error"] is None and beat["interval"] == 1.0
        # The playbook returned while the heartbeat runs: it kept none of the module's pipes.
        assert lk.pid_alive(beat["pid"]) and Path(beat["pid_file"]).parent == hb_dir
        assert json.loads(Path(beat["pid_file"]).read_text())["pid"] == beat["pid"]
        assert res["lock"]["heartbeat_pid"] == sleeper.pid
        version = res["lock"]["version"]
        wait_until(lambda: stored(sandbox)["version"] > version, "the heartbeat to renew the lease")
        renewed = stored(sandbox)
        assert renewed["incident_id"] == "INC-HB" and renewed["started"] == res["lock"]["started"]
        assert renewed["expires_at"] >= res["lock"]["expires_at"]

        # The same run acquiring again renews; it does not start a second heartbeat.
        again = run_playbook(lock_play(**args)).result("Lock")
        assert again["action"] == "renewed"
        assert again["heartbeat"]["started"] is False and again["heartbeat"]["running"] is True
        assert again["heartbeat"]["pid"] == beat["pid"]

        sleeper.kill()
        sleeper.wait()
        wait_until(lambda: not Path(beat["pid_file"]).exists() and not lk.pid_alive(beat["pid"]),
                   "the heartbeat to exit after its process died")
        assert list(hb_dir.iterdir()) == []  # a clean exit leaves neither pid file nor log
        # The lease is left to expire (a killed run keeps its lock for ttl_seconds), not deleted.
        assert stored(sandbox)["incident_id"] == "INC-HB"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_heartbeat_stops_once_the_lock_is_released(sandbox, run_playbook, tmp_path):
    hb_dir = tmp_path / "heartbeats"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        _run, res = acquire(run_playbook, "INC-HB", ttl_seconds=3, heartbeat_pid=sleeper.pid, heartbeat_dir=str(hb_dir))
        beat = res["heartbeat"]
        assert beat["started"] and lk.pid_alive(beat["pid"])
        released = run_playbook(lock_play(incident_id="INC-HB", state="absent")).result("Lock")
        assert released["action"] == "released"
        wait_until(lambda: not lk.pid_alive(beat["pid"]), "the heartbeat to see the lock released")
        assert list(hb_dir.iterdir()) == [] and stored(sandbox) is None  # never re-created by a renewal
        assert lk.pid_alive(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_heartbeat_pid_must_be_a_live_process(sandbox, run_playbook):
    with open("/proc/sys/kernel/pid_max") as handle:
        never = int(handle.read()) + 1  # above the kernel's maximum: never a process
    run, res = acquire(run_playbook, "INC-1", heartbeat_pid=never)
    assert run.rc != 0 and f"heartbeat_pid {never} is not a running process" in res["msg"]
    assert sandbox.mutating_since(0) == []


def test_controller_pid_is_the_ansible_playbook_process(sandbox, run_playbook):
    """Task arguments are templated in a forked worker (ansible-core 2.19), a task name in the main
    process: the lookup gives the main ansible-playbook process in both."""
    run = run_playbook("""
- name: Controller pid
  hosts: localhost
  gather_facts: false
  tasks:
    - name: "pid {{ lookup('propie.rollback.controller_pid') }}"
      ansible.builtin.set_fact:
        in_worker: "{{ lookup('propie.rollback.controller_pid') }}"
    - name: Its command line
      ansible.builtin.slurp:
        src: "/proc/{{ in_worker }}/cmdline"
      register: cmdline
""")
    assert run.rc == 0, run.stdout
    main_pid = next(e["pid"] for e in run.events if e.get("event") == "playbook_on_start")
    facts = next(r for t, rs in run.task_results.items() if t.startswith("pid ") for r in rs)
    assert int(facts["ansible_facts"]["in_worker"]) == main_pid
    named = [t for t in run.task_results if t.startswith("pid ")]
    assert named == [f"pid {main_pid}"]
    argv = base64.b64decode(run.result("Its command line")["content"]).split(b"\0")
    assert any(part.endswith(b"ansible-playbook") for part in argv), argv
