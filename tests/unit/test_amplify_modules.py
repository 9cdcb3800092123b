"""Amplify modules: decision logic and edge cases the sandbox cannot produce (botocore Stubber)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

# The collection is importable as ansible_collections.propie.rollback from here
# (`ansible_collections` is a namespace package shared with amazon.aws in site-packages).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.propie.rollback.plugins.module_utils import amplify as amp
from ansible_collections.propie.rollback.plugins.modules import amplify_branch
from ansible_collections.propie.rollback.plugins.modules import amplify_deployment
from ansible_collections.propie.rollback.plugins.modules import amplify_domain
from ansible_collections.propie.rollback.plugins.modules import amplify_job_info
from tests.unit.fakes import Exit, Fail, FakeAWSModule

APP = "d4cebxzd5u3ynb"
T0 = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.timezone.utc)


class FakeModule(FakeAWSModule):
    """AnsibleAWSModule for the Amplify modules' do(): one client, whatever the service."""

    def __init__(self, client, params, check_mode=False, diff=False):
        super().__init__({}, params, check_mode, diff=diff)
        self._client = client

    def raw_client(self, service):
        return self._client


@pytest.fixture
def stubbed():
    client = boto3.client("amplify", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def job(job_id, status="SUCCEED", commit=None, job_type="RELEASE", message=None, source=None):
    summary = {
        "jobArn": "arn:aws:amplify:us-east-1:123456789012:apps/%s/branches/production/jobs/%s" % (APP, job_id),
        "jobId": str(job_id),
        "commitId": commit or "c%s" % job_id,
        "commitMessage": message or "commit %s" % job_id,
        "commitTime": T0,
        "startTime": T0 + dt.timedelta(minutes=int(job_id)),
        "status": status,
        "jobType": job_type,
    }
    if source:
        summary.update(sourceUrl=source, sourceUrlType="ZIP")
    return summary


def run(module_cls, client, params, **kwargs):
    module = FakeModule(client, params, **kwargs)
    with pytest.raises((Exit, Fail)) as info:
        module_cls.do(module)
    return info.value, module


# ---------------------------------------------------------------------------
# Job history rules (pure)
# ---------------------------------------------------------------------------


def test_broken_head_rolls_back_to_the_newest_older_success():
    history = amp.JobHistory([job(1), job(2), job(3)])
    assert history.head()["jobId"] == "3"
    assert history.last_good_before(history.head())["jobId"] == "2"


def test_failed_rollback_is_neither_baseline_nor_target():
    history = amp.JobHistory([job(1), job(2, "FAILED"), job(3, "FAILED", commit="c1", job_type="RETRY")])
    assert history.info["3"] == dict(rebuild_of="1", is_rollback=True, failed_rollback=True, rollback_id=None)
    assert history.head()["jobId"] == "2"
    assert history.last_good_before(history.head())["jobId"] == "1"


def test_retry_of_the_newest_build_is_not_a_rollback():
    history = amp.JobHistory([job(1), job(2, "FAILED"), job(3, "FAILED", commit="c2", job_type="RETRY")])
    assert history.info["3"]["is_rollback"] is False
    assert history.info["3"]["rebuild_of"] == "2"
    assert history.head()["jobId"] == "3"


def test_marker_in_commit_message_names_rollback_id_and_rebuilt_job():
    text = "propie-rollback:rb-20261130T034501Z-9f2c1a rebuild of job 1: commit 1"
    history = amp.JobHistory([job(1), job(2), job(3, "RUNNING", commit="c1", job_type="RETRY", message=text)])
    assert history.info["3"]["rollback_id"] == "rb-20261130T034501Z-9f2c1a"
    assert history.info["3"]["rebuild_of"] == "1"


def test_manual_redeploy_of_an_older_source_url_is_a_rollback():
    jobs = [job(1, job_type="MANUAL", source="s3://b/one.zip"),
            job(2, job_type="MANUAL", source="s3://b/two.zip"),
            job(3, "SUCCEED", job_type="MANUAL", source="s3://b/one.zip")]
    history = amp.JobHistory(jobs)
    assert history.info["3"]["is_rollback"] and history.info["3"]["rebuild_of"] == "1"
    assert history.info["2"]["is_rollback"] is False


def test_uploads_are_each_their_own_content():
    jobs = [job(1, job_type="MANUAL", commit="HEAD"), job(2, job_type="MANUAL", source="s3://b/two.zip"),
            job(3, job_type="MANUAL", commit="HEAD")]
    history = amp.JobHistory(jobs)
    assert history.info["3"]["is_rollback"] is False and history.info["3"]["rebuild_of"] is None


def test_rebuild_of_a_rollback_stays_a_rollback_of_the_same_job():
    # 3 rolled back to 1; 4 is a plain RETRY of 3 (say, to apply changed variables).
    history = amp.JobHistory([job(1), job(2), job(3, commit="c1", job_type="RETRY"),
                              job(4, commit="c1", job_type="RETRY")])
    assert history.info["4"] == dict(rebuild_of="1", is_rollback=True, failed_rollback=False, rollback_id=None)


def test_last_good_skips_older_builds_of_the_served_content():
    # 3 is a plain rebuild of the broken 2: rolling back means going to 1, not to 2 again.
    history = amp.JobHistory([job(1), job(2), job(3, commit="c2", job_type="RETRY")])
    assert history.info["3"]["is_rollback"] is False
    assert history.last_good_before(history.head())["jobId"] == "1"
    # A failed head still falls back to the newest success, whatever its content.
    history = amp.JobHistory([job(1), job(2), job(3, "FAILED", commit="c2")])
    assert history.last_good_before(history.head())["jobId"] == "2"


@pytest.mark.parametrize("seconds,after", [(-60, True), (0, True), (0.9, True), (1.5, False), (600, False)])
def test_started_after_allows_for_the_branch_touch_at_job_start(seconds, after):
    start = T0 + dt.timedelta(minutes=5)
    assert amp.started_after({"startTime": start}, start + dt.timedelta(seconds=seconds)) is after


def test_job_ids_sort_numerically():
    history = amp.JobHistory([job(9), job(10), job(2)])
    assert [j["jobId"] for j in history.jobs] == ["10", "9", "2"]


# ---------------------------------------------------------------------------
# amplify_deployment
# ---------------------------------------------------------------------------

DEPLOY = dict(app_id=APP, branch_name="production", target="last_known_good", job_id=None, rollback_id=None, wait=True,
              wait_timeout=60, wait_delay=0)


def _reads(stub, jobs, repository="https://github.com/propie/app", pages=1, updated=T0):
    stub.add_response("get_app", {"app": {"appId": APP, "appArn": "arn", "name": "prop-ie-app",
                                          "description": "", "repository": repository, "platform": "WEB",
                                          "createTime": T0, "updateTime": T0, "environmentVariables": {},
                                          "defaultDomain": "x.amplifyapp.com", "enableBranchAutoBuild": True,
                                          "enableBasicAuth": False}}, {"appId": APP})
    _branch_and_jobs(stub, jobs, pages, updated)


def _branch_and_jobs(stub, jobs, pages=1, updated=T0):
    stub.add_response("get_branch", {"branch": _branch(updated=updated)}, {"appId": APP, "branchName": "production"})
    newest_first = sorted(jobs, key=amp.job_order, reverse=True)
    size = -(-len(newest_first) // pages)
    for n in range(pages):
        page = {"jobSummaries": newest_first[n * size:(n + 1) * size]}
        expected = {"appId": APP, "branchName": "production", "maxResults": 50}
        if n:
            expected["nextToken"] = "t%d" % n
        if n + 1 < pages:
            page["nextToken"] = "t%d" % (n + 1)
        stub.add_response("list_jobs", page, expected)


def _branch(env=None, updated=T0):
    return {"branchArn": "arn", "branchName": "production", "description": "", "stage": "PRODUCTION",
            "displayName": "production", "enableNotification": False, "createTime": T0, "updateTime": updated,
            "environmentVariables": env or {}, "enableAutoBuild": True, "customDomains": [],
            "framework": "React", "activeJobId": "1", "totalNumberOfJobs": "1", "enableBasicAuth": False,
            "ttl": "5", "enablePullRequestPreview": False}


def test_deployment_retries_the_last_good_job_with_marker_and_waits(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2), job(3)], pages=2)
    rid = "rb-20261130T034501Z-9f2c1a"
    stub.add_response("start_job", {"jobSummary": job(4, "PENDING", commit="c2", job_type="RETRY")},
                      {"appId": APP, "branchName": "production", "jobType": "RETRY", "jobId": "2",
                       "jobReason": "propie-rollback:%s rollback to job 2" % rid, "commitId": "c2",
                       "commitMessage": "propie-rollback:%s rebuild of job 2: commit 2" % rid})
    for status in ("RUNNING", "SUCCEED"):
        stub.add_response("get_job", {"job": {"summary": job(4, status, commit="c2", job_type="RETRY"),
                                              "steps": []}},
                          {"appId": APP, "branchName": "production", "jobId": "4"})
    out = run(amplify_deployment, client, dict(DEPLOY, rollback_id=rid), diff=True)[0]
    assert isinstance(out, Exit), out.result
    r = out.result
    assert (r["changed"], r["action"], r["method"]) == (True, "started", "StartJob RETRY")
    assert (r["from_job"]["job_id"], r["target_job"]["job_id"], r["job"]["job_id"]) == ("3", "2", "4")
    assert r["job"]["status"] == "SUCCEED" and r["rollback_id"] == rid
    assert [p["status"] for p in r["progress"]] == ["RUNNING", "SUCCEED"]
    assert r["diff"]["before"] != r["diff"]["after"]


