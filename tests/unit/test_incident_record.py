"""The incident record: normalisation, follow-ups, redaction, Markdown, HTML, and the module's writes."""

from __future__ import annotations

import html.parser
import json
import os
import re
import stat
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.propie.rollback.plugins.module_utils import record as rec
from ansible_collections.propie.rollback.plugins.modules import incident_record
from tests.unit.fakes import Exit, Fail, FakeAWSModule

CONTACTS = [
    {"role": "DevOps Lead", "name": "Dana Ops", "contact": "Phone: 555-0100", "hours": "24/7",
     "severities": ["warning", "critical"]},
    {"role": "Backend Lead", "name": "Bo Back", "contact": "Phone: 555-0101", "hours": "9am-5pm",
     "severities": ["critical"]},
    {"role": "Frontend Lead", "name": "Fran Front", "contact": "Phone: 555-0102", "hours": "9am-5pm",
     "severities": ["critical"]},
    {"role": "AWS Support", "name": "N/A", "contact": "AWS Support Portal", "hours": "24/7",
     "severities": ["critical"]},
]
CONTACT_DETAILS = ["555-0100", "555-0101", "555-0102", "Phone:", "AWS Support Portal", "9am-5pm"]
XSS = "</script><img src=x onerror=alert(1)>"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv" * 5 + "=="
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"


def small_record(**changes):
    record = {
        "incident_id": "rb-20261130T030000Z-9f2c1a",
        "env": "production",
        "who": {"user": "alice", "awx_job_id": 4242},
        "trigger": {"decision": "rollback", "reasons": ["5XX error rate: 15 > 5 over 300s"],
                    "triggers": [{"name": "5XX error rate", "action": "rollback", "state": "BREACHING",
                                  "value": 15.0, "threshold": 5, "comparison": ">", "window": 300}]},
        "started": "2026-11-30T03:00:00Z",
        "finished": "2026-11-30T03:30:40+00:00",
        "status": "succeeded",
        "components": {
            "traffic": {"status": "succeeded", "changed": True, "before": {"": "green", "www": "green"},
                        "after": {"": "production", "www": "production"},
                        "started": "2026-11-30T03:00:05Z", "ended": "2026-11-30T03:01:35Z"},
            "frontend": {"status": "succeeded", "changed": True, "before": "job 5", "after": "job 6",
                         "started": "2026-11-30T03:00:05Z", "ended": "2026-11-30T03:09:00Z",
                         "commit": COMMIT},
        },
        "timeline": [
            {"step": "revert traffic", "component": "traffic", "started": "2026-11-30T03:00:05Z",
             "ended": "2026-11-30T03:01:35Z", "status": "succeeded"},
            {"step": "plan", "started": "2026-11-30T03:00:00Z", "ended": "2026-11-30T03:00:05Z",
             "status": "succeeded"},
            {"step": "redeploy", "component": "frontend", "started": "2026-11-30T04:00:05+01:00",
             "ended": "2026-11-30T03:09:00.5Z", "status": "succeeded", "detail": "job 6 | rebuild of 4"},
        ],
        "data": [{"table": "PropIE-Users", "restore_point": "2026-11-30T02:40:00Z",
                  "recovery_table": "PropIE-Users-rb", "rpo_seconds": 300, "items": 1200}],
        "ticket": "INC-77",
    }
    record.update(changes)
    return record


# -- normalisation ---------------------------------------------------------------------------


def test_normalisation_times_order_derived_timings_and_extra_keys():
    out = rec.build_record(small_record(), CONTACTS)
    assert out["finished"] == "2026-11-30T03:30:40Z"
    assert [s["step"] for s in out["timeline"]] == ["plan", "revert traffic", "redeploy"]
    redeploy = out["timeline"][2]
    assert redeploy["started"] == "2026-11-30T03:00:05Z"  # +01:00 converted to UTC
    assert redeploy["ended"] == "2026-11-30T03:09:00.5Z"
    assert redeploy["duration_s"] == 535.5
    assert out["timeline"][0]["component"] is None and out["timeline"][0]["detail"] is None
    assert out["time_to_traffic_restored_s"] == 95
    assert out["time_to_all_done_s"] == 1840
    assert out["components"]["traffic"]["duration_s"] == 90
    assert out["ticket"] == "INC-77" and out["data"][0]["items"] == 1200  # unknown keys kept
    assert out["components"]["frontend"]["commit"] == COMMIT  # a commit id is not a secret key
    assert out["record_format"] == rec.RECORD_FORMAT
    assert out["failures"] == []


