"""amplify_deployment and amplify_job_info, run in-process against the sandbox (run_task).

Their wiring in playbooks is tested by the role and procedure tests.
"""

from __future__ import annotations

import pytest

from ansible_collections.propie.rollback.plugins.module_utils.amplify import START_BOOKKEEPING_SECONDS
from tests.integration.test_amplify_helpers import (
    BLUE, FAST, TIME_SCALE, history, jobs_of, make_app, operations, seed_jobs, task,
)

TASK = "Redeploy the last known-good build"
INFO = "Read the jobs"
START = {True: "StartJob", False: "StartDeployment"}
APPS = pytest.mark.parametrize("repository", [True, False], ids=["repo-app", "manual-app"])


def redeploy(app_id: str, **extra) -> str:
    return task(TASK, "propie.rollback.amplify_deployment",
                {"app_id": app_id, "branch_name": BLUE, **FAST, **extra})


def rerun_unchanged(sandbox, run_task, play: str, name: str) -> list:
    """Check mode, then a real run: both report nothing to do and call nothing that writes."""
    results = []
    for check in (True, False):
        seq = sandbox.last_seq()
        run = run_task(play, check=check, diff=True)
        assert run.rc == 0, run.stdout
        res = run.result(name)
        assert (res["changed"], res["action"]) == (False, "none")
        assert sandbox.mutating_since(seq) == []
        results.append(res)
    return results