def test_deployment_check_mode_starts_nothing(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2)])
    out = run(amplify_deployment, client, DEPLOY, check_mode=True)[0]
    assert out.result["changed"] is True and out.result["action"] == "would_start"
    assert out.result["target_job"]["job_id"] == "1"


def test_deployment_repo_less_app_redeploys_the_source_url(stubbed):
    client, stub = stubbed
    jobs = [job(1, job_type="MANUAL", source="s3://b/one.zip"), job(2, job_type="MANUAL", source="s3://b/two.zip")]
    _reads(stub, jobs, repository="")
    stub.add_response("start_deployment",
                      {"jobSummary": job(3, "PENDING", job_type="MANUAL", source="s3://b/one.zip")},
                      {"appId": APP, "branchName": "production", "sourceUrl": "s3://b/one.zip",
                       "sourceUrlType": "ZIP"})
    out = run(amplify_deployment, client, dict(DEPLOY, wait=False))[0]
    assert out.result["method"] == "StartDeployment" and out.result["job"]["job_id"] == "3"


def test_deployment_repo_less_target_without_source_url_fails_before_any_start(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1, job_type="MANUAL"), job(2, job_type="MANUAL", source="s3://b/two.zip")], repository="")
    out = run(amplify_deployment, client, DEPLOY)[0]
    assert isinstance(out, Fail) and "has no sourceUrl" in out.result["msg"]