def test_normalisation_is_a_fixed_point():
    once = rec.build_record(small_record(), CONTACTS)
    assert rec.build_record(once, CONTACTS) == once


def test_missing_status_times_and_failures_are_derived():
    record = small_record(status=None, finished=None, started=None, time_to_traffic_restored_s=None)
    record["timeline"].append({"step": "swap table", "component": "data", "status": "failed",
                               "started": "2026-11-30T03:10:00Z", "ended": "2026-11-30T03:12:00Z",
                               "detail": "table not ACTIVE"})
    out = rec.build_record(record)
    assert out["started"] == "2026-11-30T03:00:00Z"  # the earliest step
    assert out["status"] == "failed"
    assert out["finished"] == "2026-11-30T03:12:00Z"  # the latest end
    assert out["failures"] == [{"step": "swap table", "msg": "table not ACTIVE"}]
    assert out["time_to_all_done_s"] == 720

    running = rec.build_record(small_record(status=None, finished=None, components=[
        {"name": "traffic", "status": "running"}], timeline=[]))
    assert running["status"] == "running" and running["finished"] is None
    assert running["time_to_all_done_s"] is None and running["time_to_traffic_restored_s"] is None
    assert running["components"]["traffic"]["changed"] is False


@pytest.mark.parametrize("changes,needle", [
    ({"incident_id": "../etc/passwd"}, "incident_id"),
    ({"incident_id": None}, "incident_id"),
    ({"env": ""}, "record.env is required"),
    ({"status": "done"}, "record.status must be one of succeeded, failed, running, planned"),
    ({"started": "yesterday"}, "record.started: 'yesterday' is not an ISO 8601 time"),
    ({"trigger": "watcher"}, "record.trigger must be a dict or null"),
    ({"timeline": [{"started": "2026-11-30T03:00:00Z"}]}, "timeline[0] has no step name"),
    ({"timeline": [{"step": "x", "started": "2026-11-30T03:00:01Z", "ended": "2026-11-30T03:00:00Z"}]},
     "ends before it starts"),
    ({"data": [{"table": "t", "rpo_seconds": "soon"}]}, "data[0].rpo_seconds must be a number"),
])
def test_bad_records_are_refused_with_the_field_named(changes, needle):
    with pytest.raises(rec.RecordError) as err:
        rec.build_record(small_record(**changes))
    assert needle in str(err.value)


# -- follow-ups --------------------------------------------------------------------------------


def test_six_post_rollback_actions_with_owners_from_roles():
    out = rec.build_record(small_record(), CONTACTS)
    follow = out["follow_ups"]
    assert [f["id"] for f in follow] == ["document", "root_cause", "fix", "tests", "monitoring", "procedure"]
    assert [f["status"] for f in follow] == ["done"] + ["open"] * 5
    owners = {f["id"]: (f["owner"]["role"], f["owner"]["name"]) for f in follow}
    assert owners == {
        "document": ("DevOps Lead", "Dana Ops"), "root_cause": ("Backend Lead", "Bo Back"),
        "fix": ("Backend Lead", "Bo Back"), "tests": ("Frontend Lead", "Fran Front"),
        "monitoring": ("DevOps Lead", "Dana Ops"), "procedure": ("DevOps Lead", "Dana Ops"),
    }
    assert all(set(f["owner"]) == {"role", "name"} for f in follow)
    assert rec.summary_line(out) == ("rb-20261130T030000Z-9f2c1a production: succeeded; traffic restored in 95s; "
                                     "all done in 1840s; 5 follow-ups open")


