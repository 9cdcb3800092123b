"""rollback_lock: the pure decisions row by row, the same rows against moto's condition engine,
the module's messages (Stubber), the heartbeat loop on a fake clock and the detached process."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ansible_collections.propie.rollback.plugins.lookup import controller_pid
from ansible_collections.propie.rollback.plugins.module_utils import lock as lk
from ansible_collections.propie.rollback.plugins.modules import rollback_lock

NOW = 1796000000.25  # 2026-11-30T...: any fixed instant
TABLE = "propie-rollback-locks"
FIELDS = {"env": "production", "incident_id": "INC-2", "holder": "bob", "host": "ctl-2", "heartbeat_pid": None}


def held_item(incident_id="INC-1", expires_in=600, **extra):
    item = {
        "env": "production", "incident_id": incident_id, "holder": "alice", "host": "ctl-1",
        "started": lk.iso_utc(NOW - 300), "renewed": lk.iso_utc(NOW - 60),
        "expires": lk.iso_utc(NOW + expires_in), "expires_at": int(NOW + expires_in), "version": 3,
    }
    item.update(extra)
    return item


# ---------------------------------------------------------------------------
# Decisions, row by row
# ---------------------------------------------------------------------------

ACQUIRE_ROWS = [
    # id, item, break_lock, heartbeat_pid, expected decision
    ("free", None, None, None, lk.Decision(lk.ACQUIRED, True)),
    ("free-with-break-lock", None, "INC-9", None, lk.Decision(lk.ACQUIRED, True)),
    ("expired", held_item(expires_in=-1), None, None, lk.Decision(lk.ACQUIRED, True, takeover=True)),
    ("expires-exactly-now-is-live", dict(held_item(), expires_at=NOW), None, None, lk.Decision(lk.HELD, False)),
    ("ours-rerun", held_item("INC-2"), None, None, lk.Decision(lk.RESUMED, True)),
    ("ours-expired-rerun", held_item("INC-2", expires_in=-100), None, None, lk.Decision(lk.RESUMED, True)),
    ("ours-same-run", held_item("INC-2", host="ctl-2", heartbeat_pid=4242), None, 4242, lk.Decision(lk.RENEWED, True)),
    ("ours-other-controller", held_item("INC-2", host="ctl-2", heartbeat_pid=4242), None, 4243, lk.Decision(lk.RESUMED, True)),
    ("ours-other-host", held_item("INC-2", heartbeat_pid=4242), None, 4242, lk.Decision(lk.RESUMED, True)),
    ("someone-else", held_item(), None, None, lk.Decision(lk.HELD, False)),
    ("break-lock-matches", held_item(), "INC-1", None, lk.Decision(lk.BROKEN, True, takeover=True)),
    ("break-lock-matches-expired", held_item(expires_in=-5), "INC-1", None, lk.Decision(lk.BROKEN, True, takeover=True)),
    ("break-lock-other-id", held_item(), "INC-7", None, lk.Decision(lk.HELD, False)),
    ("break-lock-other-id-but-expired", held_item(expires_in=-5), "INC-7", None, lk.Decision(lk.ACQUIRED, True, takeover=True)),
    ("break-lock-names-us", held_item("INC-2"), "INC-2", None, lk.Decision(lk.RESUMED, True)),
    ("no-expiry-is-live", dict((k, v) for k, v in held_item().items() if k != "expires_at"), None, None, lk.Decision(lk.HELD, False)),
]


@pytest.mark.parametrize("item, break_lock, hb_pid, expected", [r[1:] for r in ACQUIRE_ROWS], ids=[r[0] for r in ACQUIRE_ROWS])
def test_decide_acquire(item, break_lock, hb_pid, expected):
    assert lk.decide_acquire(item, "INC-2", break_lock, NOW, hb_pid, "ctl-2") == expected


def test_an_expiry_that_is_not_a_number_never_expires():
    # DynamoDB's `expires_at < :now` is false between a string and a number (moto raises instead).
    assert not lk.is_expired(dict(held_item(), expires_at="soon"), NOW)
    assert not lk.is_expired(dict(held_item(), expires_at=True), NOW)


RELEASE_ROWS = [
    ("no-item", None, "INC-2", None, lk.Decision(lk.ABSENT, False)),
    ("ours", held_item("INC-2"), "INC-2", None, lk.Decision(lk.RELEASED, True)),
    ("ours-expired", held_item("INC-2", expires_in=-9), "INC-2", None, lk.Decision(lk.RELEASED, True)),
    ("someone-else", held_item(), "INC-2", None, lk.Decision(lk.HELD, False)),
    ("someone-else-expired", held_item(expires_in=-9), "INC-2", None, lk.Decision(lk.HELD, False)),
    ("break-lock-matches", held_item(), "INC-2", "INC-1", lk.Decision(lk.BROKEN, True, takeover=True)),
    ("break-lock-only", held_item(), None, "INC-1", lk.Decision(lk.BROKEN, True, takeover=True)),
    ("break-lock-other-id", held_item(), None, "INC-7", lk.Decision(lk.HELD, False)),
    ("ours-with-break-lock", held_item("INC-2"), "INC-2", "INC-1", lk.Decision(lk.RELEASED, True)),
]


@pytest.mark.parametrize("item, incident_id, break_lock, expected", [r[1:] for r in RELEASE_ROWS], ids=[r[0] for r in RELEASE_ROWS])
def test_decide_release(item, incident_id, break_lock, expected):
    assert lk.decide_release(item, incident_id, break_lock) == expected


def test_lock_after_keeps_started_for_ours_and_resets_it_on_takeover():
    ours = held_item("INC-2")
    resumed = lk.lock_after(ours, lk.Decision(lk.RESUMED, True), FIELDS, NOW, 900)
    assert resumed["started"] == ours["started"] and resumed["version"] == 4
    assert resumed["expires_at"] == 1796000901 and resumed["expires"] == lk.iso_utc(1796000901)
    assert resumed["renewed"] == lk.iso_utc(NOW) and "heartbeat_pid" not in resumed
    taken = lk.lock_after(held_item(), lk.Decision(lk.BROKEN, True, takeover=True), FIELDS, NOW, 900)
    assert taken["started"] == lk.iso_utc(NOW) and taken["version"] == 4 and taken["incident_id"] == "INC-2"
    fresh = lk.lock_after(None, lk.Decision(lk.ACQUIRED, True), dict(FIELDS, heartbeat_pid=7), NOW, 900)
    assert fresh["version"] == 1 and fresh["heartbeat_pid"] == 7
    assert lk.iso_utc(0) == "1970-01-01T00:00:00Z"


def test_acquire_condition_has_the_four_cases():
    expr, values = lk.acquire_condition("INC-2", "INC-1", NOW)
    assert expr == "attribute_not_exists(#env) OR #exp < :now OR #inc = :inc OR #inc = :brk"
    assert values == {":now": {"N": "1796000000.250000"}, ":inc": {"S": "INC-2"}, ":brk": {"S": "INC-1"}}
    assert lk.acquire_condition("INC-2", None, NOW)[0] == "attribute_not_exists(#env) OR #exp < :now OR #inc = :inc"
    request = lk.acquire_request(TABLE, FIELDS, None, NOW, 900)
    assert set(request["ExpressionAttributeNames"]) == {"#env", "#inc", "#holder", "#host", "#started", "#renewed",
                                                        "#expires", "#exp", "#ver", "#hbpid"}
    assert request["ReturnValues"] == "ALL_OLD" and request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"


def test_typed_round_trip():
    item = held_item(heartbeat_pid=12)
    assert lk.from_typed(lk.to_typed(item)) == item
    assert lk.from_typed({}) is None and lk.from_typed(None) is None


# ---------------------------------------------------------------------------
# The same rows against a DynamoDB condition engine (moto, in process)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_table():
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            mp.delenv(var, raising=False)
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
            client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                                AttributeDefinitions=[{"AttributeName": "env", "AttributeType": "S"}],
                                KeySchema=[{"AttributeName": "env", "KeyType": "HASH"}])
            yield client


@pytest.fixture
def moto_client(moto_table):
    moto_table.delete_item(TableName=TABLE, Key={"env": {"S": "production"}})
    return moto_table


def _stored(client):
    return lk.from_typed(client.get_item(TableName=TABLE, Key={"env": {"S": "production"}}, ConsistentRead=True).get("Item"))


@pytest.mark.parametrize("item, break_lock, hb_pid, expected", [r[1:] for r in ACQUIRE_ROWS], ids=[r[0] for r in ACQUIRE_ROWS])
def test_condition_matches_the_decision(moto_client, item, break_lock, hb_pid, expected):
    if item is not None:
        moto_client.put_item(TableName=TABLE, Item=lk.to_typed(item))
    fields = dict(FIELDS, heartbeat_pid=hb_pid)
    try:
        old = moto_client.update_item(**lk.acquire_request(TABLE, fields, break_lock, NOW, 900)).get("Attributes")
    except moto_client.exceptions.ConditionalCheckFailedException as e:
        assert not expected.allowed
        assert lk.from_typed(e.response.get("Item")) == item and _stored(moto_client) == item
        return
    assert expected.allowed
    assert lk.from_typed(old) == item
    lock = lk.lock_after(item, expected, fields, NOW, 900)
    if expected.takeover:
        moto_client.update_item(**lk.takeover_fixup_request(TABLE, "production", "INC-2", lock["version"], NOW))
    assert _stored(moto_client) == lock


@pytest.mark.parametrize("item, incident_id, break_lock, expected", [r[1:] for r in RELEASE_ROWS], ids=[r[0] for r in RELEASE_ROWS])
def test_release_condition_matches_the_decision(moto_client, item, incident_id, break_lock, expected):
    if item is not None:
        moto_client.put_item(TableName=TABLE, Item=lk.to_typed(item))
    try:
        old = moto_client.delete_item(**lk.release_request(TABLE, "production", incident_id, break_lock)).get("Attributes")
    except moto_client.exceptions.ConditionalCheckFailedException:
        assert not expected.allowed and _stored(moto_client) == item
        return
    assert expected.allowed and lk.from_typed(old) == item and _stored(moto_client) is None


def test_renewal_only_while_ours(moto_client):
    moto_client.put_item(TableName=TABLE, Item=lk.to_typed(held_item("INC-2")))
    renew = lk.renewer(moto_client, TABLE, "production", "INC-2", 30)
    assert renew(NOW + 10) is None
    after = _stored(moto_client)
    assert after["version"] == 4 and after["expires_at"] == int(NOW + 40) + 1 and after["started"] == held_item()["started"]
    moto_client.put_item(TableName=TABLE, Item=lk.to_typed(held_item("INC-3")))
    assert renew(NOW + 20) == "lock taken by incident INC-3"
    moto_client.delete_item(TableName=TABLE, Key={"env": {"S": "production"}})
    assert renew(NOW + 30) == "lock released" and _stored(moto_client) is None  # never re-creates a released lock


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


def test_held_message_names_the_holder_and_the_fix():
    msg = lk.held_message("production", held_item(), NOW)
    for part in ("env production", "incident INC-1", "who: alice", "host: ctl-1", "started " + lk.iso_utc(NOW - 300),
                 "expires " + lk.iso_utc(NOW + 600), "nothing was changed",
                 "Wait for it to finish, or if that run is dead: -e break_lock=INC-1"):
        assert part in msg, (part, msg)
    wrong = lk.held_message("production", held_item(), NOW, break_lock="INC-7")
    assert "break_lock=INC-7 does not name that holder" in wrong and wrong.endswith("-e break_lock=INC-1")
    assert "expired " + lk.iso_utc(NOW - 5) in lk.describe_holder(held_item(expires_in=-5), NOW)


class Failed(Exception):
    def __init__(self, result):
        super(Failed, self).__init__(result.get("msg"))
        self.result = result


class FakeModule:
    """What LockRun uses of AnsibleAWSModule."""

    region = "us-east-1"

    def __init__(self, check_mode=False, diff=False, **params):
        self.params = dict(env="production", incident_id="INC-2", state="present", table_name=TABLE, ttl_seconds=900,
                           holder="bob", host="ctl-2", break_lock=None, create_table=True, heartbeat_pid=None,
                           heartbeat_dir=None)
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)

    def fail_json(self, **result):
        raise Failed(result)

    def fail_json_aws(self, exception, msg=None, **result):
        raise Failed(dict(result, msg="%s: %s" % (msg, exception)))


class Plain:
    """Stands in for amazon.aws's retrying wrapper: drops the aws_retry keyword."""

    def __init__(self, client):
        self.client = client
        self.calls = []

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(*args, aws_retry=False, **kwargs):
            self.calls.append((name, aws_retry))
            return method(*args, **kwargs)

        return call


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_module_fails_naming_the_holder_before_any_write(stubbed):
    client, stub = stubbed
    stub.add_response("get_item", {"Item": lk.to_typed(held_item())},
                      {"TableName": TABLE, "Key": {"env": {"S": "production"}}, "ConsistentRead": True})
    wrapped = Plain(client)
    with pytest.raises(Failed) as failed:
        rollback_lock.LockRun(FakeModule(), wrapped, clock=lambda: NOW).run()
    result = failed.value.result
    assert result["action"] == "held" and result["acquired"] is False and result["changed"] is False
    assert "held by incident INC-1 (who: alice, host: ctl-1" in result["msg"]
    assert result["msg"].endswith("Wait for it to finish, or if that run is dead: -e break_lock=INC-1")
    assert wrapped.calls == [("get_item", True)]  # no write at all


