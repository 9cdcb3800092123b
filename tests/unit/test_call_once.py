"""common.call_once: a non-idempotent call is made once in effect whatever fails around it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.propie.rollback.plugins.module_utils.common import call_once  # noqa: E402


def error(code, status):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "StartJob")


class Aws:
    """A call that fails with the given errors first; `landed` says whether each attempt got through."""

    def __init__(self, errors, landed):
        self.errors, self.landed, self.done, self.calls = list(errors), list(landed), [], 0

    def call(self):
        self.calls += 1
        if self.landed.pop(0) if self.landed else True:
            self.done.append(self.calls)
        if self.errors:
            raise self.errors.pop(0)
        return {"jobId": str(self.calls)}

    def find(self):
        return {"jobId": str(self.done[0]), "found": True} if self.done else None


def run(aws, **kw):
    return call_once(aws.call, aws.find, "StartJob", sleep=lambda s: None, **kw)


def test_throttling_is_retried_without_a_read():
    aws = Aws([error("ThrottlingException", 400), error("Throttling", 400)], [False, False, True])
    assert run(aws) == {"jobId": "3"} and aws.done == [3]


def test_a_lost_response_is_found_not_repeated():
    aws = Aws([ReadTimeoutError(endpoint_url="http://x")], [True])
    assert run(aws) == {"jobId": "1", "found": True} and aws.calls == 1 and aws.done == [1]


def test_a_5xx_that_did_nothing_is_repeated_once_found_absent():
    aws = Aws([error("InternalFailure", 500), error("ServiceUnavailable", 503)], [False, False, True])
    assert run(aws) == {"jobId": "3"} and aws.done == [3]


def test_a_conflict_after_an_unclear_answer_means_the_first_landed():
    landed_late = Aws([error("InternalFailure", 500), error("TableInUseException", 400)], [False, False])
    landed_late.find = lambda: {"jobId": "1"} if landed_late.calls == 2 else None
    assert run(landed_late, conflict_codes=("TableInUseException",)) == {"jobId": "1"}


@pytest.mark.parametrize("exc", [error("ValidationException", 400), error("TableInUseException", 400)])
def test_other_errors_are_raised_at_once(exc):
    aws = Aws([exc], [False])
    with pytest.raises(ClientError):
        run(aws, conflict_codes=("TableInUseException",))
    assert aws.calls == 1


def test_no_connection_is_retried_and_attempts_are_bounded():
    aws = Aws([EndpointConnectionError(endpoint_url="http://x")] * 3, [False] * 3)
    with pytest.raises(EndpointConnectionError):
        run(aws, attempts=3)
    assert aws.calls == 3 and aws.done == []
