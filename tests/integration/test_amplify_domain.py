"""amplify_domain, run in-process against the sandbox (run_task).

Its wiring in playbooks is tested by the role and procedure tests.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.integration.test_amplify_helpers import BLUE, DOMAIN, FAST, GREEN, make_app, mapping, operations, task

TASK = "Point the domain at production"


def switch(app_id: str, **extra) -> str:
    args = {"app_id": app_id, "domain_name": DOMAIN,
            "sub_domains": [{"prefix": "", "branch_name": BLUE}, {"prefix": "www", "branch_name": BLUE}],
            **FAST, **extra}
    return task(TASK, "propie.rollback.amplify_domain", args)


@pytest.mark.parametrize("repository", [True, False], ids=["repo-app", "manual-app"])
def test_switch_check_apply_reapply(sandbox, run_task, repository):
    app_id = make_app(sandbox, repository)
    play = switch(app_id)

    seq = sandbox.last_seq()
    run = run_task(play, check=True, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert res["changed"] is True and res["verified"] is False
    assert res["mapping"] == {"": BLUE, "www": BLUE, "beta": GREEN}
    assert res["diff"]["before"]["sub_domains"] == {DOMAIN: GREEN, "www." + DOMAIN: GREEN, "beta." + DOMAIN: GREEN}
    assert res["diff"]["after"]["sub_domains"]["www." + DOMAIN] == BLUE
    assert sandbox.mutating_since(seq) == []
    assert mapping(sandbox, app_id)[""] == GREEN

    seq = sandbox.last_seq()
    run = run_task(play, diff=True)
    assert run.rc == 0, run.stdout
    res = run.result(TASK)
    assert res["changed"] is True and res["verified"] is True
    assert res["before"] == {"": GREEN, "www": GREEN, "beta": GREEN}
    assert res["mapping"] == {"": BLUE, "www": BLUE, "beta": GREEN}  # beta kept: not asked about
    assert res["changed_prefixes"] == ["", "www"]
    assert res["domain_status"] == "AVAILABLE"
    assert res["progress"]["after"][-1]["status"] == "AVAILABLE"
    assert operations(sandbox, seq, mutating=True) == ["UpdateDomainAssociation"]
    assert mapping(sandbox, app_id) == {"": BLUE, "www": BLUE, "beta": GREEN}

    for check in (True, False):
        seq = sandbox.last_seq()
        run = run_task(play, check=check, diff=True)
        assert run.rc == 0, run.stdout
        res = run.result(TASK)
        assert res["changed"] is False and res["verified"] is True
        assert "diff" not in res or res["diff"]["before"] == res["diff"]["after"]
        assert sandbox.mutating_since(seq) == []


def test_purge_removes_other_sub_domains(sandbox, run_task):
    app_id = make_app(sandbox, True)
    run = run_task(switch(app_id, purge_sub_domains=True))
    assert run.rc == 0, run.stdout
    assert run.result(TASK)["changed_prefixes"] == ["", "beta", "www"]
    assert mapping(sandbox, app_id) == {"": BLUE, "www": BLUE}


def test_waits_for_an_updating_domain_before_updating(sandbox, run_task):
    app_id = make_app(sandbox, True)
    hold = {"app_id": app_id, "domain_name": DOMAIN}
    sandbox.control("POST", "amplify/domain-status", {**hold, "status": "UPDATING"})
    seq = sandbox.last_seq()

    def release() -> None:
        # Settle only after two reads: whether or not the module reads the domain once before
        # its wait loop, its wait has then seen UPDATING at least once.
        while operations(sandbox, seq).count("GetDomainAssociation") < 2:
            time.sleep(0.05)  # a real poll of the request log: the module runs in the test's main thread
        sandbox.control("POST", "amplify/domain-status", {**hold, "status": "AVAILABLE"})

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    run = run_task(switch(app_id))
    releaser.join(timeout=5)
    assert run.rc == 0, run.stdout
    ops = operations(sandbox, seq)
    assert ops.index("UpdateDomainAssociation") > 1  # only after more than one read
    res = run.result(TASK)
    assert [p["status"] for p in res["progress"]["before"]] == ["UPDATING", "AVAILABLE"]
    assert res["verified"] is True and mapping(sandbox, app_id)[""] == BLUE


@pytest.mark.parametrize("case,needle", [
    ("app", "Amplify app 'dnosuchapp0000' does not exist"),
    ("domain", "has no domain association 'example.org'"),
    ("branch", "has no branch 'blue-old'; a sub-domain cannot point at a missing branch"),
    ("stuck", "timed out after 3s waiting for domain prop-ie-app.com to become AVAILABLE before the update (nothing was changed)"),
])
def test_bad_input_fails_clearly_without_mutating(sandbox, run_task, case, needle):
    app_id = make_app(sandbox, True)
    extra = {"wait_timeout": 3}
    if case == "app":
        app_id = "dnosuchapp0000"
    elif case == "domain":
        extra["domain_name"] = "example.org"
    elif case == "branch":
        extra["sub_domains"] = [{"prefix": "www", "branch_name": "blue-old"}]
    else:
        sandbox.control("POST", "amplify/domain-status",
                        {"app_id": app_id, "domain_name": DOMAIN, "status": "UPDATING"})
    seq = sandbox.last_seq()
    run = run_task(switch(app_id, **extra))
    assert run.rc != 0 and run.failed_tasks == [TASK]
    assert needle in run.result(TASK)["msg"]
    assert sandbox.mutating_since(seq) == []


def test_throttling_is_retried(sandbox, run_task):
    app_id = make_app(sandbox, True)
    for op in ("GetDomainAssociation", "GetBranch", "UpdateDomainAssociation"):
        sandbox.add_fault(service="amplify", operation=op, error_code="ThrottlingException",
                          http_status=400, count=2)
    seq = sandbox.last_seq()
    run = run_task(switch(app_id))
    assert run.rc == 0, run.stdout
    assert run.result(TASK)["verified"] is True
    faults = [r["operation"] for r in sandbox.requests(seq) if r["fault"]]
    assert sorted(set(faults)) == ["GetBranch", "GetDomainAssociation", "UpdateDomainAssociation"]
    assert len(faults) == 6