def test_module_fails_naming_the_holder_from_the_failed_write(stubbed):
    """A race: free when read, taken by another run before the write."""
    client, stub = stubbed
    module = FakeModule()
    stub.add_response("get_item", {}, {"TableName": TABLE, "Key": {"env": {"S": "production"}}, "ConsistentRead": True})
    request = lk.acquire_request(TABLE, FIELDS, None, NOW, 900)
    stub.add_client_error("update_item", "ConditionalCheckFailedException", "The conditional request failed",
                          expected_params=request, modeled_fields={"Item": lk.to_typed(held_item())})
    wrapped = Plain(client)
    with pytest.raises(Failed) as failed:
        rollback_lock.LockRun(module, wrapped, clock=lambda: NOW).run()
    result = failed.value.result
    assert result["action"] == "held" and result["acquired"] is False and result["changed"] is False
    assert result["lock"] == held_item()
    assert "held by incident INC-1 (who: alice, host: ctl-1" in result["msg"]
    assert result["msg"].endswith("Wait for it to finish, or if that run is dead: -e break_lock=INC-1")
    assert wrapped.calls == [("get_item", True), ("update_item", True)]  # one write, every call with aws_retry


def test_module_reads_the_holder_when_the_error_has_no_item(stubbed):
    client, stub = stubbed
    stub.add_response("get_item", {}, {"TableName": TABLE, "Key": {"env": {"S": "production"}}, "ConsistentRead": True})
    stub.add_client_error("update_item", "ConditionalCheckFailedException", "The conditional request failed")
    stub.add_response("get_item", {"Item": lk.to_typed(held_item())},
                      {"TableName": TABLE, "Key": {"env": {"S": "production"}}, "ConsistentRead": True})
    with pytest.raises(Failed) as failed:
        rollback_lock.LockRun(FakeModule(break_lock="INC-7"), Plain(client), clock=lambda: NOW).run()
    assert "break_lock=INC-7 does not name that holder" in failed.value.result["msg"]
    assert "-e break_lock=INC-1" in failed.value.result["msg"]


