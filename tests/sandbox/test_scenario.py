"""`python -m sandbox seed --scenario propie-incident` builds the estate the runbook meets."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from tests.conftest import REPO


def test_propie_incident_seed(sandbox):
    proc = subprocess.run([sys.executable, "-m", "sandbox", "seed", "--scenario", "propie-incident",
                           "--endpoint", sandbox.endpoint], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "traffic: prop-ie-app.com -> {'(root)': 'green', 'www': 'green'}" in out
    assert "status UPDATE_ROLLBACK_FAILED" in out
    assert "5XX rate over the last 5 minutes: 15.0%" in out

    amplify = sandbox.boto3_client("amplify")
    app = amplify.get_app(appId="d4cebxzd5u3ynb")["app"]  # the id the sandbox inventory uses
    assert app["name"] == "prop-ie-app" and app["repository"]
    jobs = amplify.list_jobs(appId=app["appId"], branchName="production")["jobSummaries"]
    assert [j["status"] for j in jobs] == ["FAILED"] + ["SUCCEED"] * 4

    ddb = sandbox.boto3_client("dynamodb")
    window = ddb.describe_continuous_backups(TableName="prop-ie-sandbox-data")[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert window["PointInTimeRecoveryStatus"] == "ENABLED"
    # Good data existed half an hour ago; restoring then gives all 120 clean items back.
    good_time = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)
    assert window["EarliestRestorableDateTime"] < good_time < window["LatestRestorableDateTime"]
    items = ddb.scan(TableName="prop-ie-sandbox-data")["Items"]
    assert len(items) == 110 and sum(i["status"]["S"] == "CORRUPTED" for i in items) == 37

    assert sandbox.health()["time_scale"] == 1.0  # the seed restores the caller's time scale
    ssm = sandbox.boto3_client("ssm")
    assert ssm.get_parameter(Name="/prop-ie/sandbox/data-table")["Parameter"]["Value"] == "prop-ie-sandbox-data"
    source = sandbox.boto3_client("appsync").get_data_source(
        apiId="propiesandbox0000000000api", name="PropertiesTable")["dataSource"]
    assert source["dynamodbConfig"]["tableName"] == "prop-ie-sandbox-data"
