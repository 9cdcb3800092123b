# -*- coding: utf-8 -*-
"""One AWS-call layer: paginate retries each page, throttling codes, UnprocessedKeys cap, rollback ids,
waiters that ride out throttling, one time format."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import botocore.paginate
import pytest
from botocore.stub import Stubber


from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.propie.rollback.plugins.module_utils import cloudformation as cfn
from ansible_collections.propie.rollback.plugins.module_utils import common
from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb
from ansible_collections.propie.rollback.plugins.module_utils import rollback_id as rbid


def client(service):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def summary(name):
    return {"LogicalResourceId": name, "ResourceType": "AWS::SNS::Topic", "ResourceStatus": "CREATE_COMPLETE",
            "LastUpdatedTimestamp": "2026-11-30T03:00:00Z"}


@pytest.fixture
def slept(monkeypatch):
    calls = []
    monkeypatch.setattr(cloud.time, "sleep", calls.append)
    monkeypatch.setattr(ddb.time, "sleep", calls.append)
    return calls


def test_paginate_retries_the_throttled_page_only(slept):
    cf = client("cloudformation")
    with Stubber(cf) as stub:
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [summary("A")], "NextToken": "t2"},
                          {"StackName": "s"})
        stub.add_client_error("list_stack_resources", "ThrottlingException", http_status_code=400,
                              expected_params={"StackName": "s", "NextToken": "t2"})
        stub.add_client_error("list_stack_resources", "Throttling", http_status_code=400,
                              expected_params={"StackName": "s", "NextToken": "t2"})
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [summary("B")]},
                          {"StackName": "s", "NextToken": "t2"})
        # as the modules make it: module.client(..., retry_decorator=aws_retry)
        items = common.paginate(RetryingBotoClientWrapper(cf, common.aws_retry), "list_stack_resources", "StackResourceSummaries", StackName="s")
        stub.assert_no_pending_responses()
    assert [i["LogicalResourceId"] for i in items] == ["A", "B"]
    assert len(slept) == 2  # one backoff per throttled page request, first page not read again


def test_paginate_without_key_gives_pages_and_raises_other_errors(slept):
    cf = client("cloudformation")
    with Stubber(cf) as stub:
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [summary("A")]}, {"StackName": "s"})
        pages = common.paginate(cf, "list_stack_resources", StackName="s")
        stub.add_client_error("list_stack_resources", "ValidationError", http_status_code=400)
        with pytest.raises(cf.exceptions.ClientError, match="ValidationError"):
            common.paginate(cf, "list_stack_resources", "StackResourceSummaries", StackName="gone")
    assert [p["StackResourceSummaries"][0]["LogicalResourceId"] for p in pages] == ["A"]
    assert slept == []


def test_paginate_gives_up_after_the_policy_retries(slept):
    cf = client("cloudformation")
    policy = AWSRetry.jittered_backoff(retries=3, delay=1, catch_extra_error_codes=common.THROTTLING_CODES)
    with Stubber(cf) as stub:
        for code in ["ThrottlingException"] * 3:
            stub.add_client_error("list_stack_resources", code, http_status_code=400)
        with pytest.raises(cf.exceptions.ClientError, match="ThrottlingException"):
            common.paginate(cf, "list_stack_resources", "StackResourceSummaries", retry=policy, StackName="s")
        stub.assert_no_pending_responses()
    assert len(slept) == 2


class MovedMethodPageIterator(botocore.paginate.PageIterator):
    """botocore's PageIterator as a release might have it: the client method no longer `_method`."""

    def __init__(self, method, *args, **kwargs):
        super().__init__(method, *args, **kwargs)
        self._request = self.__dict__.pop("_method")

    def _make_request(self, current_kwargs):
        return self._request(**current_kwargs)


