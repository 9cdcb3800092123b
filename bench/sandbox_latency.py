"""Sandbox start-up time and median call latency over HTTP.

    python bench/sandbox_latency.py [--calls 300]

Start-up: from launching `python -m sandbox serve` to its first answered request.
Latency: boto3 calls over HTTP (DynamoDB GetItem, SNS ListTopics, CloudWatch DescribeAlarms,
Amplify GetApp), each timed on the client.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sandbox.client import SandboxClient  # noqa: E402


def start() -> tuple[subprocess.Popen, SandboxClient, float]:
    port_file = Path(tempfile.mkdtemp()) / "port"
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "serve", "--port", "0",
                             "--port-file", str(port_file)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not port_file.exists():
        time.sleep(0.005)
    client = SandboxClient(f"http://127.0.0.1:{port_file.read_text()}")
    client.health()
    return proc, client, time.monotonic() - began


FIRST_CALL_MS: dict[str, float] = {}


def median_ms(fn, calls: int, name: str) -> float:
    t = time.perf_counter()
    fn()  # the first call of a service imports its moto backend and sandbox extension
    FIRST_CALL_MS[name] = round((time.perf_counter() - t) * 1000, 1)
    samples = []
    for _call in range(calls):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    startups = []
    for _start in range(args.starts):
        proc, client, took = start()
        startups.append(took)
        proc.terminate()
        proc.wait()
    proc, client, _took = start()
    try:
        ddb = client.boto3_client("dynamodb")
        ddb.create_table(TableName="bench", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        ddb.put_item(TableName="bench", Item={"pk": {"S": "a"}})
        sns = client.boto3_client("sns")
        cw = client.boto3_client("cloudwatch")
        amplify = client.boto3_client("amplify")
        cfn = client.boto3_client("cloudformation")
        app_id = amplify.create_app(name="bench")["app"]["appId"]
        result = {
            "startup_s_median": round(statistics.median(startups), 3),
            "startup_s_all": [round(s, 3) for s in startups],
            "latency_ms_median": {
                "dynamodb.GetItem": median_ms(lambda: ddb.get_item(TableName="bench", Key={"pk": {"S": "a"}}), args.calls, "dynamodb"),
                "sns.ListTopics": median_ms(sns.list_topics, args.calls, "sns"),
                "cloudwatch.DescribeAlarms": median_ms(cw.describe_alarms, args.calls, "cloudwatch"),
                "amplify.GetApp": median_ms(lambda: amplify.get_app(appId=app_id), args.calls, "amplify"),
                "cloudformation.DescribeStacks": median_ms(cfn.describe_stacks, args.calls, "cloudformation"),
            },
            "first_call_ms": FIRST_CALL_MS,
        }
        result["latency_ms_median"] = {k: round(v, 2) for k, v in result["latency_ms_median"].items()}
    finally:
        proc.terminate()
        proc.wait()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
