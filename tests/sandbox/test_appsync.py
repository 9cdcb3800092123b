"""AppSync in the sandbox: data source CRUD and errors, fixed GraphQL API ids for seeding."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/prop-ie-appsync"
API_ID = "propiesandbox0000000000api"  # AppSync ids are 26 lowercase letters/digits


@pytest.fixture
def appsync(sandbox):
    return sandbox.boto3_client("appsync")


@pytest.fixture
def api_id(appsync) -> str:
    return appsync.create_graphql_api(name="prop-ie-api", authenticationType="API_KEY")["graphqlApi"]["apiId"]


def _error(err: pytest.ExceptionInfo) -> tuple[str, int]:
    response = err.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _create_table_source(appsync, api_id: str, name: str = "PropertiesTable", table: str = "prop-ie-data"):
    return appsync.create_data_source(
        apiId=api_id, name=name, type="AMAZON_DYNAMODB", serviceRoleArn=ROLE, description="main table",
        dynamodbConfig={"tableName": table, "awsRegion": "us-east-1"})["dataSource"]


def test_data_source_crud_round_trip(appsync, api_id):
    created = _create_table_source(appsync, api_id)
    assert created == {
        "dataSourceArn": f"arn:aws:appsync:us-east-1:123456789012:apis/{api_id}/datasources/PropertiesTable",
        "name": "PropertiesTable", "type": "AMAZON_DYNAMODB", "serviceRoleArn": ROLE,
        "description": "main table",
        "dynamodbConfig": {"tableName": "prop-ie-data", "awsRegion": "us-east-1",
                           "useCallerCredentials": False, "versioned": False},
    }
    assert appsync.get_data_source(apiId=api_id, name="PropertiesTable")["dataSource"] == created

    # The rollback's table swap: point the data source at the restored table.
    updated = appsync.update_data_source(
        apiId=api_id, name="PropertiesTable", type="AMAZON_DYNAMODB", serviceRoleArn=ROLE,
        dynamodbConfig={"tableName": "prop-ie-data-recovery", "awsRegion": "us-east-1"})["dataSource"]
    assert updated["dynamodbConfig"]["tableName"] == "prop-ie-data-recovery"
    assert "description" not in updated  # an update replaces the whole definition
    fetched = appsync.get_data_source(apiId=api_id, name="PropertiesTable")["dataSource"]
    assert fetched == updated

    appsync.create_data_source(apiId=api_id, name="none_source", type="NONE")
    names = [s["name"] for s in appsync.list_data_sources(apiId=api_id)["dataSources"]]
    assert names == ["PropertiesTable", "none_source"]

    appsync.delete_data_source(apiId=api_id, name="PropertiesTable")
    with pytest.raises(ClientError) as err:
        appsync.get_data_source(apiId=api_id, name="PropertiesTable")
    assert _error(err) == ("NotFoundException", 404)
    assert [s["name"] for s in appsync.list_data_sources(apiId=api_id)["dataSources"]] == ["none_source"]


def test_list_data_sources_pages(appsync, api_id):
    for i in range(5):
        appsync.create_data_source(apiId=api_id, name=f"s{i}", type="NONE")
    first = appsync.list_data_sources(apiId=api_id, maxResults=3)
    second = appsync.list_data_sources(apiId=api_id, maxResults=3, nextToken=first["nextToken"])
    assert [s["name"] for s in first["dataSources"]] == ["s0", "s1", "s2"]
    assert [s["name"] for s in second["dataSources"]] == ["s3", "s4"]
    assert "nextToken" not in second
    paginated = appsync.get_paginator("list_data_sources").paginate(apiId=api_id, PaginationConfig={"PageSize": 2})
    assert [s["name"] for page in paginated for s in page["dataSources"]] == [f"s{i}" for i in range(5)]


def test_unknown_api_is_not_found_for_every_operation(appsync):
    calls = [
        lambda: appsync.create_data_source(apiId="nope", name="x", type="NONE"),
        lambda: appsync.get_data_source(apiId="nope", name="x"),
        lambda: appsync.update_data_source(apiId="nope", name="x", type="NONE"),
        lambda: appsync.delete_data_source(apiId="nope", name="x"),
        lambda: appsync.list_data_sources(apiId="nope"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == ("NotFoundException", 404)
        assert err.value.response["Error"]["Message"] == "GraphQL API nope not found."


def test_data_source_errors(appsync, api_id):
    _create_table_source(appsync, api_id)
    with pytest.raises(ClientError) as err:
        _create_table_source(appsync, api_id, table="other")
    assert _error(err) == ("BadRequestException", 400)
    assert err.value.response["Error"]["Message"] == "Data source with name PropertiesTable already exists"
    # the duplicate did not overwrite the original
    assert appsync.get_data_source(apiId=api_id, name="PropertiesTable")["dataSource"][
        "dynamodbConfig"]["tableName"] == "prop-ie-data"

    bad = [
        dict(name="bad-name", type="NONE"),
        dict(name="NoConfig", type="AMAZON_DYNAMODB", serviceRoleArn=ROLE),
        dict(name="WrongConfig", type="NONE", dynamodbConfig={"tableName": "t", "awsRegion": "us-east-1"}),
        dict(name="WrongType", type="MYSQL"),
    ]
    for params in bad:
        with pytest.raises(ClientError) as err:
            appsync.create_data_source(apiId=api_id, **params)
        assert _error(err) == ("BadRequestException", 400), params
    for call in (lambda: appsync.update_data_source(apiId=api_id, name="Missing", type="NONE"),
                 lambda: appsync.delete_data_source(apiId=api_id, name="Missing")):
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == ("NotFoundException", 404)
    names = [s["name"] for s in appsync.list_data_sources(apiId=api_id)["dataSources"]]
    assert names == ["PropertiesTable"]


def test_deleting_the_api_deletes_its_data_sources(appsync, api_id):
    _create_table_source(appsync, api_id)
    appsync.delete_graphql_api(apiId=api_id)
    with pytest.raises(ClientError) as err:
        appsync.get_data_source(apiId=api_id, name="PropertiesTable")
    assert _error(err) == ("NotFoundException", 404)


def test_sandbox_id_tag_fixes_the_graphql_api_id(appsync):
    api = appsync.create_graphql_api(name="prop-ie-sandbox-api", authenticationType="API_KEY",
                                     tags={"sandbox:id": API_ID, "team": "propie"})["graphqlApi"]
    assert api["apiId"] == API_ID
    assert api["arn"] == "arn:aws:appsync:us-east-1:123456789012:apis/" + API_ID
    assert api["tags"] == {"sandbox:id": API_ID, "team": "propie"}
    fetched = appsync.get_graphql_api(apiId=API_ID)["graphqlApi"]
    assert fetched["name"] == "prop-ie-sandbox-api"
    assert appsync.list_tags_for_resource(resourceArn=api["arn"])["tags"]["team"] == "propie"
    _create_table_source(appsync, API_ID)
    assert appsync.list_data_sources(apiId=API_ID)["dataSources"][0]["dataSourceArn"].startswith(
        "arn:aws:appsync:us-east-1:123456789012:apis/" + API_ID + "/datasources/")

    with pytest.raises(ClientError) as err:
        appsync.create_graphql_api(name="again", authenticationType="API_KEY",
                                   tags={"sandbox:id": API_ID})
    assert _error(err) == ("BadRequestException", 400)
    with pytest.raises(ClientError) as err:
        appsync.create_graphql_api(name="bad", authenticationType="API_KEY", tags={"sandbox:id": "short"})
    assert _error(err) == ("BadRequestException", 400)
    assert "26 lowercase letters or digits" in err.value.response["Error"]["Message"]
    assert [a["apiId"] for a in appsync.list_graphql_apis()["graphqlApis"]] == [API_ID]


def test_motos_custom_id_tag_is_honoured_too(appsync):
    wanted = "a" * 26
    api = appsync.create_graphql_api(name="other", authenticationType="API_KEY",
                                     tags={"_custom_id_": wanted})["graphqlApi"]
    assert api["apiId"] == wanted
    appsync.tag_resource(resourceArn=api["arn"], tags={"rollback-id": "rb-1"})
    assert appsync.list_tags_for_resource(resourceArn=api["arn"])["tags"] == {
        "_custom_id_": wanted, "rollback-id": "rb-1"}