def test_deployment_resumes_a_running_rollback_instead_of_starting_another(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2, "FAILED"), job(3, "RUNNING", commit="c1", job_type="RETRY")])
    stub.add_response("get_job", {"job": {"summary": job(3, "SUCCEED", commit="c1", job_type="RETRY"), "steps": []}},
                      {"appId": APP, "branchName": "production", "jobId": "3"})
    out = run(amplify_deployment, client, DEPLOY)[0]
    r = out.result
    assert (r["changed"], r["action"], r["target_job"]["job_id"], r["job"]["status"]) == (
        False, "resumed", "1", "SUCCEED")


def test_deployment_after_success_is_unchanged(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2), job(3, "SUCCEED", commit="c1", job_type="RETRY")])
    out = run(amplify_deployment, client, DEPLOY)[0]
    assert (out.result["changed"], out.result["action"]) == (False, "none")


def test_deployment_after_a_failed_rollback_starts_a_new_one(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2), job(3, "FAILED", commit="c1", job_type="RETRY")])
    stub.add_response("start_job", {"jobSummary": job(4, "PENDING", commit="c1", job_type="RETRY")},
                      {"appId": APP, "branchName": "production", "jobType": "RETRY", "jobId": "1",
                       "jobReason": ANY, "commitId": "c1", "commitMessage": ANY})
    out = run(amplify_deployment, client, dict(DEPLOY, wait=False))[0]
    assert out.result["action"] == "started" and out.result["skipped_failed_rollbacks"] == ["3"]


