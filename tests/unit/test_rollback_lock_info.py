"""rollback_lock_info: one consistent GetItem (Stubber: any other call fails the test), the lock as
rollback_lock returns it, held / expired / free judged as acquiring judges it, a missing table as
no lock, and the rollback_lock module reading through the same code."""

from __future__ import annotations

import pytest

from ansible_collections.propie.rollback.plugins.module_utils import lock as lk
from ansible_collections.propie.rollback.plugins.modules import rollback_lock
from ansible_collections.propie.rollback.plugins.modules import rollback_lock_info as info_mod
from tests.unit.fakes import Exit, Fail, FakeAWSModule, stubbed_clients

NOW = 1796000000.25
TABLE = "propie-rollback-locks"
READ = {"TableName": TABLE, "Key": {"env": {"S": "production"}}, "ConsistentRead": True}


def held_item(incident_id="INC-1", expires_in=600, **extra):
    item = {"env": "production", "incident_id": incident_id, "holder": "alice", "host": "ctl-1",
            "started": lk.iso_utc(NOW - 300), "renewed": lk.iso_utc(NOW - 60), "expires": lk.iso_utc(NOW + expires_in),
            "expires_at": int(NOW + expires_in), "version": 3}
    item.update(extra)
    return item


@pytest.fixture
def stubbed():
    yield from stubbed_clients(("dynamodb",))


def module_for(clients, **params):
    return FakeAWSModule(clients, params, defaults=dict(env="production", table_name=TABLE))


def info(clients, **params):
    module = module_for(clients, **params)
    return info_mod.lock_info(module, module.client("dynamodb"), clock=lambda: NOW)


def test_a_live_lease_is_held_with_the_holders_item(stubbed):
    clients, stubs = stubbed
    item = held_item(heartbeat_pid=4242)
    stubs["dynamodb"].add_response("get_item", {"Item": lk.to_typed(item)}, READ)
    result = info(clients)
    assert result == {
        "changed": False, "held": True, "status": "held", "table_exists": True, "expires_in": 599.75, "lock": item,
        "msg": "the rollback lock on env production is held by incident INC-1 (who: alice, host: ctl-1, started %s, "
               "expires %s)" % (lk.iso_utc(NOW - 300), lk.iso_utc(NOW + 600)),
    }


def test_the_lock_has_the_shape_rollback_lock_returns(stubbed):
    """What rollback_lock returns as `lock` after an acquire, read back, is the same dict."""
    clients, stubs = stubbed
    fields = {"env": "production", "incident_id": "INC-2", "holder": "bob", "host": "ctl-2", "heartbeat_pid": None}
    written = lk.lock_after(None, lk.Decision(lk.ACQUIRED, True), fields, NOW - 10, 900)
    stubs["dynamodb"].add_response("get_item", {"Item": lk.to_typed(written)}, READ)
    result = info(clients)
    assert result["lock"] == written and result["held"] is True and result["lock"]["incident_id"] == "INC-2"


def test_an_ended_lease_is_expired_not_held(stubbed):
    clients, stubs = stubbed
    stubs["dynamodb"].add_response("get_item", {"Item": lk.to_typed(held_item(expires_in=-30))}, READ)
    result = info(clients)
    assert (result["held"], result["status"], result["expires_in"]) == (False, "expired", -30.25)
    assert result["lock"]["incident_id"] == "INC-1"
    assert result["msg"].startswith("the rollback lock on env production is free: the lease of incident INC-1")
    # as acquiring judges it: another incident takes an expired lease over, a live one is refused
    assert lk.decide_acquire(result["lock"], "INC-2", None, NOW).allowed


def test_no_item_is_free(stubbed):
    clients, stubs = stubbed
    stubs["dynamodb"].add_response("get_item", {}, READ)
    result = info(clients)
    assert result == {"changed": False, "held": False, "status": "free", "table_exists": True, "expires_in": None,
                      "lock": None, "msg": "no rollback lock on env production"}


def test_a_missing_table_is_no_lock_and_is_not_created(stubbed):
    clients, stubs = stubbed
    stubs["dynamodb"].add_client_error("get_item", "ResourceNotFoundException", "Requested resource not found",
                                       expected_params=dict(READ, TableName="other-locks"))
    result = info(clients, table_name="other-locks")
    assert (result["held"], result["status"], result["table_exists"], result["lock"]) == (False, "free", False, None)
    assert "the lock table other-locks does not exist" in result["msg"]


def test_an_expiry_that_is_not_a_number_never_ends(stubbed):
    clients, stubs = stubbed
    stubs["dynamodb"].add_response("get_item", {"Item": lk.to_typed(held_item(expires_at="soon"))}, READ)
    result = info(clients)
    assert result["held"] is True and result["expires_in"] is None


def test_an_aws_error_fails_naming_the_lock(stubbed):
    clients, stubs = stubbed
    stubs["dynamodb"].add_client_error("get_item", "AccessDeniedException", "not allowed", expected_params=READ)
    with pytest.raises(Fail) as failed:
        info(clients)
    assert failed.value.result["msg"].startswith("Could not read the lock of env production from table %s: " % TABLE)
    assert "AccessDeniedException" in failed.value.result["msg"]


def test_an_empty_env_is_refused_before_any_call(stubbed):
    clients, _stubs = stubbed
    with pytest.raises(Fail, match="env must not be empty"):
        info(clients, env="")


def test_do_exits_with_the_result(stubbed):
    clients, stubs = stubbed
    stubs["dynamodb"].add_response("get_item", {"Item": lk.to_typed(held_item(expires_in=10 ** 9))}, READ)
    with pytest.raises(Exit) as done:
        info_mod.do(module_for(clients))
    assert done.value.result["held"] is True and done.value.result["changed"] is False


def test_rollback_lock_reads_through_the_same_code(stubbed):
    """The lock module's read is lock.read_item: the same request, and a held lock fails before any write."""
    clients, stubs = stubbed
    stubs["dynamodb"].add_response("get_item", {"Item": lk.to_typed(held_item())}, READ)
    module = FakeAWSModule(clients, {}, defaults=dict(
        env="production", incident_id="INC-2", state="present", table_name=TABLE, ttl_seconds=900, holder="bob",
        host="ctl-2", break_lock=None, create_table=True, heartbeat_pid=None, heartbeat_dir=None))
    with pytest.raises(Fail) as failed:
        rollback_lock.LockRun(module, module.client("dynamodb"), clock=lambda: NOW).run()
    assert failed.value.result["action"] == "held" and failed.value.result["lock"] == held_item()


@pytest.mark.parametrize("item, status", [
    (None, lk.FREE), (held_item(), lk.HELD), (held_item(expires_in=-1), lk.EXPIRED), (held_item(expires_in=1), lk.HELD),
    (held_item(expires_in=0), lk.EXPIRED),  # expires_at is whole seconds, NOW is .25 past it
])
def test_lock_status_matches_the_acquire_condition(item, status):
    assert lk.lock_status(item, NOW) == status
    if item is not None:  # held exactly when another incident's acquire is refused
        assert (status == lk.HELD) == (not lk.decide_acquire(item, "INC-2", None, NOW).allowed)
