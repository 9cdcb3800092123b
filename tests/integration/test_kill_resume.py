"""Killed per-procedure playbooks resume with the command they printed and make nothing twice.

dynamodb_rollback.yml with restore_point=latest: `latest` is resolved and the recovery table
named from the rollback id before the restore call, so a re-run adopts the table a killed run
started instead of restoring again. amplify_rollback.yml killed while its build runs: the re-run
waits for that build instead of starting another.
"""

from __future__ import annotations

import pytest

from sandbox.scenarios import propie_incident as incident
from tests.integration.killed import kill_at
from tests.integration.test_dynamodb_playbook import _everywhere, _live_build, _swap_targets
from tests.integration.test_rollback_playbook import APP_ID, _estate, _ops, _seed


def _repaired(sandbox) -> None:
    """The seeded incident with its data put right again: a restore to `latest` is then good
    (the verification checks the count and the canaries), as when a table is rebuilt at its
    newest state after a schema or capacity mistake."""
    _seed(sandbox)
    ddb = sandbox.boto3_client("dynamodb")
    for n in range(incident.GOOD_ITEMS):
        ddb.put_item(TableName=incident.TABLE, Item={
            "pk": {"S": f"PROPERTY#{n:04d}"}, "sk": {"S": "DETAILS"},
            "price": {"N": str(250_000 + n * 1000)}, "status": {"S": "FOR_SALE"}})


def _recovery_tables(sandbox) -> list[str]:
    return [t for t in sandbox.boto3_client("dynamodb").list_tables()["TableNames"] if "-pitr-" in t]


# During the restore wait; mid-swap (SSM written, the others not yet); during the Amplify
# rebuild that makes the frontend read the recovery table.
@pytest.mark.parametrize("operation", ["RestoreTableToPointInTime", "PutParameter", "StartJob"])
def test_dynamodb_latest_killed_then_resumed_restores_once(sandbox, tmp_path, run_printed, operation):
    _repaired(sandbox)
    seq = sandbox.last_seq()
    resume = kill_at(sandbox, tmp_path, "playbooks/dynamodb_rollback.yml",
                     ["env=sandbox", "restore_point=latest"], operation)
    assert "rollback_id=rb-" in resume and "restore_point=latest" in resume, resume
    if operation == "RestoreTableToPointInTime":  # killed while the restore runs
        (started,) = _recovery_tables(sandbox)
        assert sandbox.boto3_client("dynamodb").describe_table(TableName=started)["Table"]["TableStatus"] == "CREATING"
    again = run_printed(resume)
    assert again.returncode == 0, again.stdout[-6000:]
    ops = _ops(sandbox, seq)
    assert ops.count("RestoreTableToPointInTime") == 1, ops
    tables = _recovery_tables(sandbox)
    assert len(tables) == 1, tables
    rid = resume.split("rollback_id=", 1)[1].split()[0].strip("'\"")
    assert tables[0] == f"{incident.TABLE}-pitr-{rid}"
    assert _swap_targets(sandbox) == _everywhere(tables[0])
    assert ops.count("StartJob") == 1, ops  # one rebuild of the serving build, whoever started it
    assert _live_build(sandbox)["environmentVariables"]["DATA_TABLE_NAME"] == tables[0]


def test_amplify_killed_during_the_build_wait_resumes_without_a_second_job(sandbox, tmp_path, run_printed):
    _seed(sandbox)
    seq = sandbox.last_seq()
    resume = kill_at(sandbox, tmp_path, "playbooks/amplify_rollback.yml", ["env=sandbox"], "StartJob")
    jobs = sandbox.boto3_client("amplify").list_jobs(appId=APP_ID, branchName="production")["jobSummaries"]
    started = max(jobs, key=lambda j: int(j["jobId"]))
    assert started["status"] in ("PENDING", "PROVISIONING", "RUNNING"), started  # killed while it builds
    again = run_printed(resume)
    assert again.returncode == 0, again.stdout[-6000:]
    ops = _ops(sandbox, seq)
    assert ops.count("StartJob") == 1, ops
    after = _estate(sandbox)
    assert after["live_job"] == started["jobId"], after
    assert after["traffic"] == {"": "production", "www": "production"}, after
