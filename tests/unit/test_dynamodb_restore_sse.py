"""dynamodb_pitr_restore: the recovery table's encryption and the target name check (no AWS, Stubber)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.propie.rollback.plugins.modules import dynamodb_pitr_restore as mod
from tests.unit.fakes import Fail, FakeAWSModule, stubbed_clients

CMK = "arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-0000-0000-0000-cmk000000000"
MANAGED = "arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-0000-0000-0000-managed00000"
KMS_SOURCE = {"type": "KMS", "kms_key_arn": CMK}
OWNED = {"type": "AWS_OWNED", "kms_key_arn": None}


def test_sse_of_reads_the_ssedescription():
    assert mod.sse_of({}) == OWNED
    assert mod.sse_of({"SSEDescription": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": CMK}}) == KMS_SOURCE
    assert mod.sse_of({"SSEDescription": {"Status": "DISABLED", "SSEType": "KMS", "KMSMasterKeyArn": CMK}}) == OWNED


@pytest.mark.parametrize("source, enabled, key, manager, choice, override, expected", [
    # the default keeps the source's encryption ...
    (KMS_SOURCE, None, None, "CUSTOMER", "source",
     {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": CMK}, KMS_SOURCE),
    ({"type": "KMS", "kms_key_arn": MANAGED}, None, None, "AWS", "source",
     {"Enabled": True, "SSEType": "KMS"}, {"type": "KMS", "kms_key_arn": MANAGED}),
    (OWNED, None, None, None, "source", None, OWNED),
    # ... the KeyManager unread (no kms:DescribeKey): the key is named, so it cannot change
    (KMS_SOURCE, None, None, None, "source", {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": CMK}, KMS_SOURCE),
    # an operator's override wins: a key first, then sse_enabled
    (KMS_SOURCE, None, "alias/recovery", None, "kms_key",
     {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/recovery"}, {"type": "KMS", "kms_key_arn": None}),
    (OWNED, True, MANAGED, None, "kms_key",
     {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": MANAGED}, {"type": "KMS", "kms_key_arn": MANAGED}),
    (KMS_SOURCE, True, None, "CUSTOMER", "aws_managed", {"Enabled": True, "SSEType": "KMS"},
     {"type": "KMS", "kms_key_arn": None}),
    (KMS_SOURCE, False, None, "CUSTOMER", "aws_owned", {"Enabled": False}, OWNED),
])
def test_sse_choice_precedence(source, enabled, key, manager, choice, override, expected):
    out = mod.sse_choice(source, enabled, key, manager)
    assert (out["choice"], out["override"], out["expected"]) == (choice, override, expected)
    assert out["detail"]


def test_sse_matches():
    assert mod.sse_matches(KMS_SOURCE, KMS_SOURCE)
    assert not mod.sse_matches(KMS_SOURCE, {"type": "KMS", "kms_key_arn": MANAGED})
    assert not mod.sse_matches(OWNED, KMS_SOURCE)
    assert mod.sse_matches({"type": "KMS", "kms_key_arn": None}, {"type": "KMS", "kms_key_arn": MANAGED})


@pytest.mark.parametrize("name, problem", [
    ("t" * 300, "it is 300 characters long"),
    ("ab", "it is 2 characters long"),
    ("data table!", "it contains ' ' '!'"),
    ("a/" + "b" * 300, "it is 302 characters long and it contains '/'"),
])
def test_table_name_problem(name, problem):
    assert mod.table_name_problem(name) == problem


def test_valid_table_names():
    assert mod.table_name_problem("prop-ie_data.v2") is None
    assert mod.table_name_problem("t" * 255) is None


class FakeModule(FakeAWSModule):
    """AnsibleAWSModule for Restore: its option defaults, in check mode."""

    def __init__(self, clients, params):
        super().__init__(clients, params, check_mode=True, defaults=dict(
            target_table=None, restore_point="latest", rollback_id=None, sse_enabled=None, sse_kms_key_id=None,
            billing_mode=None, provisioned_throughput=None, global_secondary_index_override=None,
            local_secondary_index_override=None, reapply=list(mod.SETTINGS), tags={}, wait=False, wait_timeout=60,
            wait_delay=1))


@pytest.fixture
def aws():
    yield from stubbed_clients(("dynamodb", "kms", "application-autoscaling"))


@pytest.mark.parametrize("params, fragment", [
    (dict(target_table="t" * 300), "target_table 'tttt"),
    (dict(target_table="prop ie"), "it contains ' '"),
    (dict(sse_enabled=False, sse_kms_key_id="alias/recovery"), "sse_kms_key_id alias/recovery asks for a KMS key"),
])
def test_bad_input_fails_before_any_call(aws, params, fragment):
    clients, _stubs = aws  # no response queued: any AWS call fails the test
    with pytest.raises(Fail) as info:
        mod.do(FakeModule(clients, dict(source_table="prop-ie-data", **params)))
    msg = info.value.result["msg"]
    assert fragment in msg and "nothing was changed" in msg
    if "target_table" in params:
        assert "(300 characters)" in msg or "prop ie" in msg
        assert "3 to 255 characters" in msg and "leave target_table out" in msg


def test_describe_key_denied_names_the_source_key(aws):
    """Without kms:DescribeKey the source's key is named by its ARN: it cannot become another key."""
    clients, stubs = aws
    module = FakeModule(clients, dict(source_table="prop-ie-data"))
    stubs["kms"].add_client_error("describe_key", "AccessDeniedException", expected_params={"KeyId": CMK})
    plan = mod.Restore(module)._plan_sse(KMS_SOURCE)
    assert plan["override"] == {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": CMK}
    assert plan["expected"] == KMS_SOURCE and "AccessDeniedException" in plan["detail"]

    stubs["kms"].add_response("describe_key", {"KeyMetadata": {"KeyId": "m", "Arn": MANAGED, "KeyManager": "AWS"}},
                              {"KeyId": MANAGED})
    plan = mod.Restore(module)._plan_sse({"type": "KMS", "kms_key_arn": MANAGED})
    assert plan["override"] == {"Enabled": True, "SSEType": "KMS"}
