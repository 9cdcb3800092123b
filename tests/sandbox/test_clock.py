"""The steppable clock (POST /_sandbox/clock/advance) and the moto version guard."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sandbox import api
from sandbox.client import SandboxClient
from sandbox.server import EXTENSION_MODULES

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = json.dumps({"Resources": {"Param": {
    "Type": "AWS::SSM::Parameter",
    "Properties": {"Name": "/clock/param", "Type": "String", "Value": "v1"}}}})


def post_raw(sandbox: SandboxClient, route: str, body: Any) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{sandbox.endpoint}/_sandbox/{route}", method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_advance_moves_now_by_scaled_seconds_and_reset_undoes_it(sandbox: SandboxClient) -> None:
    assert sandbox.clock()["offset_seconds"] == 0
    out = sandbox.advance(3600)
    assert out["offset_seconds"] == 3600 and out["time_scale"] == 1
    ahead = (sandbox.now() - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 3599 <= ahead <= 3601
    sandbox.set_time_scale(0.01)
    assert sandbox.advance(100)["offset_seconds"] == pytest.approx(3601)  # 100 emulated s = 1 s
    assert sandbox.health()["clock_offset_seconds"] == pytest.approx(3601)
    sandbox.reset()
    assert sandbox.clock()["offset_seconds"] == 0
    assert sandbox.clock()["time_scale"] == 0.01  # a reset keeps the scale, drops the advance
    assert abs((sandbox.now() - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 1


@pytest.mark.parametrize("body", [
    {"seconds": -1}, {"seconds": "60"}, {"seconds": True}, {"seconds": None},
    {"seconds": 1e12}, {}, {"seconds": 1, "extra": 2}, [60],
])
def test_advance_rejects_bad_input_naming_the_field(sandbox: SandboxClient, body: Any) -> None:
    status, out = post_raw(sandbox, "clock/advance", body)
    assert status == 400
    assert "seconds" in out["error"]
    assert sandbox.clock()["offset_seconds"] == 0


def test_unknown_clock_route_is_a_400(sandbox: SandboxClient) -> None:
    status, out = post_raw(sandbox, "clock/rewind", {"seconds": 1})
    assert status == 400 and "clock/advance" in out["error"]


def test_advance_finishes_an_amplify_build(sandbox: SandboxClient) -> None:
    amp = sandbox.boto3_client("amplify")
    app_id = amp.create_app(name="clock-app", repository="https://github.com/propie/app",
                            accessToken="token")["app"]["appId"]
    amp.create_branch(appId=app_id, branchName="production")
    job_id = amp.start_job(appId=app_id, branchName="production", jobType="RELEASE")[
        "jobSummary"]["jobId"]

    def job_status() -> str:
        return amp.get_job(appId=app_id, branchName="production", jobId=job_id)[
            "job"]["summary"]["status"]

    assert job_status() == "PENDING"  # default: 2 s pending, 10 provisioning, 60 running
    sandbox.advance(30)
    assert job_status() == "RUNNING"
    sandbox.advance(60)
    assert job_status() == "SUCCEED"


def test_advance_finishes_a_stack_phase(sandbox: SandboxClient) -> None:
    cf = sandbox.boto3_client("cloudformation")
    cf.create_stack(StackName="clock-stack", TemplateBody=TEMPLATE)

    def stack_status() -> str:
        return cf.describe_stacks(StackName="clock-stack")["Stacks"][0]["StackStatus"]

    assert stack_status() == "CREATE_IN_PROGRESS"  # 20 emulated seconds per phase
    sandbox.advance(25)
    assert stack_status() == "CREATE_COMPLETE"


def test_advance_finishes_a_restore_and_moves_the_restorable_window(
        sandbox: SandboxClient) -> None:
    ddb = sandbox.boto3_client("dynamodb")
    ddb.create_table(TableName="src", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    ddb.update_continuous_backups(
        TableName="src", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.put_item(TableName="src", Item={"pk": {"S": "a"}})
    sandbox.advance(301)  # the write is now older than the latest restorable time
    pitr = ddb.describe_continuous_backups(TableName="src")[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    lag = (sandbox.now() - pitr["LatestRestorableDateTime"]).total_seconds()
    assert 300 <= lag <= 301
    ddb.restore_table_to_point_in_time(SourceTableName="src", TargetTableName="dst",
                                       UseLatestRestorableTime=True)
    assert ddb.describe_table(TableName="dst")["Table"]["TableStatus"] == "CREATING"
    sandbox.advance(60)  # default restore: 60 emulated seconds
    assert ddb.describe_table(TableName="dst")["Table"]["TableStatus"] == "ACTIVE"
    assert ddb.get_item(TableName="dst", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}


# ---------------------------------------------------------------------------
# moto version guard
# ---------------------------------------------------------------------------

PATCHING = ("sandbox.services.cloudformation", "sandbox.services.dynamodb",
            "sandbox.services.cloudwatch", "sandbox.services.appsync")


def test_every_moto_patching_extension_declares_the_pinned_moto() -> None:
    pinned = re.search(r"^moto\[server\]==(\S+)$", (REPO / "requirements.txt").read_text(),
                       re.MULTILINE).group(1)
    assert api.installed_moto_version() == pinned
    for module in PATCHING:
        assert module in EXTENSION_MODULES.values()
        origin, declared = api.declared_moto_version(module)
        assert declared == pinned, origin
    api.check_moto_versions(list(EXTENSION_MODULES.values()))  # the installed moto passes


def test_a_different_moto_is_refused_naming_the_file_and_version(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDBOX_ALLOW_MOTO", raising=False)
    with pytest.raises(api.MotoVersionError) as err:
        api.check_moto_versions(list(EXTENSION_MODULES.values()), installed="5.3.0")
    message = str(err.value)
    assert "sandbox/services/cloudformation.py" in message
    assert "moto 5.2.5" in message and "moto 5.3.0 is installed" in message
    with pytest.raises(api.MotoVersionError, match=r"dynamodb\.py patches moto internals as of "
                                                   r"moto 5\.2\.5"):
        api.require_moto("5.2.5", "sandbox/services/dynamodb.py", installed="5.2.6")
    monkeypatch.setenv("SANDBOX_ALLOW_MOTO", "5.2.6")
    api.require_moto("5.2.5", "sandbox/services/dynamodb.py", installed="5.2.6")  # porting


def test_services_import_the_contract_not_the_server() -> None:
    for path in sorted((REPO / "sandbox" / "services").rglob("*.py")):
        assert "sandbox.server" not in path.read_text(), path


def test_advance_moves_cloudwatch_alarm_evaluation_time(sandbox: SandboxClient) -> None:
    cw = sandbox.boto3_client("cloudwatch")
    cw.put_metric_alarm(AlarmName="clock-alarm", Namespace="N", MetricName="m", Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanThreshold")
    sandbox.advance(7200)
    out = sandbox.control("POST", "cloudwatch/evaluate-alarms", {"alarm_names": ["clock-alarm"]})
    evaluated_at = dt.datetime.fromisoformat(out["evaluated_at"].replace("Z", "+00:00"))
    if evaluated_at.tzinfo is None:
        evaluated_at = evaluated_at.replace(tzinfo=dt.timezone.utc)
    ahead = (evaluated_at - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 7198 <= ahead <= 7201


def test_sandbox_start_refuses_an_extension_written_for_another_moto(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.server import build_app

    monkeypatch.delenv("SANDBOX_ALLOW_MOTO", raising=False)
    (tmp_path / "old_extension.py").write_text('MOTO_VERSION = "4.0.0"\n\n\ndef install(sandbox):\n'
                                               '    raise AssertionError("must not be imported")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(api.MotoVersionError) as err:
        build_app({"old": "old_extension"})
    assert "old_extension.py patches moto internals as of moto 4.0.0" in str(err.value)
    assert f"moto {api.installed_moto_version()} is installed" in str(err.value)