def test_paginate_without_page_iterator_method_retries_the_whole_listing(slept, monkeypatch):
    monkeypatch.setattr(botocore.paginate.Paginator, "PAGE_ITERATOR_CLS", MovedMethodPageIterator)
    cf = client("cloudformation")
    assert not hasattr(cf.get_paginator("list_stack_resources").paginate(StackName="s"), "_method")
    with Stubber(cf) as stub:
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [summary("A")], "NextToken": "t2"},
                          {"StackName": "s"})
        stub.add_client_error("list_stack_resources", "ThrottlingException", http_status_code=400,
                              expected_params={"StackName": "s", "NextToken": "t2"})
        # the whole listing again, from the first page
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [summary("A")], "NextToken": "t2"},
                          {"StackName": "s"})
        stub.add_response("list_stack_resources", {"StackResourceSummaries": [summary("B")]},
                          {"StackName": "s", "NextToken": "t2"})
        items = common.paginate(RetryingBotoClientWrapper(cf, common.aws_retry), "list_stack_resources",
                                "StackResourceSummaries", StackName="s")
        stub.assert_no_pending_responses()
    assert [i["LogicalResourceId"] for i in items] == ["A", "B"]  # the first page once, not twice
    assert len(slept) == 1
    with Stubber(cf) as stub:
        stub.add_client_error("list_stack_resources", "ValidationError", http_status_code=400)
        with pytest.raises(cf.exceptions.ClientError, match="ValidationError"):
            common.paginate(cf, "list_stack_resources", StackName="gone")
    assert len(slept) == 1  # not retried


def test_this_botocore_takes_the_page_by_page_path():
    # test_paginate_retries_the_throttled_page_only covers that path; this says when a botocore
    # upgrade has moved paginate onto the whole-listing fallback.
    pages = client("cloudformation").get_paginator("list_stack_resources").paginate(StackName="s")
    assert callable(getattr(pages, "_method", None))


def test_aws_retry_codes_are_what_aws_retry_retries():
    for code in common.AWS_RETRY_CODES:
        assert AWSRetry.found(code, catch_extra_error_codes=common.THROTTLING_CODES), code
    assert set(common.THROTTLING_CODES) <= set(common.AWS_RETRY_CODES)
    for code in ("AccessDeniedException", "ResourceNotFoundException", "ValidationException"):
        assert not AWSRetry.found(code, catch_extra_error_codes=common.THROTTLING_CODES)
        assert code not in common.AWS_RETRY_CODES


def test_retrying_waiter_is_botocores_waiter_plus_retry_acceptors():
    lam = client("lambda")
    plain = lam.get_waiter("function_updated").config
    waiter = common.retrying_waiter(lam, "function_updated", 2, 7)
    assert waiter.name == "FunctionUpdated" and waiter.config.operation == plain.operation
    assert (waiter.config.delay, waiter.config.max_attempts) == (2, 7)
    acceptors = [(a.state, a.matcher, a.argument, a.expected) for a in waiter.config.acceptors]
    assert acceptors[:len(plain.acceptors)] == [(a.state, a.matcher, a.argument, a.expected) for a in plain.acceptors]
    assert acceptors[len(plain.acceptors):] == [("retry", "error", None, c) for c in common.AWS_RETRY_CODES]
    assert common.retrying_waiter(lam, "FunctionUpdated", 1, 1).name == "FunctionUpdated"
    with pytest.raises(ValueError, match="has no function_gone waiter for lambda .it has: FunctionActive, "):
        common.retrying_waiter(lam, "function_gone", 1, 1)
    with pytest.raises(ValueError, match="has no stack_gone waiter for amplify .it has: none."):
        common.retrying_waiter(client("amplify"), "stack_gone", 1, 1)


UTC = dt.timezone.utc