def test_module_creates_the_table_on_first_use(stubbed):
    client, stub = stubbed
    stub.add_client_error("get_item", "ResourceNotFoundException", "Requested resource not found")
    stub.add_response("create_table", {}, {
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "env", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "env", "KeyType": "HASH"}]})
    stub.add_response("describe_table", {"Table": {"TableName": TABLE, "TableStatus": "ACTIVE"}}, {"TableName": TABLE})
    stub.add_response("describe_time_to_live", {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}},
                      {"TableName": TABLE})
    stub.add_response("update_time_to_live", {}, {
        "TableName": TABLE, "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires_at"}})
    stub.add_response("update_item", {}, lk.acquire_request(TABLE, FIELDS, None, NOW, 900))
    result = rollback_lock.LockRun(FakeModule(diff=True), Plain(client), clock=lambda: NOW).run()
    assert result["action"] == "acquired" and result["table_created"] is True and result["previous"] is None
    assert result["lock"] == lk.lock_after(None, lk.Decision(lk.ACQUIRED, True), FIELDS, NOW, 900)
    assert result["diff"] == {"before": {}, "after": result["lock"]}


def test_module_without_create_table_names_the_missing_table(stubbed):
    client, stub = stubbed
    stub.add_client_error("get_item", "ResourceNotFoundException", "Requested resource not found")
    with pytest.raises(Failed, match="lock table propie-rollback-locks does not exist in region us-east-1"):
        rollback_lock.LockRun(FakeModule(create_table=False), Plain(client), clock=lambda: NOW).run()


