"""The always-on alarm listener end to end: a real ansible-rulebook process on the sandbox.

CloudWatch alarm (sandbox evaluation route) -> SNS alerts topic -> SQS queue (made by
playbooks/alarms.yml) -> event source propie.rollback.sqs_alarms -> rulebook
propie.rollback.rollback -> playbooks/alarm_event.yml -> the one-command rollback.

The listener is an external process: the tests poll for what it leaves (lock item, records,
messages) up to a generous deadline and advance the sandbox's emulated time, never sleep a
fixed time or assert wall-clock windows (the latency figure is printed for docs/eda.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sandbox.scenarios import propie_incident as incident
from tests.conftest import COLLECTIONS_PATH, REPO
from tests.integration.test_rollback_playbook import _estate, _seed

BIN = Path(sys.executable).parent
ALARM_5XX = "propie-sandbox-5XX-error-rate"
ALARM_LATENCY = "propie-sandbox-Latency-p99"
QUEUE = "propie-sandbox-rollback-alarms"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:" + incident.TOPIC
DEADLINE = 240  # seconds; the slowest step (a rollback on a loaded 2-core machine) takes well under


def _wait(what: str, probe, log: Path | None = None, deadline: float = DEADLINE, every: float = 0.25):
    """probe() until it returns something truthy; fail naming `what` (and the listener's log)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(every)  # a poll: the listener is a real process; emulated time is advanced, not waited for
    tail = log.read_text()[-6000:] if log and log.exists() else ""
    pytest.fail(f"gave up waiting for {what} after {deadline}s; listener log tail:\n{tail}")


class Listener:
    """`ansible-rulebook -r propie.rollback.rollback` for the sandbox env, as make listen runs it."""

    def __init__(self, sandbox, tmp_path: Path, run_playbook) -> None:
        self.state = tmp_path / "state"
        self.log = tmp_path / "listener.log"
        setup = run_playbook("playbooks/alarms.yml", extravars={"env": "sandbox", "rollback_alarms_listener_queue": True})
        assert setup.rc == 0, setup.stdout
        queued = setup.result("Make the listener's queue and subscribe it to the alarms' topics")
        assert queued["queue_created"] and queued["subscribed"] == [TOPIC_ARN]
        self.vars_file = tmp_path / "listener-vars.yml"
        made = run_playbook("playbooks/listener_vars.yml",
                            extravars={"env": "sandbox", "listener_vars_file": str(self.vars_file)})
        assert made.rc == 0, made.stdout
        self.vars = yaml.safe_load(self.vars_file.read_text())
        env = {**os.environ, **sandbox.env(), "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
               "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "PROPIE_ROLLBACK_STATE_DIR": str(self.state),
               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        env.pop("AWS_PROFILE", None)
        cmd = [str(BIN / "ansible-rulebook"), "-r", "propie.rollback.rollback", "-i", str(REPO / "inventories"),
               "--vars", str(self.vars_file), "-v"]
        with open(self.log, "wb") as out:
            # Its own session: the playbooks it starts are stopped with it.
            self.proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        _wait("the listener to poll its queue", lambda: self.proc.poll() is not None or "listening on" in self.text(),
              self.log, deadline=120)
        assert self.proc.poll() is None, self.text()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything it started and left behind
        except ProcessLookupError:
            pass

    def records(self, kind: str) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.state / kind / "sandbox").glob("*.json"))]


