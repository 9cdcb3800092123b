"""The swap record's checks (module_utils/swap.py): a record of another env, table or rollback,
a corrupt or templated one, is refused before any call, with the file and the fix named."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.propie.rollback.plugins.module_utils import swap as sw  # noqa: E402
from tests.unit.fakes import stubbed_clients  # noqa: E402

RID = "rb-20261130T034501Z-9f2c1a"


def record(**changes) -> dict:
    doc = {"kind": sw.RECORD_KIND, "version": 1, "rollback_id": RID, "env": "production",
           "source_table": "data", "recovery_table": "data-pitr-20261130T034500Z",
           "targets": [{"id": "ssm:/app/table", "target": {"type": "ssm_parameter", "name": "/app/table"},
                        "previous": {"value": "data", "version": 3}}]}
    doc.update(changes)
    return doc


def test_a_good_record_passes():
    sw.check_record(record(), "r.json", env="production", source_table="data")


@pytest.mark.parametrize("changes, expect", [
    ({"kind": "something.else"}, "is not a DynamoDB swap record"),
    ({"version": 2}, "has version 2"),
    ({"rollback_id": "yesterday"}, "no valid rollback_id"),
    ({"recovery_table": "x" * 300}, "no valid recovery_table"),
    ({"recovery_table": "{{ lookup('env', 'HOME') }}"}, "holds template text"),
    ({"targets": [{"id": "ssm:/app/table", "target": {"type": "ssm_parameter", "name": "/app/table"},
                   "previous": {"value": "{% raw %}x"}}]}, "holds template text"),
    ({"targets": "ssm:/app/table"}, "has targets of type str, not a list"),
    ({"targets": ["ssm:/app/table"]}, "targets[0] is not {id, target, previous}"),
    ({"targets": [{"id": "ssm:/other", "target": {"type": "ssm_parameter", "name": "/app/table"},
                   "previous": {}}]}, "has id 'ssm:/other', but its target is ssm:/app/table"),
    ({"targets": [{"id": "x", "target": {"type": "kinesis", "name": "s"}, "previous": {}}]},
     "unknown swap target type kinesis"),
    ({"targets": [{"id": "ssm:/app/table", "target": {"type": "ssm_parameter", "name": "/app/table"},
                   "previous": {"value": 5}}]}, "previous.value is not text"),
])
def test_bad_records_are_refused(changes, expect):
    with pytest.raises(sw.SwapError, match="nothing was changed") as err:
        sw.check_record(record(**changes), "r.json")
    assert expect in str(err.value) and "r.json" in str(err.value)


@pytest.mark.parametrize("given, expect", [
    ({"env": "staging"}, "is for env 'production', not 'staging'"),
    ({"source_table": "other"}, "is for source_table 'data', not 'other'"),
    ({"rollback_id": "rb-20261201T000000Z-000000"}, "is for rollback_id"),
])
def test_a_record_of_another_env_table_or_rollback_is_refused(given, expect):
    with pytest.raises(sw.SwapError, match=expect):
        sw.check_record(record(), "r.json", **given)


TABLES = [{"name": "data", "swap_targets": [{"type": "ssm_parameter", "name": "/app/table"}]},
          {"name": "users", "swap_targets": []}]


def test_a_record_of_a_table_the_env_does_not_have_is_refused():
    with pytest.raises(sw.SwapError) as err:
        sw.check_record_tables(record(source_table="orders"), "r.json", "production", TABLES)
    assert "is for table orders, which env production does not have (its tables: data, users)" in str(err.value)
    assert str(err.value).endswith("nothing was changed")


def test_record_targets_the_inventory_no_longer_lists_are_named_in_warnings():
    assert sw.check_record_tables(record(), "r.json", "production", TABLES) == []
    moved = [{"name": "data", "swap_targets": [{"type": "ssm_parameter", "name": "/app/other"}]}]
    (warning,) = sw.check_record_tables(record(), "r.json", "production", moved)
    assert "target ssm:/app/table is not in the swap_targets of table data any more" in warning
    assert sw.check_record_tables(record(source_table="orders"), "r.json", "production", []) == []  # not checked


@pytest.mark.parametrize("content, expect", [("", "is empty"), ("{not json", "is not valid JSON")])
def test_corrupt_files_are_named(tmp_path, content, expect):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(sw.SwapError, match=expect):
        sw.load_record(str(path))
    with pytest.raises(sw.SwapError, match="cannot be read"):
        sw.load_record(str(tmp_path / "missing.json"))


def test_write_record_is_whole_private_and_idempotent(tmp_path):
    path = str(tmp_path / "records" / "r.json")
    assert sw.write_record(path, record()) is True
    assert json.loads(Path(path).read_text()) == record()
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    assert sw.write_record(path, record()) is False
    assert [p.name for p in Path(path).parent.iterdir()] == ["r.json"]  # no temporary left


@pytest.mark.parametrize("spec, expect", [
    ("ssm:/x", "must be a dict"),
    ({"type": "amplify_branch_env", "app_id": "a", "variable": "V"}, "needs branch_name"),
    ({"type": "ssm_parameter", "name": "p", "variable": "V"}, "does not take variable"),
])
def test_target_checks(spec, expect):
    with pytest.raises(sw.SwapError, match=expect):
        sw.check_target("tables[0].swap_targets[0]", spec)


def test_merge_branches_keeps_each_branch_once_changed_if_any_entry_is():
    entries = [{"app_id": "a", "branch_name": "main", "variables_changed": False},
               {"app_id": "a", "branch_name": "dev", "variables_changed": False},
               {"app_id": "a", "branch_name": "main", "variables_changed": True}]
    assert sw.merge_branches(entries) == [{"app_id": "a", "branch_name": "main", "variables_changed": True},
                                          {"app_id": "a", "branch_name": "dev", "variables_changed": False}]


class WaitModule:
    params = {"wait_timeout": 3, "wait_delay": 1}


@pytest.fixture
def lambda_stub():
    yield from stubbed_clients(("lambda",))


def _config(status, reason=None):
    out = {"FunctionName": "api", "LastUpdateStatus": status}
    if reason:
        out["LastUpdateStatusReason"] = reason
    return out


def test_the_lambda_wait_is_botocores_function_updated_waiter(lambda_stub, monkeypatch):
    clients, stubs = lambda_stub
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the waiter's delay: emulated here
    handler = sw.LambdaEnv(clients["lambda"], {"type": "lambda_env", "function_name": "api", "variable": "T"})
    for status in ("InProgress", "InProgress", "Successful"):
        stubs["lambda"].add_response("get_function_configuration", _config(status), {"FunctionName": "api"})
    handler.wait_updated(WaitModule())
    stubs["lambda"].add_response("get_function_configuration", _config("Failed", "KMS key disabled"),
                                 {"FunctionName": "api"})
    with pytest.raises(sw.SwapError, match=r"lambda:api:T: the function's configuration update failed \(KMS key disabled\)"):
        handler.wait_updated(WaitModule())
    for _attempt in range(3):
        stubs["lambda"].add_response("get_function_configuration", _config("InProgress"), {"FunctionName": "api"})
    with pytest.raises(sw.SwapError, match="is still InProgress after 3s; wait for it, then run again"):
        handler.wait_updated(WaitModule())
    stubs["lambda"].add_client_error("get_function_configuration", "AccessDeniedException", "not allowed",
                                     expected_params={"FunctionName": "api"})
    with pytest.raises(sw.SwapError, match="reading the function's update status failed: AccessDeniedException not allowed"):
        handler.wait_updated(WaitModule())


def _throttled(stub, code, status=429):
    stub.add_client_error("get_function_configuration", code, "Rate exceeded", http_status_code=status,
                          expected_params={"FunctionName": "api"})


def test_a_throttled_poll_is_retried_by_the_lambda_wait(lambda_stub, monkeypatch):
    clients, stubs = lambda_stub
    slept = []
    monkeypatch.setattr("time.sleep", slept.append)  # the waiter's delay: emulated here
    handler = sw.LambdaEnv(clients["lambda"], {"type": "lambda_env", "function_name": "api", "variable": "T"})
    stub = stubs["lambda"]
    # Lambda throttles with TooManyRequestsException; the others are what aws_retry also retries.
    stub.add_response("get_function_configuration", _config("InProgress"), {"FunctionName": "api"})
    _throttled(stub, "TooManyRequestsException")
    _throttled(stub, "ThrottlingException", 400)
    stub.add_response("get_function_configuration", _config("Successful"), {"FunctionName": "api"})
    handler.wait_updated(WaitModule5())
    stub.assert_no_pending_responses()
    assert slept == [1, 1, 1]  # one wait_delay after each poll that did not end the wait

    # A throttled poll, then a real error: the error ends the wait at once, named (one queued:
    # a retry of it would find no answer).
    _throttled(stub, "TooManyRequestsException")
    stub.add_client_error("get_function_configuration", "AccessDeniedException", "not allowed",
                          http_status_code=403, expected_params={"FunctionName": "api"})
    with pytest.raises(sw.SwapError, match="^lambda:api:T: reading the function's update status failed: "
                                           "AccessDeniedException not allowed$"):
        handler.wait_updated(WaitModule5())
    stub.assert_no_pending_responses()

    # A throttled poll, then Failed: the update's reason.
    _throttled(stub, "TooManyRequestsException")
    stub.add_response("get_function_configuration", _config("Failed", "KMS key disabled"), {"FunctionName": "api"})
    with pytest.raises(sw.SwapError, match=r"the function's configuration update failed \(KMS key disabled\)"):
        handler.wait_updated(WaitModule5())
    stub.assert_no_pending_responses()


def test_a_lambda_wait_throttled_to_the_end_names_the_throttling(lambda_stub, monkeypatch):
    clients, stubs = lambda_stub
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the waiter's delay: emulated here
    handler = sw.LambdaEnv(clients["lambda"], {"type": "lambda_env", "function_name": "api", "variable": "T"})
    for _attempt in range(3):  # wait_timeout 3 s at wait_delay 1 s: three polls
        _throttled(stubs["lambda"], "TooManyRequestsException")
    with pytest.raises(sw.SwapError, match="reading the function's update status failed: "
                                           "TooManyRequestsException Rate exceeded"):
        handler.wait_updated(WaitModule())
    stubs["lambda"].assert_no_pending_responses()


class WaitModule5:
    params = {"wait_timeout": 5, "wait_delay": 1}
