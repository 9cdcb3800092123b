"""DynamoDB point-in-time rollback against the sandbox: restore, re-apply, verify, swap, swap back.

The restore and verify modules run in-process (run_task); the role runs through ansible-playbook.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest

from tests.integration.test_amplify_helpers import BLUE, make_app

SOURCE = "prop-ie-test-data"
RID = "rb-20261130T034501Z-9f2c1a"
FUNCTION = "prop-ie-api"
PARAM = "/prop-ie/test/data-table"
SECURE = "/prop-ie/test/data-table-secure"


def _item(n: int, status: str) -> dict:
    return {"pk": {"S": f"P#{n:03d}"}, "status": {"S": status}, "price": {"N": str(1000 + n)}}


@pytest.fixture
def estate(sandbox):
    """A provisioned table with PITR, TTL, tags, stream, deletion protection and auto scaling;
    40 good items written 30 min ago, then 10 of them corrupted and 5 deleted just now."""
    sandbox.set_time_scale(0.01)
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": 120})
    ddb = sandbox.boto3_client("dynamodb")
    ddb.create_table(
        TableName=SOURCE, BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "status", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "byStatus", "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        DeletionProtectionEnabled=True, Tags=[{"Key": "app", "Value": "prop-ie"}],
    )
    ddb.update_time_to_live(TableName=SOURCE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    sandbox.control("POST", "dynamodb/backdate", {"seconds": 3600})
    ddb.update_continuous_backups(TableName=SOURCE,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    sandbox.control("POST", "dynamodb/backdate", {"seconds": 1800})
    for n in range(40):
        ddb.put_item(TableName=SOURCE, Item=_item(n, "GOOD"))
    sandbox.control("POST", "dynamodb/backdate", {"seconds": 0})
    for n in range(10):
        ddb.put_item(TableName=SOURCE, Item=_item(n, "CORRUPTED"))
    for n in range(10, 15):
        ddb.delete_item(TableName=SOURCE, Key={"pk": {"S": f"P#{n:03d}"}})
    aas = sandbox.boto3_client("application-autoscaling")
    for dim in ("ReadCapacityUnits", "WriteCapacityUnits"):
        aas.register_scalable_target(ServiceNamespace="dynamodb", ResourceId=f"table/{SOURCE}",
                                     ScalableDimension=f"dynamodb:table:{dim}", MinCapacity=5, MaxCapacity=40)
        aas.put_scaling_policy(
            PolicyName=f"{dim}-target", ServiceNamespace="dynamodb", ResourceId=f"table/{SOURCE}",
            ScalableDimension=f"dynamodb:table:{dim}", PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 70.0, "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "DynamoDB" + dim.replace("CapacityUnits", "CapacityUtilization")}})
    good_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=15)
    return {"point": good_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "target": f"{SOURCE}-pitr-{good_at:%Y%m%dT%H%M%SZ}"}


def _restore_play(point: str, extra: str = "") -> str:
    return f"""
