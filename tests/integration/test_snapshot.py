"""playbooks/snapshot.yml (role rollback_snapshot, module rollback_snapshot_info) against the sandbox."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from sandbox.scenarios import propie_incident
from tests import emulated

STACK = propie_incident.STACK
TABLE = propie_incident.TABLE
SNAPSHOT_TASK = "Capture the environment's state"


def settle(cfn, name: str, wanted: str) -> None:
    """Wait for the stack's status, 5 emulated seconds between reads (a phase lasts 20)."""
    emulated.wait(cfn, lambda: cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"],
                  lambda status: status == wanted, f"stack {name} to reach {wanted}", step=5)


@pytest.fixture
def seeded(sandbox):
    """The PropIE estate mid-incident: the app, its jobs and domain, a failed stack, a PITR table."""
    sandbox.set_time_scale(0.01)
    amplify = sandbox.boto3_client("amplify")
    app_id = amplify.create_app(name=propie_incident.APP_NAME, platform="WEB",
                                repository="https://github.com/propie/prop-ie-aws-app",
                                accessToken="sandbox-token")["app"]["appId"]
    for branch in ("production", "green"):
        amplify.create_branch(appId=app_id, branchName=branch, stage="PRODUCTION")
    good = [{"status": "SUCCEED", "commitId": f"a1b2c3{n}", "commitMessage": f"Release 1.{n}",
             "jobType": "RELEASE", "minutes_ago": 60 * 24 * (5 - n)} for n in range(1, 5)]
    bad = {"status": "FAILED", "commitId": "f00dbad", "commitMessage": "Release 1.5",
           "jobType": "RELEASE", "minutes_ago": 45}
    sandbox.control("POST", "amplify/jobs", {"app_id": app_id, "branch_name": "production",
                                             "jobs": good + [bad]})
    sandbox.control("POST", "amplify/jobs", {"app_id": app_id, "branch_name": "green", "jobs": [
        {"status": "SUCCEED", "commitId": "9e9e9e1", "commitMessage": "Green 2.0",
         "jobType": "RELEASE", "minutes_ago": 20}]})
    amplify.create_domain_association(
        appId=app_id, domainName="prop-ie-app.com",
        subDomainSettings=[{"prefix": "", "branchName": "green"}, {"prefix": "www", "branchName": "green"}])

    cfn = sandbox.boto3_client("cloudformation")
    body = json.dumps(propie_incident.STACK_TEMPLATE)
    cfn.create_stack(StackName=STACK, TemplateBody=body, Tags=[{"Key": "app", "Value": "prop-ie"}],
                     Parameters=[{"ParameterKey": "SchemaVersion", "ParameterValue": "41"}])
    settle(cfn, STACK, "CREATE_COMPLETE")
    sandbox.control("POST", "cloudformation/next-update", {
        "stack_name": STACK, "outcome": "UPDATE_ROLLBACK_FAILED",
        "failed_resources": ["ResolverConfigParameter"]})
    cfn.update_stack(StackName=STACK, TemplateBody=body, Tags=[{"Key": "app", "Value": "prop-ie"}],
                     Parameters=[{"ParameterKey": "SchemaVersion", "ParameterValue": "42"},
                                 {"ParameterKey": "ResolverTimeoutMs", "ParameterValue": "100"}])
    settle(cfn, STACK, "UPDATE_ROLLBACK_FAILED")

    ddb = sandbox.boto3_client("dynamodb")
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    ddb.update_continuous_backups(TableName=TABLE,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    # Past the restorable window's lag (300 emulated s): the window is wider than its first
    # second however fast the snapshot comes.
    sandbox.advance(600)
    return {"app_id": app_id}


def snapshot_files(directory):
    return sorted(p.name for p in directory.glob("*.json") if p.name != "latest.json")


def test_snapshot_captures_stacks_amplify_and_tables(sandbox, seeded, run_playbook, tmp_path):
    directory = tmp_path / "snaps"
    extravars = {"env": "sandbox", "rollback_snapshot_dir": str(directory)}

    # Check mode reads AWS but writes neither AWS nor a file.
    seq = sandbox.last_seq()
    run = run_playbook("playbooks/snapshot.yml", extravars=extravars, check=True)
    assert run.rc == 0, run.stdout
    assert run.result(SNAPSHOT_TASK)["snapshot"]["stacks"][STACK]["status"] == "UPDATE_ROLLBACK_FAILED"
    assert not directory.exists()
    assert sandbox.mutating_since(seq) == []

    run = run_playbook("playbooks/snapshot.yml", extravars=extravars)
    assert run.rc == 0, run.stdout
    assert sandbox.mutating_since(seq) == []
    files = snapshot_files(directory)
    assert len(files) == 1
    latest = directory / "latest.json"
    assert latest.is_symlink() and os.readlink(latest) == files[0]
    assert oct((directory / files[0]).stat().st_mode & 0o777) == "0o640"
    doc = json.loads(latest.read_text())
    assert doc["env"] == "sandbox" and doc["format"] == 1 and doc["region"] == "us-east-1"
    assert files[0] == doc["snapshot_id"] + ".json"
    taken = dt.datetime.fromisoformat(doc["taken_at"])
    assert abs((dt.datetime.now(dt.timezone.utc) - taken).total_seconds()) < 120

    stack = doc["stacks"][STACK]
    assert stack["exists"] is True
    assert (stack["status"], stack["healthy"]) == ("UPDATE_ROLLBACK_FAILED", False)
    assert doc["healthy"] is False
    assert json.loads(stack["template_body"]) == propie_incident.STACK_TEMPLATE
    assert {p["key"]: p["value"] for p in stack["parameters"]}["SchemaVersion"] in ("41", "42")
    assert stack["tags"] == {"app": "prop-ie"}
    assert stack["stack_id"].startswith("arn:aws:cloudformation:us-east-1:")

    amplify = doc["amplify"]
    assert amplify["app_id"] == seeded["app_id"]
    blue = amplify["branches"]["production"]
    assert blue["exists"] is True
    assert blue["latest_job"]["status"] == "FAILED" and blue["latest_job"]["commit_id"] == "f00dbad"
    assert blue["last_successful_job"]["status"] == "SUCCEED"
    assert blue["last_successful_job"]["is_rollback"] is False  # classified as amplify_job_info does
    assert blue["last_successful_job"]["commit_id"] == "a1b2c34"  # Release 1.4, the newest good build
    assert amplify["branches"]["green"]["last_successful_job"]["commit_id"] == "9e9e9e1"
    domain = amplify["domain"]
    assert domain["exists"] is True and domain["domain_name"] == "prop-ie-app.com"
    assert domain["sub_domains"] == {"": "green", "www": "green"}

    table = doc["tables"][TABLE]
    assert table["exists"] is True and table["pitr_status"] == "ENABLED"
    latest_restorable = dt.datetime.fromisoformat(table["latest_restorable_time"])
    earliest = dt.datetime.fromisoformat(table["earliest_restorable_time"])
    assert earliest < latest_restorable <= sandbox.now() + dt.timedelta(seconds=5)

    result = run.result("Record where the snapshot went")["ansible_facts"]["rollback_snapshot_result"]
    assert result["id"] == doc["snapshot_id"] and result["healthy"] is False
    assert result["stacks"] == {STACK: "UPDATE_ROLLBACK_FAILED"}

    # A second run adds a second snapshot and moves latest to it.
    run = run_playbook("playbooks/snapshot.yml", extravars=extravars)
    assert run.rc == 0, run.stdout
    files = snapshot_files(directory)
    assert len(files) == 2
    assert os.readlink(latest) == files[-1]


def test_snapshot_records_missing_resources_and_healthy_stacks(sandbox, run_playbook, tmp_path):
    sandbox.set_time_scale(0.01)
    cfn = sandbox.boto3_client("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(propie_incident.STACK_TEMPLATE),
                     Parameters=[{"ParameterKey": "SchemaVersion", "ParameterValue": "41"}])
    settle(cfn, STACK, "CREATE_COMPLETE")
    run = run_playbook("playbooks/snapshot.yml",
                       extravars={"env": "sandbox", "rollback_snapshot_dir": str(tmp_path),
                                  "rollback_snapshot_stacks": [STACK, "prop-ie-missing-stack"]})
    assert run.rc == 0, run.stdout
    res = run.result(SNAPSHOT_TASK)
    doc = res["snapshot"]
    assert doc["stacks"][STACK]["healthy"] is True
    assert doc["stacks"]["prop-ie-missing-stack"] == {
        "stack_name": "prop-ie-missing-stack", "exists": False, "status": None, "healthy": False}
    assert doc["healthy"] is False
    # No app and no table were seeded: recorded as missing, with warnings.
    assert doc["amplify"]["branches"]["production"]["exists"] is False
    assert doc["amplify"]["domain"]["exists"] is False
    assert doc["tables"][TABLE]["exists"] is False
    warnings = " ".join(res.get("warnings", []))
    assert "prop-ie-missing-stack does not exist" in warnings and TABLE in warnings


def test_unknown_env_is_refused_with_the_known_ones(sandbox, run_playbook, tmp_path):
    seq = sandbox.last_seq()
    run = run_playbook("playbooks/snapshot.yml",
                       extravars={"env": "prodution", "rollback_snapshot_dir": str(tmp_path / "s")})
    assert run.rc != 0
    assert "prodution" in run.stdout
    for env in ("production", "sandbox", "staging"):
        assert env in run.stdout
    assert sandbox.requests(seq) == []
    assert not (tmp_path / "s").exists()


def test_snapshot_is_uploaded_to_s3_when_a_bucket_is_set(sandbox, seeded, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket="prop-ie-rollback-snapshots")
    run = run_playbook("playbooks/snapshot.yml",
                       extravars={"env": "sandbox", "rollback_snapshot_dir": str(tmp_path),
                                  "rollback_snapshot_bucket": "prop-ie-rollback-snapshots"})
    assert run.rc == 0, run.stdout
    snapshot_id = json.loads((tmp_path / "latest.json").read_text())["snapshot_id"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="prop-ie-rollback-snapshots")["Contents"])
    assert keys == [f"snapshots/sandbox/{snapshot_id}.json", "snapshots/sandbox/latest.json"]
    body = s3.get_object(Bucket="prop-ie-rollback-snapshots", Key="snapshots/sandbox/latest.json")["Body"]
    assert json.loads(body.read())["snapshot_id"] == snapshot_id