@pytest.mark.parametrize("jobs,params,needle", [
    ([job(1, "FAILED"), job(2)], {}, "no successful job older than its newest"),
    ([job(1), job(2, "FAILED")], {"job_id": "2"}, "is not a successful build"),
    ([job(1), job(2)], {"job_id": "7"}, "has no job 7"),
    ([job(1), job(2), job(3, "RUNNING")], {}, "is in progress on branch production"),
])
def test_deployment_bad_input_fails_without_starting(stubbed, jobs, params, needle):
    client, stub = stubbed
    _reads(stub, jobs)
    out = run(amplify_deployment, client, dict(DEPLOY, **params))[0]
    assert isinstance(out, Fail) and needle in out.result["msg"]


def test_deployment_failed_rebuild_fails_the_task(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2)])
    stub.add_response("start_job", {"jobSummary": job(3, "PENDING", commit="c1", job_type="RETRY")})
    stub.add_response("get_job", {"job": {"summary": job(3, "FAILED", commit="c1", job_type="RETRY"), "steps": []}})
    out = run(amplify_deployment, client, DEPLOY)[0]
    assert isinstance(out, Fail) and "ended FAILED" in out.result["msg"]
    assert out.result["changed"] is True and out.result["job"]["job_id"] == "3"


# ---------------------------------------------------------------------------
# amplify_deployment target=serving
# ---------------------------------------------------------------------------

SERVING = dict(DEPLOY, target="serving")
RID = "rb-20261130T034501Z-9f2c1a"
CHANGED = T0 + dt.timedelta(minutes=30)  # job(n) starts n minutes after T0: jobs 30+ started after the change


def _get_job(stub, summary):
    stub.add_response("get_job", {"job": {"summary": summary, "steps": []}},
                      {"appId": APP, "branchName": "production", "jobId": summary["jobId"]})


def test_serving_rebuild_retries_the_newest_success_with_the_marker_in_job_reason_only(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2), job(3, "FAILED")], updated=CHANGED)
    stub.add_response("start_job", {"jobSummary": job(31, "PENDING", commit="c2", job_type="RETRY")},
                      {"appId": APP, "branchName": "production", "jobType": "RETRY", "jobId": "2",
                       "jobReason": "propie-rollback:%s rebuild of job 2 with the branch's current settings" % RID})
    _get_job(stub, job(31, "RUNNING", commit="c2", job_type="RETRY"))
    _get_job(stub, job(31, "SUCCEED", commit="c2", job_type="RETRY"))
    out = run(amplify_deployment, client, dict(SERVING, rollback_id=RID), diff=True)[0]
    r = out.result
    assert isinstance(out, Exit), r
    assert (r["changed"], r["action"], r["target"], r["method"]) == (True, "started", "serving", "StartJob RETRY")
    assert (r["from_job"]["job_id"], r["target_job"]["job_id"], r["job"]["job_id"]) == ("2", "2", "31")
    assert r["branch_update_time"] == "2026-11-30T03:30:00Z"  # CHANGED
    assert [p["status"] for p in r["progress"]] == ["RUNNING", "SUCCEED"]
    assert r["diff"]["before"]["built_with_settings_of"] == "2026-11-30T03:02:00Z"  # job 2 started
    assert r["diff"]["after"]["built_with_settings_of"] == "2026-11-30T03:30:00Z"
    # The broken 3 is newer, but 31 rebuilt 2: reading the history, 31 serves job 2's content.
    assert r["job"]["rebuild_of"] == "2"


def test_serving_current_build_is_unchanged_in_check_and_apply(stubbed):
    client, stub = stubbed
    for check in (True, False):
        _reads(stub, [job(1), job(31)], updated=CHANGED)
        out = run(amplify_deployment, client, SERVING, check_mode=check, diff=True)[0]
        assert (out.result["changed"], out.result["action"]) == (False, "none")
        assert out.result["diff"]["before"] == out.result["diff"]["after"]
        assert "after the branch's last change" in out.result["reason"]


