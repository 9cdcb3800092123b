"""Serving health (pure, row by row) and the amplify_branch_info / amplify_domain_info calls (Stubber)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

# The collection is importable as ansible_collections.propie.rollback from here.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.propie.rollback.plugins.module_utils import amplify as amp
from ansible_collections.propie.rollback.plugins.modules import amplify_branch_info
from ansible_collections.propie.rollback.plugins.modules import amplify_domain_info
from tests.unit.fakes import Exit, Fail, FakeAWSModule

APP = "d4cebxzd5u3ynb"
T0 = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.timezone.utc)


class FakeModule(FakeAWSModule):
    """AnsibleAWSModule for the info modules' do(): the one Amplify client."""

    def __init__(self, client, params):
        super().__init__({"amplify": client}, params)


@pytest.fixture
def stubbed():
    client = boto3.client("amplify", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def run(module_cls, client, params):
    module = FakeModule(client, params)
    with pytest.raises((Exit, Fail)) as info:
        module_cls.do(module)
    return info.value


def job(job_id, status="SUCCEED", commit=None, job_type="RELEASE"):
    return {
        "jobArn": "arn:aws:amplify:us-east-1:123456789012:apps/%s/branches/production/jobs/%s" % (APP, job_id),
        "jobId": str(job_id),
        "commitId": commit or "c%s" % job_id,
        "commitMessage": "commit %s" % job_id,
        "commitTime": T0,
        "startTime": T0 + dt.timedelta(minutes=int(job_id)),
        "status": status,
        "jobType": job_type,
    }


def step(name, status):
    return {"stepName": name, "startTime": T0, "endTime": T0, "status": status}


BUILD_FAILED = [step("BUILD", "FAILED")]
BUILD_RUNNING = [step("BUILD", "RUNNING")]
DEPLOY_FAILED = [step("BUILD", "SUCCEED"), step("DEPLOY", "FAILED")]
DEPLOY_RUNNING = [step("BUILD", "SUCCEED"), step("DEPLOY", "RUNNING")]
DEPLOY_CANCELLED = [step("BUILD", "SUCCEED"), step("DEPLOY", "CANCELLED")]
VERIFY_FAILED = [step("BUILD", "SUCCEED"), step("DEPLOY", "SUCCEED"), step("VERIFY", "FAILED")]
DEPLOY_NOT_BEGUN = [step("BUILD", "FAILED"), step("DEPLOY", "PENDING")]


# ---------------------------------------------------------------------------
# serving_health, row by row: (jobs oldest first, steps by job id) -> (health, job the verdict rests on)
# ---------------------------------------------------------------------------

ROWS = [
    pytest.param([job(1), job(2)], {}, "good", "2", id="newest SUCCEED"),
    pytest.param([job(1), job(2), job(3, "FAILED")], {"3": BUILD_FAILED}, "good", "2", id="newest FAILED in BUILD after a SUCCEED"),
    pytest.param([job(1), job(2, "FAILED")], {"2": DEPLOY_FAILED}, "unknown", "2", id="newest FAILED in DEPLOY"),
    pytest.param([job(1), job(2, "CANCELLED")], {"2": DEPLOY_CANCELLED}, "unknown", "2", id="newest CANCELLED in DEPLOY"),
    pytest.param([job(1), job(2, "CANCELLED")], {"2": [step("BUILD", "CANCELLED")]}, "good", "1",
                 id="newest CANCELLED in BUILD"),
    pytest.param([job(1), job(2, "FAILED")], {"2": VERIFY_FAILED}, "unknown", "2", id="FAILED after DEPLOY (VERIFY)"),
    pytest.param([job(1), job(2, "FAILED")], {"2": DEPLOY_NOT_BEGUN}, "good", "1", id="DEPLOY listed but never begun"),
    pytest.param([job(1), job(2, "FAILED")], {"2": []}, "good", "1", id="FAILED before any step"),
    pytest.param([job(1), job(2, "RUNNING")], {"2": BUILD_RUNNING}, "good", "1", id="RUNNING in BUILD serves the older one"),
    pytest.param([job(1), job(2, "RUNNING")], {"2": DEPLOY_RUNNING}, "unknown", "2", id="RUNNING in DEPLOY"),
    pytest.param([job(1), job(2, "CANCELLING")], {"2": DEPLOY_RUNNING}, "unknown", "2", id="CANCELLING in DEPLOY"),
    pytest.param([job(1), job(2, "PENDING")], {}, "good", "1", id="PENDING deploys nothing yet"),
    pytest.param([job(1), job(2, "PROVISIONING")], {}, "good", "1", id="PROVISIONING deploys nothing yet"),
    pytest.param([job(1), job(2, "RUNNING"), job(3, "PENDING")], {"2": DEPLOY_RUNNING}, "unknown", "2",
                 id="queued job behind one in DEPLOY"),
    pytest.param([job(1), job(2, "FAILED"), job(3, "FAILED")], {"2": DEPLOY_FAILED, "3": BUILD_FAILED}, "unknown", "2",
                 id="older FAILED in DEPLOY not mended by a newer FAILED in BUILD"),
    pytest.param([job(1), job(2, "FAILED"), job(3)], {}, "good", "3", id="FAILED in DEPLOY mended by a newer SUCCEED"),
    pytest.param([], {}, "none", None, id="no jobs"),
    pytest.param([job(1, "FAILED"), job(2, "FAILED")], {}, "none", None, id="no SUCCEED ever"),
    pytest.param([job(1, "FAILED"), job(2, "RUNNING")], {"2": BUILD_RUNNING}, "none", None, id="no SUCCEED, first build building"),
    pytest.param([job(1, "FAILED"), job(2, "RUNNING")], {"2": DEPLOY_RUNNING}, "unknown", "2",
                 id="no SUCCEED, first good build deploying"),
    # Failed rollbacks (RETRY of older content) change nothing served unless they failed deploying.
    pytest.param([job(1), job(2), job(3, "FAILED", commit="c1", job_type="RETRY")], {"3": BUILD_FAILED}, "good", "2",
                 id="failed rollback in BUILD"),
    pytest.param([job(1), job(2), job(3, "FAILED", commit="c1", job_type="RETRY")], {"3": DEPLOY_FAILED}, "unknown", "3",
                 id="failed rollback in DEPLOY"),
    pytest.param([job(1), job(2, "FAILED"), job(3, "FAILED", commit="c1", job_type="RETRY")],
                 {"2": BUILD_FAILED, "3": BUILD_FAILED}, "good", "1", id="broken build then failed rollback, both in BUILD"),
    pytest.param([job(1), job(2, "FAILED")], {}, "unknown", "2", id="steps not read: unknown"),
]


@pytest.mark.parametrize("jobs, steps, health, job_id", ROWS)
def test_serving_health(jobs, steps, health, job_id):
    history = amp.JobHistory(jobs)
    verdict = amp.serving_health(history, steps, "production")
    assert (verdict["health"], verdict["job_id"]) == (health, job_id), verdict["reason"]
    assert verdict["reason"].startswith("Branch production ") and verdict["reason"].endswith(".")
    if job_id:
        assert "job %s" % job_id in verdict["reason"]


def test_health_jobs_are_only_those_whose_steps_matter():
    history = amp.JobHistory([job(1, "FAILED"), job(2), job(3, "FAILED"), job(4, "CANCELLED"), job(5, "RUNNING"), job(6, "PENDING")])
    assert [j["jobId"] for j in amp.health_jobs(history)] == ["5", "4", "3"]
    # Serving nothing: failed jobs cannot change that, only a running one can.
    history = amp.JobHistory([job(1, "FAILED"), job(2, "RUNNING")])
    assert [j["jobId"] for j in amp.health_jobs(history)] == ["2"]


def test_reasons_read_well():
    history = amp.JobHistory([job(1), job(2), job(3, "FAILED", commit="c1", job_type="RETRY"), job(4, "RUNNING")])
    verdict = amp.serving_health(history, {"3": BUILD_FAILED, "4": BUILD_RUNNING}, "production")
    assert verdict["reason"] == (
        "Branch production serves job 2 (SUCCEED, RELEASE of c2); the newer job(s) have not reached their DEPLOY step: "
        "job 3 (a failed rollback of job 1) FAILED in its BUILD step, job 4 is RUNNING in its BUILD step."
    )
    verdict = amp.serving_health(amp.JobHistory([job(1), job(2, "FAILED")]), {"2": DEPLOY_FAILED}, "production")
    assert verdict["reason"] == (
        "Branch production may not serve job 1 (SUCCEED, RELEASE of c1) intact: newer job 2 ended FAILED in its DEPLOY "
        "step, which can leave the branch between two builds."
    )
    verdict = amp.serving_health(amp.JobHistory([job(1, "FAILED")]), {}, "production")
    assert verdict["reason"] == (
        "Branch production serves no successful build: none of its 1 job(s) SUCCEED (newest: job 1 (FAILED, RELEASE of c1))."
    )


# ---------------------------------------------------------------------------
# amplify_branch_info: which calls, what comes back
# ---------------------------------------------------------------------------

APP_OUT = {"appId": APP, "appArn": "arn:aws:amplify:us-east-1:123456789012:apps/" + APP, "name": "prop-ie-app",
           "description": "", "repository": "https://github.com/propie/prop-ie-aws-app", "platform": "WEB",
           "createTime": T0, "updateTime": T0, "environmentVariables": {}, "defaultDomain": APP + ".amplifyapp.com",
           "enableBranchAutoBuild": False, "enableBasicAuth": False}


def branch_out(name):
    return {"branchArn": "arn:aws:amplify:us-east-1:123456789012:apps/%s/branches/%s" % (APP, name), "branchName": name,
            "description": "", "stage": "PRODUCTION", "displayName": name, "enableNotification": False,
            "createTime": T0, "updateTime": T0, "environmentVariables": {"DATA_TABLE_NAME": "prop-ie-data"},
            "enableAutoBuild": True, "customDomains": [], "framework": "", "activeJobId": "3", "totalNumberOfJobs": "3",
            "enableBasicAuth": False, "ttl": "5", "enablePullRequestPreview": False,
            "basicAuthCredentials": "c2VjcmV0"}


def test_branch_info_reads_only_what_the_verdict_needs(stubbed):
    client, stub = stubbed
    stub.add_response("get_app", {"app": APP_OUT}, {"appId": APP})
    stub.add_response("get_branch", {"branch": branch_out("production")}, {"appId": APP, "branchName": "production"})
    # Page 1 has no success: page on; page 2 has one: stop (no third ListJobs).
    stub.add_response("list_jobs", {"jobSummaries": [job(5, "FAILED")], "nextToken": "p2"},
                      {"appId": APP, "branchName": "production", "maxResults": 50})
    stub.add_response("list_jobs", {"jobSummaries": [job(4), job(3, "FAILED")], "nextToken": "p3"},
                      {"appId": APP, "branchName": "production", "maxResults": 50, "nextToken": "p2"})
    stub.add_response("get_job", {"job": {"summary": job(5, "FAILED"), "steps": BUILD_FAILED}},
                      {"appId": APP, "branchName": "production", "jobId": "5"})
    out = run(amplify_branch_info, client, dict(app_id=APP, branch_names=None, branch_name="production", missing_ok=False))
    assert isinstance(out, Exit), out.result
    blue = out.result["branches"]["production"]
    assert (blue["health"], blue["health_job_id"], blue["serving_job"]["job_id"], blue["newest_job"]["job_id"]) == ("good", "4", "4", "5")
    assert blue["environment_variables"] == {"DATA_TABLE_NAME": "prop-ie-data"}
    assert "basic_auth_credentials" not in blue and "basicAuthCredentials" not in blue
    assert blue["update_time"] == "2026-11-30T03:00:00Z" and blue["jobs_read"] == 3
    assert out.result["app"]["exists"] is True and out.result["app"]["name"] == "prop-ie-app"


def test_branch_info_missing_branch_names_it_and_lists_the_branches(stubbed):
    client, stub = stubbed
    stub.add_response("get_app", {"app": APP_OUT}, {"appId": APP})
    stub.add_client_error("get_branch", "NotFoundException", "Branch blu not found.", 404,
                          expected_params={"appId": APP, "branchName": "blu"})
    stub.add_response("list_branches", {"branches": [branch_out("production"), branch_out("green")]},
                      {"appId": APP, "maxResults": 50})
    out = run(amplify_branch_info, client, dict(app_id=APP, branch_names=["blu"], branch_name=None, missing_ok=False))
    assert isinstance(out, Fail)
    assert out.result["msg"] == "Amplify app %s (prop-ie-app) has no branch 'blu'; its branches: green, production" % APP


def test_branch_info_missing_ok(stubbed):
    client, stub = stubbed
    stub.add_response("get_app", {"app": APP_OUT}, {"appId": APP})
    stub.add_client_error("get_branch", "NotFoundException", "Branch blu not found.", 404)
    out = run(amplify_branch_info, client, dict(app_id=APP, branch_names=["blu"], branch_name=None, missing_ok=True))
    assert isinstance(out, Exit)
    assert out.result["branches"]["blu"]["exists"] is False and out.result["branches"]["blu"]["health"] == "none"


def test_branch_info_missing_app_lists_the_apps(stubbed):
    client, stub = stubbed
    stub.add_client_error("get_app", "NotFoundException", "App nope not found.", 404)
    stub.add_response("list_apps", {"apps": [APP_OUT]}, {"maxResults": 100})
    out = run(amplify_branch_info, client, dict(app_id="nope", branch_names=["production"], branch_name=None, missing_ok=False))
    assert isinstance(out, Fail)
    assert out.result["msg"] == "Amplify app 'nope' does not exist in region us-east-1 (apps there: %s (prop-ie-app))" % APP


# ---------------------------------------------------------------------------
# amplify_domain_info
# ---------------------------------------------------------------------------

DOMAIN = {"domainAssociationArn": "arn:aws:amplify:us-east-1:123456789012:apps/%s/domains/prop-ie-app.com" % APP,
          "domainName": "prop-ie-app.com", "enableAutoSubDomain": False, "domainStatus": "AVAILABLE", "statusReason": "",
          "subDomains": [{"subDomainSetting": {"prefix": "", "branchName": "green"}, "verified": True, "dnsRecord": " CNAME d1"},
                         {"subDomainSetting": {"prefix": "www", "branchName": "production"}, "verified": True,
                          "dnsRecord": "www CNAME d1"}]}


def test_domain_info_mapping_and_raw_sub_domains(stubbed):
    client, stub = stubbed
    stub.add_response("get_domain_association", {"domainAssociation": DOMAIN}, {"appId": APP, "domainName": "prop-ie-app.com"})
    out = run(amplify_domain_info, client, dict(app_id=APP, domain_name="prop-ie-app.com", missing_ok=False))
    assert isinstance(out, Exit) and out.result["exists"] is True
    domain = out.result["domain"]
    assert domain["mapping"] == {"": "green", "www": "production"} and domain["domain_status"] == "AVAILABLE"
    assert domain["sub_domains"][1] == {"sub_domain_setting": {"prefix": "www", "branch_name": "production"},
                                        "verified": True, "dns_record": "www CNAME d1"}


def test_domain_info_unknown_domain_lists_the_apps_domains(stubbed):
    client, stub = stubbed
    stub.add_client_error("get_domain_association", "NotFoundException", "Domain x not found.", 404)
    stub.add_response("get_app", {"app": APP_OUT}, {"appId": APP})
    stub.add_response("list_domain_associations", {"domainAssociations": [DOMAIN]}, {"appId": APP, "maxResults": 50})
    out = run(amplify_domain_info, client, dict(app_id=APP, domain_name="prop-ie.com", missing_ok=False))
    assert isinstance(out, Fail)
    assert out.result["msg"] == "Amplify app %s has no domain association 'prop-ie.com'; its domains: prop-ie-app.com" % APP


def test_domain_info_missing_ok(stubbed):
    client, stub = stubbed
    stub.add_client_error("get_domain_association", "NotFoundException", "Domain x not found.", 404)
    stub.add_response("get_app", {"app": APP_OUT}, {"appId": APP})
    out = run(amplify_domain_info, client, dict(app_id=APP, domain_name="prop-ie.com", missing_ok=True))
    assert isinstance(out, Exit)
    assert (out.result["exists"], out.result["domain"]) == (False, None)