- name: Restore
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Restore the table
      propie.rollback.dynamodb_pitr_restore:
        source_table: {SOURCE}
        restore_point: "{point}"
        rollback_id: {RID}
        wait_delay: 1
{extra}
"""


def _statuses(items: list[dict]) -> dict[str, str]:
    return {i["pk"]["S"]: i["status"]["S"] for i in items}


def test_restore_returns_past_data_reapplies_settings_and_is_idempotent(sandbox, run_task, estate):
    play = _restore_play(estate["point"])
    seq = sandbox.last_seq()
    check = run_task(play, check=True, diff=True)
    assert check.rc == 0, check.stdout
    planned = check.result("Restore the table")
    assert planned["changed"] and planned["restored"] and planned["status"] == "absent"
    assert planned["target_table"] == estate["target"]
    assert {k: v["status"] for k, v in planned["reapplied"].items()} == {
        "pitr": "would_apply", "ttl": "would_apply", "tags": "would_apply", "stream": "would_apply",
        "deletion_protection": "would_apply", "resource_policy": "not_set", "autoscaling": "would_apply"}
    assert planned["diff"]["before"] == {"table": None}
    assert sandbox.mutating_since(seq) == []

    run = run_task(play)
    assert run.rc == 0, run.stdout
    res = run.result("Restore the table")
    assert res["changed"] and res["restored"] and res["status"] == "ACTIVE"
    assert res["restore_date_time"] == estate["point"]
    assert [p["status"] for p in res["progress"]][0].startswith("CREATING")
    assert all(v["status"] in ("applied", "not_set") for v in res["reapplied"].values())

    ddb = sandbox.boto3_client("dynamodb")
    items = ddb.scan(TableName=estate["target"])["Items"]
    assert len(items) == 40 and set(_statuses(items).values()) == {"GOOD"}  # the past, not today
    assert len(ddb.scan(TableName=SOURCE)["Items"]) == 35  # the source is untouched
    table = ddb.describe_table(TableName=estate["target"])["Table"]
    assert "SSEDescription" not in table  # the AWS owned key, as the source (issue 11: encryption is kept)
    assert res["sse"]["choice"] == "source" and res["sse"]["override"] is None and res["sse"]["matches"]
    assert table["DeletionProtectionEnabled"] is True
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert ddb.describe_time_to_live(TableName=estate["target"])["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    pitr = ddb.describe_continuous_backups(TableName=estate["target"])["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]}
    assert tags["app"] == "prop-ie" and tags["propie-rollback:rollback-id"] == RID
    aas = sandbox.boto3_client("application-autoscaling")
    targets = aas.describe_scalable_targets(ServiceNamespace="dynamodb",
                                            ResourceIds=[f"table/{estate['target']}"])["ScalableTargets"]
    assert sorted((t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"]) for t in targets) == [
        ("dynamodb:table:ReadCapacityUnits", 5, 40), ("dynamodb:table:WriteCapacityUnits", 5, 40)]
    policies = aas.describe_scaling_policies(ServiceNamespace="dynamodb",
                                             ResourceId=f"table/{estate['target']}")["ScalingPolicies"]
    assert sorted(p["PolicyName"] for p in policies if p["ResourceId"] == f"table/{estate['target']}") == [
        "ReadCapacityUnits-target", "WriteCapacityUnits-target"]

    seq = sandbox.last_seq()
    again = run_task(play, check=True, diff=True)
    assert again.rc == 0 and not again.result("Restore the table")["changed"], again.stdout
    assert sandbox.mutating_since(seq) == []
    rerun = run_task(play)
    res = rerun.result("Restore the table")
    assert rerun.rc == 0 and not res["changed"] and res["resumed"] and not res["restored"]
    assert {v["status"] for v in res["reapplied"].values()} <= {"unchanged", "not_set"}
    assert sandbox.mutating_since(seq) == []


def test_restore_without_wait_then_rerun_resumes(sandbox, run_task, estate):
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": 600})
    first = run_task(_restore_play(estate["point"], "        wait: false"))
    res = first.result("Restore the table")
    assert first.rc == 0 and res["restored"] and res["status"] == "CREATING"
    assert {v["status"] for v in res["reapplied"].values()} == {"pending"}
    seq = sandbox.last_seq()
    second = run_task(_restore_play(estate["point"]))
    res = second.result("Restore the table")
    assert second.rc == 0 and res["resumed"] and not res["restored"] and res["status"] == "ACTIVE"
    ops = [r["operation"] for r in sandbox.mutating_since(seq)]
    assert "RestoreTableToPointInTime" not in ops and "UpdateContinuousBackups" in ops


def test_restore_retries_throttling(sandbox, run_task, estate):
    sandbox.add_fault(service="dynamodb", operation="RestoreTableToPointInTime",
                      error_code="ThrottlingException", http_status=400, count=2)
    run = run_task(_restore_play(estate["point"]))
    assert run.rc == 0, run.stdout
    restores = [r for r in sandbox.requests() if r["operation"] == "RestoreTableToPointInTime"]
    assert [r["status"] for r in restores] == [400, 400, 200]


@pytest.mark.parametrize("case", ["pitr_off", "too_early", "future", "after_latest", "missing_source",
                                  "foreign_target", "bad_time"])
def test_bad_input_fails_clearly_without_mutating(sandbox, run_task, estate, case):
    ddb = sandbox.boto3_client("dynamodb")
    now = dt.datetime.now(dt.timezone.utc)
    source, point, expect = SOURCE, estate["point"], ""
    if case == "pitr_off":
        ddb.create_table(TableName="no-pitr", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        source, expect = "no-pitr", "point-in-time recovery is DISABLED"
    elif case == "too_early":
        point, expect = (now - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), "before the earliest"
    elif case == "future":
        point, expect = (now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "in the future"
    elif case == "after_latest":
        sandbox.set_time_scale(1.0)  # latest restorable = now - 300 s
        point, expect = (now - dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ"), "after the latest restorable"
    elif case == "missing_source":
        source, expect = "no-such-table", "does not exist"
    elif case == "foreign_target":
        ddb.create_table(TableName=estate["target"], BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        expect = "is not a restore"
    elif case == "bad_time":
        point, expect = "yesterday-ish", "neither 'latest' nor an ISO-8601 time"
    play = _restore_play(point).replace(f"source_table: {SOURCE}", f"source_table: {source}")
    seq = sandbox.last_seq()
    run = run_task(play)
    assert run.rc != 0
    msg = run.result("Restore the table")["msg"]
    assert expect in msg and "nothing was changed" in msg.lower(), msg
    assert sandbox.mutating_since(seq) == []


def _verify_play(table: str, extra: str = "") -> str:
    return f"""
