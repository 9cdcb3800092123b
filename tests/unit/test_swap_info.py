"""dynamodb_table_swap_info: a swap record and the targets it names checked as a swap back checks
them, from reads only (Stubber: any call not queued here, a write among them, fails the test), and
what a swap back would do per target; a bad record or a changed target fails with the message the
swap back itself gives."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.propie.rollback.plugins.module_utils import swap as sw
from ansible_collections.propie.rollback.plugins.modules import dynamodb_table_swap as swap_mod
from ansible_collections.propie.rollback.plugins.modules import dynamodb_table_swap_info as info_mod
from tests.unit.fakes import Exit, Fail, FakeAWSModule, stubbed_clients

RID = "rb-20261130T034501Z-9f2c1a"
SOURCE, RECOVERY = "prop-ie-production-data", "prop-ie-production-data-pitr-20261130T034500Z"
PARAM, SECRET, FUNCTION = "/prop-ie/production/data-table", "/prop-ie/production/data-table-secret", "api"
T0 = datetime.datetime(2026, 11, 30, 3, 0, tzinfo=datetime.timezone.utc)
SECRET_VALUE = "s3cr3t-" + SOURCE

SSM_ENTRY = {"id": "ssm:" + PARAM, "target": {"type": "ssm_parameter", "name": PARAM},
             "previous": {"value": SOURCE, "version": 3}}
LAMBDA_ENTRY = {"id": "lambda:api:DATA_TABLE", "target": {"type": "lambda_env", "function_name": FUNCTION,
                                                          "variable": "DATA_TABLE"},
                "previous": {"value": SOURCE}}
SECRET_ENTRY = {"id": "ssm:" + SECRET, "target": {"type": "ssm_parameter", "name": SECRET},
                "previous": {"version": 2}}
AMPLIFY_ENTRY = {"id": "amplify:d1a2b3c4/main:DATA_TABLE",
                 "target": {"type": "amplify_branch_env", "app_id": "d1a2b3c4", "branch_name": "main",
                            "variable": "DATA_TABLE"},
                 "previous": {"value": SOURCE}}
UNSET_ENTRY = {"id": "lambda:worker:DATA_TABLE", "target": {"type": "lambda_env", "function_name": "worker",
                                                            "variable": "DATA_TABLE"},
               "previous": {}}
TABLES = [{"name": SOURCE, "swap_targets": [SSM_ENTRY["target"], LAMBDA_ENTRY["target"]]}]


def write_record(tmp_path, entries, **changes):
    doc = {"kind": sw.RECORD_KIND, "version": 1, "rollback_id": RID, "env": "production", "source_table": SOURCE,
           "recovery_table": RECOVERY, "restore_date_time": "2026-11-30T03:45:00Z",
           "recorded_at": "2026-11-30T03:50:00.000000Z", "swap_back_command": "", "targets": entries}
    doc.update(changes)
    path = tmp_path / ("%s-%s.json" % (RID, SOURCE))
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.fixture
def stubbed():
    yield from stubbed_clients(("ssm", "lambda", "amplify"))


def info_module(clients, path, **params):
    return FakeAWSModule(clients, dict(swap_back=path, **params), defaults=dict(env="", env_tables=[]))


def swap_back_module(clients, path, **params):
    """dynamodb_table_swap with swap_back, in check mode: what the info module must agree with."""
    return FakeAWSModule(clients, dict(swap_back=path, **params), check_mode=True, defaults=dict(
        source_table=None, recovery_table=None, rollback_id=None, env="", targets=[], record_dir=None,
        restore_date_time=None, swap_back_command=None, env_tables=[], wait_timeout=300, wait_delay=2))


def run(mod, module):
    with pytest.raises((Exit, Fail)) as done:
        mod.do(module)
    return done.value


# -- reads queued on the stubs ------------------------------------------------------------


def ssm_reads(stubs, name, value, version=5, kind="String"):
    stubs["ssm"].add_response("get_parameter", {"Parameter": {"Name": name, "Type": kind, "Value": value,
                                                              "Version": version}},
                              {"Name": name, "WithDecryption": True})
    stubs["ssm"].add_response("describe_parameters", {"Parameters": [{"Name": name, "Type": kind}]},
                              {"ParameterFilters": [{"Key": "Name", "Option": "Equals", "Values": [name]}]})


def lambda_read(stubs, value, function=FUNCTION):
    stubs["lambda"].add_response("get_function_configuration",
                                 {"FunctionName": function, "Environment": {"Variables": {"DATA_TABLE": value}}},
                                 {"FunctionName": function})


def branch_read(stubs, value):
    branch = {"branchArn": "arn", "branchName": "main", "description": "", "stage": "PRODUCTION",
              "displayName": "main", "enableNotification": False, "createTime": T0, "updateTime": T0,
              "environmentVariables": {"DATA_TABLE": value, "OTHER": "x"}, "enableAutoBuild": True,
              "customDomains": [], "framework": "React", "activeJobId": "1", "totalNumberOfJobs": "1",
              "enableBasicAuth": False, "ttl": "5", "enablePullRequestPreview": False}
    stubs["amplify"].add_response("get_branch", {"branch": branch}, {"appId": "d1a2b3c4", "branchName": "main"})


# -- what a swap back would do -----------------------------------------------------------------


def test_reports_each_target_current_restore_and_restored_from_reads_only(stubbed, tmp_path):
    clients, stubs = stubbed
    path = write_record(tmp_path, [SSM_ENTRY, LAMBDA_ENTRY])
    ssm_reads(stubs, PARAM, RECOVERY)  # swapped: a swap back sets it back
    lambda_read(stubs, SOURCE)  # back already
    module = info_module(clients, path, env="production", env_tables=TABLES)
    result = run(info_mod, module).result
    assert result["changed"] is False and "diff" not in result
    assert result["targets"] == [
        {"id": "ssm:" + PARAM, "type": "ssm_parameter", "masked": False, "current": RECOVERY, "restore": SOURCE,
         "restored": False},
        {"id": "lambda:api:DATA_TABLE", "type": "lambda_env", "masked": False, "current": SOURCE, "restore": SOURCE,
         "restored": True},
    ]
    assert result["restored"] is False and result["skipped"] == [] and result["amplify_branches"] == []
    assert (result["rollback_id"], result["source_table"], result["recovery_table"]) == (RID, SOURCE, RECOVERY)
    assert result["record"] == path
    assert result["lines"] == ["ssm:%s: %r -> %r" % (PARAM, RECOVERY, SOURCE),
                               "lambda:api:DATA_TABLE: holds %r already; left as it is" % SOURCE]
    assert module.warnings == []


def test_everything_back_already_is_restored(stubbed, tmp_path):
    clients, stubs = stubbed
    path = write_record(tmp_path, [SSM_ENTRY, UNSET_ENTRY])
    ssm_reads(stubs, PARAM, SOURCE)
    result = run(info_mod, info_module(clients, path)).result
    assert result["restored"] is True and [t["restored"] for t in result["targets"]] == [True]
    assert result["skipped"] == ["lambda:worker:DATA_TABLE"]
    assert result["lines"][-1] == "lambda:worker:DATA_TABLE: had no value before the swap; left as it is"


def test_a_secure_string_is_read_from_its_recorded_version_and_never_shown(stubbed, tmp_path):
    clients, stubs = stubbed
    path = write_record(tmp_path, [SECRET_ENTRY])
    ssm_reads(stubs, SECRET, RECOVERY, version=3, kind="SecureString")
    stubs["ssm"].add_response("get_parameter", {"Parameter": {"Name": SECRET, "Type": "SecureString",
                                                              "Value": SECRET_VALUE, "Version": 2}},
                              {"Name": SECRET + ":2", "WithDecryption": True})
    result = run(info_mod, info_module(clients, path)).result
    assert result["targets"] == [{"id": "ssm:" + SECRET, "type": "ssm_parameter", "masked": True,
                                  "current": sw.MASK, "restore": sw.MASK, "restored": False}]
    assert SECRET_VALUE not in json.dumps(result) and RECOVERY not in json.dumps(result["targets"])


def test_an_amplify_variable_that_would_change_names_its_branch(stubbed, tmp_path):
    clients, stubs = stubbed
    path = write_record(tmp_path, [AMPLIFY_ENTRY])
    branch_read(stubs, RECOVERY)
    result = run(info_mod, info_module(clients, path)).result
    assert result["amplify_branches"] == [{"app_id": "d1a2b3c4", "branch_name": "main", "variables_changed": True}]
    assert result["targets"][0]["restored"] is False and result["targets"][0]["restore"] == SOURCE


def test_a_target_the_inventory_no_longer_lists_is_reported_with_the_swap_backs_warning(stubbed, tmp_path):
    clients, stubs = stubbed
    path = write_record(tmp_path, [SSM_ENTRY, LAMBDA_ENTRY])
    moved = [{"name": SOURCE, "swap_targets": [SSM_ENTRY["target"]]}]
    warnings = []
    for mod, make in ((info_mod, info_module), (swap_mod, swap_back_module)):
        ssm_reads(stubs, PARAM, RECOVERY)
        lambda_read(stubs, RECOVERY)
        module = make(clients, path, env="production", env_tables=moved)
        assert isinstance(run(mod, module), Exit)
        warnings.append(module.warnings)
    assert warnings[0] == warnings[1]
    assert len(warnings[0]) == 1 and "target lambda:api:DATA_TABLE is not in the swap_targets" in warnings[0][0]


# -- refused, with the swap back's own message -------------------------------------------------


def _changed_since(stubs):
    ssm_reads(stubs, PARAM, "prop-ie-production-data-pitr-20261201T000000Z")
    lambda_read(stubs, RECOVERY)


CASES = [
    # (id, record changes, params, reads queued per module, text the message holds)
    ("another-env", {}, {"env": "staging"}, None, "is for env 'production', not 'staging'"),
    ("another-table", {"source_table": "prop-ie-other-data"}, {"env": "production", "env_tables": TABLES}, None,
     "is for table prop-ie-other-data, which env production does not have (its tables: %s)" % SOURCE),
    ("template-text", {"recovery_table": "{{ lookup('env', 'HOME') }}"}, {}, None, "holds template text"),
    ("targets-a-string", {"targets": "ssm"}, {}, None, "has targets of type str, not a list"),
    ("bad-rollback-id", {"rollback_id": "yesterday"}, {}, None, "has no valid rollback_id"),
    ("changed-since", {}, {}, _changed_since,
     "a target holds neither the recovery table this record swapped to nor the value it held before: ssm:%s names "
     "'prop-ie-production-data-pitr-20261201T000000Z' (the swap set %s, it held %r before)" % (PARAM, RECOVERY, SOURCE)),
]


@pytest.mark.parametrize("changes, params, reads, expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_record_or_target_fails_as_the_swap_back_does(stubbed, tmp_path, changes, params, reads, expect):
    clients, stubs = stubbed
    path = write_record(tmp_path, [SSM_ENTRY, LAMBDA_ENTRY], **changes)
    messages = []
    for mod, make in ((info_mod, info_module), (swap_mod, swap_back_module)):
        if reads:
            reads(stubs)
        failed = run(mod, make(clients, path, **params))
        assert isinstance(failed, Fail), failed.result
        messages.append(failed.result["msg"])
        assert failed.result["targets"] == []
    assert messages[0] == messages[1]
    assert expect in messages[0] and path in messages[0] and messages[0].endswith("nothing was changed")


@pytest.mark.parametrize("content, expect", [("", "is empty"), ("{not json", "is not valid JSON"),
                                             (None, "cannot be read")])
def test_an_empty_corrupt_or_missing_file_is_named(stubbed, tmp_path, content, expect):
    clients, _stubs = stubbed
    path = tmp_path / "record.json"
    if content is not None:
        path.write_text(content)
    failed = run(info_mod, info_module(clients, str(path)))
    assert isinstance(failed, Fail) and expect in failed.result["msg"] and str(path) in failed.result["msg"]


def test_a_missing_target_is_named(stubbed, tmp_path):
    clients, stubs = stubbed
    path = write_record(tmp_path, [SSM_ENTRY])
    stubs["ssm"].add_client_error("get_parameter", "ParameterNotFound", "not found",
                                  expected_params={"Name": PARAM, "WithDecryption": True})
    failed = run(info_mod, info_module(clients, path))
    assert isinstance(failed, Fail) and failed.result["msg"] == "ssm:%s: SSM parameter %s does not exist" % (PARAM, PARAM)


def test_an_aws_error_fails_as_a_read(stubbed, tmp_path):
    clients, stubs = stubbed
    path = write_record(tmp_path, [LAMBDA_ENTRY])
    stubs["lambda"].add_client_error("get_function_configuration", "AccessDeniedException", "not allowed",
                                     expected_params={"FunctionName": FUNCTION})
    failed = run(info_mod, info_module(clients, path))
    assert isinstance(failed, Fail)
    assert failed.result["msg"].startswith("reading the swap record's targets failed: ")
    assert "AccessDeniedException" in failed.result["msg"]
