"""propie.rollback.incident_record in a real ansible-playbook run: files, idempotency, check mode, S3."""

from __future__ import annotations

import json
import stat

INCIDENT = "rb-20261130T031500Z-4be7a0"
CONTACTS = [
    {"role": "DevOps Lead", "name": "Dana Ops", "contact": "Phone: 555-0100", "hours": "24/7",
     "severities": ["warning", "critical"]},
    {"role": "Backend Lead", "name": "Bo Back", "contact": "Phone: 555-0101", "hours": "9am-5pm",
     "severities": ["critical"]},
    {"role": "Frontend Lead", "name": "Fran Front", "contact": "Phone: 555-0102", "hours": "9am-5pm",
     "severities": ["critical"]},
    {"role": "AWS Support", "name": "N/A", "contact": "AWS Support Portal", "hours": "24/7", "severities": ["critical"]},
]
SESSION_SECRET = "sess-0123456789abcdef"


def realistic_record() -> dict:
    """A production rollback started by the watcher: 4 components, 8 timeline steps."""

    def at(minute: int, second: int = 0) -> str:
        return "2026-11-30T03:%02d:%02dZ" % (minute, second)

    return {
        "incident_id": INCIDENT,
        "env": "production",
        "who": {"user": "awx", "awx_job_id": 9187, "awx_job_template": "PropIE rollback (production)"},
        "trigger": {
            "decision": "rollback",
            "reasons": ["5XX error rate: 12.4 > 5 over 300s"],
            "window_end": "2026-11-30T03:15:00+00:00",
            "triggers": [
                {"name": "5XX error rate", "action": "rollback", "state": "BREACHING", "value": 12.4,
                 "threshold": 5, "comparison": ">", "window": 300},
                {"name": "Latency p99", "action": "alert", "state": "OK", "value": 1840.0,
                 "threshold": 3000, "comparison": ">", "window": 300},
            ],
        },
        "started": at(15),
        "finished": at(41, 10),
        "status": "succeeded",
        "components": {
            "traffic": {"status": "succeeded", "changed": True, "started": at(15, 20), "ended": at(16, 50),
                        "before": {"": "green", "www": "green"}, "after": {"": "production", "www": "production"},
                        "domain": "prop-ie-app.com"},
            "frontend": {"status": "succeeded", "changed": True, "started": at(16, 50), "ended": at(24, 30),
                         "before": {"job": "57", "commit": "f00dbad"}, "after": {"job": "58", "commit": "a1b2c34"},
                         "rebuild_of": "54"},
            "infra": {"status": "succeeded", "changed": True, "started": at(15, 20), "ended": at(21, 5),
                      "before": "UPDATE_ROLLBACK_FAILED", "after": "UPDATE_ROLLBACK_COMPLETE",
                      "stack": "propie-appsync", "resources_skipped": ["ResolverConfigParameter"],
                      "session": {"session_token": SESSION_SECRET}},
            "data": {"status": "succeeded", "changed": True, "started": at(15, 20), "ended": at(41, 0),
                     "before": "PropIE-Users", "after": "PropIE-Users-rb-4be7a0"},
        },
        "timeline": [
            {"step": "plan and lock", "component": None, "started": at(15), "ended": at(15, 20), "status": "succeeded"},
            {"step": "revert traffic to blue", "component": "traffic", "started": at(15, 20), "ended": at(16, 50),
             "status": "succeeded", "detail": "prop-ie-app.com -> production"},
            {"step": "continue update rollback", "component": "infra", "started": at(15, 20), "ended": at(21, 5),
             "status": "succeeded", "detail": "skipped ResolverConfigParameter"},
            {"step": "start point-in-time restore", "component": "data", "started": at(15, 20), "ended": at(15, 40),
             "status": "succeeded"},
            {"step": "redeploy last known-good build", "component": "frontend", "started": at(16, 50),
             "ended": at(24, 30), "status": "succeeded", "detail": "RETRY of job 54"},
            {"step": "wait for restored table", "component": "data", "started": at(15, 40), "ended": at(37, 30),
             "status": "succeeded"},
            {"step": "verify restored table", "component": "data", "started": at(37, 30), "ended": at(39, 45),
             "status": "succeeded", "detail": "12034 items, canary present"},
            {"step": "swap table name", "component": "data", "started": at(39, 45), "ended": at(41, 0),
             "status": "succeeded"},
        ],
        "data": [{"table": "PropIE-Users", "restore_point": "2026-11-30T02:55:00Z",
                  "recovery_table": "PropIE-Users-rb-4be7a0", "rpo_seconds": 1200, "items": 12034}],
        "failures": [],
    }


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the incident record
      propie.rollback.incident_record:
        record: "{{ incident }}"
        dest: "{{ dest }}"
        contacts: "{{ contacts }}"
        bucket: "{{ bucket | default(omit) }}"
      register: first
%(more)s
"""
AGAIN = """
    - name: Write it again
      propie.rollback.incident_record:
        record: "{{ incident }}"
        dest: "{{ dest }}"
        contacts: "{{ contacts }}"
        bucket: "{{ bucket | default(omit) }}"
