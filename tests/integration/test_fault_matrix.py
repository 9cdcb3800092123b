"""The fault matrix: every AWS operation the one-command rollback makes, under throttling, a
5xx twice, and a lost response (the call completes in AWS, the client times out).

The operations come from a fault-free run of the seeded incident (the collection's own calls,
from the sandbox's request log). Each fault kind is one run in which every operation meets
that fault (rules counted per operation, so each operation's first calls are hit), which keeps
the matrix to four playbook runs however many operations there are. A cell passes when its
fault was injected and the run still ended in the correct state with exactly the same number
of successful non-idempotent calls as the fault-free run.
"""

from __future__ import annotations

import json
from collections import Counter

from tests.integration.test_rollback_playbook import PLAYBOOK, _estate, _seed

# Calls whose repetition would do something twice (a second build, restore, stack action or
# parameter version); each must succeed in AWS exactly as often as in the fault-free run.
# (UpdateBranch, UpdateDomainAssociation, UpdateDataSource set a state: a repeat changes
# nothing. SNS Publish on a standard topic cannot be read back: a lost answer is repeated, a
# duplicate alert rather than none.)
NON_IDEMPOTENT = {"StartJob", "StartDeployment", "RestoreTableToPointInTime", "UpdateStack", "ContinueUpdateRollback",
                  "CancelUpdateStack", "RollbackStack", "PutParameter", "UpdateFunctionConfiguration"}
# Query-protocol services name throttling "Throttling"; JSON ones "ThrottlingException".
QUERY_SERVICES = {"cloudformation", "sns", "cloudwatch", "sqs", "iam", "sts"}
READ_TIMEOUT = 1  # seconds, the client's; a lost response is an answer later than this
FAULTS = {
    "throttling": lambda service: {"error_code": "Throttling" if service in QUERY_SERVICES else "ThrottlingException",
                                   "http_status": 400, "message": "Rate exceeded", "count": 1},
    "5xx twice": lambda service: {"error_code": "InternalFailure", "http_status": 500,
                                  "message": "We encountered an internal error", "count": 2},
    # The call is made, its answer held past the client's read timeout (by a margin a loaded
    # machine's scheduling cannot eat; every operation waits it out once, so it is kept short).
    "lost response": lambda service: {"response_delay_ms": READ_TIMEOUT * 1000 + 700, "count": 1},
}


def _run(sandbox, run_playbook, point):
    return run_playbook(PLAYBOOK, extravars={"env": "sandbox", "restore_point": point,
                                             "rollback_aws_config": {"read_timeout": READ_TIMEOUT}})


def _done(sandbox, seq):
    """Successful executions in AWS (the sandbox answered 2xx, whether or not the client heard it)."""
    return Counter(r["operation"] for r in sandbox.requests(seq)
                   if r["operation"] in NON_IDEMPOTENT and r.get("status", 200) < 400 and not r.get("fault"))


def _correct(state) -> bool:
    return (state["traffic"] == {"": "production", "www": "production"} and state["stack"] == "UPDATE_ROLLBACK_COMPLETE"
            and "-pitr-" in state["table"] and state["live_table"] == state["table"])


def test_every_operation_under_every_fault_ends_correct_and_exactly_once(sandbox, run_playbook, capsys):
    point = _seed(sandbox)
    seq = sandbox.last_seq()
    clean = _run(sandbox, run_playbook, point)
    assert clean.rc == 0, clean.stdout
    operations = sorted({(r["service"], r["operation"]) for r in sandbox.requests(seq)})
    expected = _done(sandbox, seq)
    assert expected["RestoreTableToPointInTime"] == 1 and expected["StartJob"] >= 1, expected
    assert _correct(_estate(sandbox))

    cells, passed, failures = 0, 0, []
    for fault, rule_of in FAULTS.items():
        sandbox.reset()
        point = _seed(sandbox)
        rules = {op: sandbox.add_fault(service=op[0], operation=op[1], **rule_of(op[0])) for op in operations}
        seq = sandbox.last_seq()
        run = _run(sandbox, run_playbook, point)
        # A counted rule is dropped once used up; one still there has not (fully) fired.
        left = {r["id"]: r["matched"] for r in sandbox.control("GET", "faults")["faults"]}
        done = _done(sandbox, seq)
        sandbox.clear_faults()
        state = _estate(sandbox)
        ok_run = run.rc == 0 and _correct(state) and done == expected
        if not ok_run:
            failures.append({"fault": fault, "rc": run.rc, "state": state, "done": dict(done),
                             "expected": dict(expected), "failed_tasks": run.failed_tasks,
                             "errors": [line for line in run.stdout.splitlines() if "fatal:" in line or '"msg"' in line
                                        or "FAILED!" in line][:20]})
        for op, rule in rules.items():
            cells += 1
            if left.get(rule["id"], 1) == 0:
                failures.append({"fault": fault, "operation": op, "why": "never injected"})
            elif ok_run:
                passed += 1
    with capsys.disabled():
        print("\nfault matrix: %d operations x %d faults = %d cells, %d passed" % (
            len(operations), len(FAULTS), cells, passed))
    assert passed == cells == len(operations) * len(FAULTS), json.dumps(failures, indent=1, default=str)[:20000]