def test_serving_touch_within_a_second_of_the_job_start_is_not_a_change(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2)], updated=job(2)["startTime"] + dt.timedelta(milliseconds=400))
    out = run(amplify_deployment, client, SERVING)[0]
    assert out.result["action"] == "none"


def test_serving_check_mode_predicts_the_rebuild_without_starting(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2)], updated=CHANGED)
    out = run(amplify_deployment, client, SERVING, check_mode=True, diff=True)[0]
    r = out.result
    assert (r["changed"], r["action"], r["target_job"]["job_id"]) == (True, "would_start", "2")
    assert r["diff"]["before"] != r["diff"]["after"]


def test_serving_resumes_a_build_started_after_the_change(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2), job(31, "RUNNING", commit="c2", job_type="RETRY")], updated=CHANGED)
    _get_job(stub, job(31, "SUCCEED", commit="c2", job_type="RETRY"))
    out = run(amplify_deployment, client, SERVING)[0]
    r = out.result
    assert (r["changed"], r["action"], r["job"]["job_id"], r["job"]["status"]) == (False, "resumed", "31", "SUCCEED")


def test_serving_waits_out_a_build_started_before_the_change_then_rebuilds_it(stubbed):
    client, stub = stubbed
    # Release 29 started before the variables changed: once it serves, it has the old ones.
    _reads(stub, [job(1), job(29, "RUNNING")], updated=CHANGED)
    _get_job(stub, job(29, "SUCCEED"))
    _branch_and_jobs(stub, [job(1), job(29)], updated=CHANGED)
    stub.add_response("start_job", {"jobSummary": job(32, "PENDING", commit="c29", job_type="RETRY")},
                      {"appId": APP, "branchName": "production", "jobType": "RETRY", "jobId": "29", "jobReason": ANY})
    _get_job(stub, job(32, "SUCCEED", commit="c29", job_type="RETRY"))
    out = run(amplify_deployment, client, SERVING)[0]
    r = out.result
    assert isinstance(out, Exit), r
    assert (r["action"], r["target_job"]["job_id"], r["job"]["job_id"]) == ("started", "29", "32")
    assert r["busy_job"]["job_id"] == "29" and r["busy_job"]["progress"][-1]["status"] == "SUCCEED"


def test_serving_busy_without_wait_fails_and_check_mode_does_not_wait(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(29, "RUNNING")], updated=CHANGED)
    out = run(amplify_deployment, client, dict(SERVING, wait=False))[0]
    assert isinstance(out, Fail) and "started before the branch's last change" in out.result["msg"]
    assert "wait=true" in out.result["msg"] and out.result["busy_job"]["job_id"] == "29"
    _reads(stub, [job(1), job(29, "RUNNING")], updated=CHANGED)
    out = run(amplify_deployment, client, SERVING, check_mode=True)[0]
    assert (out.result["action"], out.result["job"]["job_id"]) == ("would_start", "29")


def test_serving_repo_less_app_redeploys_the_serving_source_url(stubbed):
    client, stub = stubbed
    jobs = [job(1, job_type="MANUAL", source="s3://b/one.zip"), job(2, job_type="MANUAL", source="s3://b/two.zip")]
    _reads(stub, jobs, repository="", updated=CHANGED)
    stub.add_response("start_deployment", {"jobSummary": job(31, "PENDING", job_type="MANUAL", source="s3://b/two.zip")},
                      {"appId": APP, "branchName": "production", "sourceUrl": "s3://b/two.zip", "sourceUrlType": "ZIP"})
    out = run(amplify_deployment, client, dict(SERVING, wait=False))[0]
    assert (out.result["method"], out.result["action"], out.result["job"]["job_id"]) == (
        "StartDeployment", "started", "31")


@pytest.mark.parametrize("jobs,params,repository,needle", [
    ([job(1, "FAILED")], {}, "x", "has no successful build"),
    ([job(1, job_type="MANUAL")], {}, "", "has no sourceUrl"),
])
def test_serving_bad_state_fails_without_starting(stubbed, jobs, params, repository, needle):
    client, stub = stubbed
    _reads(stub, jobs, repository=repository, updated=CHANGED)
    out = run(amplify_deployment, client, dict(SERVING, **params))[0]
    assert isinstance(out, Fail) and needle in out.result["msg"]