def test_check_mode_only_reads(stubbed):
    client, stub = stubbed
    stub.add_response("get_item", {"Item": lk.to_typed(held_item(expires_in=-30))},
                      {"TableName": TABLE, "Key": {"env": {"S": "production"}}, "ConsistentRead": True})
    result = rollback_lock.LockRun(FakeModule(check_mode=True, diff=True), Plain(client), clock=lambda: NOW).run()
    assert result["action"] == "acquired" and result["changed"] is True and result["previous"]["incident_id"] == "INC-1"
    assert result["lock"]["incident_id"] == "INC-2" and result["lock"]["started"] == lk.iso_utc(NOW)
    assert result["msg"].startswith("check mode: would have acquired") and "previous holder: incident INC-1" in result["msg"]


def test_release_of_someone_elses_lock_warns_and_keeps_it(stubbed):
    client, stub = stubbed
    stub.add_client_error("delete_item", "ConditionalCheckFailedException", "The conditional request failed",
                          modeled_fields={"Item": lk.to_typed(held_item())})
    module = FakeModule(state="absent")
    result = rollback_lock.LockRun(module, Plain(client), clock=lambda: NOW).run()
    assert result["changed"] is False and result["action"] == "held" and result["lock"] == held_item()
    assert module.warnings == [result["msg"]] and "left it alone" in result["msg"]