- name: Verify
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Verify the table
      propie.rollback.dynamodb_table_verify:
        table: {table}
        source_table: {SOURCE}
{extra}
"""


def test_verify_passes_on_the_restore_and_catches_a_wrong_table(sandbox, run_task, estate):
    assert run_task(_restore_play(estate["point"])).rc == 0
    canaries = """        min_item_count: 40
        canaries:
          - key: {pk: "P#012"}
          - key: {pk: "P#001"}
            attributes: {status: GOOD, price: 1001}
        source_sample_size: 40
        source_min_match_ratio: 0.5
"""
    seq = sandbox.last_seq()
    good = run_task(_verify_play(estate["target"], canaries), check=True)
    res = good.result("Verify the table")
    assert good.rc == 0 and res["ok"] and not res["changed"], good.stdout
    assert [c["name"] for c in res["checks"]] == ["status", "key_schema", "indexes", "item_count",
                                                  "canaries", "source_sample"]
    assert res["item_count"]["value"] == 40 and not res["item_count"]["estimated"]
    assert res["source_sample"]["identical"] == 25 and res["source_sample"]["different"] == 10
    assert sandbox.mutating_since(seq) == []

    # Today's (corrupted) table is the wrong one: canaries and the count catch it.
    wrong = run_task(_verify_play(SOURCE, canaries))
    assert wrong.rc != 0
    res = wrong.result("Verify the table")
    failed = {c["name"] for c in res["checks"] if not c["ok"]}
    assert failed == {"item_count", "canaries"}, res["checks"]
    assert "failed verification" in res["msg"] and "P#012" in res["msg"]

    # A table with another key schema and no index.
    ddb = sandbox.boto3_client("dynamodb")
    ddb.create_table(TableName="other", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
    other = run_task(_verify_play("other"))
    failed = {c["name"] for c in other.result("Verify the table")["checks"] if not c["ok"]}
    assert other.rc != 0 and failed == {"key_schema", "indexes"}


def test_verify_sampled_count_is_bounded(sandbox, run_task, estate):
    run = run_task(_verify_play(SOURCE, """        count: sample
        sample_items: 8
        sample_segments: 2
