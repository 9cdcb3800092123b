"""Fidelity of the sandbox's own machinery, through boto3 and HTTP only."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import botocore.exceptions
import pytest

from tests.conftest import REPO


def _error_code(call) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]


@pytest.mark.parametrize(
    "service,operation,call",
    [
        ("dynamodb", "ListTables", lambda c: c.list_tables()),  # json
        ("cloudformation", "DescribeStacks", lambda c: c.describe_stacks()),  # query
        ("cloudwatch", "DescribeAlarms", lambda c: c.describe_alarms()),  # json (query-compatible)
        ("lambda", "ListFunctions", lambda c: c.list_functions()),  # rest-json
        ("sns", "ListTopics", lambda c: c.list_topics()),  # query
        ("s3", "ListBuckets", lambda c: c.list_buckets()),  # rest-xml
    ],
)
def test_fault_error_is_read_by_botocore_in_each_protocol(sandbox, service, operation, call):
    client = sandbox.boto3_client(service, retries={"max_attempts": 1})
    sandbox.add_fault(service=service, operation=operation, error_code="AccessDeniedException",
                      http_status=403, count=1)
    assert _error_code(lambda: call(client)) == "AccessDeniedException"
    call(client)  # count=1: the rule is used up, the next call succeeds
    log = [r for r in sandbox.requests() if r["operation"] == operation]
    assert [(r["status"], r["fault"], r["error_code"]) for r in log] == [
        (403, True, "AccessDeniedException"), (200, False, None)]


def test_throttling_fault_is_retried_by_botocore(sandbox):
    ddb = sandbox.boto3_client("dynamodb")
    sandbox.add_fault(service="dynamodb", operation="ListTables",
                      error_code="ThrottlingException", http_status=400, count=2)
    assert ddb.list_tables()["TableNames"] == []
    statuses = [r["status"] for r in sandbox.requests() if r["operation"] == "ListTables"]
    assert statuses == [400, 400, 200]


def test_latency_fault_delays_without_failing(sandbox):
    sns = sandbox.boto3_client("sns")
    sandbox.add_fault(service="sns", operation="ListTopics", latency_ms=300, count=1)
    started = time.monotonic()
    sns.list_topics()
    assert time.monotonic() - started >= 0.3


def test_probability_fault_fires_sometimes(sandbox):
    sandbox.add_fault(service="sns", operation="ListTopics", error_code="Throttling",
                      http_status=400, probability=0.5)
    sns = sandbox.boto3_client("sns", retries={"max_attempts": 1})
    outcomes = set()
    for _attempt in range(60):
        try:
            sns.list_topics()
            outcomes.add("ok")
        except botocore.exceptions.ClientError:
            outcomes.add("fault")
    assert outcomes == {"ok", "fault"}


@pytest.mark.parametrize(
    "rule,needle",
    [
        ({}, "needs 'service'"),
        ({"service": "dynamodb"}, "needs 'error_code', 'latency_ms' and/or 'response_delay_ms'"),
        ({"service": "dynamodb", "error_code": "X", "http_status": 200}, "http_status"),
        ({"service": "dynamodb", "error_code": "X", "probability": 2}, "probability"),
        ({"service": "dynamodb", "error_code": "X", "count": 0}, "count"),
        ({"service": "dynamodb", "error_code": "X", "colour": "red"}, "unknown fault rule field"),
    ],
)
def test_malformed_fault_rule_is_rejected_clearly(sandbox, rule, needle):
    with pytest.raises(RuntimeError) as info:
        sandbox.add_fault(**rule)
    assert "400" in str(info.value) and needle in str(info.value)
    assert sandbox.control("GET", "faults")["faults"] == []


def test_request_log_records_service_operation_and_mutation(sandbox):
    seq = sandbox.last_seq()
    sns = sandbox.boto3_client("sns")
    sns.create_topic(Name="t")
    sns.list_topics()
    log = sandbox.requests(seq)
    assert [(r["service"], r["operation"], r["mutating"]) for r in log] == [
        ("sns", "CreateTopic", True), ("sns", "ListTopics", False)]
    assert sandbox.mutating_since(log[-1]["seq"]) == []
    assert all(r["region"] == "us-east-1" and r["time"] for r in log)


def test_request_not_matching_the_service_model_is_rejected(sandbox):
    # botocore validates client-side, so send a raw request that skips its validation.
    ddb = sandbox.boto3_client("dynamodb", parameter_validation=False, retries={"max_attempts": 1})
    code = _error_code(lambda: ddb.describe_table(TableName=""))
    assert code == "ValidationException"
    cfn = sandbox.boto3_client("cloudformation", parameter_validation=False,
                               retries={"max_attempts": 1})
    assert _error_code(cfn.describe_stack_events) == "ValidationError"


def test_unimplemented_operation_fails_at_once_without_retries(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ClientError) as info:
        cw.get_metric_stream(Name="nope")
    assert info.value.response["Error"]["Code"] == "NotImplemented"
    assert "does not emulate cloudwatch.GetMetricStream" in str(info.value)
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert time.monotonic() - started < 1


def test_time_scale_is_validated_and_reported(sandbox):
    sandbox.set_time_scale(0.05)
    assert sandbox.health()["time_scale"] == 0.05
    with pytest.raises(RuntimeError, match="time_scale must be a number"):
        sandbox.set_time_scale(-1)
    sandbox.reset()
    assert sandbox.health()["time_scale"] == 0.05  # a reset drops state, not the run's time scale


def test_reset_clears_aws_state_faults_and_log(sandbox):
    sandbox.boto3_client("sns").create_topic(Name="gone")
    sandbox.add_fault(service="sqs", operation="*", latency_ms=1)
    sandbox.reset()
    assert sandbox.requests() == []
    assert sandbox.control("GET", "faults")["faults"] == []
    assert sandbox.boto3_client("sns").list_topics()["Topics"] == []


def test_unknown_control_route_is_a_clear_error(sandbox):
    with pytest.raises(RuntimeError, match="unknown control route"):
        sandbox.control("GET", "nonsense")


def test_serve_refuses_a_port_in_use():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "sandbox", "serve", "--port", str(port)],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )
    assert proc.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr


def test_seed_rejects_an_unknown_scenario(sandbox):
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "seed", "--scenario", "nope",
         "--endpoint", sandbox.endpoint],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "unknown scenario 'nope'; known: propie-incident" in proc.stderr