def test_serving_with_job_id_fails_before_any_call(stubbed):
    client = stubbed[0]
    out = run(amplify_deployment, client, dict(SERVING, job_id="2"))[0]
    assert isinstance(out, Fail) and "target=last_known_good only" in out.result["msg"]


def test_rollback_after_a_serving_rebuild_of_the_broken_build_goes_past_it(stubbed):
    client, stub = stubbed
    # 3 (broken) was rebuilt as 31 to apply new variables; the rollback still returns to 2.
    _reads(stub, [job(1), job(2), job(3), job(31, "SUCCEED", commit="c3", job_type="RETRY")])
    out = run(amplify_deployment, client, DEPLOY, check_mode=True)[0]
    assert (out.result["action"], out.result["target_job"]["job_id"]) == ("would_start", "2")


def test_rollback_after_a_serving_rebuild_of_a_rollback_is_unchanged(stubbed):
    client, stub = stubbed
    _reads(stub, [job(1), job(2), job(3, commit="c1", job_type="RETRY"),
                  job(31, "SUCCEED", commit="c1", job_type="RETRY")])
    out = run(amplify_deployment, client, DEPLOY)[0]
    assert (out.result["changed"], out.result["action"]) == (False, "none")


# ---------------------------------------------------------------------------
# amplify_domain
# ---------------------------------------------------------------------------

DOMAIN = dict(app_id=APP, domain_name="prop-ie-app.com", purge_sub_domains=False, rollback_id=None,
              wait_timeout=30, wait_delay=0,
              sub_domains=[{"prefix": "", "branch_name": "production"}, {"prefix": "www", "branch_name": "production"}])


def domain(status, mapping):
    return {"domainAssociation": {
        "domainAssociationArn": "arn", "domainName": "prop-ie-app.com", "enableAutoSubDomain": False,
        "domainStatus": status, "statusReason": "",
        "subDomains": [{"subDomainSetting": {"prefix": p, "branchName": b}, "verified": True,
                        "dnsRecord": "%s CNAME x" % p} for p, b in mapping.items()]}}


def test_domain_keeps_unmentioned_prefixes_and_verifies(stubbed):
    client, stub = stubbed
    green = {"": "green", "www": "green", "beta": "green"}
    blue = {"": "production", "www": "production", "beta": "green"}
    stub.add_response("get_domain_association", domain("AVAILABLE", green))
    stub.add_response("get_branch", {"branch": _branch()}, {"appId": APP, "branchName": "production"})
    stub.add_response("update_domain_association", domain("UPDATING", blue), {
        "appId": APP, "domainName": "prop-ie-app.com",
        "subDomainSettings": [{"prefix": "", "branchName": "production"}, {"prefix": "beta", "branchName": "green"},
                              {"prefix": "www", "branchName": "production"}]})
    stub.add_response("get_domain_association", domain("UPDATING", blue))
    stub.add_response("get_domain_association", domain("AVAILABLE", blue))
    out = run(amplify_domain, client, DOMAIN, diff=True)[0]
    r = out.result
    assert isinstance(out, Exit), r
    assert r["changed"] and r["verified"] and r["mapping"] == blue and r["changed_prefixes"] == ["", "www"]
    assert r["diff"]["after"]["sub_domains"]["www.prop-ie-app.com"] == "production"
    assert [p["status"] for p in r["progress"]["after"]] == ["UPDATING", "AVAILABLE"]


def test_domain_read_back_mismatch_fails(stubbed):
    client, stub = stubbed
    stub.add_response("get_domain_association", domain("AVAILABLE", {"": "green"}))
    stub.add_response("get_branch", {"branch": _branch()})
    stub.add_response("update_domain_association", domain("UPDATING", {"": "green"}))
    stub.add_response("get_domain_association", domain("AVAILABLE", {"": "green"}))
    out = run(amplify_domain, client, dict(DOMAIN, sub_domains=[{"prefix": "", "branch_name": "production"}]))[0]
    assert isinstance(out, Fail) and "not ''->production as requested" in out.result["msg"]
    assert out.result["verified"] is False


