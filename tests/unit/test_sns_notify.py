"""sns_notify: input checks, the FIFO deduplication id, and the send record (botocore Stubber)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.propie.rollback.plugins.modules import sns_notify as mod
from tests.unit.fakes import Exit, Fail, FakeAWSModule, stubbed_clients

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
FIFO = TOPIC + ".fifo"
NID = "rb-20261130T034501Z-9f2c1a:rollback_started:0123456789ab"


@pytest.fixture
def aws():
    yield from stubbed_clients(("sns",))


def params(**changes):
    return dict(dict(topic_arn=TOPIC, subject="[CRITICAL] production: rolling back", body='{"event": "x"}',
                     notification_id=NID, record_dir=None, message_group_id="propie-rollback"), **changes)


def run(clients, p, check_mode=False):
    with pytest.raises((Exit, Fail)) as info:
        mod.do(FakeAWSModule(clients, p, check_mode, diff=True))
    return info.value


@pytest.mark.parametrize("changes, expect", [
    ({"topic_arn": "alerts"}, "topic_arn 'alerts' is not an SNS topic ARN"),
    ({"topic_arn": "arn:aws:sqs:us-east-1:123456789012:alerts"}, "is not an SNS topic ARN"),
    ({"subject": "x" * 101}, "subject must be 1-100 characters on one line, got 101"),
    ({"subject": "two\nlines"}, "subject must be 1-100 characters on one line"),
    ({"body": ""}, "body must be 1 byte to 256 KiB, got 0 bytes"),
    ({"body": "x" * (256 * 1024 + 1)}, "got 262145 bytes"),
    ({"message_group_id": "a b"}, "message_group_id 'a b' must be"),
])
def test_bad_input_sends_nothing(aws, changes, expect):
    clients, _stubs = aws
    out = run(clients, params(**changes))
    assert isinstance(out, Fail) and expect in out.result["msg"] and out.result["msg"].endswith("nothing was sent")


def test_a_fifo_topic_gets_a_deduplication_id_from_the_notification_id(aws, tmp_path):
    clients, stubs = aws
    request = mod.publish_request(params(topic_arn=FIFO))
    assert request["MessageGroupId"] == "propie-rollback" and len(request["MessageDeduplicationId"]) == 64
    other = mod.publish_request(params(topic_arn=FIFO, body="another body"))
    assert other["MessageDeduplicationId"] == request["MessageDeduplicationId"]  # the id decides, not the body
    assert "MessageDeduplicationId" not in mod.publish_request(params())
    stubs["sns"].add_response("publish", {"MessageId": "m-1"}, request)
    out = run(clients, params(topic_arn=FIFO, record_dir=str(tmp_path)))
    assert isinstance(out, Exit) and out.result["sent"] and out.result["fifo"] and out.result["message_id"] == "m-1"


def test_the_record_makes_a_rerun_send_nothing(aws, tmp_path):
    clients, stubs = aws
    stubs["sns"].add_response("publish", {"MessageId": "m-1"}, mod.publish_request(params()))
    first = run(clients, params(record_dir=str(tmp_path / "sent")))
    assert first.result["changed"] and first.result["sent"]
    record = first.result["record"]
    assert oct(os.stat(record).st_mode & 0o777) == "0o600" and oct(os.stat(tmp_path / "sent").st_mode & 0o777) == "0o700"
    assert json.loads(open(record).read())["message_id"] == "m-1"
    again = run(clients, params(record_dir=str(tmp_path / "sent")))
    assert (again.result["changed"], again.result["sent"], again.result["message_id"]) == (False, False, "m-1")
    assert again.result["sent_at"] == first.result["sent_at"]
    # Another topic is another notification; check mode says it would send and sends nothing.
    preview = run(clients, params(record_dir=str(tmp_path / "sent"), topic_arn=TOPIC + "-2"), check_mode=True)
    assert preview.result["changed"] and not preview.result["sent"] and preview.result["message_id"] is None


def test_without_an_id_every_run_sends(aws, tmp_path):
    clients, stubs = aws
    request = mod.publish_request(params(notification_id=None))
    assert "MessageAttributes" not in request
    for _run in range(2):
        stubs["sns"].add_response("publish", {"MessageId": "m"}, request)
        out = run(clients, params(notification_id=None, record_dir=str(tmp_path)))
        assert out.result["sent"] and out.result["record"] is None
    assert os.listdir(tmp_path) == []