"""
CHECK_FIRST = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Predict the upload
      propie.rollback.incident_record:
        record: "{{ incident }}"
        dest: "{{ dest }}"
        contacts: "{{ contacts }}"
        bucket: "{{ bucket }}"
      check_mode: true
    - name: Write the incident record
      propie.rollback.incident_record:
        record: "{{ incident }}"
        dest: "{{ dest }}"
        contacts: "{{ contacts }}"
        bucket: "{{ bucket }}"
"""
NAMES = [INCIDENT + ext for ext in (".html", ".json", ".md")]


def _files(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()} if directory.exists() else {}


def _puts(sandbox, since):
    return [r for r in sandbox.requests(since) if r["service"] == "s3" and r["operation"] == "PutObject"]


def test_check_mode_then_apply_then_unchanged(run_playbook, tmp_path):
    dest = tmp_path / "incidents"
    extravars = {"incident": realistic_record(), "dest": str(dest), "contacts": CONTACTS}

    checked = run_playbook(PLAYBOOK % {"more": ""}, extravars=extravars, check=True, diff=True)
    assert checked.rc == 0, checked.stdout
    predicted = checked.result("Write the incident record")
    assert predicted["changed"] and not dest.exists()
    assert len(predicted["files_changed"]) == 3 and predicted["diff"]["before"] == ""

    applied = run_playbook(PLAYBOOK % {"more": AGAIN}, extravars=extravars, diff=True)
    assert applied.rc == 0, applied.stdout
    first, again = applied.result("Write the incident record"), applied.result("Write it again")
    assert first["changed"] and not again["changed"] and again["files_changed"] == []
    assert applied.changed_tasks == ["Write the incident record"]

    files = _files(dest)
    assert sorted(files) == NAMES
    assert stat.S_IMODE(dest.stat().st_mode) == 0o750
    assert {stat.S_IMODE((dest / n).stat().st_mode) for n in NAMES} == {0o640}
    record = json.loads(files[INCIDENT + ".json"])
    assert record == first["record"]
    assert record["components"]["infra"]["session"] == {"session_token": "********"}
    assert len(record["components"]) == 4 and len(record["timeline"]) == 8
    assert first["summary"] == (INCIDENT + " production: succeeded; traffic restored in 110s; all done in 1570s; "
                                "5 follow-ups open")
    owners = {f["id"]: f["owner"] for f in record["follow_ups"]}
    assert owners["tests"] == {"role": "Frontend Lead", "name": "Fran Front"}
    markdown = files[INCIDENT + ".md"].decode()
    assert "| 8 | swap table name | data | +1485s | +1560s | 75s (1m15s) | succeeded |  |" in markdown
    assert "| PropIE-Users | 2026-11-30T02:55:00Z | PropIE-Users-rb-4be7a0 | 1200s (20m00s) | items: 12034 |" in markdown
    assert "- [ ] Analyse the root cause: investigate what caused the issue; owner: Backend Lead (Bo Back)" in markdown

    # Neither the contact details nor the secret reach the files, the results or the output.
    everything = b"".join(files.values()).decode() + json.dumps(applied.events) + applied.stdout
    for leak in ("555-0100", "555-0101", "555-0102", SESSION_SECRET):
        assert leak not in everything, leak

    rerun = run_playbook(PLAYBOOK % {"more": ""}, extravars=extravars, diff=True)
    assert rerun.rc == 0 and rerun.changed_tasks == []
    assert _files(dest) == files


def test_upload_to_s3_once(sandbox, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket="propie-incident-records")
    dest = tmp_path / "incidents"
    extravars = {"incident": realistic_record(), "dest": str(dest), "contacts": CONTACTS,
                 "bucket": "propie-incident-records"}
    keys = ["incidents/production/%s.%s" % (INCIDENT, ext) for ext in ("json", "md", "html")]

    since = sandbox.last_seq()
    uploaded = run_playbook(CHECK_FIRST, extravars=extravars)
    assert uploaded.rc == 0, uploaded.stdout
    predicted, first = uploaded.result("Predict the upload"), uploaded.result("Write the incident record")
    assert predicted["changed"] and predicted["s3_uploaded"] == keys
    assert first["changed"] and first["s3_uploaded"] == keys
    assert first["s3_keys"] == dict(zip(("json", "markdown", "html"), keys))
    assert len(_puts(sandbox, since)) == 3  # the check-mode task put nothing

    files = _files(dest)
    for key, name in zip(keys, (INCIDENT + ".json", INCIDENT + ".md", INCIDENT + ".html")):
        obj = s3.get_object(Bucket="propie-incident-records", Key=key)
        assert obj["ServerSideEncryption"] == "AES256"
        assert obj["Body"].read() == files[name]
    assert s3.get_object(Bucket="propie-incident-records", Key=keys[2])["ContentType"].startswith("text/html")

    since = sandbox.last_seq()
    rerun = run_playbook(PLAYBOOK % {"more": ""}, extravars=extravars)
    assert rerun.rc == 0, rerun.stdout
    result = rerun.result("Write the incident record")
    assert not result["changed"] and result["s3_uploaded"] == []
    assert _puts(sandbox, since) == []
    assert [r["operation"] for r in sandbox.requests(since) if r["service"] == "s3"] == ["HeadObject"] * 3
