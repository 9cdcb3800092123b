"""The recovery table keeps the source's encryption (issue 11, item 5), against the sandbox.

A source encrypted with a customer managed KMS key is restored under that same key by default,
through the module and through the role; an operator's override still wins; a recovery table
under another key than asked for is reported; a bad target_table fails before any AWS call.
"""

from __future__ import annotations

import pytest

SOURCE = "prop-ie-test-secure"
RID = "rb-20261130T034501Z-5e5e11"
ROLE_PLAY = """
- name: DynamoDB rollback
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the role
      ansible.builtin.include_role:
        name: propie.rollback.dynamodb_pitr_rollback
"""


def _make_source(sandbox, name: str, sse: dict | None) -> None:
    """A table with PITR on for an hour and three items written ten minutes ago."""
    ddb = sandbox.boto3_client("dynamodb")
    extra = {"SSESpecification": sse} if sse else {}
    sandbox.control("POST", "dynamodb/backdate", {"seconds": 3600})
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], **extra)
    ddb.update_continuous_backups(TableName=name,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    sandbox.control("POST", "dynamodb/backdate", {"seconds": 600})
    for n in range(3):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"P#{n}"}})
    sandbox.control("POST", "dynamodb/backdate", {"seconds": 0})


@pytest.fixture
def keys(sandbox):
    """The source's customer managed key, another key with an alias, and the AWS managed key's ARN."""
    sandbox.set_time_scale(0.01)  # a restore's 100 emulated seconds take one
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": 100})
    kms = sandbox.boto3_client("kms")
    cmk = kms.create_key(Description="prop-ie data")["KeyMetadata"]["Arn"]
    other = kms.create_key(Description="prop-ie recovery")["KeyMetadata"]
    kms.create_alias(AliasName="alias/prop-ie-recovery", TargetKeyId=other["KeyId"])
    _make_source(sandbox, SOURCE, {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": cmk})
    managed = kms.describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]["Arn"]
    return {"cmk": cmk, "other": other["Arn"], "managed": managed}


def _play(*restores: dict) -> str:
    tasks = []
    for number, options in enumerate(restores):
        lines = "".join(f"        {k}: {v}\n" for k, v in options.items())
        tasks.append(f"""
    - name: Restore {number}
      propie.rollback.dynamodb_pitr_restore:
        source_table: {SOURCE}
        restore_point: latest
        rollback_id: {RID}
        wait_delay: 1
{lines}""")
    return """
- name: Restore
  hosts: localhost
  gather_facts: false
  tasks:""" + "".join(tasks)


def _sse(sandbox, table: str) -> dict | None:
    return sandbox.boto3_client("dynamodb").describe_table(TableName=table)["Table"].get("SSEDescription")


def test_module_keeps_the_source_customer_managed_key(sandbox, run_task, keys):
    target = f"{SOURCE}-pitr-{RID}"
    seq = sandbox.last_seq()
    check = run_task(_play({}), check=True)
    assert check.rc == 0, check.stdout
    planned = check.result("Restore 0")["sse"]
    assert planned["choice"] == "source" and planned["detail"] == "the source's customer managed KMS key"
    assert planned["override"] == {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": keys["cmk"]}
    assert planned["expected"] == {"type": "KMS", "kms_key_arn": keys["cmk"]} and planned["recovery"] is None
    assert sandbox.mutating_since(seq) == []

    seq = sandbox.last_seq()
    run = run_task(_play({}))
    assert run.rc == 0, run.stdout
    res = run.result("Restore 0")
    assert res["status"] == "ACTIVE" and res["target_table"] == target
    assert res["sse"]["recovery"] == {"type": "KMS", "kms_key_arn": keys["cmk"], "status": "ENABLED"}
    assert res["sse"]["matches"] is True and not res.get("warnings")
    assert _sse(sandbox, target)["KMSMasterKeyArn"] == keys["cmk"] != keys["managed"]
    # KMS is only read (the key's KeyManager), and the restore asked for the source's key
    kms_calls = [(r["operation"], r["mutating"]) for r in sandbox.requests(seq) if r["service"] == "kms"]
    assert kms_calls == [("DescribeKey", False)]
    assert len(sandbox.boto3_client("dynamodb").scan(TableName=target)["Items"]) == 3

    again = run_task(_play({}))  # resumed: nothing sent, the key still compared
    res = again.result("Restore 0")
    assert again.rc == 0 and res["resumed"] and res["sse"]["override"] is None and res["sse"]["matches"] is True


def test_operator_overrides_still_win(sandbox, run_task, keys):
    run = run_task(_play(
        {"target_table": "recovery-managed", "sse_enabled": "true"},
        {"target_table": "recovery-alias", "sse_kms_key_id": "alias/prop-ie-recovery"},
        {"target_table": "recovery-owned", "sse_enabled": "false"},
    ))
    assert run.rc == 0, run.stdout
    assert _sse(sandbox, "recovery-managed")["KMSMasterKeyArn"] == keys["managed"]
    assert _sse(sandbox, "recovery-alias")["KMSMasterKeyArn"] == keys["other"]
    assert _sse(sandbox, "recovery-owned") is None
    results = [run.result(f"Restore {n}")["sse"] for n in range(3)]
    assert [r["choice"] for r in results] == ["aws_managed", "kms_key", "aws_owned"]
    assert [r["override"] for r in results] == [
        {"Enabled": True, "SSEType": "KMS"},
        {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/prop-ie-recovery"},
        {"Enabled": False}]
    assert all(r["matches"] for r in results)


def test_aws_managed_and_aws_owned_sources_stay_so(sandbox, run_task, keys):
    _make_source(sandbox, "prop-ie-test-managed", {"Enabled": True})
    _make_source(sandbox, "prop-ie-test-owned", None)
    play = _play({}).replace(f"source_table: {SOURCE}", "source_table: prop-ie-test-managed")
    play += _play({}).split("tasks:", 1)[1].replace("Restore 0", "Restore owned").replace(
        f"source_table: {SOURCE}", "source_table: prop-ie-test-owned")
    run = run_task(play)
    assert run.rc == 0, run.stdout
    managed, owned = run.result("Restore 0")["sse"], run.result("Restore owned")["sse"]
    assert managed["override"] == {"Enabled": True, "SSEType": "KMS"}  # no key: AWS picks its own
    assert managed["recovery"]["kms_key_arn"] == keys["managed"] and managed["matches"]
    assert owned["override"] is None and owned["recovery"] == {"type": "AWS_OWNED", "kms_key_arn": None,
                                                               "status": None}
    assert _sse(sandbox, f"prop-ie-test-managed-pitr-{RID}")["KMSMasterKeyArn"] == keys["managed"]
    assert _sse(sandbox, f"prop-ie-test-owned-pitr-{RID}") is None


def test_recovery_table_under_another_key_is_reported(sandbox, run_task, keys):
    first = run_task(_play({"sse_enabled": "true", "wait": "false"}))  # the old default
    assert first.rc == 0, first.stdout
    run = run_task(_play({}))  # today's default resumes it: the source's key was asked for
    assert run.rc == 0, run.stdout
    res = run.result("Restore 0")
    assert res["resumed"] and res["sse"]["matches"] is False
    assert res["sse"]["recovery"]["kms_key_arn"] == keys["managed"]
    [warning] = [w for w in res.get("warnings", []) if "encrypted with" in w]
    assert keys["managed"] in warning and keys["cmk"] in warning and "before the swap" in warning


def test_role_keeps_the_source_key_by_default_and_takes_an_override(sandbox, run_playbook, keys, tmp_path):
    extravars = {
        "dynamodb_pitr_rollback_source_table": SOURCE, "dynamodb_pitr_rollback_rollback_id": RID,
        "dynamodb_pitr_rollback_wait_delay": 1, "dynamodb_pitr_rollback_env": "sandbox",
        "dynamodb_pitr_rollback_record_dir": str(tmp_path / "records"),
    }
    run = run_playbook(ROLE_PLAY, extravars=extravars)
    assert run.rc == 0, run.stdout
    assert run.result("Restore the table to the point in time")["sse"]["choice"] == "source"
    assert _sse(sandbox, f"{SOURCE}-pitr-{RID}")["KMSMasterKeyArn"] == keys["cmk"]

    other_rid = "rb-20261130T034501Z-5e5e12"
    run = run_playbook(ROLE_PLAY, extravars=dict(
        extravars, dynamodb_pitr_rollback_rollback_id=other_rid,
        dynamodb_pitr_rollback_sse_kms_key_id="alias/prop-ie-recovery"))
    assert run.rc == 0, run.stdout
    assert _sse(sandbox, f"{SOURCE}-pitr-{other_rid}")["KMSMasterKeyArn"] == keys["other"]

    seq = sandbox.last_seq()
    run = run_playbook(ROLE_PLAY, extravars=dict(
        extravars, dynamodb_pitr_rollback_sse_enabled=False,
        dynamodb_pitr_rollback_sse_kms_key_id="alias/prop-ie-recovery"))
    assert run.rc != 0
    msg = run.result("Restore the table to the point in time")["msg"]
    assert "sse_kms_key_id alias/prop-ie-recovery" in msg and "nothing was changed" in msg
    assert sandbox.mutating_since(seq) == []


def test_bad_target_table_fails_before_any_call(sandbox, run_task, keys):
    seq = sandbox.last_seq()
    run = run_task(_play({"target_table": "t" * 300}))
    assert run.rc != 0
    msg = run.result("Restore 0")["msg"]
    assert msg.startswith("target_table 'tttt") and "(300 characters)" in msg and "3 to 255 characters" in msg
    assert "leave target_table out" in msg and "nothing was changed" in msg
    assert sandbox.requests(seq) == []  # not even a read
