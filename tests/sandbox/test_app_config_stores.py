"""Where an application's table name can live, and that each store round-trips in the sandbox.

The runbook's table swap ("update the application's environment variables to point to the
recovery table") touches Lambda environment variables, SSM parameters, Amplify branch
variables and AppSync data sources. These tests pin the AWS behaviour the swap relies on.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError

TABLE = "prop-ie-sandbox-data"
RECOVERY = "prop-ie-sandbox-data-recovery"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


@pytest.fixture
def lambda_function(sandbox) -> str:
    """A Lambda function with TABLE_NAME in its environment (never invoked: no docker)."""
    iam = sandbox.boto3_client("iam")
    role = iam.create_role(RoleName="prop-ie-api-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    sandbox.boto3_client("lambda").create_function(
        FunctionName="prop-ie-api", Runtime="python3.11", Role=role, Handler="index.handler",
        Code={"ZipFile": _zip()}, Environment={"Variables": {"TABLE_NAME": TABLE, "STAGE": "sandbox"}})
    return "prop-ie-api"


def test_lambda_environment_round_trips(sandbox, lambda_function):
    lam = sandbox.boto3_client("lambda")
    before = lam.get_function_configuration(FunctionName=lambda_function)
    assert before["Environment"]["Variables"] == {"TABLE_NAME": TABLE, "STAGE": "sandbox"}

    # Environment.Variables replaces the whole map: callers must merge themselves.
    updated = lam.update_function_configuration(
        FunctionName=lambda_function,
        Environment={"Variables": {**before["Environment"]["Variables"], "TABLE_NAME": RECOVERY}})
    assert updated["Environment"]["Variables"] == {"TABLE_NAME": RECOVERY, "STAGE": "sandbox"}
    after = lam.get_function_configuration(FunctionName=lambda_function)
    assert after["Environment"]["Variables"] == {"TABLE_NAME": RECOVERY, "STAGE": "sandbox"}
    assert after["LastUpdateStatus"] == "Successful"

    lam.update_function_configuration(FunctionName=lambda_function,
                                      Environment={"Variables": {"TABLE_NAME": TABLE}})
    assert lam.get_function_configuration(FunctionName=lambda_function)["Environment"]["Variables"] == {
        "TABLE_NAME": TABLE}


def test_lambda_unknown_function_is_resource_not_found(sandbox):
    with pytest.raises(ClientError) as err:
        sandbox.boto3_client("lambda").update_function_configuration(
            FunctionName="nope", Environment={"Variables": {"TABLE_NAME": RECOVERY}})
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_ssm_parameter_overwrite_and_history(sandbox):
    ssm = sandbox.boto3_client("ssm")
    name = "/prop-ie/sandbox/table-name"
    assert ssm.put_parameter(Name=name, Value=TABLE, Type="String")["Version"] == 1
    with pytest.raises(ClientError) as err:
        ssm.put_parameter(Name=name, Value=RECOVERY, Type="String")
    assert err.value.response["Error"]["Code"] == "ParameterAlreadyExists"
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == TABLE

    assert ssm.put_parameter(Name=name, Value=RECOVERY, Type="String", Overwrite=True)["Version"] == 2
    parameter = ssm.get_parameter(Name=name)["Parameter"]
    assert (parameter["Value"], parameter["Version"]) == (RECOVERY, 2)
    history = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [(h["Version"], h["Value"]) for h in history] == [(1, TABLE), (2, RECOVERY)]
    # the previous value stays readable by version, which is how a swap is undone
    assert ssm.get_parameter(Name=f"{name}:1")["Parameter"]["Value"] == TABLE
    with pytest.raises(ClientError) as err:
        ssm.get_parameter(Name="/prop-ie/sandbox/missing")
    assert err.value.response["Error"]["Code"] == "ParameterNotFound"


def test_amplify_branch_variables_round_trip(sandbox):
    amplify = sandbox.boto3_client("amplify")
    app_id = amplify.create_app(name="prop-ie-config", environmentVariables={"REGION": "us-east-1"})["app"]["appId"]
    amplify.create_branch(appId=app_id, branchName="production",
                          environmentVariables={"TABLE_NAME": TABLE, "STAGE": "prod"})
    branch = amplify.get_branch(appId=app_id, branchName="production")["branch"]
    assert branch["environmentVariables"] == {"TABLE_NAME": TABLE, "STAGE": "prod"}
    amplify.update_branch(appId=app_id, branchName="production",
                          environmentVariables={"TABLE_NAME": RECOVERY, "STAGE": "prod"})
    branch = amplify.get_branch(appId=app_id, branchName="production")["branch"]
    assert branch["environmentVariables"] == {"TABLE_NAME": RECOVERY, "STAGE": "prod"}
    # app-level variables are a separate store
    assert amplify.get_app(appId=app_id)["app"]["environmentVariables"] == {"REGION": "us-east-1"}


def test_appsync_data_source_table_swap(sandbox):
    appsync = sandbox.boto3_client("appsync")
    api_id = appsync.create_graphql_api(name="prop-ie-api", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    role = "arn:aws:iam::123456789012:role/prop-ie-appsync"
    appsync.create_data_source(apiId=api_id, name="PropertiesTable", type="AMAZON_DYNAMODB",
                               serviceRoleArn=role,
                               dynamodbConfig={"tableName": TABLE, "awsRegion": "us-east-1"})
    appsync.update_data_source(apiId=api_id, name="PropertiesTable", type="AMAZON_DYNAMODB",
                               serviceRoleArn=role,
                               dynamodbConfig={"tableName": RECOVERY, "awsRegion": "us-east-1"})
    source = appsync.get_data_source(apiId=api_id, name="PropertiesTable")["dataSource"]
    assert source["dynamodbConfig"]["tableName"] == RECOVERY
    assert source["serviceRoleArn"] == role


def test_every_store_change_is_logged_as_mutating(sandbox, lambda_function):
    """A re-run check relies on the request log telling reads from writes."""
    seq = sandbox.last_seq()
    ssm = sandbox.boto3_client("ssm")
    ssm.put_parameter(Name="/prop-ie/t", Value=TABLE, Type="String")
    ssm.get_parameter(Name="/prop-ie/t")
    lam = sandbox.boto3_client("lambda")
    lam.get_function_configuration(FunctionName=lambda_function)
    lam.update_function_configuration(FunctionName=lambda_function,
                                      Environment={"Variables": {"TABLE_NAME": RECOVERY}})
    writes = [(r["service"], r["operation"]) for r in sandbox.mutating_since(seq)]
    assert writes == [("ssm", "PutParameter"), ("lambda", "UpdateFunctionConfiguration")]