def impossible_pid():
    """A pid above the kernel's maximum: never a process (a reaped child's pid may be reused)."""
    with open("/proc/sys/kernel/pid_max") as handle:
        return int(handle.read()) + 1


def test_heartbeat_pid_must_be_alive():
    pid = impossible_pid()
    with pytest.raises(Failed, match="heartbeat_pid %d is not a running process" % pid):
        rollback_lock.LockRun(FakeModule(heartbeat_pid=pid), None, clock=lambda: NOW).run()


# ---------------------------------------------------------------------------
# The heartbeat loop on a fake clock
# ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def sleep(self, seconds):
        assert seconds >= 0
        self.t += max(seconds, 0.001)

    def monotonic(self):
        return self.t

    def wall(self):
        return NOW + self.t


def _beat(renew, alive, ttl=3, **kw):
    clock = FakeClock()
    return lk.Heartbeat(renew, alive, ttl, clock=clock.wall, monotonic=clock.monotonic, sleep=clock.sleep, **kw), clock


def test_heartbeat_renews_every_third_of_the_ttl_until_the_process_is_gone():
    renewals = []
    beat, clock = _beat(renewals.append, lambda: clock.t < 10.5, ttl=3)
    assert beat.run() == "process gone"
    assert [round(t - NOW, 3) for t in renewals] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]


def test_heartbeat_stops_when_the_lock_is_no_longer_ours():
    results = iter([None, None, "lock taken by incident INC-3"])
    beat, _clock = _beat(lambda now: next(results), lambda: True, ttl=30)
    assert beat.run() == "lock taken by incident INC-3" and beat.renewals == 2


def test_heartbeat_gives_up_after_consecutive_failures_only():
    outcomes = iter(["fail", "ok", "fail", "fail", "fail"])
    log = []

    def renew(now):
        if next(outcomes) == "fail":
            raise RuntimeError("endpoint down")
        return None

    beat, _clock = _beat(renew, lambda: True, max_failures=3, log=log.append)
    assert beat.run() == "3 consecutive renewal failures"
    assert log[0] == "renewal failed (1/3): endpoint down" and log[1] == "renewed (1)"