"""))
    count = run.result("Verify the table")["item_count"]
    assert run.rc == 0, run.stdout
    assert count["method"] == "sample" and count["estimated"]
    assert count["total_segments"] > count["segments_scanned"] == 2
    assert count["items_scanned"] < 35


# ---------------------------------------------------------------------------
# The role: restore -> verify -> swap -> swap back
# ---------------------------------------------------------------------------


def _app_config(sandbox) -> None:
    iam = sandbox.boto3_client("iam")
    role = iam.create_role(RoleName="prop-ie-api", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return 1\n")
    sandbox.boto3_client("lambda").create_function(
        FunctionName=FUNCTION, Runtime="python3.11", Role=role, Handler="index.handler",
        Code={"ZipFile": buf.getvalue()},
        Environment={"Variables": {"DATA_TABLE_NAME": SOURCE, "LOG_LEVEL": "info"}})
    ssm = sandbox.boto3_client("ssm")
    ssm.put_parameter(Name=PARAM, Value=SOURCE, Type="String")
    ssm.put_parameter(Name=SECURE, Value=SOURCE, Type="SecureString")
    ssm.put_parameter(Name="/prop-ie/test/unrelated", Value="keep", Type="String")


def _config_values(sandbox) -> dict:
    ssm = sandbox.boto3_client("ssm")
    env = sandbox.boto3_client("lambda").get_function_configuration(FunctionName=FUNCTION)["Environment"]["Variables"]
    return {
        "lambda": env,
        "param": ssm.get_parameter(Name=PARAM)["Parameter"]["Value"],
        "secure": ssm.get_parameter(Name=SECURE, WithDecryption=True)["Parameter"]["Value"],
        "unrelated": ssm.get_parameter(Name="/prop-ie/test/unrelated")["Parameter"]["Value"],
    }


ROLE_PLAY = """
- name: DynamoDB rollback
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the role
      ansible.builtin.include_role:
        name: propie.rollback.dynamodb_pitr_rollback
