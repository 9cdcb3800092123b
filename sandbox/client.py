"""A small client for the sandbox: control routes plus boto3 clients pointed at it.

Used by the seed scenarios, the tests and the benchmarks. Product code never imports it.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"


class SandboxClient:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")

    # -- control routes ------------------------------------------------------
    def control(self, method: str, route: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            f"{self.endpoint}/_sandbox/{route}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            raise RuntimeError(f"sandbox {method} /_sandbox/{route}: {err.code} {detail}") from None

    def health(self) -> dict[str, Any]:
        return self.control("GET", "health")

    def reset(self) -> None:
        self.control("POST", "reset")

    def set_time_scale(self, scale: float) -> None:
        self.control("POST", "config", {"time_scale": scale})

    def advance(self, seconds: float) -> dict[str, Any]:
        """Let `seconds` emulated seconds pass at once (POST /_sandbox/clock/advance).

        Returns the clock: {"time_scale", "offset_seconds", "now"}; a reset undoes advances.
        """
        return self.control("POST", "clock/advance", {"seconds": seconds})

    def clock(self) -> dict[str, Any]:
        """GET /_sandbox/clock: {"time_scale", "offset_seconds" (real seconds ahead), "now"}."""
        return self.control("GET", "clock")

    def now(self) -> dt.datetime:
        """The sandbox's now (the system clock plus any advance), aware UTC."""
        return dt.datetime.fromisoformat(self.clock()["now"])

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        return self.control("POST", "faults", rule)

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return self.control("GET", f"requests?since={since}")["requests"]

    def last_seq(self) -> int:
        log = self.requests()
        return log[-1]["seq"] if log else 0

    def mutating_since(self, seq: int) -> list[dict[str, Any]]:
        return [r for r in self.requests(seq) if r["mutating"]]

    # -- AWS clients -----------------------------------------------------------
    def boto3_client(self, service: str, **config: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(**config) if config else None,
        )

    def sqs_subscribed_to(self, topic_name: str, queue_name: str) -> tuple[str, str]:
        """Create an SNS topic with an SQS queue subscribed to it; return (topic ARN, queue URL).

        What tests use to receive the SNS messages (alarms, rollback notifications) sent there.
        """
        sns, sqs = self.boto3_client("sns"), self.boto3_client("sqs")
        topic = sns.create_topic(Name=topic_name)["TopicArn"]
        url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        return topic, url

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3/botocore (and Ansible) at the sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