def test_owner_overrides_and_fallback_to_the_first_contact():
    contacts = [CONTACTS[1], CONTACTS[0]]  # no Frontend Lead; Backend Lead first
    out = rec.build_record(small_record(), contacts, {"fix": "DevOps Lead", "monitoring": None})
    by_id = {f["id"]: f for f in out["follow_ups"]}
    assert by_id["fix"]["owner"] == {"role": "DevOps Lead", "name": "Dana Ops"}
    assert by_id["monitoring"]["owner"]["role"] == "DevOps Lead"  # None keeps the default
    assert by_id["tests"]["owner"] == {"role": "Backend Lead", "name": "Bo Back"}
    assert by_id["tests"]["requested_role"] == "Frontend Lead"
    assert "requested_role" not in by_id["fix"]
    nobody = rec.build_record(small_record())
    assert nobody["follow_ups"][1]["owner"] == {"role": "Backend Lead", "name": None}
    with pytest.raises(rec.RecordError, match="unknown action"):
        rec.build_record(small_record(), contacts, {"deploy": "DevOps Lead"})


def test_no_contact_details_reach_any_output():
    given = [{"action": "Rotate the leaked key", "owner": CONTACTS[0]},
             {"action": "Call AWS", "owner": "AWS Support", "status": "done"},
             "Write the post-mortem"]
    for record in (small_record(), small_record(follow_ups=given)):
        out = rec.build_record(record, CONTACTS)
        texts = [rec.render_json(out), rec.render_markdown(out), rec.render_html(out)]
        for text in texts:
            for detail in CONTACT_DETAILS:
                assert detail not in text, detail
    out = rec.build_record(small_record(follow_ups=given), CONTACTS)
    assert out["follow_ups"][0]["owner"] == {"role": "DevOps Lead", "name": "Dana Ops"}
    assert out["follow_ups"][1]["owner"] == {"role": "AWS Support", "name": "N/A"}
    assert out["follow_ups"][1]["status"] == "done"
    assert out["follow_ups"][2] == {"action": "Write the post-mortem", "status": "open", "owner": None}


# -- redaction ---------------------------------------------------------------------------------


def test_secret_keys_are_masked_at_any_depth():
    value = {
        "db_password": "hunter22", "Token": "t",
        "nested": [{"AWS_SECRET_ACCESS_KEY": {"x": "y"}}, {"inner": {"SessionToken": "abc", "ok": "kept"}}],
        "X-Amz-Security-Token": "tok", "Authorization": "AWS4-HMAC-SHA256 ...", "credentials": ["a", "b"],
        "privateKey": "-----BEGIN...", "AccessKeyId": "AKIA", "client_secret": None, "plain": "kept",
    }
    found = set()
    out = rec.redact(value, found)
    assert out["db_password"] == out["Token"] == out["X-Amz-Security-Token"] == rec.MASK
    assert out["nested"][0]["AWS_SECRET_ACCESS_KEY"] == rec.MASK
    assert out["nested"][1]["inner"] == {"SessionToken": rec.MASK, "ok": "kept"}
    assert out["Authorization"] == out["credentials"] == out["privateKey"] == out["AccessKeyId"] == rec.MASK
    assert out["client_secret"] is None and out["plain"] == "kept"
    assert {"hunter22", "y", "abc", "a", "b"} <= found
    assert value["db_password"] == "hunter22"  # the input is not changed


def test_credential_looking_values_are_masked_in_text():
    text = ("used %s with secret %s and session %s; commit %s; password=hunter22, ok"
            % (ACCESS_KEY_ID, SECRET_KEY, SESSION_TOKEN, COMMIT))
    found = set()
    out = rec.redact({"detail": text, "list": ["ASIAQWERTYUIOPASDFGH"], "commit": COMMIT}, found)
    assert ACCESS_KEY_ID not in out["detail"] and SECRET_KEY not in out["detail"]
    assert SESSION_TOKEN[:40] not in out["detail"] and "hunter22" not in out["detail"]
    assert out["detail"] == ("used ******** with secret ******** and session ********; commit %s; "
                             "password=********, ok" % COMMIT)
    assert out["list"] == [rec.MASK] and out["commit"] == COMMIT
    assert {ACCESS_KEY_ID, SECRET_KEY, SESSION_TOKEN, "hunter22", "ASIAQWERTYUIOPASDFGH"} <= found
    # Ordinary text and ids stay.
    for plain in ("arn:aws:dynamodb:us-east-1:123456789012:table/PropIE-Users", "d4cebxzd5u3ynb",
                  "rb-20261130T030000Z-9f2c1a", "AKIA is a prefix", "the password was reset"):
        assert rec.redact(plain) == plain


