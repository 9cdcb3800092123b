"""Fidelity tests of the sandbox's Amplify emulation, through boto3 over HTTP.

Each test asserts AWS's documented behaviour (API reference, AWS's own error messages),
not the emulation's internals. Timings use a small time scale: emulated seconds * scale =
real seconds.
"""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.client import SandboxClient
from tests import emulated

PROP_IE_APP_ID = "d4cebxzd5u3ynb"
REPO = "https://github.com/propie/prop-ie-aws-app"


@pytest.fixture
def amp(sandbox: SandboxClient) -> Any:
    return sandbox.boto3_client("amplify")


def repo_app(amp: Any, name: str = "prop-ie-app", branches: tuple[str, ...] = ("production",),
             **extra: Any) -> str:
    app = amp.create_app(name=name, repository=REPO, accessToken="token", **extra)["app"]
    app_id = app["appId"]
    for branch in branches:
        amp.create_branch(appId=app_id, branchName=branch)
    return app_id


def manual_app(amp: Any, name: str = "prop-ie-manual",
               branches: tuple[str, ...] = ("production",)) -> str:
    app_id = amp.create_app(name=name)["app"]["appId"]
    for branch in branches:
        amp.create_branch(appId=app_id, branchName=branch)
    return app_id


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int, str]:
    """(code, HTTP status, message) of the ClientError the call must raise."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def fast_jobs(sandbox: SandboxClient, scale: float = 0.01, pending: float = 2,
              provisioning: float = 10, running: float = 60, cancelling: float = 3) -> None:
    sandbox.set_time_scale(scale)
    sandbox.control("POST", "amplify/config", {"job_durations": {
        "PENDING": pending, "PROVISIONING": provisioning, "RUNNING": running,
        "CANCELLING": cancelling}})


def wait_job(amp: Any, app_id: str, branch: str, job_id: str,
             until: tuple[str, ...] = ("SUCCEED", "FAILED", "CANCELLED")) -> tuple[dict, list[str]]:
    """Read GetJob until the status is in `until`, half an emulated second passing between
    reads (the shortest status, PENDING, lasts 2): the job and the statuses seen."""
    last: dict = {}

    def status() -> str:
        last["job"] = amp.get_job(appId=app_id, branchName=branch, jobId=job_id)["job"]
        return last["job"]["summary"]["status"]

    _status, seen = emulated.wait(amp, status, lambda current: current in until, f"job {job_id}", step=0.5)
    return last["job"], seen


def seed(sandbox: SandboxClient, app_id: str, branch: str, jobs: list[dict]) -> list[str]:
    return sandbox.control("POST", "amplify/jobs",
                           {"app_id": app_id, "branch_name": branch, "jobs": jobs})["job_ids"]


# ---------------------------------------------------------------------------
# Apps
# ---------------------------------------------------------------------------

def test_app_ids_are_deterministic_per_name_and_unique(amp):
    first = amp.create_app(name="prop-ie-app")["app"]
    assert first["appId"] == PROP_IE_APP_ID
    second = amp.create_app(name="prop-ie-app")["app"]
    assert second["appId"] != PROP_IE_APP_ID
    assert re.fullmatch(r"d[a-z2-7]{13}", second["appId"])
    assert {a["appId"] for a in amp.list_apps()["apps"]} == {PROP_IE_APP_ID, second["appId"]}


def test_app_shape_follows_the_model(amp):
    app = amp.create_app(name="prop-ie-app", environmentVariables={"TABLE": "t1"},
                         tags={"team": "web"})["app"]
    assert app["appArn"] == f"arn:aws:amplify:us-east-1:123456789012:apps/{PROP_IE_APP_ID}"
    assert app["defaultDomain"] == f"{PROP_IE_APP_ID}.amplifyapp.com"
    assert app["platform"] == "WEB"
    assert app["repository"] == ""  # a manually deployed app
    assert app["environmentVariables"] == {"TABLE": "t1"}
    assert app["tags"] == {"team": "web"}
    assert app["createTime"] == app["updateTime"]
    assert "accessToken" not in app and "oauthToken" not in app
    connected = amp.create_app(name="other", repository=REPO, accessToken="secret")["app"]
    assert connected["repository"] == REPO
    assert "secret" not in str(connected)


def test_connecting_a_repository_needs_a_token(amp):
    code, status, message = error_of(amp.create_app, name="x", repository=REPO)
    assert (code, status) == ("BadRequestException", 400)
    assert "accessToken" in message


def test_get_update_and_delete_app(amp):
    app_id = manual_app(amp, branches=())
    updated = amp.update_app(appId=app_id, description="rollback target",
                             environmentVariables={"A": "1"})["app"]
    assert updated["description"] == "rollback target"
    assert updated["environmentVariables"] == {"A": "1"}
    assert amp.delete_app(appId=app_id)["app"]["appId"] == app_id
    assert error_of(amp.get_app, appId=app_id)[:2] == ("NotFoundException", 404)
    assert error_of(amp.delete_app, appId=app_id)[:2] == ("NotFoundException", 404)


def test_apps_are_regional(sandbox, amp):
    app_id = manual_app(amp, branches=())
    west = boto3.client("amplify", endpoint_url=sandbox.endpoint, region_name="eu-west-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    assert error_of(west.get_app, appId=app_id)[0] == "NotFoundException"
    assert west.list_apps()["apps"] == []


def test_list_apps_paginates(amp):
    ids = {manual_app(amp, name=f"app-{i}", branches=()) for i in range(5)}
    pages = list(amp.get_paginator("list_apps").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["apps"]) for p in pages] == [2, 2, 1]
    assert {a["appId"] for p in pages for a in p["apps"]} == ids
    assert "nextToken" not in pages[-1]
    assert error_of(amp.list_apps, nextToken="garbage")[0] == "BadRequestException"


# ---------------------------------------------------------------------------
# Branches
# ---------------------------------------------------------------------------

def test_branch_lifecycle_and_errors(amp):
    app_id = repo_app(amp, branches=())
    branch = amp.create_branch(appId=app_id, branchName="production", stage="PRODUCTION",
                               environmentVariables={"TABLE": "t1", "MODE": "blue"})["branch"]
    assert branch["branchArn"].endswith(f"apps/{app_id}/branches/production")
    assert (branch["stage"], branch["activeJobId"], branch["totalNumberOfJobs"]) == (
        "PRODUCTION", "0", "0")
    assert branch["enableAutoBuild"] is True and branch["customDomains"] == []
    assert error_of(amp.create_branch, appId=app_id, branchName="production")[0] == (
        "BadRequestException")
    assert error_of(amp.create_branch, appId="dnope", branchName="x")[:2] == (
        "NotFoundException", 404)
    # UpdateBranch replaces the whole environment map.
    updated = amp.update_branch(appId=app_id, branchName="production",
                                environmentVariables={"TABLE": "t2"})["branch"]
    assert updated["environmentVariables"] == {"TABLE": "t2"}
    assert updated["stage"] == "PRODUCTION"
    assert amp.get_app(appId=app_id)["app"]["productionBranch"]["branchName"] == "production"
    assert amp.delete_branch(appId=app_id, branchName="production")["branch"]["branchName"] == (
        "production")
    assert error_of(amp.get_branch, appId=app_id, branchName="production")[:2] == (
        "NotFoundException", 404)


def test_list_branches_paginates_and_unknown_app_is_bad_request(amp):
    app_id = repo_app(amp, branches=("a", "b", "c"))
    first = amp.list_branches(appId=app_id, maxResults=2)
    rest = amp.list_branches(appId=app_id, maxResults=2, nextToken=first["nextToken"])
    assert [b["branchName"] for b in first["branches"] + rest["branches"]] == ["a", "b", "c"]
    assert "nextToken" not in rest
    # ListBranches declares no NotFoundException in the model.
    assert error_of(amp.list_branches, appId="dnope")[0] == "BadRequestException"


# ---------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------

def test_release_job_goes_through_every_status(sandbox, amp):
    app_id = repo_app(amp)
    fast_jobs(sandbox, scale=0.01, pending=30, provisioning=30, running=30)
    summary = amp.start_job(appId=app_id, branchName="production", jobType="RELEASE",
                            jobReason="propie-rollback:r1")["jobSummary"]
    assert (summary["jobId"], summary["status"], summary["jobType"]) == ("1", "PENDING", "RELEASE")
    assert summary["jobArn"].endswith("/branches/production/jobs/0000000001")
    job, seen = wait_job(amp, app_id, "production", "1")
    assert seen == ["PENDING", "PROVISIONING", "RUNNING", "SUCCEED"]
    assert job["summary"]["endTime"] > job["summary"]["startTime"]
    assert [(s["stepName"], s["status"]) for s in job["steps"]] == [
        ("BUILD", "SUCCEED"), ("DEPLOY", "SUCCEED")]
    branch = amp.get_branch(appId=app_id, branchName="production")["branch"]
    assert (branch["activeJobId"], branch["totalNumberOfJobs"]) == ("1", "1")


def test_job_status_is_derived_lazily_from_the_time_scale(sandbox, amp):
    app_id = repo_app(amp)
    sandbox.set_time_scale(1.0)  # default durations: 72 emulated s -> still PENDING now
    amp.start_job(appId=app_id, branchName="production", jobType="RELEASE")
    assert amp.get_job(appId=app_id, branchName="production",
                       jobId="1")["job"]["summary"]["status"] == "PENDING"
    sandbox.set_time_scale(0.001)  # a scale change applies to what follows: done in 72 ms
    job, _unused = wait_job(amp, app_id, "production", "1")
    assert job["summary"]["status"] == "SUCCEED"


def test_list_jobs_is_newest_first_and_paginates(sandbox, amp):
    app_id = repo_app(amp)
    ids = seed(sandbox, app_id, "production",
               [{"status": "SUCCEED", "commitId": f"c{i}", "minutes_ago": 70 - i * 10}
                for i in range(7)])
    assert ids == [str(i) for i in range(1, 8)]
    first = amp.list_jobs(appId=app_id, branchName="production", maxResults=3)
    second = amp.list_jobs(appId=app_id, branchName="production", maxResults=3,
                           nextToken=first["nextToken"])
    third = amp.list_jobs(appId=app_id, branchName="production", maxResults=3,
                          nextToken=second["nextToken"])
    listed = [j["jobId"] for page in (first, second, third) for j in page["jobSummaries"]]
    assert listed == ["7", "6", "5", "4", "3", "2", "1"]
    assert "nextToken" not in third
    starts = [j["startTime"] for page in (first, second, third) for j in page["jobSummaries"]]
    assert starts == sorted(starts, reverse=True)
    everything = list(amp.get_paginator("list_jobs").paginate(
        appId=app_id, branchName="production", PaginationConfig={"PageSize": 2}))
    assert [j["jobId"] for p in everything for j in p["jobSummaries"]] == listed
    assert error_of(amp.list_jobs, appId=app_id, branchName="production",
                    nextToken="bm9wZQ==")[0] == "BadRequestException"


def test_retry_rebuilds_the_old_commit_and_release_builds_head(sandbox, amp):
    app_id = repo_app(amp)
    fast_jobs(sandbox, scale=0.001)
    seed(sandbox, app_id, "production", [
        {"status": "SUCCEED", "commitId": "good1", "commitMessage": "good build",
         "minutes_ago": 60},
        {"status": "SUCCEED", "commitId": "bad22", "commitMessage": "bad build", "minutes_ago": 5},
    ])
    retry = amp.start_job(appId=app_id, branchName="production", jobType="RETRY", jobId="1",
                          jobReason="rollback")["jobSummary"]
    assert (retry["jobId"], retry["jobType"], retry["commitId"], retry["commitMessage"]) == (
        "3", "RETRY", "good1", "good build")
    wait_job(amp, app_id, "production", "3")
    release = amp.start_job(appId=app_id, branchName="production", jobType="RELEASE",
                            commitId="good1")["jobSummary"]
    assert release["commitId"] == "bad22"  # RELEASE always builds the branch head
    deployed_before = sandbox.control(
        "GET", f"amplify/deployed?app_id={app_id}&branch_name=production")["deployed"]
    assert deployed_before["commitId"] == "good1"


def test_push_moves_the_head_and_starts_a_webhook_build(sandbox, amp):
    app_id = repo_app(amp)
    fast_jobs(sandbox, scale=0.001)
    pushed = sandbox.control("POST", "amplify/push", {
        "app_id": app_id, "branch_name": "production", "commitId": "abc123",
        "commitMessage": "feature"})
    job, _unused = wait_job(amp, app_id, "production", pushed["jobId"])
    assert (job["summary"]["jobType"], job["summary"]["commitId"]) == ("WEB_HOOK", "abc123")
    release = amp.start_job(appId=app_id, branchName="production", jobType="RELEASE")
    assert release["jobSummary"]["commitId"] == "abc123"
    with pytest.raises(RuntimeError, match="no repository"):
        sandbox.control("POST", "amplify/push", {"app_id": manual_app(amp),
                                                 "branch_name": "production"})


def test_job_reason_is_kept_on_the_wire(amp):
    # botocore 1.44's JobSummary has no jobReason member, so boto3 drops it when parsing;
    # read the raw body to check that it is stored and returned.
    app_id = repo_app(amp)
    bodies: list[bytes] = []
    amp.meta.events.register("before-parse.amplify.ListJobs",
                             lambda response_dict, **_: bodies.append(response_dict["body"]))
    amp.start_job(appId=app_id, branchName="production", jobType="RELEASE",
                  jobReason="propie-rollback:r42")
    amp.list_jobs(appId=app_id, branchName="production")
    assert b'"jobReason": "propie-rollback:r42"' in bodies[0]


def test_retry_errors(amp):
    app_id = repo_app(amp)
    code, _unused, message = error_of(amp.start_job, appId=app_id, branchName="production",
                                      jobType="RETRY")
    assert code == "BadRequestException" and "jobId" in message
    assert error_of(amp.start_job, appId=app_id, branchName="production", jobType="RETRY",
                    jobId="42")[:2] == ("NotFoundException", 404)
    assert error_of(amp.start_job, appId=app_id, branchName="nope", jobType="RELEASE")[:2] == (
        "NotFoundException", 404)


def test_release_needs_a_connected_repository(amp):
    app_id = manual_app(amp)
    code, status, message = error_of(amp.start_job, appId=app_id, branchName="production",
                                     jobType="RELEASE")
    assert (code, status) == ("BadRequestException", 400)
    assert "repository" in message


def test_start_job_manual_is_rejected(amp):
    for app_id in (repo_app(amp), manual_app(amp)):
        code, _unused, message = error_of(amp.start_job, appId=app_id, branchName="production",
                                          jobType="MANUAL")
        assert code == "BadRequestException"
        assert "MANUAL does not support" in message and "StartDeployment" in message


def test_jobs_of_a_branch_queue_behind_each_other(sandbox, amp):
    app_id = repo_app(amp)
    fast_jobs(sandbox, scale=0.01, pending=2, provisioning=5, running=30)
    amp.start_job(appId=app_id, branchName="production", jobType="RELEASE")
    second = amp.start_job(appId=app_id, branchName="production", jobType="RELEASE")["jobSummary"]
    assert second["status"] == "PENDING"
    first, _unused = wait_job(amp, app_id, "production", "1", until=("RUNNING",))
    assert amp.get_job(appId=app_id, branchName="production",
                       jobId="2")["job"]["summary"]["status"] == "PENDING"
    first, _unused = wait_job(amp, app_id, "production", "1")
    job2, seen = wait_job(amp, app_id, "production", "2")
    assert seen[-3:] == ["PROVISIONING", "RUNNING", "SUCCEED"]
    # Job 2 ran its 37 emulated seconds only after job 1 ended.
    ran = (job2["summary"]["endTime"] - first["summary"]["endTime"]).total_seconds()
    assert ran >= 37 * 0.01 * 0.9


def test_stop_job_cancels_and_finished_jobs_cannot_be_stopped(sandbox, amp):
    app_id = repo_app(amp)
    fast_jobs(sandbox, scale=0.01, pending=5, provisioning=5, running=600, cancelling=20)
    amp.start_job(appId=app_id, branchName="production", jobType="RELEASE")
    wait_job(amp, app_id, "production", "1", until=("RUNNING",))
    stopped = amp.stop_job(appId=app_id, branchName="production", jobId="1")["jobSummary"]
    assert stopped["status"] == "CANCELLING"
    job, seen = wait_job(amp, app_id, "production", "1")
    assert seen[-1] == "CANCELLED" and job["summary"]["endTime"]
    assert job["steps"][-1]["status"] == "CANCELLED"
    code, _unused, message = error_of(amp.stop_job, appId=app_id, branchName="production", jobId="1")
    assert code == "BadRequestException" and "CANCELLED" in message
    assert error_of(amp.stop_job, appId=app_id, branchName="production", jobId="9")[0] == (
        "NotFoundException")


def test_next_job_outcome_fails_the_next_jobs(sandbox, amp):
    app_id = repo_app(amp)
    fast_jobs(sandbox, scale=0.001)
    result = sandbox.control("POST", "amplify/next-job-outcome", {
        "app_id": app_id, "branch_name": "production", "status": "FAILED", "count": 2})
    assert result["pending_outcomes"] == ["FAILED", "FAILED"]
    statuses = []
    for job_id in ("1", "2", "3"):
        amp.start_job(appId=app_id, branchName="production", jobType="RELEASE")
        job, _unused = wait_job(amp, app_id, "production", job_id)
        statuses.append(job["summary"]["status"])
        if job_id == "1":
            assert [(s["stepName"], s["status"]) for s in job["steps"]] == [("BUILD", "FAILED")]
    assert statuses == ["FAILED", "FAILED", "SUCCEED"]


@pytest.mark.parametrize("body, needle", [
    ({"app_id": "dnope", "branch_name": "production", "status": "FAILED"}, "no Amplify app"),
    ({"branch_name": "nope", "status": "FAILED"}, "no branch"),
    ({"branch_name": "production", "status": "BROKEN"}, "SUCCEED or FAILED"),
    ({"branch_name": "production", "status": "FAILED", "count": 0}, "positive integer"),
])
def test_next_job_outcome_rejects_bad_input(sandbox, amp, body, needle):
    app_id = repo_app(amp)
    with pytest.raises(RuntimeError, match="400") as info:
        sandbox.control("POST", "amplify/next-job-outcome", {"app_id": app_id, **body})
    assert needle in str(info.value)


def test_seeded_history_and_control_validation(sandbox, amp):
    app_id = manual_app(amp)
    ids = seed(sandbox, app_id, "production", [
        {"status": "SUCCEED", "sourceUrl": "s3://bucket/v1/", "sourceUrlType": "BUCKET_PREFIX",
         "minutes_ago": 120},
        {"status": "FAILED", "jobReason": "bad", "minutes_ago": 30},
    ])
    jobs = amp.list_jobs(appId=app_id, branchName="production")["jobSummaries"]
    assert [(j["jobId"], j["status"], j["jobType"]) for j in jobs] == [
        (ids[1], "FAILED", "MANUAL"), (ids[0], "SUCCEED", "MANUAL")]
    assert (jobs[1]["sourceUrl"], jobs[1]["sourceUrlType"]) == ("s3://bucket/v1/", "BUCKET_PREFIX")
    for bad, needle in [
        ({"jobs": [{"status": "RUNNING"}]}, "finished jobs"),
        ({"jobs": [{"minutes_ago": 1}, {"minutes_ago": 5}]}, "oldest first"),
        ({"jobs": [{"colour": "red"}]}, "unknown field"),
        ({"jobs": []}, "non-empty"),
    ]:
        with pytest.raises(RuntimeError, match=needle):
            seed(sandbox, app_id, "production", bad["jobs"])
    with pytest.raises(RuntimeError, match="job_durations"):
        sandbox.control("POST", "amplify/config", {"job_durations": {"BUILDING": 1}})
    with pytest.raises(RuntimeError, match="seconds"):
        sandbox.control("POST", "amplify/config", {"domain_update_seconds": -1})
    assert sandbox.control("GET", "amplify/config")["job_durations"]["RUNNING"] == 60


def test_branch_environment_takes_effect_only_after_a_rebuild(sandbox, amp):
    app_id = repo_app(amp)
    fast_jobs(sandbox, scale=0.001)
    amp.update_branch(appId=app_id, branchName="production", environmentVariables={"TABLE": "t1"})
    amp.start_job(appId=app_id, branchName="production", jobType="RELEASE")
    wait_job(amp, app_id, "production", "1")
    amp.update_branch(appId=app_id, branchName="production", environmentVariables={"TABLE": "t2"})
    route = f"amplify/deployed?app_id={app_id}&branch_name=production"
    assert sandbox.control("GET", route)["deployed"]["environmentVariables"] == {"TABLE": "t1"}
    amp.start_job(appId=app_id, branchName="production", jobType="RETRY", jobId="1")
    wait_job(amp, app_id, "production", "2")
    assert sandbox.control("GET", route)["deployed"]["environmentVariables"] == {"TABLE": "t2"}


# ---------------------------------------------------------------------------
# Manual deployments
# ---------------------------------------------------------------------------

def test_start_deployment_from_a_source_url(sandbox, amp):
    app_id = manual_app(amp)
    fast_jobs(sandbox, scale=0.001)
    summary = amp.start_deployment(appId=app_id, branchName="production",
                                   sourceUrl="s3://artifacts/prop-ie/v41/",
                                   sourceUrlType="BUCKET_PREFIX")["jobSummary"]
    assert (summary["jobType"], summary["status"]) == ("MANUAL", "PENDING")
    job, _unused = wait_job(amp, app_id, "production", summary["jobId"])
    assert (job["summary"]["sourceUrl"], job["summary"]["sourceUrlType"]) == (
        "s3://artifacts/prop-ie/v41/", "BUCKET_PREFIX")
    assert [s["stepName"] for s in job["steps"]] == ["DEPLOY"]  # nothing is built
    listed = amp.list_jobs(appId=app_id, branchName="production")["jobSummaries"][0]
    assert listed["sourceUrl"] == "s3://artifacts/prop-ie/v41/"
    zipped = amp.start_deployment(appId=app_id, branchName="production",
                                  sourceUrl="https://example.com/site.zip")["jobSummary"]
    assert zipped["sourceUrlType"] == "ZIP"  # the documented default


def test_runbook_start_deployment_with_an_old_job_id_fails(sandbox, amp):
    # The runbook's `aws amplify start-deployment --job-id $LAST_SUCCESSFUL_JOB`.
    connected = repo_app(amp)
    seed(sandbox, connected, "production", [{"status": "SUCCEED", "minutes_ago": 60}])
    code, status, message = error_of(amp.start_deployment, appId=connected,
                                     branchName="production", jobId="1")
    assert (code, status) == ("BadRequestException", 400)
    assert message == "Operation not supported. App is already connected a repository."
    manual = manual_app(amp)
    seed(sandbox, manual, "production", [{"status": "SUCCEED", "sourceUrl": "s3://b/v1.zip",
                                          "minutes_ago": 60}])
    code, status, message = error_of(amp.start_deployment, appId=manual,
                                     branchName="production", jobId="1")
    assert (code, status) == ("BadRequestException", 400)
    assert "CreateDeployment" in message
    assert len(amp.list_jobs(appId=manual, branchName="production")["jobSummaries"]) == 1


def test_create_deployment_then_start_it(sandbox, amp):
    app_id = manual_app(amp)
    fast_jobs(sandbox, scale=0.001)
    created = amp.create_deployment(appId=app_id, branchName="production")
    assert created["jobId"] == "1" and created["zipUploadUrl"].startswith("https://")
    assert created["fileUploadUrls"] == {}
    listed = amp.list_jobs(appId=app_id, branchName="production")["jobSummaries"]
    assert [(j["jobId"], j["status"], j["jobType"]) for j in listed] == [("1", "CREATED", "MANUAL")]
    started = amp.start_deployment(appId=app_id, branchName="production",
                                   jobId=created["jobId"])["jobSummary"]
    assert (started["jobId"], started["status"]) == ("1", "PENDING")
    job, _unused = wait_job(amp, app_id, "production", "1")
    assert job["summary"]["status"] == "SUCCEED" and "sourceUrl" not in job["summary"]
    # A started deployment cannot be started again.
    assert error_of(amp.start_deployment, appId=app_id, branchName="production",
                    jobId="1")[0] == "BadRequestException"
    files = amp.create_deployment(appId=app_id, branchName="production",
                                  fileMap={"index.html": "d41d8cd98f00b204e9800998ecf8427e"})
    assert set(files["fileUploadUrls"]) == {"index.html"}


def test_deployment_argument_errors(amp):
    app_id = manual_app(amp)
    code, _unused, message = error_of(amp.start_deployment, appId=app_id, branchName="production")
    assert (code, message) == ("BadRequestException",
                               "Must specify jobId or sourceUrl for StartDeploymentRequest.")
    assert error_of(amp.start_deployment, appId=app_id, branchName="production", jobId="1",
                    sourceUrl="s3://b/x.zip")[0] == "BadRequestException"
    assert error_of(amp.start_deployment, appId=app_id, branchName="production",
                    jobId="7")[:2] == ("NotFoundException", 404)
    assert error_of(amp.create_deployment, appId=repo_app(amp),
                    branchName="production")[0] == "BadRequestException"
    # CreateDeployment declares no NotFoundException: a missing branch is a bad request.
    assert error_of(amp.create_deployment, appId=app_id, branchName="nope")[0] == (
        "BadRequestException")


def test_new_deployment_is_refused_while_the_last_one_runs(sandbox, amp):
    app_id = manual_app(amp)
    fast_jobs(sandbox, scale=1.0)
    amp.start_deployment(appId=app_id, branchName="production", sourceUrl="s3://b/v1.zip")
    code, _unused, message = error_of(amp.create_deployment, appId=app_id, branchName="production")
    assert code == "BadRequestException"
    assert "The last job(deployment) 1 was not finished" in message
    assert error_of(amp.start_deployment, appId=app_id, branchName="production",
                    sourceUrl="s3://b/v2.zip")[0] == "BadRequestException"
    amp.stop_job(appId=app_id, branchName="production", jobId="1")
    sandbox.set_time_scale(0.001)
    wait_job(amp, app_id, "production", "1")
    assert amp.create_deployment(appId=app_id, branchName="production")["jobId"] == "2"


def test_created_deployment_expires_after_eight_hours(sandbox, amp):
    app_id = manual_app(amp)
    created = amp.create_deployment(appId=app_id, branchName="production")
    sandbox.advance(8 * 3600 + 1)  # 8 emulated hours pass
    code, _unused, message = error_of(amp.start_deployment, appId=app_id, branchName="production",
                                      jobId=created["jobId"])
    assert code == "BadRequestException" and "8 hours" in message
    assert amp.get_job(appId=app_id, branchName="production",
                       jobId=created["jobId"])["job"]["summary"]["status"] == "FAILED"


# ---------------------------------------------------------------------------
# Domain associations
# ---------------------------------------------------------------------------

def domain_app(amp: Any) -> str:
    return repo_app(amp, branches=("production", "green"))


def wait_domain(amp: Any, app_id: str, name: str, status: str = "AVAILABLE") -> dict:
    """Read the domain until its status is `status`, an emulated second passing between reads."""
    domain, _seen = emulated.wait(amp, lambda: amp.get_domain_association(appId=app_id, domainName=name)["domainAssociation"],
                                  lambda current: current["domainStatus"] == status, f"domain {name}")
    return domain


def test_domain_is_created_then_available(sandbox, amp):
    app_id = domain_app(amp)
    sandbox.set_time_scale(0.01)  # default 30 emulated s -> 0.3 s
    created = amp.create_domain_association(
        appId=app_id, domainName="prop-ie-app.com",
        subDomainSettings=[{"prefix": "", "branchName": "production"},
                           {"prefix": "www", "branchName": "production"}])["domainAssociation"]
    assert created["domainStatus"] == "CREATING"
    assert created["domainAssociationArn"].endswith(f"apps/{app_id}/domains/prop-ie-app.com")
    assert [s["verified"] for s in created["subDomains"]] == [False, False]
    assert re.fullmatch(r"www CNAME d[0-9a-f]{13}\.cloudfront\.net",
                        created["subDomains"][1]["dnsRecord"])
    available = wait_domain(amp, app_id, "prop-ie-app.com")
    assert [s["verified"] for s in available["subDomains"]] == [True, True]
    branch = amp.get_branch(appId=app_id, branchName="production")["branch"]
    assert sorted(branch["customDomains"]) == ["prop-ie-app.com", "www.prop-ie-app.com"]
    listed = amp.list_domain_associations(appId=app_id)["domainAssociations"]
    assert [d["domainName"] for d in listed] == ["prop-ie-app.com"]


def test_domain_update_replaces_sub_domains_and_is_refused_while_updating(sandbox, amp):
    app_id = domain_app(amp)
    sandbox.control("POST", "amplify/config", {"domain_update_seconds": 0})
    amp.create_domain_association(
        appId=app_id, domainName="prop-ie-app.com",
        subDomainSettings=[{"prefix": "", "branchName": "production"},
                           {"prefix": "www", "branchName": "production"}])
    wait_domain(amp, app_id, "prop-ie-app.com")
    sandbox.control("POST", "amplify/config", {"domain_update_seconds": 600})
    updated = amp.update_domain_association(
        appId=app_id, domainName="prop-ie-app.com",
        subDomainSettings=[{"prefix": "", "branchName": "green"}])["domainAssociation"]
    assert updated["domainStatus"] == "UPDATING"
    # The omitted "www" prefix is gone: the list replaces the old one.
    assert [(s["subDomainSetting"]["prefix"], s["subDomainSetting"]["branchName"],
             s["verified"]) for s in updated["subDomains"]] == [("", "green", False)]
    code, status, message = error_of(
        amp.update_domain_association, appId=app_id, domainName="prop-ie-app.com",
        subDomainSettings=[{"prefix": "", "branchName": "production"}])
    assert (code, status) == ("BadRequestException", 400)
    assert message == "Cannot update domain while the domain is in UPDATING status."
    sandbox.set_time_scale(0.0001)
    done = wait_domain(amp, app_id, "prop-ie-app.com")
    assert done["updateStatus"] == "UPDATE_COMPLETE"
    assert amp.get_branch(appId=app_id, branchName="production")["branch"]["customDomains"] == []


def test_sub_domain_cannot_point_to_a_missing_branch(sandbox, amp):
    app_id = domain_app(amp)
    code, _unused, message = error_of(amp.create_domain_association, appId=app_id,
                                      domainName="prop-ie-app.com",
                                      subDomainSettings=[{"prefix": "", "branchName": "blue"}])
    assert (code, message) == ("BadRequestException",
                               "A subdomain cannot point to a non-existent branch")
    sandbox.control("POST", "amplify/config", {"domain_update_seconds": 0})
    amp.create_domain_association(appId=app_id, domainName="prop-ie-app.com",
                                  subDomainSettings=[{"prefix": "", "branchName": "production"}])
    assert error_of(amp.update_domain_association, appId=app_id, domainName="prop-ie-app.com",
                    subDomainSettings=[{"prefix": "", "branchName": "blue"}])[0] == (
        "BadRequestException")
    assert error_of(amp.create_domain_association, appId=app_id, domainName="other.com",
                    subDomainSettings=[])[0] == "BadRequestException"


def test_domain_not_found_and_duplicate_errors(sandbox, amp):
    app_id = domain_app(amp)
    assert error_of(amp.get_domain_association, appId=app_id,
                    domainName="prop-ie-app.com")[:2] == ("NotFoundException", 404)
    assert error_of(amp.get_domain_association, appId="dnope",
                    domainName="prop-ie-app.com")[:2] == ("NotFoundException", 404)
    assert error_of(amp.update_domain_association, appId=app_id,
                    domainName="prop-ie-app.com")[0] == "NotFoundException"
    assert error_of(amp.delete_domain_association, appId=app_id,
                    domainName="prop-ie-app.com")[0] == "NotFoundException"
    settings = [{"prefix": "", "branchName": "production"}]
    amp.create_domain_association(appId=app_id, domainName="prop-ie-app.com",
                                  subDomainSettings=settings)
    assert error_of(amp.create_domain_association, appId=app_id, domainName="prop-ie-app.com",
                    subDomainSettings=settings)[0] == "BadRequestException"
    other = repo_app(amp, name="other")
    code, _unused, message = error_of(amp.create_domain_association, appId=other,
                                      domainName="prop-ie-app.com", subDomainSettings=settings)
    assert code == "BadRequestException" and "another Amplify app" in message
    deleted = amp.delete_domain_association(appId=app_id, domainName="prop-ie-app.com")
    assert deleted["domainAssociation"]["domainName"] == "prop-ie-app.com"
    assert amp.list_domain_associations(appId=app_id)["domainAssociations"] == []


def test_domain_can_be_held_in_a_status(sandbox, amp):
    app_id = domain_app(amp)
    sandbox.control("POST", "amplify/config", {"domain_update_seconds": 0})
    amp.create_domain_association(appId=app_id, domainName="prop-ie-app.com",
                                  subDomainSettings=[{"prefix": "", "branchName": "production"}])
    held = sandbox.control("POST", "amplify/domain-status", {
        "app_id": app_id, "domain_name": "prop-ie-app.com", "status": "UPDATING", "seconds": 300})
    assert held["domainStatus"] == "UPDATING"
    assert error_of(amp.update_domain_association, appId=app_id, domainName="prop-ie-app.com",
                    subDomainSettings=[{"prefix": "", "branchName": "green"}])[0] == (
        "BadRequestException")
    sandbox.set_time_scale(0.0001)  # 300 emulated s -> 30 ms
    wait_domain(amp, app_id, "prop-ie-app.com")
    amp.update_domain_association(appId=app_id, domainName="prop-ie-app.com",
                                  subDomainSettings=[{"prefix": "", "branchName": "green"}])
    for body in ({"domain_name": "nope.com", "status": "UPDATING"},
                 {"domain_name": "prop-ie-app.com", "status": "STUCK"}):
        with pytest.raises(RuntimeError, match="400"):
            sandbox.control("POST", "amplify/domain-status", {"app_id": app_id, **body})


# ---------------------------------------------------------------------------
# Tags, wire format, faults
# ---------------------------------------------------------------------------

def test_tags_on_apps_and_branches(amp):
    app_id = repo_app(amp, tags={"env": "prod"})
    app_arn = amp.get_app(appId=app_id)["app"]["appArn"]
    branch_arn = amp.get_branch(appId=app_id, branchName="production")["branch"]["branchArn"]
    amp.tag_resource(resourceArn=app_arn, tags={"rollback": "r1"})
    amp.tag_resource(resourceArn=branch_arn, tags={"colour": "blue"})
    assert amp.list_tags_for_resource(resourceArn=app_arn)["tags"] == {"env": "prod",
                                                                       "rollback": "r1"}
    amp.untag_resource(resourceArn=app_arn, tagKeys=["env"])
    assert amp.get_app(appId=app_id)["app"]["tags"] == {"rollback": "r1"}
    assert amp.list_tags_for_resource(resourceArn=branch_arn)["tags"] == {"colour": "blue"}
    assert error_of(amp.list_tags_for_resource,
                    resourceArn=app_arn.replace(app_id, "dnope"))[:2] == (
        "ResourceNotFoundException", 404)


def test_unimplemented_operation_answers_not_implemented(amp):
    code, status, _unused = error_of(amp.list_webhooks, appId=PROP_IE_APP_ID)
    assert (code, status) == ("NotImplemented", 501)


def test_throttling_fault_is_retried_by_botocore(sandbox, amp):
    app_id = manual_app(amp, branches=())
    seq = sandbox.last_seq()
    sandbox.add_fault(service="amplify", operation="GetApp", error_code="ThrottlingException",
                      http_status=400, count=2)
    response = amp.get_app(appId=app_id)
    assert response["app"]["appId"] == app_id
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    calls = [(r["operation"], r["error_code"]) for r in sandbox.requests(seq)]
    assert calls == [("GetApp", "ThrottlingException")] * 2 + [("GetApp", None)]


def test_mutations_are_logged(sandbox, amp):
    app_id = repo_app(amp)
    seq = sandbox.last_seq()
    amp.get_app(appId=app_id)
    amp.list_jobs(appId=app_id, branchName="production")
    amp.start_job(appId=app_id, branchName="production", jobType="RELEASE")
    assert [r["operation"] for r in sandbox.mutating_since(seq)] == ["StartJob"]