def test_snapshot_survives_throttling(sandbox, seeded, run_playbook, tmp_path):
    for service, operation in (("cloudformation", "GetTemplate"), ("amplify", "ListJobs"),
                               ("dynamodb", "DescribeContinuousBackups")):
        sandbox.add_fault(service=service, operation=operation, error_code="ThrottlingException",
                          http_status=400, count=2)
    run = run_playbook("playbooks/snapshot.yml",
                       extravars={"env": "sandbox", "rollback_snapshot_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout
    assert len([r for r in sandbox.requests() if r["error_code"] == "ThrottlingException"]) == 6
    assert json.loads((tmp_path / "latest.json").read_text())["tables"][TABLE]["exists"] is True


def test_module_writes_whole_files_and_moves_latest_check_mode_writes_nothing(sandbox, seeded, run_module, tmp_path):
    """rollback_snapshot in-process: check mode and diff, the directory's and file's modes whatever
    the umask, latest.json a relative link moved by a rename, earlier snapshots kept."""
    directory = tmp_path / "a" / "snaps"
    args = {"env": "sandbox", "path": str(directory), "stacks": [STACK], "dynamodb_tables": [TABLE]}
    seq = sandbox.last_seq()
    preview = run_module("rollback_snapshot", args, check=True, diff=True).result()
    assert preview["changed"] is True and not (tmp_path / "a").exists()
    assert preview["path"] == str(directory / (preview["snapshot"]["snapshot_id"] + ".json"))
    assert preview["diff"] == {"before": {"latest": None}, "after": {"latest": preview["snapshot"]["snapshot_id"]}}

    old_umask = os.umask(0o077)
    try:
        first = run_module("rollback_snapshot", args, diff=True).result()
    finally:
        os.umask(old_umask)
    assert first["changed"] is True and first["latest"] == str(directory / "latest.json")
    assert oct(directory.stat().st_mode & 0o777) == "0o750" and oct((tmp_path / "a").stat().st_mode & 0o777) == "0o750"
    assert oct(os.stat(first["path"]).st_mode & 0o777) == "0o640"
    assert json.loads(open(first["path"]).read()) == first["snapshot"]
    assert first["snapshot"]["stacks"][STACK]["status"] == "UPDATE_ROLLBACK_FAILED"

    second = run_module("rollback_snapshot", args, diff=True).result()
    assert second["diff"]["before"]["latest"] == first["snapshot"]["snapshot_id"]
    assert snapshot_files(directory) == sorted([os.path.basename(first["path"]), os.path.basename(second["path"])])
    assert os.readlink(directory / "latest.json") == os.path.basename(second["path"])
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith(".")) == []  # no temporary left
    assert sandbox.mutating_since(seq) == []  # read-only towards AWS


def test_module_refuses_a_path_that_is_a_file_before_reading_aws(sandbox, run_module, tmp_path):
    not_a_dir = tmp_path / "snaps"
    not_a_dir.write_text("x")
    seq = sandbox.last_seq()
    res = run_module("rollback_snapshot", {"env": "sandbox", "path": str(not_a_dir), "stacks": [STACK]}).result()
    assert res["failed"] and f"path {not_a_dir} is not a directory" in res["msg"]
    assert sandbox.requests(seq) == [] and not_a_dir.read_text() == "x"
