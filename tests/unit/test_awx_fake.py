"""tests/awx_fake.py refuses what AWX refuses, so that a green test against it means something."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest

from tests.awx_fake import FakeAWX


@pytest.fixture
def awx():
    with FakeAWX(playbooks=["playbooks/rollback.yml"]) as server:
        yield server


def call(awx, method, path, body=None, token=None, basic=None):
    request = urllib.request.Request(awx.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if basic:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(basic).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None, dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), dict(err.headers)


def login(awx):
    status, body, _headers = call(awx, "POST", "/api/v2/tokens/", {}, basic=(awx.username, awx.password))
    assert status == 201
    return body["token"]


def test_ping_is_open_the_rest_needs_a_token(awx):
    status, body, headers = call(awx, "GET", "/api/v2/ping/")
    assert status == 200 and body["version"] == "24.6.1"
    assert (headers["X-API-Product-Name"], headers["X-API-Product-Version"]) == ("AWX", "24.6.1")
    assert call(awx, "GET", "/api/v2/config/")[0] == 401
    assert call(awx, "POST", "/api/v2/tokens/", {}, basic=(awx.username, "wrong"))[0] == 401
    token = login(awx)
    assert call(awx, "GET", "/api/v2/me/", token=token)[1]["results"][0]["username"] == "admin"
    assert call(awx, "GET", "/api/v2/config/", token=token)[1]["version"] == "24.6.1"


def test_lists_filter_and_names_are_unique(awx):
    token = login(awx)
    assert call(awx, "POST", "/api/v2/organizations/", {"name": "PropIE"}, token=token)[0] == 201
    assert call(awx, "POST", "/api/v2/organizations/", {"name": "PropIE"}, token=token)[0] == 400
    status, body, _h = call(awx, "GET", "/api/v2/organizations/?name=PropIE", token=token)
    assert (status, body["count"], body["results"][0]["name"]) == (200, 1, "PropIE")
    assert call(awx, "GET", "/api/v2/organizations/?name=Other", token=token)[1]["count"] == 0


def _project(awx, token):
    org = call(awx, "POST", "/api/v2/organizations/", {"name": "PropIE"}, token=token)[1]
    status, project, _h = call(awx, "POST", "/api/v2/projects/", {
        "name": "p", "organization": org["id"], "scm_type": "git", "scm_url": "https://example.invalid/r.git"},
        token=token)
    assert status == 201 and project["summary_fields"]["current_update"]["status"] == "successful"
    inventory = call(awx, "POST", "/api/v2/inventories/", {"name": "i", "organization": org["id"]}, token=token)[1]
    return org, project, inventory


def test_a_job_template_needs_a_playbook_the_project_has(awx):
    token = login(awx)
    org, project, inventory = _project(awx, token)
    template = {"name": "t", "organization": org["id"], "project": project["id"], "inventory": inventory["id"],
                "playbook": "playbooks/nope.yml"}
    status, body, _h = call(awx, "POST", "/api/v2/job_templates/", template, token=token)
    assert (status, body) == (400, {"playbook": ["Playbook not found for project."]})
    assert call(awx, "POST", "/api/v2/job_templates/", dict(template, playbook="playbooks/rollback.yml"),
                token=token)[0] == 201


def test_survey_specs_and_schedules_are_validated_as_awx_does(awx):
    token = login(awx)
    org, project, inventory = _project(awx, token)
    template = call(awx, "POST", "/api/v2/job_templates/", {
        "name": "t", "organization": org["id"], "project": project["id"], "inventory": inventory["id"],
        "playbook": "playbooks/rollback.yml", "survey_enabled": True}, token=token)[1]
    spec_url = template["related"]["survey_spec"]
    question = {"question_name": "Env", "variable": "env", "required": True, "type": "multiplechoice",
                "choices": ["production", "staging"]}
    bad = {"name": "s", "description": "", "spec": [dict(question, default="prod")]}
    assert call(awx, "POST", spec_url, bad, token=token)[0] == 400
    assert call(awx, "POST", spec_url, {"name": "s", "description": "", "spec": []}, token=token)[0] == 400
    good = {"name": "s", "description": "", "spec": [question]}
    assert call(awx, "POST", spec_url, good, token=token)[0] == 200
    assert call(awx, "GET", spec_url, token=token)[1] == good

    rule = "DTSTART;TZID=Europe/Dublin:20261201T040000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=TU"
    schedule = {"name": "d", "unified_job_template": template["id"], "rrule": rule, "extra_data": {"env": "staging"}}
    for wrong in ({"rrule": rule.replace("INTERVAL=1;", "")},  # AWX wants INTERVAL
                  {"rrule": rule.replace(";TZID=Europe/Dublin", "")},  # and no naive DTSTART
                  {"extra_data": {"env": "prod"}},  # a survey answer the survey refuses
                  {"extra_data": {"env": "staging", "colour": "red"}},  # a variable the survey does not ask
                  {"extra_data": {}}):  # a required answer missing
        assert call(awx, "POST", "/api/v2/schedules/", dict(schedule, **wrong), token=token)[0] == 400, wrong
    assert call(awx, "POST", "/api/v2/schedules/", schedule, token=token)[0] == 201


def test_notification_templates_get_their_defaults_and_hide_secrets(awx):
    token = login(awx)
    org = call(awx, "POST", "/api/v2/organizations/", {"name": "PropIE"}, token=token)[1]
    status, note, _h = call(awx, "POST", "/api/v2/notification_templates/", {
        "name": "n", "organization": org["id"], "notification_type": "awssns",
        "notification_configuration": {"sns_topic_arn": "arn:aws:sns:us-east-1:1:t", "aws_secret_access_key": "s3"}},
        token=token)
    assert status == 201
    assert note["notification_configuration"] == {
        "sns_topic_arn": "arn:aws:sns:us-east-1:1:t", "aws_secret_access_key": "$encrypted$", "aws_region": "",
        "aws_access_key_id": "", "aws_session_token": ""}