def test_redaction_reaches_every_output():
    record = small_record()
    record["components"]["infra"] = {"status": "succeeded", "detail": {"aws_access_key_id": "x",
                                                                       "note": "key %s" % ACCESS_KEY_ID}}
    record["timeline"][0]["detail"] = "signed with %s" % SECRET_KEY
    out = rec.build_record(record, CONTACTS)
    for text in (rec.render_json(out), rec.render_markdown(out), rec.render_html(out)):
        assert ACCESS_KEY_ID not in text and SECRET_KEY not in text
        assert "********" in text


# -- Markdown ----------------------------------------------------------------------------------


def test_markdown_summary():
    record = small_record()
    record["failures"] = [{"step": "verify", "msg": "row count 10 != 12"}]
    md = rec.render_markdown(rec.build_record(record, CONTACTS))
    assert md.startswith("# Incident rb-20261130T030000Z-9f2c1a: production SUCCEEDED\n")
    for row in ("| Environment | production |", "| Who | awx_job_id: 4242, user: alice |",
                "| Trigger | watcher decision rollback: 5XX error rate: 15 &gt; 5 over 300s |",
                "| Traffic restored in | 95s (1m35s) |", "| All done in | 1840s (30m40s) |",
                "### traffic: succeeded (changed)", "| (empty) | green | production |",
                "| www | green | production |", "| state | job 5 | job 6 |", "- commit: %s" % COMMIT,
                "| 1 | plan |  | +0s | +5s | 5s | succeeded |  |",
                "| 3 | redeploy | frontend | +5s | +540.5s | 535.5s (8m56s) | succeeded | job 6 \\| rebuild of 4 |",
                "| PropIE-Users | 2026-11-30T02:40:00Z | PropIE-Users-rb | 300s (5m00s) | items: 1200 |",
                "- **verify**: row count 10 != 12",
                "- [x] Document the incident: record what happened and why the rollback was needed; "
                "owner: DevOps Lead (Dana Ops) (done by this incident record)",
                "- [ ] Improve tests: add tests to prevent similar issues; owner: Frontend Lead (Fran Front)",
                "| 5XX error rate | rollback | BREACHING | 15.0 | &gt; | 5 | 300 |"):
        assert row in md, row
    assert md.count("- [ ] ") == 5
    assert "## Components" in md and "## Timeline" in md and "## Data" in md and "## Failures" in md


def test_markdown_escapes_markup_and_cell_breaks():
    record = small_record(timeline=[{"step": XSS, "status": "failed", "detail": "a|b\nc `x`",
                                     "started": "2026-11-30T03:00:00Z"}])
    md = rec.render_markdown(rec.build_record(record))
    assert "<img" not in md and "</script>" not in md
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in md
    assert "a\\|b c \\`x\\`" in md


# -- HTML --------------------------------------------------------------------------------------


class Tags(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parse(page):
    parser = Tags()
    parser.feed(page)
    parser.close()
    return parser


def xss_record():
    record = small_record()
    record["timeline"].append({"step": XSS, "component": "<b>infra</b>", "status": "failed",
                               "started": "2026-11-30T03:02:00Z", "ended": "2026-11-30T03:03:00Z",
                               "detail": "\"quoted\" & 'single' </style><!--"})
    record["components"]["<svg onload=alert(2)>"] = {"status": "<i>odd</i>", "before": XSS, "after": {"k": XSS}}
    record["who"] = "<script>alert(3)</script>"
    return record


def test_html_escapes_all_record_text():
    out = rec.build_record(xss_record(), CONTACTS)
    page = rec.render_html(out)
    assert XSS not in page and "<img" not in page and "<svg" not in page and "<b>infra" not in page
    assert "<i>odd" not in page and "<!--" not in page and "</style><" not in page
    assert page.count("</script>") == 2  # the JSON block and the chart script, nothing else
    parsed = parse(page)
    assert sorted({tag for tag, attrs in parsed.tags}) == sorted({
        "html", "head", "meta", "title", "style", "body", "header", "h1", "span", "p", "main", "section",
        "h2", "dl", "dt", "dd", "table", "thead", "tr", "th", "tbody", "td", "div", "noscript", "ul", "li",
        "strong", "input", "footer", "script", "code", "br", "i"})
    assert all(not name.startswith("on") for tag, attrs in parsed.tags for name in attrs)
    # The embedded record reads back exactly, with no "<", ">" or "&" in its raw text.
    blocks = [s for (t, a), s in zip([x for x in parsed.tags if x[0] == "script"], parsed.scripts)
              if a.get("type") == "application/json"]
    assert len(blocks) == 1
    assert not re.search(r"[<>&]", blocks[0])
    assert json.loads(blocks[0]) == out
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page  # shown as text


def test_html_loads_nothing_from_anywhere():
    page = rec.render_html(rec.build_record(small_record(), CONTACTS))
    assert "http://" not in page and "https://" not in page and "//" not in re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    for needle in (" src=", " href=", "url(", "@import", "<link", "<img", "<iframe", "<object", "<embed",
                   "fetch(", "XMLHttpRequest", "import(", "WebSocket", "sendBeacon"):
        assert needle not in page, needle
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1)
    assert "default-src &#x27;none&#x27;" in csp

    # A URL in the record is text only: present (escaped) but never an attribute.
    record = small_record()
    record["timeline"][0]["detail"] = "see https://status.example.com/incidents?a=1&b=<2>"
    page = rec.render_html(rec.build_record(record, CONTACTS))
    parsed = parse(page)
    assert all(not (set(attrs) & {"src", "href", "action", "srcset", "poster"}) for tag, attrs in parsed.tags)
    assert "https://status.example.com/incidents?a=1&amp;b=&lt;2&gt;" in page


