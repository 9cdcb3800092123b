"""The PropIE estate in the middle of an incident, as the runbook's procedures find it.

- Amplify app `prop-ie-app` (connected repository) with branches `production` (blue) and
  `green`; the custom domain `prop-ie-app.com` sends the root and `www` to green; production's
  job history has good builds and then a failed newest build.
- CloudFormation stack `prop-ie-sandbox-appsync-stack` stuck in UPDATE_ROLLBACK_FAILED.
- DynamoDB table `prop-ie-sandbox-data` with PITR on: good items written before time T, then
  corrupted writes (overwrites and deletes) after T.
- CloudWatch: Amplify hosting metrics with a 5XX spike over the last minutes.
- SNS topic for rollback alerts; the table name recorded where the app reads it (Amplify
  branch variables, an SSM parameter, an AppSync data source).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from sandbox.client import SandboxClient

APP_NAME = "prop-ie-app"
DOMAIN = "prop-ie-app.com"
BLUE, GREEN = "production", "green"
STACK = "prop-ie-sandbox-appsync-stack"
TABLE = "prop-ie-sandbox-data"
TOPIC = "prop-ie-sandbox-rollback-alerts"
TABLE_PARAMETER = "/prop-ie/sandbox/data-table"
APPSYNC_API_ID = "propiesandbox0000000000api"  # AWS ids are 26 characters
GOOD_ITEMS = 120
CORRUPT_AFTER_MINUTES = 30  # T = now - 30 min (emulated history)

STACK_TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Description": "PropIE AppSync configuration (sandbox stand-in resources)",
    "Parameters": {
        "SchemaVersion": {"Type": "String"},
        "ResolverTimeoutMs": {"Type": "String", "Default": "3000"},
    },
    "Resources": {
        "SchemaVersionParameter": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/prop-ie/sandbox/appsync/schema-version", "Type": "String",
                           "Value": {"Ref": "SchemaVersion"}},
        },
        "ResolverConfigParameter": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/prop-ie/sandbox/appsync/resolver-timeout", "Type": "String",
                           "Value": {"Ref": "ResolverTimeoutMs"}},
        },
    },
    "Outputs": {
        "SchemaVersion": {"Value": {"Ref": "SchemaVersion"}},
        "ResolverTimeoutMs": {"Value": {"Ref": "ResolverTimeoutMs"}},
    },
}


SEED_TIME_SCALE = 0.002  # emulated stack operations finish in well under a second while seeding


def seed(client: SandboxClient) -> dict[str, Any]:
    """Build the estate; returns the facts `describe` prints."""
    scale = client.health()["time_scale"]
    client.set_time_scale(SEED_TIME_SCALE)
    try:
        facts: dict[str, Any] = {}
        facts.update(_seed_amplify(client))
        facts.update(_seed_stack(client))
        facts.update(_seed_table(client))
        facts.update(_seed_metrics(client, facts["app_id"]))
        facts.update(_seed_config_stores(client))
    finally:
        client.set_time_scale(scale)
    facts["endpoint"] = client.endpoint
    return facts


def _wait_for_stack(cfn: Any, status: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        current = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
        if current == status:
            return
        if not current.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            raise RuntimeError(f"seed: stack {STACK} is {current}, expected {status}")
        time.sleep(0.05)


def _seed_amplify(client: SandboxClient) -> dict[str, Any]:
    amplify = client.boto3_client("amplify")
    app = amplify.create_app(
        name=APP_NAME,
        repository="https://github.com/propie/prop-ie-aws-app",
        accessToken="sandbox-token",
        platform="WEB",
    )["app"]
    app_id = app["appId"]
    table_var = {"DATA_TABLE_NAME": TABLE}
    for branch in (BLUE, GREEN):
        amplify.create_branch(appId=app_id, branchName=branch, stage="PRODUCTION",
                              environmentVariables=table_var)
    good = [
        {"status": "SUCCEED", "commitId": f"a1b2c3{n}", "commitMessage": f"Release 1.{n}",
         "jobType": "RELEASE", "minutes_ago": 60 * 24 * (5 - n)}
        for n in range(1, 5)
    ]
    bad = {"status": "FAILED", "commitId": "f00dbad", "commitMessage": "Release 1.5 (broken build)",
           "jobType": "RELEASE", "minutes_ago": 45}
    client.control("POST", "amplify/jobs", {"app_id": app_id, "branch_name": BLUE, "jobs": good + [bad]})
    client.control("POST", "amplify/jobs", {"app_id": app_id, "branch_name": GREEN, "jobs": [
        {"status": "SUCCEED", "commitId": "9e9e9e1", "commitMessage": "Green: release 2.0",
         "jobType": "RELEASE", "minutes_ago": 20}]})
    amplify.create_domain_association(
        appId=app_id, domainName=DOMAIN,
        subDomainSettings=[{"prefix": "", "branchName": GREEN}, {"prefix": "www", "branchName": GREEN}],
    )
    return {"app_id": app_id}


def _seed_stack(client: SandboxClient) -> dict[str, Any]:
    cfn = client.boto3_client("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(STACK_TEMPLATE),
                     Parameters=[{"ParameterKey": "SchemaVersion", "ParameterValue": "41"}],
                     Tags=[{"Key": "app", "Value": "prop-ie"}])
    _wait_for_stack(cfn, "CREATE_COMPLETE")
    client.control("POST", "cloudformation/next-update", {
        "stack_name": STACK, "outcome": "UPDATE_ROLLBACK_FAILED",
        "failed_resources": ["ResolverConfigParameter"],
    })
    cfn.update_stack(StackName=STACK, TemplateBody=json.dumps(STACK_TEMPLATE),
                     Parameters=[{"ParameterKey": "SchemaVersion", "ParameterValue": "42"},
                                 {"ParameterKey": "ResolverTimeoutMs", "ParameterValue": "100"}],
                     Tags=[{"Key": "app", "Value": "prop-ie"}])
    _wait_for_stack(cfn, "UPDATE_ROLLBACK_FAILED")
    return {"stack": STACK}


def _put_items(ddb: Any, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": item}} for item in items[start:start + 25]]})


def _property(n: int, price: int, status: str) -> dict[str, Any]:
    return {"pk": {"S": f"PROPERTY#{n:04d}"}, "sk": {"S": "DETAILS"},
            "price": {"N": str(price)}, "status": {"S": status}}


def _seed_table(client: SandboxClient) -> dict[str, Any]:
    ddb = client.boto3_client("dynamodb")
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        Tags=[{"Key": "app", "Value": "prop-ie"}],
    )
    ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    # History: PITR on 2 h ago, good data written 90 min ago, corruption 20 min ago.
    client.control("POST", "dynamodb/backdate", {"seconds": 7200})
    ddb.update_continuous_backups(TableName=TABLE,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    client.control("POST", "dynamodb/backdate", {"seconds": 5400})
    _put_items(ddb, [_property(n, 250_000 + n * 1000, "FOR_SALE") for n in range(GOOD_ITEMS)])
    client.control("POST", "dynamodb/backdate", {"seconds": 1200})
    # The bad release: prices zeroed on a third of the catalogue, ten listings deleted.
    _put_items(ddb, [_property(n, 0, "CORRUPTED") for n in range(0, GOOD_ITEMS, 3)])
    for n in range(1, 21, 2):
        ddb.delete_item(TableName=TABLE, Key={"pk": {"S": f"PROPERTY#{n:04d}"}, "sk": {"S": "DETAILS"}})
    client.control("POST", "dynamodb/backdate", {"seconds": 0})
    now = dt.datetime.now(dt.timezone.utc)
    good_until = now - dt.timedelta(minutes=CORRUPT_AFTER_MINUTES)
    return {"table": TABLE, "good_until": good_until.isoformat(timespec="seconds")}


def _seed_metrics(client: SandboxClient, app_id: str) -> dict[str, Any]:
    cw = client.boto3_client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    dims = [{"Name": "App", "Value": app_id}]
    data = []
    for minutes_ago in range(30, -1, -1):
        stamp = now - dt.timedelta(minutes=minutes_ago)
        spiking = minutes_ago <= 6
        requests = 1200.0
        errors = 180.0 if spiking else 3.0
        data += [
            {"MetricName": "Requests", "Dimensions": dims, "Timestamp": stamp, "Value": requests, "Unit": "Count"},
            {"MetricName": "5xxErrors", "Dimensions": dims, "Timestamp": stamp, "Value": errors, "Unit": "Count"},
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": stamp,
             "Values": [120.0, 180.0, 250.0, 900.0 if spiking else 400.0],
             "Counts": [600.0, 400.0, 180.0, 20.0], "Unit": "Milliseconds"},
        ]
    for start in range(0, len(data), 20):
        cw.put_metric_data(Namespace="AWS/AmplifyHosting", MetricData=data[start:start + 20])
    return {"metrics_namespace": "AWS/AmplifyHosting"}


def _seed_config_stores(client: SandboxClient) -> dict[str, Any]:
    topic_arn = client.boto3_client("sns").create_topic(Name=TOPIC)["TopicArn"]
    client.boto3_client("ssm").put_parameter(Name=TABLE_PARAMETER, Value=TABLE, Type="String")
    appsync = client.boto3_client("appsync")
    api = appsync.create_graphql_api(name="prop-ie-sandbox-api", authenticationType="API_KEY",
                                     tags={"sandbox:id": APPSYNC_API_ID})["graphqlApi"]
    appsync.create_data_source(
        apiId=api["apiId"], name="PropertiesTable", type="AMAZON_DYNAMODB",
        serviceRoleArn="arn:aws:iam::123456789012:role/prop-ie-appsync",
        dynamodbConfig={"tableName": TABLE, "awsRegion": "us-east-1"},
    )
    return {"topic_arn": topic_arn, "appsync_api_id": api["apiId"]}


def facts(client: SandboxClient) -> dict[str, Any]:
    """The facts of an already seeded estate, read back over the API."""
    apps = client.boto3_client("amplify").list_apps()["apps"]
    topics = client.boto3_client("sns").list_topics()["Topics"]
    return {
        "endpoint": client.endpoint,
        "app_id": next(a["appId"] for a in apps if a["name"] == APP_NAME),
        "topic_arn": next((t["TopicArn"] for t in topics if t["TopicArn"].endswith(TOPIC)), "-"),
    }


def describe(facts: dict[str, Any]) -> str:
    """Read the estate back over the API and say what is broken and what is fine."""
    client = SandboxClient(facts["endpoint"])
    amplify = client.boto3_client("amplify")
    app_id = facts["app_id"]
    domain = amplify.get_domain_association(appId=app_id, domainName=DOMAIN)["domainAssociation"]
    routing = {s["subDomainSetting"]["prefix"] or "(root)": s["subDomainSetting"]["branchName"]
               for s in domain["subDomains"]}
    jobs = amplify.list_jobs(appId=app_id, branchName=BLUE, maxResults=10)["jobSummaries"]
    newest = jobs[0]
    last_good = next(j for j in jobs if j["status"] == "SUCCEED")
    stack = client.boto3_client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    ddb = client.boto3_client("dynamodb")
    # The table the application reads now (the swap repoints this parameter).
    serving_table = client.boto3_client("ssm").get_parameter(Name=TABLE_PARAMETER)["Parameter"]["Value"]
    items = ddb.scan(TableName=serving_table)["Items"]
    corrupted = sum(1 for i in items if i["status"]["S"] == "CORRUPTED")
    pitr = ddb.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    window = pitr["PointInTimeRecoveryDescription"]
    rate = _five_xx_rate(client, app_id)

    def mark(ok: bool) -> str:
        return "ok     " if ok else "BROKEN "

    stack_ok = stack["StackStatus"].endswith("_COMPLETE") and stack["StackStatus"] != "ROLLBACK_COMPLETE"
    lines = [
        f"PropIE estate in the sandbox at {facts['endpoint']}",
        "",
        f"Amplify app {APP_NAME} ({app_id})",
        f"  {mark(set(routing.values()) == {BLUE})} traffic: {DOMAIN} -> {routing} (blue is '{BLUE}')",
        f"  {mark(newest['status'] == 'SUCCEED')} {BLUE} newest job {newest['jobId']} is {newest['status']} "
        f"(commit {newest['commitId']}: {newest['commitMessage']})",
        f"          last good job {last_good['jobId']} (commit {last_good['commitId']})",
        f"CloudFormation {STACK}",
        f"  {mark(stack_ok)} status {stack['StackStatus']}",
        f"DynamoDB: the application reads {serving_table}",
        f"  {mark(not corrupted and len(items) == GOOD_ITEMS)} {len(items)} of {GOOD_ITEMS} items, "
        f"{corrupted} corrupted",
        f"          PITR window of {TABLE}: {window['EarliestRestorableDateTime']:%H:%M:%S} .. "
        f"{window['LatestRestorableDateTime']:%H:%M:%S} UTC",
        "CloudWatch AWS/AmplifyHosting (seeded history; the sandbox has no live traffic)",
        f"  {mark(rate <= 5)} 5XX rate over the last 5 minutes: {rate:.1f}% (automatic rollback above 5%)",
        f"SNS alerts topic {facts['topic_arn']}",
    ]
    return "\n".join(lines)


def _five_xx_rate(client: SandboxClient, app_id: str) -> float:
    cw = client.boto3_client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc)
    dims = [{"Name": "App", "Value": app_id}]

    def stat(metric: str, qid: str) -> dict[str, Any]:
        return {"Id": qid, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "AWS/AmplifyHosting", "MetricName": metric, "Dimensions": dims},
            "Period": 300, "Stat": "Sum"}}

    result = cw.get_metric_data(
        StartTime=now - dt.timedelta(minutes=5), EndTime=now,
        MetricDataQueries=[stat("5xxErrors", "errors"), stat("Requests", "requests"),
                           {"Id": "rate", "Expression": "100*errors/requests", "Label": "5XX %"}],
    )["MetricDataResults"]
    values = result[0]["Values"] if result else []
    return values[0] if values else 0.0
