"""CloudWatch over smithy-rpc-v2-cbor, the protocol botocore 1.44.8's model lists first.

botocore's client prefers the json protocol for CloudWatch, so these tests build the CBOR
request with botocore's own smithy-rpc-v2-cbor serializer, sign it, and read the answer with
botocore's own CBOR parser: the sandbox's cbor2 bodies are judged by the SDK's definitions.
"""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from sandbox.client import REGION, SandboxClient

PROTOCOL = "smithy-rpc-v2-cbor"


def cbor_call(sandbox: SandboxClient, operation: str, params: dict[str, Any]) -> tuple[int, dict, dict]:
    """(status, response headers, parsed output) of one CBOR CloudWatch call."""
    model = botocore.session.get_session().get_service_model("cloudwatch")
    op = model.operation_model(operation)
    request = create_serializer(PROTOCOL).serialize_to_request(params, op)
    aws = AWSRequest(method=request["method"], url=sandbox.endpoint + request["url_path"],
                     data=request["body"], headers=request["headers"])
    SigV4Auth(Credentials("testing", "testing"), "monitoring", REGION).add_auth(aws)
    prepared = aws.prepare()
    req = urllib.request.Request(prepared.url, data=prepared.body, method="POST",
                                 headers=dict(prepared.headers.items()))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, headers, body = resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        status, headers, body = err.code, dict(err.headers.items()), err.read()
    parsed = create_parser(PROTOCOL).parse(
        {"status_code": status, "headers": headers, "body": body}, op.output_shape)
    return status, headers, parsed


def test_cbor_statistics_answer_in_cbor_with_timestamps(sandbox: SandboxClient) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    sandbox.boto3_client("cloudwatch").put_metric_data(Namespace="N", MetricData=[
        {"MetricName": "m", "Value": 2.0, "Timestamp": now}])
    status, headers, out = cbor_call(sandbox, "GetMetricStatistics", {
        "Namespace": "N", "MetricName": "m", "StartTime": now - dt.timedelta(minutes=5),
        "EndTime": now + dt.timedelta(minutes=5), "Period": 60, "Statistics": ["Sum"]})
    assert status == 200
    assert headers["Content-Type"] == "application/cbor"
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert out["Label"] == "m"
    [point] = out["Datapoints"]
    assert point["Sum"] == 2.0
    assert point["Timestamp"] == now


def test_cbor_errors_carry_the_code(sandbox: SandboxClient) -> None:
    status, headers, out = cbor_call(sandbox, "DescribeAlarmHistory", {"NextToken": "x"})
    assert status == 400
    assert headers["Content-Type"] == "application/cbor"
    assert out["Error"]["Code"] == "InvalidNextToken"
    assert out["Error"]["Message"] == "The service returned an invalid NextToken."
    sandbox.add_fault(service="cloudwatch", operation="GetMetricData",
                      error_code="Throttling", http_status=400, count=1)
    now = dt.datetime.now(dt.timezone.utc)
    status, _headers, out = cbor_call(sandbox, "GetMetricData", {
        "MetricDataQueries": [{"Id": "e", "Expression": "1"}],
        "StartTime": now - dt.timedelta(minutes=5), "EndTime": now})
    assert status == 400 and out["Error"]["Code"] == "Throttling"