def test_html_contains_chart_script_and_sections():
    out = rec.build_record(small_record(), CONTACTS)
    page = rec.render_html(out)
    assert '<div id="timeline"' in page
    for section in ('id="summary"', 'id="trigger"', 'id="components"', 'id="data"', 'id="failures"',
                    'id="follow-ups"'):
        assert section in page
    assert 'setAttribute("data-step"' in page and 'setAttribute("data-start"' in page
    assert page.count('<input type="checkbox" disabled checked>') == 1
    assert page.count('<input type="checkbox" disabled>') == 5
    assert rec.render_html(out) == page  # deterministic


# -- the module --------------------------------------------------------------------------------


class FakeModule(FakeAWSModule):
    """AnsibleAWSModule for incident_record.do(): its option defaults, an S3 client."""

    def __init__(self, params, check_mode=False, diff=False, client=None):
        defaults = {"contacts": CONTACTS, "follow_up_owners": None, "bucket": None, "bucket_prefix": "incidents"}
        super().__init__({"s3": client}, params, check_mode, defaults=defaults, diff=diff)


def run(params, **kwargs):
    with pytest.raises(Exit) as done:
        incident_record.do(FakeModule(params, **kwargs))
    return done.value.result


def tree(directory):
    if not directory.exists():
        return {}
    return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in directory.iterdir()}


def test_module_writes_atomically_idempotently_and_not_in_check_mode(tmp_path):
    dest = tmp_path / "records" / "prod"
    params = {"record": small_record(db_password="hunter2secret"), "dest": str(dest)}

    predicted = run(params, check_mode=True, diff=True)
    assert predicted["changed"] and not (tmp_path / "records").exists()
    assert predicted["diff"]["before"] == "" and '"incident_id": "rb-20261130T030000Z-9f2c1a"' in predicted["diff"]["after"]
    assert len(predicted["files_changed"]) == 3

    old_umask = os.umask(0o077)
    try:
        applied = run(params, diff=True)
    finally:
        os.umask(old_umask)
    assert applied["changed"]
    files = tree(dest)
    name = "rb-20261130T030000Z-9f2c1a"
    assert set(files) == {name + ".json", name + ".md", name + ".html"}  # no temp files left
    assert {mode for content, mode in files.values()} == {0o640}
    assert stat.S_IMODE(dest.stat().st_mode) == 0o750 and stat.S_IMODE(dest.parent.stat().st_mode) == 0o750
    assert applied["paths"] == {"json": str(dest / (name + ".json")), "markdown": str(dest / (name + ".md")),
                                "html": str(dest / (name + ".html"))}
    assert json.loads(files[name + ".json"][0]) == applied["record"]
    assert files[name + ".json"][0].decode() == applied["diff"]["after"]
    assert applied["record"]["db_password"] == rec.MASK
    assert applied["summary"].endswith("5 follow-ups open")
    assert applied["s3_keys"] == {} and applied["s3_uploaded"] == []

    again = run(params, diff=True)
    assert not again["changed"] and again["files_changed"] == []
    assert again["diff"]["before"] == again["diff"]["after"]
    assert tree(dest) == files
    assert not run(params, check_mode=True)["changed"]

    # A changed record, or a loosened mode, is put right (and only that file for the mode).
    os.chmod(dest / (name + ".md"), 0o644)
    fixed = run(params)
    assert fixed["changed"] and fixed["files_changed"] == [str(dest / (name + ".md"))]
    changed = run({**params, "record": small_record(status="failed")}, diff=True)
    assert changed["changed"] and len(changed["files_changed"]) == 3
    assert '"status": "succeeded"' in changed["diff"]["before"] and '"status": "failed"' in changed["diff"]["after"]