@pytest.fixture
def listener(sandbox, tmp_path, run_playbook):
    # Never a skip: without the listener's requirements these tests fail and say what to install.
    check = subprocess.run([str(REPO / "tools" / "eda_deps.sh"), str(BIN.parent)], text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if check.returncode != 0:
        pytest.fail("the alarm listener's requirements are missing (make eda-deps):\n" + check.stdout)
    started = []

    def start() -> Listener:
        started.append(Listener(sandbox, tmp_path, run_playbook))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def _lock_item(sandbox) -> dict | None:
    try:
        return sandbox.boto3_client("dynamodb").get_item(TableName="propie-rollback-locks", Key={"env": {"S": "sandbox"}},
                                                         ConsistentRead=True).get("Item")
    except sandbox.boto3_client("dynamodb").exceptions.ResourceNotFoundException:
        return None


def _stamp(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _put_5xx(sandbox) -> None:
    """The application keeps failing: this minute's requests and 5XX answers (16 %)."""
    dims = [{"Name": "App", "Value": "d4cebxzd5u3ynb"}]
    now = dt.datetime.now(dt.timezone.utc)
    sandbox.boto3_client("cloudwatch").put_metric_data(Namespace="AWS/AmplifyHosting", MetricData=[
        {"MetricName": "Requests", "Dimensions": dims, "Timestamp": now, "Value": 1250.0, "Unit": "Count"},
        {"MetricName": "5xxErrors", "Dimensions": dims, "Timestamp": now, "Value": 200.0, "Unit": "Count"}])


def test_a_5xx_alarm_rolls_back_once_and_an_alarm_during_the_rollback_starts_nothing(sandbox, listener, tmp_path):
    _seed(sandbox)
    # The blue branch's rebuild runs until the test advances emulated time (after the second alarm).
    sandbox.control("POST", "amplify/config", {"job_durations": {"PENDING": 2, "PROVISIONING": 10, "RUNNING": 200000}})
    eda = listener()
    _put_5xx(sandbox)
    seq = sandbox.last_seq()
    evaluated = sandbox.control("POST", "cloudwatch/evaluate-alarms", {})
    moved = {t["alarm_name"]: t["new_state"] for t in evaluated["transitions"]}
    assert moved == {ALARM_5XX: "ALARM", ALARM_LATENCY: "OK"}
    cw = sandbox.boto3_client("cloudwatch")
    changed_at = cw.describe_alarms(AlarmNames=[ALARM_5XX])["MetricAlarms"][0]["StateUpdatedTimestamp"].timestamp()

    lock = _wait("the rollback to take the env's lock", lambda: _lock_item(sandbox), eda.log)
    holder = lock["incident_id"]["S"]
    # The alarm recovers and fires again while the rollback runs: logged, recorded, nothing started.
    cw.set_alarm_state(AlarmName=ALARM_5XX, StateValue="OK", StateReason="test: back under the threshold")
    cw.set_alarm_state(AlarmName=ALARM_5XX, StateValue="ALARM", StateReason="test: above the threshold again")
    held = _wait("the second ALARM to be recorded as held",
                 lambda: [r for r in eda.records("alarms") if r["decision"] == "held"], eda.log)
    assert held[0]["held_by"] == holder and held[0]["alarm"]["reason"] == "test: above the threshold again"
    sandbox.set_time_scale(0.00001)  # emulated time runs on: the rebuild finishes

    def finished():
        done = [r for r in eda.records("incidents") if r["status"] != "running"]
        return done if done and not _lock_item(sandbox) else None

    [record] = _wait("the rollback to finish", finished, eda.log)
    assert record["status"] == "succeeded", record
    assert len(eda.records("incidents")) == 1
    assert record["incident_id"] == holder
    assert record["trigger"]["alarm"] == ALARM_5XX and record["trigger"]["decision"] == "rollback"
    assert record["trigger"]["triggers"][0]["name"] == "5XX error rate"
    assert record["trigger"]["triggers"][0]["value"] > 5
    assert set(record["components"]) == {"traffic", "frontend", "infra"}  # data only on a person's word
    assert all(c["status"] == "succeeded" for c in record["components"].values())
    after = _estate(sandbox)
    assert after["traffic"] == {"": "production", "www": "production"} and after["stack"] == "UPDATE_ROLLBACK_COMPLETE"

    calls = [r for r in sandbox.requests(seq) if r["mutating"] and r["service"] != "sqs" and r["status"] < 400]
    ops = [r["operation"] for r in calls]
    assert ops.count("StartJob") == 1 and ops.count("ContinueUpdateRollback") == 1, ops
    assert ops.count("UpdateDomainAssociation") == 1, ops
    # Every alarm acted on is recorded; OK transitions are logged by the rulebook.
    decisions = sorted(r["decision"] for r in eda.records("alarms"))
    assert decisions == ["held", "rollback"]
    said = eda.text()
    assert f"OK transition of {ALARM_LATENCY}" in said and f"OK transition of {ALARM_5XX}" in said

    first = calls[0]
    traffic = next(r for r in calls if r["operation"] == "UpdateDomainAssociation")
    print(f"\nEDA latency: alarm state change -> first mutating call of the rollback ({first['service']} "
          f"{first['operation']}): {_stamp(first['time']) - changed_at:.1f} s; -> traffic back on blue: "
          f"{_stamp(traffic['time']) - changed_at:.1f} s")


def test_a_latency_alarm_alone_alerts_on_the_topic_and_rolls_nothing_back(sandbox, listener):
    topic, inbox = sandbox.sqs_subscribed_to(incident.TOPIC, "test-inbox")
    assert topic == TOPIC_ARN
    eda = listener()
    dims = [{"Name": "App", "Value": "d4cebxzd5u3ynb"}]
    sandbox.boto3_client("cloudwatch").put_metric_data(Namespace="AWS/AmplifyHosting", MetricData=[
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": dt.datetime.now(dt.timezone.utc),
         "Values": [200.0, 4500.0], "Counts": [90.0, 10.0], "Unit": "Milliseconds"}])
    seq = sandbox.last_seq()
    evaluated = sandbox.control("POST", "cloudwatch/evaluate-alarms", {})
    assert {t["alarm_name"]: t["new_state"] for t in evaluated["transitions"]} == {ALARM_LATENCY: "ALARM"}

    [alerted] = _wait("the alert to be recorded", lambda: eda.records("alarms"), eda.log)
    assert alerted["decision"] == "alert" and alerted["alarm"]["name"] == ALARM_LATENCY
    sqs = sandbox.boto3_client("sqs")

    def notification():
        for message in sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            body = json.loads(json.loads(message["Body"])["Message"])
            if body.get("source") == "propie.rollback":
                return body
        return None

    body = _wait("the alert on the alerts topic", notification, eda.log)
    assert body["event"] == "trigger_breach" and body["severity"] == "warning"
    assert body["details"]["decision"] == "alert" and body["details"]["alarm"]["name"] == ALARM_LATENCY
    assert [c["role"] for c in body["escalate_to"]] == ["DevOps Lead"]  # 24/7 for warnings
    assert eda.records("incidents") == [] and _lock_item(sandbox) is None
    ops = [r["operation"] for r in sandbox.mutating_since(seq) if r["service"] != "sqs"]
    assert ops == ["Publish"]  # the alert; nothing rolled back, no lock taken


def test_the_listener_queue_is_idempotent_with_check_mode_and_diff(sandbox, run_playbook):
    topic = sandbox.boto3_client("sns").create_topic(Name="alerts")["TopicArn"]
    play = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: The queue
      propie.rollback.alarm_queue:
        queue_name: listener-q
        topic_arns: ["{topic}"]
        raw_message_delivery: {raw}
        state: {state}
""".replace("{topic}", topic)

    def run(raw="false", state="present", check=False):
        result = run_playbook(play.replace("{raw}", raw).replace("{state}", state), check=check, diff=True)
        assert result.rc == 0, result.stdout
        return result.result("The queue")

    sqs = sandbox.boto3_client("sqs")
    seq = sandbox.last_seq()
    predicted = run(check=True)
    assert predicted["changed"] and predicted["queue_created"] and predicted["subscribed"] == [topic]
    assert predicted["queue_arn"] == "arn:aws:sqs:us-east-1:123456789012:listener-q"
    assert predicted["diff"]["before"] == {"queue": None, "subscriptions": {topic: None}}
    assert [r for r in sandbox.mutating_since(seq) if r["operation"] != "ReceiveMessage"] == []
    made = run()
    assert made["changed"] and made["subscriptions"][0]["subscription_arn"].startswith(topic + ":")
    url = made["queue_url"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "20" and attrs["VisibilityTimeout"] == "60"
    policy = json.loads(attrs["Policy"])["Statement"][0]
    assert policy["Principal"] == {"Service": "sns.amazonaws.com"} and policy["Resource"] == attrs["QueueArn"]
    assert policy["Condition"] == {"ArnEquals": {"aws:SourceArn": [topic]}}
    seq = sandbox.last_seq()
    assert not run(check=True)["changed"] and not run()["changed"]
    assert sandbox.mutating_since(seq) == []
    # A message published to the topic arrives in the envelope; raw delivery switched on, bare.
    sns = sandbox.boto3_client("sns")
    sns.publish(TopicArn=topic, Message='{"AlarmName": "a"}')
    assert json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])["Type"] == "Notification"
    switched = run(raw="true")
    assert switched["changed"] and switched["diff"]["before"]["subscriptions"][topic] == {"raw_message_delivery": False}
    assert not run(raw="true")["changed"]
    sqs.purge_queue(QueueUrl=url)
    sns.publish(TopicArn=topic, Message='{"AlarmName": "a"}')
    assert json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"]) == {"AlarmName": "a"}
    # Removed: unsubscribed and deleted; again, nothing to do.
    gone = run(state="absent")
    assert gone["changed"] and gone["unsubscribed"] == [topic]
    assert "listener-q" not in " ".join(sqs.list_queues().get("QueueUrls", []))
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert not run(state="absent")["changed"]


def test_the_decision_environment_definition_builds_a_context(tmp_path):
    """`ansible-builder create` on extensions/eda/decision-environment.yml (a container build needs
    the base image's registry, not reachable here): Java, the pinned rulebook, the collection."""
    definition = REPO / "extensions" / "eda" / "decision-environment.yml"
    work = tmp_path / "de"
    work.mkdir()
    (work / "decision-environment.yml").write_text(definition.read_text())
    (work / "propie-rollback.tar.gz").write_bytes(b"stand-in for the make build tarball")
    made = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", "decision-environment.yml", "--context", "ctx"],
                          cwd=work, capture_output=True, text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    build = work / "ctx" / "_build"
    assert "java-17-openjdk-headless [platform:rpm]" in (build / "bindep.txt").read_text()
    assert yaml.safe_load((build / "requirements.yml").read_text())["collections"] == [
        {"name": "galaxy/propie-rollback.tar.gz", "type": "file"}]
    assert (build / "galaxy" / "propie-rollback.tar.gz").is_file()
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, _sep, version = line.split("#", 1)[0].strip().partition("==")
        pins[name.lower()] = version
    de = yaml.safe_load(definition.read_text())["dependencies"]
    wanted = de["python"] + [de["ansible_core"]["package_pip"], de["ansible_runner"]["package_pip"]]
    for requirement in wanted:  # the same versions as the checkout's pins
        name, version = requirement.split("==")
        assert pins[name.lower()] == version, requirement
    assert "ansible-rulebook==1.3.2" in (build / "requirements.txt").read_text()