"""


def test_role_swaps_exactly_the_targets_and_swaps_back(sandbox, run_playbook, estate, tmp_path):
    _app_config(sandbox)
    tmp_path = tmp_path / "records"  # the runner keeps its own directories beside it
    targets = [
        {"type": "lambda_env", "function_name": FUNCTION, "variable": "DATA_TABLE_NAME"},
        {"type": "ssm_parameter", "name": PARAM},
        {"type": "ssm_parameter", "name": SECURE},
    ]
    extravars = {
        "dynamodb_pitr_rollback_source_table": SOURCE, "dynamodb_pitr_rollback_restore_point": estate["point"],
        "dynamodb_pitr_rollback_rollback_id": RID, "dynamodb_pitr_rollback_wait_delay": 1,
        "dynamodb_pitr_rollback_swap_targets": targets, "dynamodb_pitr_rollback_env": "sandbox",
        "dynamodb_pitr_rollback_record_dir": str(tmp_path),
        "dynamodb_pitr_rollback_verify_min_item_count": 40,
        "dynamodb_pitr_rollback_verify_canaries": [{"key": {"pk": "P#012"}}],
    }
    before = _config_values(sandbox)
    seq = sandbox.last_seq()
    check = run_playbook(ROLE_PLAY, extravars=extravars, check=True, diff=True)
    assert check.rc == 0, check.stdout
    assert sandbox.mutating_since(seq) == [] and not tmp_path.exists()

    run = run_playbook(ROLE_PLAY, extravars=extravars, diff=True)
    assert run.rc == 0, run.stdout
    after = _config_values(sandbox)
    assert after == {"lambda": {"DATA_TABLE_NAME": estate["target"], "LOG_LEVEL": "info"},
                     "param": estate["target"], "secure": estate["target"], "unrelated": "keep"}
    swap = run.result("Point the application at the recovery table")
    assert estate["target"] not in json.dumps(swap["diff"]["after"]["ssm:" + SECURE])  # masked
    record_path = tmp_path / f"{RID}-{SOURCE}.json"
    record = json.loads(record_path.read_text())
    assert record["recovery_table"] == estate["target"] and record["rollback_id"] == RID
    by_id = {t["id"]: t["previous"] for t in record["targets"]}
    assert by_id[f"lambda:{FUNCTION}:DATA_TABLE_NAME"] == {"value": SOURCE}
    assert by_id["ssm:" + PARAM]["value"] == SOURCE
    assert "value" not in by_id["ssm:" + SECURE] and by_id["ssm:" + SECURE]["version"] == 1
    assert f"-e swap_back={record_path}" in record["swap_back_command"]

    # Re-run: nothing changes and the record keeps the values from before the first swap.
    seq = sandbox.last_seq()
    rerun = run_playbook(ROLE_PLAY, extravars=extravars)
    assert rerun.rc == 0 and rerun.changed_tasks == [], rerun.changed_tasks
    assert sandbox.mutating_since(seq) == []
    assert json.loads(record_path.read_text()) == record

    # Swap back with the recorded command's playbook variable.
    back_vars = {"dynamodb_pitr_rollback_swap_back": str(record_path)}
    seq = sandbox.last_seq()
    check_back = run_playbook(ROLE_PLAY, extravars=back_vars, check=True)
    assert check_back.rc == 0 and sandbox.mutating_since(seq) == [], check_back.stdout
    back = run_playbook(ROLE_PLAY, extravars=back_vars)
    assert back.rc == 0, back.stdout
    assert _config_values(sandbox) == before
    assert run_playbook(ROLE_PLAY, extravars=back_vars).changed_tasks == []


def test_role_stops_before_the_swap_when_verification_fails(sandbox, run_playbook, estate, tmp_path):
    _app_config(sandbox)
    tmp_path = tmp_path / "records"
    extravars = {
        "dynamodb_pitr_rollback_source_table": SOURCE, "dynamodb_pitr_rollback_restore_point": estate["point"],
        "dynamodb_pitr_rollback_rollback_id": RID, "dynamodb_pitr_rollback_wait_delay": 1,
        "dynamodb_pitr_rollback_swap_targets": [{"type": "ssm_parameter", "name": PARAM}],
        "dynamodb_pitr_rollback_record_dir": str(tmp_path),
        # P#003 was GOOD at the restore point; demanding CORRUPTED makes verification fail.
        "dynamodb_pitr_rollback_verify_canaries": [{"key": {"pk": "P#003"}, "attributes": {"status": "CORRUPTED"}}],
    }
    run = run_playbook(ROLE_PLAY, extravars=extravars)
    assert run.rc != 0 and "Verify the recovery table" in run.failed_tasks
    assert _config_values(sandbox)["param"] == SOURCE
    assert not tmp_path.exists()


@pytest.mark.parametrize("target, expect", [
    ({"type": "kinesis_stream", "name": "x"}, "Unknown swap target type kinesis_stream"),
    ({"type": "lambda_env", "function_name": FUNCTION}, "needs variable"),
])
def test_role_rejects_bad_swap_targets_before_any_call(sandbox, run_playbook, estate, tmp_path, target, expect):
    seq = sandbox.last_seq()
    run = run_playbook(ROLE_PLAY, extravars={
        "dynamodb_pitr_rollback_source_table": SOURCE, "dynamodb_pitr_rollback_restore_point": estate["point"],
        "dynamodb_pitr_rollback_swap_targets": [target], "dynamodb_pitr_rollback_record_dir": str(tmp_path)})
    assert run.rc != 0 and expect in run.stdout, run.stdout
    assert sandbox.requests(seq) == []


def test_swap_of_missing_target_writes_nothing(sandbox, run_playbook):
    sandbox.boto3_client("ssm").put_parameter(Name=PARAM, Value=SOURCE, Type="String")
    seq = sandbox.last_seq()
    run = run_playbook(f"""
- name: Swap
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Swap the targets
      propie.rollback.app_config_swap:
        targets:
          - {{type: ssm_parameter, name: "{PARAM}", value: new-table}}
          - {{type: lambda_env, function_name: no-such-function, variable: T, value: new-table}}
""")
    assert run.rc != 0 and "Lambda function no-such-function does not exist" in run.result("Swap the targets")["msg"]
    assert sandbox.mutating_since(seq) == []


def test_appsync_datasource_swap(sandbox, run_playbook):
    appsync = sandbox.boto3_client("appsync")
    api = appsync.create_graphql_api(name="prop-ie-test", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    try:
        appsync.create_data_source(apiId=api, name="PropertiesTable", type="AMAZON_DYNAMODB",
                                   serviceRoleArn="arn:aws:iam::123456789012:role/prop-ie-appsync",
                                   dynamodbConfig={"tableName": SOURCE, "awsRegion": "us-east-1"})
    except Exception as err:  # noqa: BLE001 - the sandbox's AppSync data sources may not have landed
        pytest.skip(f"sandbox has no AppSync data sources yet: {err}")
    play = f"""