def test_module_masks_found_secrets_in_its_own_result_and_refuses_bad_records(tmp_path):
    module = FakeModule({"record": small_record(api_token="tok-123456789"), "dest": str(tmp_path)})
    with pytest.raises(Exit):
        incident_record.do(module)
    assert "tok-123456789" in module.no_log_values
    with pytest.raises(Fail) as err:
        incident_record.do(FakeModule({"record": small_record(incident_id="a/b"), "dest": str(tmp_path)}))
    assert "incident_id" in err.value.result["msg"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(Fail, match="not a directory"):
        incident_record.do(FakeModule({"record": small_record(), "dest": str(tmp_path / "file")}))


@pytest.fixture
def s3():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_module_uploads_with_sse_and_skips_matching_objects(tmp_path, s3):
    client, stub = s3
    params = {"record": small_record(), "dest": str(tmp_path), "bucket": "records", "bucket_prefix": "/incidents/"}
    name = "rb-20261130T030000Z-9f2c1a"
    keys = ["incidents/production/%s.%s" % (name, ext) for ext in ("json", "md", "html")]
    types = ["application/json", "text/markdown; charset=utf-8", "text/html; charset=utf-8"]

    # Check mode reads (to predict) and puts nothing.
    for key in keys:
        stub.add_client_error("head_object", service_error_code="404", http_status_code=404,
                              expected_params={"Bucket": "records", "Key": key})
    predicted = run(params, check_mode=True, client=client)
    assert predicted["s3_uploaded"] == keys and predicted["changed"]

    # The JSON object already matches (by ETag); the other two are put with SSE.
    body = rec.render_json(rec.build_record(small_record(), CONTACTS)).encode()
    stub.add_response("head_object", {"ETag": '"%s"' % incident_record._md5(body).hexdigest()},
                      {"Bucket": "records", "Key": keys[0]})
    for key, content_type in zip(keys[1:], types[1:]):
        stub.add_client_error("head_object", service_error_code="404", http_status_code=404,
                              expected_params={"Bucket": "records", "Key": key})
        stub.add_response("put_object", {"ETag": '"x"'}, {
            "Bucket": "records", "Key": key, "Body": ANY, "ContentType": content_type, "ContentMD5": ANY,
            "ServerSideEncryption": "AES256", "Metadata": {"md5": ANY, "incident-id": name}})
    applied = run(params, client=client)
    assert applied["s3_keys"] == dict(zip(("json", "markdown", "html"), keys))
    assert applied["s3_uploaded"] == keys[1:] and applied["changed"]

    # Everything matches (ETag, or our md5 metadata when SSE-KMS makes the ETag differ): no put.
    for key, ext in zip(keys, ("json", "md", "html")):
        content = (tmp_path / ("%s.%s" % (name, ext))).read_bytes()
        stub.add_response("head_object", {"ETag": '"kms-etag"', "Metadata": {"md5": incident_record._md5(content).hexdigest()}},
                          {"Bucket": "records", "Key": key})
    again = run(params, client=client)
    assert not again["changed"] and again["s3_uploaded"] == []


def test_s3_errors_name_the_object(tmp_path, s3):
    client, stub = s3
    stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
    with pytest.raises(Fail) as err:
        incident_record.do(FakeModule({"record": small_record(), "dest": str(tmp_path), "bucket": "b"}, client=client))
    assert "reading s3://b/incidents/production/rb-20261130T030000Z-9f2c1a.json" in err.value.result["msg"]