@pytest.mark.parametrize("value,text", [
    (dt.datetime(2026, 11, 30, 3, 45, 1, tzinfo=UTC), "2026-11-30T03:45:01Z"),
    (dt.datetime(2026, 11, 30, 3, 45, 1, 123456, tzinfo=UTC), "2026-11-30T03:45:01.123456Z"),
    (dt.datetime(2026, 11, 30, 3, 45, 1), "2026-11-30T03:45:01Z"),  # naive: UTC
    (dt.datetime(2026, 11, 30, 4, 45, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2026-11-30T03:45:01Z"),
])
def test_one_time_format(value, text):
    assert common.iso(value) == text
    assert ddb.iso(value) == text
    assert common.parse_iso(text) == (value if value.tzinfo else value.replace(tzinfo=UTC))


def test_iso_keeps_other_values_and_dynamodb_takes_epoch_seconds():
    assert common.iso(None) is None and common.iso("2026-11-30T03:45:01Z") == "2026-11-30T03:45:01Z"
    assert ddb.iso(None) is None
    assert ddb.iso(1796010301) == "2026-11-30T03:45:01Z"
    assert ddb.iso(1796010301.5) == "2026-11-30T03:45:01.500000Z"
    # an older result's form still reads back; not a time is None
    assert common.parse_iso("2026-11-30T03:45:01+00:00") == dt.datetime(2026, 11, 30, 3, 45, 1, tzinfo=UTC)
    assert common.parse_iso("2026-11-30T03:45:01") == dt.datetime(2026, 11, 30, 3, 45, 1, tzinfo=UTC)
    assert common.parse_iso("yesterday") is None and common.parse_iso(None) is None


def test_snapshots_of_both_time_forms_sort_by_time(tmp_path):
    taken = {"a-old": "2026-11-30T03:45:01.500000+00:00",  # written before the one format
             "b-new": "2026-11-30T03:45:01Z",
             "c-new": "2026-11-30T03:45:01.900000Z",
             "d-old": "2026-11-30T03:45:02+00:00",
             "e-none": None}
    for name, when in taken.items():
        (tmp_path / (name + ".json")).write_text(json.dumps({"format": 1, "taken_at": when, "stacks": {}}))
    order = [p.rsplit("/", 1)[1][:-5] for p, _doc in cfn.snapshot_files(str(tmp_path))]
    assert order == ["d-old", "c-new", "a-old", "b-new", "e-none"]


def test_throttling_codes_are_only_what_awsretry_misses():
    assert common.THROTTLING_CODES
    for code in common.THROTTLING_CODES:
        assert not AWSRetry.found(code), code
    # what call_once treats as "AWS did nothing" did not shrink with the list
    assert {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
            "LimitExceededException", "ProvisionedThroughputExceededException",
            "ThrottledException", "SlowDown"} == common._NOT_DONE_CODES


def keys(*names):
    return [{"pk": {"S": n}} for n in names]


def test_batch_get_follows_unprocessed_keys_with_backoff(slept):
    db = client("dynamodb")
    with Stubber(db) as stub:
        stub.add_response("batch_get_item", {"Responses": {"t": [{"pk": {"S": "a"}}]},
                                             "UnprocessedKeys": {"t": {"Keys": keys("b")}}})
        stub.add_response("batch_get_item", {"Responses": {"t": [{"pk": {"S": "b"}}]}},
                          {"RequestItems": {"t": {"Keys": keys("b")}}})
        found = ddb.batch_get(RetryingBotoClientWrapper(db, common.aws_retry), "t", keys("a", "b"), consistent=True)
    assert found == keys("a", "b")
    assert slept == [0.1]


def test_batch_get_gives_up_after_the_cap(slept):
    db = client("dynamodb")
    with Stubber(db) as stub:
        for left in [keys("a")] * ddb.UNPROCESSED_ATTEMPTS:
            stub.add_response("batch_get_item", {"Responses": {"t": []}, "UnprocessedKeys": {"t": {"Keys": left}}})
        with pytest.raises(ddb.UnprocessedKeysError, match="left 1 key.s. unprocessed after 8 attempts"):
            ddb.batch_get(RetryingBotoClientWrapper(db, common.aws_retry), "t", keys("a"), consistent=False)
        stub.assert_no_pending_responses()
    assert len(slept) == ddb.UNPROCESSED_ATTEMPTS - 1
    assert max(slept) == 5


def test_one_rollback_id_convention():
    rid = rbid.new_rollback_id(0)
    assert rid.startswith("rb-19700101T000000Z-") and rbid.is_rollback_id(rid)
    assert not rbid.is_rollback_id(rid + "0") and not rbid.is_rollback_id(None)
    assert rbid.marked_rollback_id("note " + rbid.marker(rid, "revert")) == rid
    assert cfn.token_rollback_id(cfn.client_token(rid, "continue")) == (rid, "continue")
    assert cfn.token_rollback_id(rid + "-delete") is None
    assert ddb.TAG_ROLLBACK_ID == "propie-rollback:rollback-id" == rbid.TAG_KEY
    assert common.ROLLBACK_ID_RE is rbid.ROLLBACK_ID_RE and common.marker is rbid.marker


class Clock:
    """Emulated time for the module's `time`: sleep advances monotonic."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def restore(monkeypatch):
    from ansible_collections.propie.rollback.plugins.modules import dynamodb_pitr_restore as mod
    from tests.unit.fakes import FakeAWSModule, stubbed_clients

    clock = Clock()
    monkeypatch.setattr(mod.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(mod.time, "sleep", clock.sleep)
    for clients, stubs in stubbed_clients(["dynamodb", "application-autoscaling"]):
        module = FakeAWSModule(clients, dict(wait_timeout=30, wait_delay=10))
        yield mod, mod.Restore(module), clients, stubs, clock, module


def _update_backups(restorer, clients):
    return restorer._with_backups_available(lambda: restorer.client.update_continuous_backups(
        TableName="t", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}, aws_retry=True))


def test_backups_unavailable_is_waited_for_then_done(restore):
    mod, restorer, clients, stubs, clock, module = restore
    stubs["dynamodb"].add_client_error("update_continuous_backups", "ContinuousBackupsUnavailableException")
    stubs["dynamodb"].add_response("update_continuous_backups", {"ContinuousBackupsDescription": {
        "ContinuousBackupsStatus": "ENABLED"}})
    out = _update_backups(restorer, clients)
    assert out["ContinuousBackupsDescription"]["ContinuousBackupsStatus"] == "ENABLED"
    assert clock.slept == [10] and "backups not available yet" in module.logs[0]


def test_backups_unavailable_gives_up_at_wait_timeout(restore):
    mod, restorer, clients, stubs, clock, module = restore
    # at 0, 10, 20 and 30 s; the next one would be after wait_timeout
    for code in ["ContinuousBackupsUnavailableException"] * 4:
        stubs["dynamodb"].add_client_error("update_continuous_backups", code)
    with pytest.raises(clients["dynamodb"].exceptions.ContinuousBackupsUnavailableException):
        _update_backups(restorer, clients)
    assert clock.slept == [10, 10, 10] and clock.now == 30


def test_scalable_targets_reads_every_page(restore, slept):
    mod, restorer, clients, stubs, clock, module = restore
    target = {"ServiceNamespace": "dynamodb", "ResourceId": "table/t", "ScalableDimension":
              "dynamodb:table:ReadCapacityUnits", "MinCapacity": 1, "MaxCapacity": 5,
              "RoleARN": "arn:aws:iam::123456789012:role/r", "CreationTime": "2026-11-30T03:00:00Z"}
    aas = stubs["application-autoscaling"]
    aas.add_response("describe_scalable_targets", {"ScalableTargets": [target], "NextToken": "n"})
    aas.add_client_error("describe_scalable_targets", "ThrottlingException")
    aas.add_response("describe_scalable_targets", {"ScalableTargets": [dict(target, ResourceId="table/t/index/i")]},
                     {"ServiceNamespace": "dynamodb", "ResourceIds": ["table/t", "table/t/index/i"], "NextToken": "n"})
    found = mod.scalable_targets(restorer.aas, ["table/t", "table/t/index/i"])
    assert [t["ResourceId"] for t in found] == ["table/t", "table/t/index/i"] and len(slept) == 1