def test_heartbeat_stop_flag():
    beat, clock = _beat(lambda now: None, lambda: True)
    assert beat.run(stop=lambda: clock.t > 2.5) == "stopped" and beat.renewals == 2


# ---------------------------------------------------------------------------
# Processes: liveness, pid files, the detached process
# ---------------------------------------------------------------------------


def test_pid_alive_sees_zombies_and_reused_pids():
    assert lk.pid_alive(os.getpid()) and lk.pid_alive(os.getpid(), lk.process_start_time(os.getpid()))
    assert not lk.pid_alive(os.getpid(), "not-my-start-time")
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert lk.pid_alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while lk.pid_alive(child.pid) and time.monotonic() < deadline:  # dead but not reaped: a zombie
            time.sleep(0.01)  # a real poll of a real child process
        assert not lk.pid_alive(child.pid) and child.poll() is not None
    finally:
        child.kill()
        child.wait()
    assert not lk.pid_alive(impossible_pid())


def test_pid_file_is_claimed_once(tmp_path):
    path = str(tmp_path / "x.pid")
    first = lk.claim_pid_file(path)
    assert first is not None and lk.claim_pid_file(path) is None
    os.close(first)
    again = lk.claim_pid_file(path)
    assert again is not None
    os.close(again)
    assert lk.pid_file_path("/d", "prod/eu", "INC 1", 42).startswith("/d/prod_eu--INC_1--42-")
    assert lk.pid_file_path("/d", "prod/eu", "INC 1", 42) != lk.pid_file_path("/d", "prod_eu", "INC 1", 42)


def _wait_until(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)  # a real poll: the detached process is a real one


def test_detached_process_closes_inherited_fds_and_runs_once(tmp_path):
    path = str(tmp_path / "hb.pid")
    release = tmp_path / "release"
    read_end, write_end = os.pipe()  # stands in for Ansible's pipe on the module's stdout

    def prepare(log):
        def run(stop):
            while not release.exists() and not stop():
                time.sleep(0.02)  # the detached process waits for the test's file, in real time
            return "process gone"
        return run

    try:
        started = lk.start_detached(path, {"what": "test"}, prepare)
        assert started["started"] and started["error"] is None and lk.pid_alive(started["pid"])
        assert lk.read_pid_file(path)["pid"] == started["pid"] and lk.heartbeat_running(path)["what"] == "test"
        os.close(write_end)
        write_end = None
        # EOF at once: the detached process holds no copy of it
        assert select.select([read_end], [], [], 10)[0] and os.read(read_end, 1) == b""
        assert lk.pid_alive(started["pid"])
        again = lk.start_detached(path, {"what": "test"}, prepare)
        assert again["started"] is False and again["running"] is True and again["pid"] == started["pid"]
        release.touch()
        _wait_until(lambda: not os.path.exists(path) and not lk.pid_alive(started["pid"]), "the process to exit")
        assert not os.path.exists(str(tmp_path / "hb.log"))  # a clean end leaves no log
        assert lk.heartbeat_running(path) is None
    finally:
        release.touch()
        os.close(read_end)
        if write_end is not None:
            os.close(write_end)


def test_detached_process_reports_a_failed_start_and_stops_on_sigterm(tmp_path):
    def broken(log):
        raise ValueError("no credentials")

    failed = lk.start_detached(str(tmp_path / "bad.pid"), {}, broken)
    assert failed["started"] is False and failed["error"] == "ValueError: no credentials"
    _wait_until(lambda: not os.listdir(str(tmp_path)), "the pid file and log to go")

    def forever(log):
        def run(stop):
            while not stop():
                time.sleep(0.02)  # the detached process runs until SIGTERM, in real time
            return "stopped"
        return run

    path = str(tmp_path / "hb.pid")
    started = lk.start_detached(path, {}, forever)
    assert started["started"]
    os.kill(started["pid"], signal.SIGTERM)
    _wait_until(lambda: not os.path.exists(path) and not lk.pid_alive(started["pid"]), "SIGTERM to end it")


def test_controller_pid_in_the_main_process_is_its_own():
    assert controller_pid.controller_pid() == os.getpid()
    assert controller_pid.LookupModule().run([]) == [os.getpid()]