@APPS
def test_check_apply_reapply(sandbox, run_task, repository):
    app_id = make_app(sandbox, repository)
    play = redeploy(app_id, rollback_id="rb-20261130T034501Z-9f2c1a")

    seq = sandbox.last_seq()
    run = run_task(play, check=True, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert (res["changed"], res["action"]) == (True, "would_start")
    assert res["method"] == ("StartJob RETRY" if repository else "StartDeployment")
    assert (res["from_job"]["job_id"], res["from_job"]["status"]) == ("4", "FAILED")
    assert (res["target_job"]["job_id"], res["target_job"]["commit_message"]) == ("3", "Release 1.3")
    assert res["diff"]["before"] != res["diff"]["after"]
    assert sandbox.mutating_since(seq) == []

    seq = sandbox.last_seq()
    run = run_task(play, diff=True)
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

    for res in rerun_unchanged(sandbox, run_task, play, TASK):
        assert res["from_job"]["job_id"] == "5" and res["from_job"]["is_rollback"] is True


@APPS
def test_rerun_while_running_resumes_instead_of_starting_again(sandbox, run_task, repository):
    app_id = make_app(sandbox, repository)
    # A long build: the first run starts it and does not wait (as a killed run would leave it).
    sandbox.control("POST", "amplify/config", {"job_durations": {"RUNNING": 6000}})
    run = run_task(redeploy(app_id, wait=False))
    assert run.rc == 0, run.stdout
    assert run.result(TASK)["action"] == "started"
    sandbox.control("POST", "amplify/config", {"job_durations": {"RUNNING": 60}})

    seq = sandbox.last_seq()
    run = run_task(redeploy(app_id, wait=False))
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert (res["changed"], res["action"], res["job"]["job_id"], res["target_job"]["job_id"]) == (
        False, "resumed", "5", "3")
    assert sandbox.mutating_since(seq) == []


@APPS
def test_failed_rollback_fails_then_rerun_starts_a_new_one(sandbox, run_task, repository):
    app_id = make_app(sandbox, repository)
    sandbox.control("POST", "amplify/next-job-outcome",
                    {"app_id": app_id, "branch_name": BLUE, "status": "FAILED", "count": 1})
    run = run_task(redeploy(app_id))
    assert run.rc != 0 and run.failed_tasks == [TASK]
    res = run.result(TASK)
    assert "ended FAILED" in res["msg"] and res["job"]["job_id"] == "5"

    run = run_task(redeploy(app_id))
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
def test_bad_input_fails_clearly_without_mutating(sandbox, run_task, case, needle):
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
    run = run_task(task(TASK, "propie.rollback.amplify_deployment", {"branch_name": BLUE, **FAST, **extra}))
    assert run.rc != 0 and run.failed_tasks == [TASK]
    assert needle in run.result(TASK)["msg"]
    assert sandbox.mutating_since(seq) == []


@pytest.mark.parametrize("repository,target", [(True, "last_known_good"), (False, "last_known_good"),
                                               (True, "serving")], ids=["repo-app", "manual-app", "serving"])
def test_throttling_is_retried(sandbox, run_task, repository, target):
    app_id = make_app(sandbox, repository, domain=False)
    if target == "serving":
        set_table(sandbox, app_id, "recovery")
    ops = ("GetApp", "GetBranch", "ListJobs", START[repository], "GetJob")
    for op in ops:
        sandbox.add_fault(service="amplify", operation=op, error_code="ThrottlingException",
                          http_status=400, count=2)
    seq = sandbox.last_seq()
    run = run_task(redeploy(app_id, target=target))
    assert run.rc == 0, run.stdout
    assert run.result(TASK)["job"]["status"] == "SUCCEED"
    faults = [r["operation"] for r in sandbox.requests(seq) if r["fault"]]
    assert sorted(faults) == sorted(ops * 2)
    assert operations(sandbox, seq, mutating=True).count(START[repository]) == 3  # 2 throttled + 1
    if target == "serving":
        assert live(sandbox, app_id)["environmentVariables"]["DATA_TABLE_NAME"] == "recovery"


def test_job_info_pages_and_finds_the_last_success(sandbox, run_task):
    app_id = make_app(sandbox, True, domain=False)
    # 60 failed builds after the history: the last success is on the second page.
    seed_jobs(sandbox, app_id, BLUE, [{"status": "FAILED", "jobType": "RELEASE", "minutes_ago": 40 - n * 0.5}
                                      for n in range(60)])
    sandbox.add_fault(service="amplify", operation="ListJobs", error_code="ThrottlingException",
                      http_status=400, count=2)
    seq = sandbox.last_seq()
    run = run_task(task(INFO, "propie.rollback.amplify_job_info",
                        {"app_id": app_id, "branch_name": BLUE, "max_jobs": 5}), check=True)
    assert run.rc == 0, run.stdout
    res = run.result(INFO)
    assert [j["job_id"] for j in res["jobs"]] == ["64", "63", "62", "61", "60"]
    assert res["latest_job"]["status"] == "FAILED"
    assert (res["last_successful_job"]["job_id"], res["last_successful_job"]["commit_message"]) == ("3", "Release 1.3")
    assert operations(sandbox, seq).count("ListJobs") == 4  # two pages + two throttled
    assert sandbox.mutating_since(seq) == []


# ---------------------------------------------------------------------------
# target=serving: rebuild what the branch serves so that changed settings take effect
# ---------------------------------------------------------------------------

REBUILD = "Rebuild the serving build"
RID = "rb-20261130T034501Z-9f2c1a"


def rebuild(app_id: str, **extra) -> str:
    return task(REBUILD, "propie.rollback.amplify_deployment",
                {"app_id": app_id, "branch_name": BLUE, "target": "serving", **FAST, **extra})


def set_table(sandbox, app_id: str, table: str) -> None:
    sandbox.boto3_client("amplify").update_branch(appId=app_id, branchName=BLUE,
                                                  environmentVariables={"DATA_TABLE_NAME": table})


def live(sandbox, app_id: str) -> dict:
    """The build the branch's visitors get, with the variables it was built with."""
    return sandbox.control("GET", f"amplify/deployed?app_id={app_id}&branch_name={BLUE}")["deployed"]


@APPS
def test_serving_rebuild_makes_a_changed_variable_live(sandbox, run_task, repository):
    app_id = make_app(sandbox, repository, domain=False)
    set_table(sandbox, app_id, "prop-ie-sandbox-data-recovery")
    # Amplify reads variables at build time: the change alone is not live.
    assert live(sandbox, app_id)["environmentVariables"]["DATA_TABLE_NAME"] == "prop-ie-sandbox-data"
    assert live(sandbox, app_id)["jobId"] == "3"
    play = rebuild(app_id, rollback_id=RID)

    seq = sandbox.last_seq()
    run = run_task(play, check=True, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result(REBUILD)
    assert (res["changed"], res["action"], res["target"]) == (True, "would_start", "serving")
    assert (res["from_job"]["job_id"], res["target_job"]["job_id"]) == ("3", "3")  # 4 is the failed build
    assert res["diff"]["before"]["serving_job"] != res["diff"]["after"]["serving_job"]
    assert sandbox.mutating_since(seq) == []
    assert live(sandbox, app_id)["jobId"] == "3"

    seq = sandbox.last_seq()
    run = run_task(play, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result(REBUILD)
    assert (res["changed"], res["action"], res["rollback_id"]) == (True, "started", RID)
    assert (res["job"]["job_id"], res["job"]["status"]) == ("5", "SUCCEED")
    assert res["job"]["job_type"] == ("RETRY" if repository else "MANUAL")
    assert operations(sandbox, seq, mutating=True) == [START[repository]]
    deployed = live(sandbox, app_id)
    assert deployed["jobId"] == "5"
    assert deployed["environmentVariables"]["DATA_TABLE_NAME"] == "prop-ie-sandbox-data-recovery"
    # The same build as before, only rebuilt: Release 1.3, not the broken 1.4.
    if repository:
        assert deployed["commitId"] == "a1b2c33"
    else:
        assert deployed["sourceUrl"] == "s3://prop-ie-builds/release-1.3.zip"

    for res in rerun_unchanged(sandbox, run_task, play, REBUILD):
        assert res["from_job"]["job_id"] == "5" and res["diff"]["before"] == res["diff"]["after"]

    # Swapping back is another change, so another rebuild.
    set_table(sandbox, app_id, "prop-ie-sandbox-data")
    run = run_task(play)
    assert run.rc == 0, run.stdout
    assert (run.result(REBUILD)["action"], run.result(REBUILD)["job"]["job_id"]) == ("started", "6")
    assert live(sandbox, app_id)["environmentVariables"]["DATA_TABLE_NAME"] == "prop-ie-sandbox-data"


def test_serving_rerun_while_rebuilding_resumes(sandbox, run_task):
    app_id = make_app(sandbox, True, domain=False)
    set_table(sandbox, app_id, "recovery")
    sandbox.control("POST", "amplify/config", {"job_durations": {"RUNNING": 6000}})
    run = run_task(rebuild(app_id, wait=False))  # as a killed run would leave it
    assert run.rc == 0 and run.result(REBUILD)["action"] == "started", run.stdout
    sandbox.control("POST", "amplify/config", {"job_durations": {"RUNNING": 60}})
    # The started build still runs its 6000 emulated seconds: let all but the last 100 pass,
    # so the re-run finds it running and waits one wall second for it, not sixty.
    sandbox.advance(5900)

    seq = sandbox.last_seq()
    run = run_task(rebuild(app_id))
    assert run.rc == 0, run.stdout
    res = run.result(REBUILD)
    assert (res["changed"], res["action"], res["job"]["job_id"]) == (False, "resumed", "5")
    assert sandbox.mutating_since(seq) == []


def change_after_the_release_started(sandbox, app_id: str, job_id: str, table: str) -> None:
    """Set the branch's table once the pushed release `job_id` has run a while, then check that the
    change is stamped clearly after the job's start: beyond START_BOOKKEEPING_SECONDS, so it is a
    change of the branch, not Amplify's own touch as it starts a job. Emulated time is advanced
    (1.5 s of sandbox timestamps at TIME_SCALE), not waited for."""
    sandbox.advance(1.5 / TIME_SCALE)
    set_table(sandbox, app_id, table)
    amplify = sandbox.boto3_client("amplify")
    started = amplify.get_job(appId=app_id, branchName=BLUE, jobId=job_id)["job"]["summary"]["startTime"]
    changed = amplify.get_branch(appId=app_id, branchName=BLUE)["branch"]["updateTime"]
    assert (changed - started).total_seconds() > START_BOOKKEEPING_SECONDS, (started, changed)


def test_serving_waits_for_a_build_that_predates_the_change_then_rebuilds_it(sandbox, run_task):
    app_id = make_app(sandbox, True, domain=False)
    sandbox.control("POST", "amplify/config", {"job_durations": {"RUNNING": 600}})  # 6 s
    pushed = sandbox.control("POST", "amplify/push", {"app_id": app_id, "branch_name": BLUE,
                                                      "commitId": "b0a7f1x", "commitMessage": "Release 1.5"})
    change_after_the_release_started(sandbox, app_id, pushed["jobId"], "recovery")

    seq = sandbox.last_seq()
    run = run_task(rebuild(app_id))
    assert run.rc == 0, run.stdout
    res = run.result(REBUILD)
    # Rebuilding job 3 now would undo release 1.5: wait for it, then rebuild it.
    assert res["busy_job"]["job_id"] == pushed["jobId"] and res["busy_job"]["status"] == "SUCCEED"
    assert (res["action"], res["target_job"]["job_id"], res["job"]["job_id"]) == ("started", pushed["jobId"], "6")
    assert operations(sandbox, seq, mutating=True) == ["StartJob"]
    deployed = live(sandbox, app_id)
    assert (deployed["commitId"], deployed["environmentVariables"]["DATA_TABLE_NAME"]) == ("b0a7f1x", "recovery")


@pytest.mark.parametrize("case,needle", [
    ("job-id", "applies to target=last_known_good only"),
    ("nothing-served", "has no successful build"),
    ("upload", "has no sourceUrl"),
    ("busy-no-wait", "re-run when it has ended (or with wait=true"),
])
def test_serving_bad_input_fails_clearly_without_mutating(sandbox, run_task, case, needle):
    extra = {}
    if case == "nothing-served":
        app_id = make_app(sandbox, True, domain=False, blue_jobs=[{"status": "FAILED", "minutes_ago": 30}])
    elif case == "upload":
        app_id = make_app(sandbox, False, domain=False, blue_jobs=[{"status": "SUCCEED", "minutes_ago": 30}])
    else:
        app_id = make_app(sandbox, True, domain=False)
    set_table(sandbox, app_id, "recovery")
    if case == "job-id":
        extra["job_id"] = "3"
    elif case == "busy-no-wait":
        sandbox.control("POST", "amplify/config", {"job_durations": {"RUNNING": 6000}})
        pushed = sandbox.control("POST", "amplify/push", {"app_id": app_id, "branch_name": BLUE})
        change_after_the_release_started(sandbox, app_id, pushed["jobId"], "recovery-2")
        extra["wait"] = False
    seq = sandbox.last_seq()
    run = run_task(rebuild(app_id, **extra))
    assert run.rc != 0 and run.failed_tasks == [REBUILD], run.stdout
    assert needle in run.result(REBUILD)["msg"]
    assert sandbox.mutating_since(seq) == []
    if case == "job-id":
        assert sandbox.requests(seq) == []  # refused before any AWS call