- name: Swap
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Swap the data source
      propie.rollback.app_config_swap:
        targets:
          - {{type: appsync_datasource, api_id: {api}, name: PropertiesTable, value: recovery-table}}
"""
    seq = sandbox.last_seq()
    check = run_playbook(play, check=True, diff=True)
    assert check.rc == 0 and check.result("Swap the data source")["changed"]
    assert sandbox.mutating_since(seq) == []
    run = run_playbook(play)
    assert run.rc == 0 and run.result("Swap the data source")["targets"][0]["previous"] == {"value": SOURCE}
    source = appsync.get_data_source(apiId=api, name="PropertiesTable")["dataSource"]
    assert source["dynamodbConfig"]["tableName"] == "recovery-table"
    assert source["serviceRoleArn"].endswith("role/prop-ie-appsync")
    assert not run_playbook(play).result("Swap the data source")["changed"]


# ---------------------------------------------------------------------------
# Amplify swap targets: set the branch variable, then rebuild the serving build
# ---------------------------------------------------------------------------


def _amplify_app(sandbox) -> str:
    """The Amplify app of test_amplify_helpers, its production branch reading SOURCE."""
    app_id = make_app(sandbox, True, domain=False)
    sandbox.boto3_client("amplify").update_branch(
        appId=app_id, branchName=BLUE, environmentVariables={"DATA_TABLE_NAME": SOURCE, "LOG_LEVEL": "info"})
    return app_id


def _live_env(sandbox, app_id: str) -> dict:
    """The variables the build that visitors get was built with."""
    return sandbox.control("GET", f"amplify/deployed?app_id={app_id}&branch_name={BLUE}")["deployed"][
        "environmentVariables"]


def _finish_job(sandbox, app_id: str, job_id: str) -> None:
    """Let the emulated time job `job_id` takes pass (it has just started, with nothing queued
    before it), then check that it succeeded."""
    durations = sandbox.control("GET", "amplify/config")["job_durations"]
    sandbox.advance(durations["PENDING"] + durations["PROVISIONING"] + durations["RUNNING"] + 1)
    job = sandbox.boto3_client("amplify").get_job(appId=app_id, branchName=BLUE, jobId=job_id)["job"]["summary"]
    assert job["status"] == "SUCCEED", job


def _branch_env(sandbox, app_id: str) -> dict:
    return sandbox.boto3_client("amplify").get_branch(appId=app_id, branchName=BLUE)["branch"]["environmentVariables"]


def _amplify_summary(run) -> list:
    return run.result("Summarise the swap")["ansible_facts"]["dynamodb_pitr_rollback_swap_summary"]["amplify"]


def test_role_swaps_an_amplify_variable_rebuilds_and_swaps_back(sandbox, run_playbook, estate, tmp_path):
    app_id = _amplify_app(sandbox)
    # Make the current variables live first, so that only the swap calls for a rebuild.
    sandbox.boto3_client("amplify").start_job(appId=app_id, branchName=BLUE, jobType="RETRY", jobId="3")
    sandbox.boto3_client("ssm").put_parameter(Name=PARAM, Value=SOURCE, Type="String")
    records = tmp_path / "records"
    extravars = {
        "dynamodb_pitr_rollback_source_table": SOURCE, "dynamodb_pitr_rollback_restore_point": estate["point"],
        "dynamodb_pitr_rollback_rollback_id": RID, "dynamodb_pitr_rollback_wait_delay": 1,
        "dynamodb_pitr_rollback_env": "sandbox", "dynamodb_pitr_rollback_record_dir": str(records),
        "dynamodb_pitr_rollback_swap_targets": [
            {"type": "amplify_branch_env", "app_id": app_id, "branch_name": BLUE, "variable": "DATA_TABLE_NAME"},
            {"type": "ssm_parameter", "name": PARAM}],
    }
    _finish_job(sandbox, app_id, "5")
    assert _live_env(sandbox, app_id) == {"DATA_TABLE_NAME": SOURCE, "LOG_LEVEL": "info"}

    seq = sandbox.last_seq()
    check = run_playbook(ROLE_PLAY, extravars=extravars, check=True, diff=True)
    assert check.rc == 0, check.stdout
    assert sandbox.mutating_since(seq) == []
    # The restore does not exist yet in check mode, so the swap is planned against its name.
    planned = _amplify_summary(check)
    assert [(a["branch_name"], a["variables_changed"], a["rebuild"]) for a in planned] == [(BLUE, True, "would_start")]

    run = run_playbook(ROLE_PLAY, extravars=extravars)
    assert run.rc == 0, run.stdout
    target = estate["target"]
    assert _branch_env(sandbox, app_id) == {"DATA_TABLE_NAME": target, "LOG_LEVEL": "info"}
    assert _live_env(sandbox, app_id) == {"DATA_TABLE_NAME": target, "LOG_LEVEL": "info"}
    done = _amplify_summary(run)
    assert [(a["variables_changed"], a["rebuild"], a["job_id"], a["job_status"]) for a in done] == [
        (True, "started", "6", "SUCCEED")]
    assert sandbox.boto3_client("ssm").get_parameter(Name=PARAM)["Parameter"]["Value"] == target
    record_path = records / f"{RID}-{SOURCE}.json"
    record = json.loads(record_path.read_text())
    previous = {t["id"]: t["previous"] for t in record["targets"]}
    assert previous[f"amplify:{app_id}/{BLUE}:DATA_TABLE_NAME"] == {"value": SOURCE}

    seq = sandbox.last_seq()
    rerun = run_playbook(ROLE_PLAY, extravars=extravars)
    assert rerun.rc == 0 and rerun.changed_tasks == [], rerun.changed_tasks
    assert sandbox.mutating_since(seq) == []
    assert [a["rebuild"] for a in _amplify_summary(rerun)] == ["none"]

    back_vars = {"dynamodb_pitr_rollback_swap_back": str(record_path), "dynamodb_pitr_rollback_wait_delay": 1}
    seq = sandbox.last_seq()
    check_back = run_playbook(ROLE_PLAY, extravars=back_vars, check=True)
    assert check_back.rc == 0 and sandbox.mutating_since(seq) == [], check_back.stdout
    back = run_playbook(ROLE_PLAY, extravars=back_vars)
    assert back.rc == 0, back.stdout
    assert _live_env(sandbox, app_id) == {"DATA_TABLE_NAME": SOURCE, "LOG_LEVEL": "info"}
    result = back.result("Record the swap back")["ansible_facts"]["dynamodb_pitr_rollback_result"]
    assert [(a["rebuild"], a["job_id"]) for a in result["amplify"]] == [("started", "7")]
    seq = sandbox.last_seq()
    assert run_playbook(ROLE_PLAY, extravars=back_vars).changed_tasks == []
    assert sandbox.mutating_since(seq) == []


def test_role_rerun_rebuilds_a_variable_an_earlier_run_set_but_did_not_build(sandbox, run_playbook, estate, tmp_path):
    # As a run killed between UpdateBranch and StartJob leaves it: the variable is set, not live.
    app_id = _amplify_app(sandbox)
    extravars = {
        "dynamodb_pitr_rollback_source_table": SOURCE, "dynamodb_pitr_rollback_restore_point": estate["point"],
        "dynamodb_pitr_rollback_rollback_id": RID, "dynamodb_pitr_rollback_wait_delay": 1,
        "dynamodb_pitr_rollback_record_dir": str(tmp_path / "records"),
        "dynamodb_pitr_rollback_amplify_rebuild": False,
        "dynamodb_pitr_rollback_swap_targets": [
            {"type": "amplify_branch_env", "app_id": app_id, "branch_name": BLUE, "variable": "DATA_TABLE_NAME"}],
    }
    first = run_playbook(ROLE_PLAY, extravars=extravars)
    assert first.rc == 0, first.stdout
    assert _branch_env(sandbox, app_id)["DATA_TABLE_NAME"] == estate["target"]
    assert _live_env(sandbox, app_id)["DATA_TABLE_NAME"] == "prop-ie-sandbox-data"  # job 3's, built long ago
    assert "serve the previous variables until their next build" in first.result(
        "Warn that the Amplify variables are not live yet")["msg"]

    seq = sandbox.last_seq()
    second = run_playbook(ROLE_PLAY, extravars=dict(extravars, dynamodb_pitr_rollback_amplify_rebuild=True))
    assert second.rc == 0, second.stdout
    assert [(a["variables_changed"], a["rebuild"]) for a in _amplify_summary(second)] == [(False, "started")]
    assert [r["operation"] for r in sandbox.mutating_since(seq)] == ["StartJob"]
    assert _live_env(sandbox, app_id)["DATA_TABLE_NAME"] == estate["target"]


def _swap_record(tmp_path, **changes):
    record = {"kind": "propie.rollback.dynamodb_swap", "version": 1, "rollback_id": RID, "env": "sandbox",
              "source_table": SOURCE, "recovery_table": f"{SOURCE}-pitr-20261130T034500Z",
              "targets": [{"id": "ssm:" + PARAM, "target": {"type": "ssm_parameter", "name": PARAM},
                           "previous": {"value": SOURCE}}]}
    record.update(changes)
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize("changes, env, ssm_value, expect", [
    ({"env": "production"}, "sandbox", "recovery", "is for env 'production', not 'sandbox'"),
    ({"recovery_table": "{{ 'x' * 3 }}"}, "sandbox", "recovery", "holds template text"),
    ({"targets": "ssm"}, "sandbox", "recovery", "has targets of type str, not a list"),
    ({}, "sandbox", "someone-elses-table", "ssm:" + PARAM + " names 'someone-elses-table' (the swap set "),
])
def test_swap_back_refuses_a_foreign_or_stale_record_without_a_change(
        sandbox, run_playbook, tmp_path, changes, env, ssm_value, expect):
    recovery = f"{SOURCE}-pitr-20261130T034500Z"
    sandbox.boto3_client("ssm").put_parameter(Name=PARAM, Value=recovery if ssm_value == "recovery" else ssm_value,
                                              Type="String")
    path = _swap_record(tmp_path, **changes)
    seq = sandbox.last_seq()
    run = run_playbook(ROLE_PLAY, extravars={"dynamodb_pitr_rollback_swap_back": str(path),
                                             "dynamodb_pitr_rollback_env": env})
    assert run.rc != 0
    msg = run.result("Put the application back on the table it used before the swap")["msg"]
    assert expect in msg and str(path) in msg and "nothing was changed" in msg, msg
    assert sandbox.mutating_since(seq) == []


def test_swap_back_of_an_empty_record_names_the_file(sandbox, run_playbook, tmp_path):
    path = tmp_path / "record.json"
    path.write_text("")
    seq = sandbox.last_seq()
    run = run_playbook(ROLE_PLAY, extravars={"dynamodb_pitr_rollback_swap_back": str(path)})
    assert run.rc != 0
    assert f"swap record {path} is empty" in run.result("Put the application back on the table it used before the swap")["msg"]
    assert sandbox.requests(seq) == []


def test_swap_refuses_a_target_that_names_another_table(sandbox, run_playbook, estate, tmp_path):
    """The restore is made, but a target naming neither table stops the swap before any write."""
    sandbox.boto3_client("ssm").put_parameter(Name=PARAM, Value="prop-ie-test-data-pitr-old", Type="String")
    run = run_playbook(ROLE_PLAY, extravars={
        "dynamodb_pitr_rollback_source_table": SOURCE, "dynamodb_pitr_rollback_restore_point": estate["point"],
        "dynamodb_pitr_rollback_rollback_id": RID, "dynamodb_pitr_rollback_wait_delay": 1,
        "dynamodb_pitr_rollback_swap_targets": [{"type": "ssm_parameter", "name": PARAM}],
        "dynamodb_pitr_rollback_record_dir": str(tmp_path / "records")})
    assert run.rc != 0
    msg = run.result("Point the application at the recovery table")["msg"]
    assert "names 'prop-ie-test-data-pitr-old', neither the source table" in msg, msg
    assert sandbox.boto3_client("ssm").get_parameter(Name=PARAM)["Parameter"]["Value"] == "prop-ie-test-data-pitr-old"
    assert not (tmp_path / "records").exists()
