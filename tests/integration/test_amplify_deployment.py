"""amplify_deployment and amplify_job_info through ansible-playbook against the sandbox."""

from __future__ import annotations

import pytest

from tests.integration.test_amplify_helpers import (
    BLUE, FAST, history, jobs_of, make_app, operations, seed_jobs, task,
)

TASK = "Redeploy the last known-good build"
INFO = "Read the jobs"
START = {True: "StartJob", False: "StartDeployment"}
APPS = pytest.mark.parametrize("repository", [True, False], ids=["repo-app", "manual-app"])


def redeploy(app_id: str, **extra) -> str:
    return task(TASK, "propie.rollback.amplify_deployment",
                {"app_id": app_id, "branch_name": BLUE, **FAST, **extra})


@APPS
def test_check_apply_reapply(sandbox, run_playbook, repository):
    app_id = make_app(sandbox, repository)
    play = redeploy(app_id, rollback_id="rb-20261130T034501Z-9f2c1a")

    seq = sandbox.last_seq()
    run = run_playbook(play, check=True, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert (res["changed"], res["action"]) == (True, "would_start")
    assert res["method"] == ("StartJob RETRY" if repository else "StartDeployment")
    assert (res["from_job"]["job_id"], res["from_job"]["status"]) == ("4", "FAILED")
    assert (res["target_job"]["job_id"], res["target_job"]["commit_message"]) == ("3", "Release 1.3")
    assert res["diff"]["before"] != res["diff"]["after"]
    assert sandbox.mutating_since(seq) == []

    seq = sandbox.last_seq()
    run = run_playbook(play, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert (res["changed"], res["action"], res["rollback_id"]) == (True, "started", "rb-20261130T034501Z-9f2c1a")
    assert (res["job"]["job_id"], res["job"]["status"], res["target_job"]["job_id"]) == ("5", "SUCCEED", "3")
    assert res["job"]["job_type"] == ("RETRY" if repository else "MANUAL")
    assert res["progress"][-1]["status"] == "SUCCEED" and res["timings"]["wait_seconds"] > 0
    assert operations(sandbox, seq, mutating=True) == [START[repository]]
    newest = jobs_of(sandbox, app_id)[0]
    if repository:
        assert newest["commitId"] == "a1b2c33"  # the good build's commit, not the broken head
    else:
        assert newest["sourceUrl"] == "s3://prop-ie-builds/release-1.3.zip"

    for check in (True, False):
        seq = sandbox.last_seq()
        run = run_playbook(play, check=check, diff=True)
        assert run.rc == 0, run.stdout
        res = run.result(TASK)
        assert (res["changed"], res["action"]) == (False, "none")
        assert res["from_job"]["job_id"] == "5" and res["from_job"]["is_rollback"] is True
        assert sandbox.mutating_since(seq) == []


@APPS
def test_rerun_while_running_resumes_instead_of_starting_again(sandbox, run_playbook, repository):
    app_id = make_app(sandbox, repository)
    # A long build: the first run starts it and does not wait (as a killed run would leave it).
    sandbox.control("POST", "amplify/config", {"job_durations": {"RUNNING": 6000}})
    run = run_playbook(redeploy(app_id, wait=False))
    assert run.rc == 0, run.stdout
    assert run.result(TASK)["action"] == "started"
    sandbox.control("POST", "amplify/config", {"job_durations": {"RUNNING": 60}})

    seq = sandbox.last_seq()
    run = run_playbook(redeploy(app_id, wait=False))
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert (res["changed"], res["action"], res["job"]["job_id"], res["target_job"]["job_id"]) == (
        False, "resumed", "5", "3")
    assert sandbox.mutating_since(seq) == []


@APPS
def test_failed_rollback_fails_then_rerun_starts_a_new_one(sandbox, run_playbook, repository):
    app_id = make_app(sandbox, repository)
    sandbox.control("POST", "amplify/next-job-outcome",
                    {"app_id": app_id, "branch_name": BLUE, "status": "FAILED", "count": 1})
    run = run_playbook(redeploy(app_id))
    assert run.rc != 0 and run.failed_tasks == [TASK]
    res = run.result(TASK)
    assert "ended FAILED" in res["msg"] and res["job"]["job_id"] == "5"

    run = run_playbook(redeploy(app_id))
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert (res["action"], res["job"]["job_id"], res["target_job"]["job_id"]) == ("started", "6", "3")
    assert res["from_job"]["job_id"] == "4"  # the failed rollback is not "the newest job"
    assert res["skipped_failed_rollbacks"] == ["5"]


@pytest.mark.parametrize("case,needle", [
    ("app", "Amplify app 'dnosuchapp0000' does not exist"),
    ("branch", "has no branch 'blue-old'"),
    ("no-good-job", "has no successful job older than its newest"),
    ("job-id", "Branch production has no job 42"),
    ("failed-job-id", "is not a successful build"),
])
def test_bad_input_fails_clearly_without_mutating(sandbox, run_playbook, case, needle):
    jobs = history(True) if case != "no-good-job" else [
        {"status": "FAILED", "jobType": "RELEASE", "minutes_ago": 50},
        {"status": "SUCCEED", "jobType": "RELEASE", "minutes_ago": 40}]
    app_id = make_app(sandbox, True, blue_jobs=jobs, domain=False)
    extra = {"app_id": app_id}
    if case == "app":
        extra["app_id"] = "dnosuchapp0000"
    elif case == "branch":
        extra["branch_name"] = "blue-old"
    elif case == "job-id":
        extra["job_id"] = "42"
    elif case == "failed-job-id":
        extra["job_id"] = "4"
    seq = sandbox.last_seq()
    run = run_playbook(task(TASK, "propie.rollback.amplify_deployment", {"branch_name": BLUE, **FAST, **extra}))
    assert run.rc != 0 and run.failed_tasks == [TASK]
    assert needle in run.result(TASK)["msg"]
    assert sandbox.mutating_since(seq) == []


@APPS
def test_throttling_is_retried(sandbox, run_playbook, repository):
    app_id = make_app(sandbox, repository, domain=False)
    ops = ("GetApp", "GetBranch", "ListJobs", START[repository], "GetJob")
    for op in ops:
        sandbox.add_fault(service="amplify", operation=op, error_code="ThrottlingException",
                          http_status=400, count=2)
    seq = sandbox.last_seq()
    run = run_playbook(redeploy(app_id))
    assert run.rc == 0, run.stdout
    assert run.result(TASK)["job"]["status"] == "SUCCEED"
    faults = [r["operation"] for r in sandbox.requests(seq) if r["fault"]]
    assert sorted(faults) == sorted(ops * 2)
    assert operations(sandbox, seq, mutating=True).count(START[repository]) == 3  # 2 throttled + 1


def test_job_info_pages_and_finds_the_last_success(sandbox, run_playbook):
    app_id = make_app(sandbox, True, domain=False)
    # 60 failed builds after the history: the last success is on the second page.
    seed_jobs(sandbox, app_id, BLUE, [{"status": "FAILED", "jobType": "RELEASE", "minutes_ago": 40 - n * 0.5}
                                      for n in range(60)])
    sandbox.add_fault(service="amplify", operation="ListJobs", error_code="ThrottlingException",
                      http_status=400, count=2)
    seq = sandbox.last_seq()
    run = run_playbook(task(INFO, "propie.rollback.amplify_job_info",
                            {"app_id": app_id, "branch_name": BLUE, "max_jobs": 5}), check=True)
    assert run.rc == 0, run.stdout
    res = run.result(INFO)
    assert [j["job_id"] for j in res["jobs"]] == ["64", "63", "62", "61", "60"]
    assert res["latest_job"]["status"] == "FAILED"
    assert (res["last_successful_job"]["job_id"], res["last_successful_job"]["commit_message"]) == ("3", "Release 1.3")
    assert operations(sandbox, seq).count("ListJobs") == 4  # two pages + two throttled
    assert sandbox.mutating_since(seq) == []