def test_failed_domain_is_updated_and_failing_again_fails_the_task(stubbed):
    client, stub = stubbed
    stub.add_response("get_domain_association", domain("FAILED", {"": "green"}))
    stub.add_response("get_branch", {"branch": _branch()})
    stub.add_response("update_domain_association", domain("UPDATING", {"": "production"}))
    stub.add_response("get_domain_association", domain("FAILED", {"": "production"}))
    stub.add_response("get_domain_association", domain("FAILED", {"": "production"}))
    out = run(amplify_domain, client, dict(DOMAIN, sub_domains=[{"prefix": "", "branch_name": "production"}]))[0]
    assert isinstance(out, Fail) and "is FAILED" in out.result["msg"]
    assert "after the update" in out.result["msg"]


def test_domain_duplicate_prefix_is_rejected(stubbed):
    client = stubbed[0]
    subs = [{"prefix": "www", "branch_name": "a"}, {"prefix": "www", "branch_name": "b"}]
    out = run(amplify_domain, client, dict(DOMAIN, sub_domains=subs))[0]
    assert isinstance(out, Fail) and "names prefix 'www' twice" in out.result["msg"]


# ---------------------------------------------------------------------------
# amplify_branch
# ---------------------------------------------------------------------------

BRANCH = dict(app_id=APP, branch_name="production", purge_environment_variables=False, rollback_id=None)


def test_branch_merges_and_never_returns_values(stubbed):
    client, stub = stubbed
    stub.add_response("get_branch", {"branch": _branch({"TABLE": "old-table", "KEEP": "s3cr3t-keep"})})
    stub.add_response("update_branch", {"branch": _branch()}, {
        "appId": APP, "branchName": "production",
        "environmentVariables": {"TABLE": "new-table", "KEEP": "s3cr3t-keep", "NEW": "s3cr3t-new"}})
    params = dict(BRANCH, environment_variables={"TABLE": "new-table", "NEW": "s3cr3t-new"})
    out, module = run(amplify_branch, client, params, diff=True)
    r = out.result
    assert (r["added"], r["updated"], r["removed"], r["rebuild_required"]) == (["NEW"], ["TABLE"], [], True)
    text = repr(r)
    for secret in ("old-table", "new-table", "s3cr3t-keep", "s3cr3t-new"):
        assert secret not in text
    assert r["diff"]["after"]["environment_variables"]["TABLE"] == amplify_branch.MASK_CHANGED
    assert any("build time" in w for w in module.warnings)


def test_branch_purge_removes_others_and_unchanged_is_idempotent(stubbed):
    client, stub = stubbed
    stub.add_response("get_branch", {"branch": _branch({"A": "1", "B": "2"})})
    params = dict(BRANCH, environment_variables={"A": "1"}, purge_environment_variables=True)
    out = run(amplify_branch, client, params, check_mode=True)[0]
    assert out.result["changed"] and out.result["removed"] == ["B"]
    stub.add_response("get_branch", {"branch": _branch({"A": "1"})})
    out = run(amplify_branch, client, dict(BRANCH, environment_variables={"A": "1"}))[0]
    assert out.result["changed"] is False and out.result["rebuild_required"] is False


# ---------------------------------------------------------------------------
# amplify_job_info
# ---------------------------------------------------------------------------


def test_job_info_pages_past_max_jobs_to_find_the_last_success(stubbed):
    client, stub = stubbed
    stub.add_response("get_branch", {"branch": _branch()})
    stub.add_response("list_jobs", {"jobSummaries": [job(5, "FAILED"), job(4, "FAILED")], "nextToken": "t1"})
    stub.add_response("list_jobs", {"jobSummaries": [job(3, "FAILED"), job(2)], "nextToken": "t2"},
                      {"appId": APP, "branchName": "production", "maxResults": 50, "nextToken": "t1"})
    out = run(amplify_job_info, client, dict(app_id=APP, branch_name="production", max_jobs=1))[0]
    r = out.result
    assert [j["job_id"] for j in r["jobs"]] == ["5"]
    assert r["latest_job"]["status"] == "FAILED" and r["last_successful_job"]["job_id"] == "2"
