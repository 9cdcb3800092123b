#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollback_lock
short_description: One rollback per environment at a time, as a lease item in a DynamoDB table
version_added: 0.2.0
description:
  - Takes, renews or releases the rollback lock of an environment. The lock is one item per
    environment in a DynamoDB table, keyed by C(env), holding the incident id, who holds it,
    from which host, since when and until when (a lease of O(ttl_seconds)).
  - Acquiring reads the item (a consistent read), then makes one conditional write that
    succeeds when there is no item, when the item has expired (its C(expires_at) is in the
    past), when it is this incident's own (a re-run of the same incident resumes it and keeps
    C(started)), or when O(break_lock) names its
    incident id. Otherwise the module fails at once, changing nothing, with a message that
    names the holder and the fix (wait, or C(-e break_lock=<their incident id>)). A lock that
    the read finds held fails before any write; the write's condition decides a race.
  - Releasing deletes the item only when it is this incident's (or the one O(break_lock)
    names); no item is not an error, and another incident's lease is never deleted.
  - Correctness comes from the expiry in the write's condition, not from DynamoDB's TTL,
    which only removes old items some time later. Hosts taking the lock should keep their
    clocks in sync (NTP), since each one judges expiry by its own clock.
  - With O(heartbeat_pid), a detached background process renews the lease every
    O(ttl_seconds)/3 seconds for as long as that process lives, so a long rollback keeps
    its lock and a killed one (C(kill -9)) loses it O(ttl_seconds) later. It stops when the
    process is gone, when the item is no longer this incident's, or after 5 consecutive
    failed renewals. The module must then run on the host where that process runs (the
    controller (a local connection), which is how this collection runs.
author:
  - PropIE platform team (@propie)
options:
  env:
    description:
      - The environment to lock (the item's key), for example V(production).
    type: str
    required: true
  incident_id:
    description:
      - The incident this rollback belongs to. A re-run with the same id resumes the lock.
      - Required, except with O(state=absent) and O(break_lock).
    type: str
  state:
    description:
      - V(present) acquires the lock, or renews it when this incident already holds it.
      - V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  table_name:
    description:
      - The DynamoDB table holding the locks (hash key C(env), a string).
    type: str
    default: propie-rollback-locks
  ttl_seconds:
    description:
      - Length of the lease in seconds. Without a heartbeat the lock lapses this long after
        the last acquire or renewal; with one, this long after the run died.
    type: int
    default: 900
  holder:
    description:
      - Who takes the lock, for example a user name or V(awx job 123); shown to anyone
        who finds the lock held.
      - Defaults to the E(USER) environment variable, or V(unknown).
    type: str
  host:
    description:
      - The host the rollback runs from, shown to anyone who finds the lock held.
      - Defaults to this host's name.
    type: str
  break_lock:
    description:
      - An incident id. When the lock is held by exactly that incident, take it over (with
        O(state=present)) or delete it (with O(state=absent)), whether or not its lease has
        expired. When another incident holds a live lease, the module fails and changes
        nothing.
      - For a run that is known to be dead; the failure message of a held lock names the id.
    type: str
  create_table:
    description:
      - Create the table on first use (on-demand capacity, hash key C(env)), wait for it to
        become active, and turn on TTL on C(expires_at).
      - When V(false), a missing table is an error.
    type: bool
    default: true
  heartbeat_pid:
    description:
      - Keep the lease renewed while the process with this id is alive (see the description).
        Pass the ansible-playbook process, C({{ lookup('propie.rollback.controller_pid') }}).
      - Only with O(state=present). At most one heartbeat runs per O(env), O(incident_id) and
        O(heartbeat_pid); acquiring again while it runs does not start another.
    type: int
  heartbeat_dir:
    description:
      - Where heartbeats keep their pid files (and, when a heartbeat ended badly, its log).
      - Defaults to C(~/.ansible/tmp/propie-rollback-locks), or a per-user directory in the
        system temporary directory when that cannot be created.
    type: path
attributes:
  check_mode:
    description:
      - Reads the item (a consistent read) and predicts the outcome, including a failure for
        a held lock, without writing anything or creating the table.
  diff_mode:
    description:
      - The lock item before and after.
notes:
  - The table's TTL only deletes expired items eventually; an expired item left in the table
    is taken over like a missing one.
  - The heartbeat renews with plain boto3 (botocore's standard retry mode) using the same
    connection options as the module, so credentials that expire during the run stop it.
seealso:
  - module: propie.rollback.rollback_lock_info
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Take the production rollback lock, renewed while this playbook runs
  propie.rollback.rollback_lock:
    env: production
    incident_id: INC-2026-1130
    holder: "{{ lookup('ansible.builtin.env', 'USER') }}"
    heartbeat_pid: "{{ lookup('propie.rollback.controller_pid') }}"
  register: rollback_lock

- name: The previous run of INC-2026-0412 died; take its lock over
  propie.rollback.rollback_lock:
    env: production
    incident_id: INC-2026-1130
    break_lock: INC-2026-0412

- name: Release it when the rollback is done
  propie.rollback.rollback_lock:
    env: production
    incident_id: INC-2026-1130
    state: absent

- name: Delete a dead run's lock without taking it
  propie.rollback.rollback_lock:
    env: staging
    state: absent
    break_lock: INC-2026-0412
"""

RETURN = r"""
acquired:
  description: Whether this incident holds the lock after the task (always false for O(state=absent)).
  returned: always
  type: bool
action:
  description:
    - V(acquired) (a free or expired lock taken), V(renewed) (held by this run already - same
      incident, host and heartbeat pid), V(resumed) (held by this incident from an earlier
      run), V(broken) (taken over or deleted with O(break_lock)), V(released), V(absent)
      (nothing to release) or V(held) (another incident's; also in the result of a failure).
  returned: always
  type: str
  sample: acquired
lock:
  description:
    - The lock item after the task; for a held lock, the holder's item; null when there is none.
  returned: always
  type: dict
  contains:
    env:
      description: The environment (the item's key).
      type: str
      returned: success
    incident_id:
      description: The incident holding the lock.
      type: str
      returned: success
    holder:
      description: Who holds it.
      type: str
      returned: success
    host:
      description: The host it was taken from.
      type: str
      returned: success
    started:
      description: When this incident took the lock (ISO 8601 UTC); kept across re-runs.
      type: str
      returned: success
      sample: "2026-11-30T03:45:01Z"
    renewed:
      description: Last acquire or renewal (ISO 8601 UTC).
      type: str
      returned: success
    expires:
      description: End of the lease (ISO 8601 UTC).
      type: str
      returned: success
    expires_at:
      description: End of the lease in epoch seconds (the table's TTL attribute).
      type: int
      returned: success
    version:
      description: 1 on a fresh table, one more on every write of the lease (acquire, renewal, takeover).
      type: int
      returned: success
    heartbeat_pid:
      description: The process whose life the lease follows, when there is a heartbeat.
      type: int
      returned: when given
previous:
  description: The item before the task (same keys as RV(lock)), or null when there was none.
  returned: always
  type: dict
table_created:
  description: Whether the table was created (would be, in check mode).
  returned: always
  type: bool
heartbeat:
  description: The heartbeat process, with O(heartbeat_pid) and O(state=present); null otherwise.
  returned: always
  type: dict
  contains:
    started:
      description: Whether this task started it (false when one was running already, and in check mode).
      type: bool
      returned: success
    running:
      description: Whether a heartbeat runs for this lock and process.
      type: bool
      returned: success
    pid:
      description: The heartbeat's process id.
      type: int
      returned: success
    pid_file:
      description: Its pid file; it disappears when the heartbeat exits.
      type: str
      returned: success
    interval:
      description: Seconds between renewals (O(ttl_seconds)/3).
      type: float
      returned: success
    error:
      description: Why it could not start (the lock is held all the same, for O(ttl_seconds)).
      type: str
      returned: success
msg:
  description: What was done, or why not.
  returned: always
  type: str
  sample: acquired the rollback lock on env production for incident INC-2026-1130 until 2026-11-30T04:00:01Z
"""

import os
import socket
import time
import typing

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
    from botocore.exceptions import WaiterError
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import lock as lk
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Callable
    from typing import Dict
    from typing import Optional

# Writes decided again when the item changes between a failed write and what it returned.
ATTEMPTS = 4
# CreateTable with on-demand capacity is active in seconds; wait up to three minutes.
TABLE_WAITER = {"Delay": 2, "MaxAttempts": 90}
TTL_ATTRIBUTE = "expires_at"


class LockRun(object):
    def __init__(self, module: Any, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.module = module
        self.client = client
        self.clock = clock
        p = module.params
        self.p = p
        self.table = p["table_name"]
        self.env = p["env"]
        self.fields = {
            "env": p["env"],
            "incident_id": p["incident_id"],
            "holder": p["holder"] or os.environ.get("USER") or "unknown",
            "host": p["host"] or socket.gethostname(),
            "heartbeat_pid": p["heartbeat_pid"],
        }
        self.table_created = False

    # -- AWS calls ----------------------------------------------------------------
    def get_item(self) -> Any:
        """The item (plain dict) or None; False when the table does not exist."""
        return lk.read_item(self.module, self.client, self.table, self.env)

    def create_table(self) -> None:
        """Create the table (a concurrent creator is fine), wait for it, turn TTL on."""
        try:
            self.client.create_table(
                TableName=self.table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "env", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "env", "KeyType": "HASH"}], aws_retry=True)
            self.table_created = True
        except is_boto3_error_code("ResourceInUseException"):
            pass  # another run created it a moment ago
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Could not create the lock table %s; nothing was locked" % self.table)
        try:
            self.client.get_waiter("table_exists").wait(TableName=self.table, WaiterConfig=TABLE_WAITER)
        except (BotoCoreError, ClientError, WaiterError) as e:
            self.module.fail_json_aws(e, msg="The lock table %s did not become active; nothing was locked" % self.table)
        self.enable_ttl()

    def enable_ttl(self) -> None:
        """TTL on expires_at: housekeeping only, so a failure is a warning."""
        try:
            desc = self.client.describe_time_to_live(TableName=self.table, aws_retry=True).get("TimeToLiveDescription", {})
            if desc.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
                if desc.get("AttributeName") != TTL_ATTRIBUTE:
                    self.module.warn("table %s has TTL on %s, not %s: expired locks stay in the table (harmless)"
                                     % (self.table, desc.get("AttributeName"), TTL_ATTRIBUTE))
                return
            self.client.update_time_to_live(
                TableName=self.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
                aws_retry=True)
        except is_boto3_error_code("ValidationException"):
            pass  # enabled concurrently by another run
        except (BotoCoreError, ClientError) as e:
            self.module.warn("could not turn on TTL on %s.%s (%s); expired locks stay in the table, which is harmless"
                             % (self.table, TTL_ATTRIBUTE, e))

    def missing_table(self) -> None:
        self.module.fail_json(
            msg="the lock table %s does not exist in region %s; create it (hash key env, a string) or set "
            "create_table: true; nothing was locked" % (self.table, self.module.region),
            acquired=False, changed=False)

    # -- results -----------------------------------------------------------------
    def result(self, changed: bool, acquired: bool, action: str, lock: Any, previous: Any, msg: str,
               heartbeat: Any = None) -> Dict[str, Any]:
        result = dict(changed=changed, acquired=acquired, action=action, lock=lock, previous=previous, msg=msg,
                      table_created=self.table_created, heartbeat=heartbeat)
        if self.module._diff:
            result["diff"] = {"before": previous or {}, "after": lock or {}}
        return result

    def fail_held(self, item: Dict[str, Any], now: float) -> None:
        self.module.fail_json(msg=lk.held_message(self.env, item, now, self.p["break_lock"]), acquired=False,
                              action=lk.HELD, lock=item, previous=item, changed=False,
                              table_created=self.table_created)

    def warn_break(self, decision: lk.Decision, previous: Optional[Dict[str, Any]]) -> None:
        if self.p["break_lock"] and decision.action != lk.BROKEN:
            state = "free" if previous is None else "held by incident %s" % previous.get("incident_id")
            self.module.warn("break_lock=%s did not name the holder (the lock was %s); nothing was broken"
                             % (self.p["break_lock"], state))

    # -- present -----------------------------------------------------------------
    def run(self) -> Dict[str, Any]:
        p = self.p
        if not self.env:
            self.module.fail_json(msg="env must not be empty")
        if p["state"] == "absent":
            return self.check_release() if self.module.check_mode else self.release()
        if p["ttl_seconds"] < 1:
            self.module.fail_json(msg="ttl_seconds must be at least 1, not %d" % p["ttl_seconds"])
        pid = p["heartbeat_pid"]
        if pid is not None and not lk.pid_alive(pid):
            self.module.fail_json(
                msg="heartbeat_pid %d is not a running process on %s; it must be the ansible-playbook process "
                "(heartbeat_pid: \"{{ lookup('propie.rollback.controller_pid') }}\") with this module running on "
                "the controller (connection: local); nothing was locked" % (pid, socket.gethostname()))
        return self.check_acquire() if self.module.check_mode else self.acquire()

    def check_acquire(self) -> Dict[str, Any]:
        now = self.clock()
        item = self.get_item()
        if item is False:
            if not self.p["create_table"]:
                self.missing_table()
            self.table_created = True
            item = None
        decision = lk.decide_acquire(item, self.fields["incident_id"], self.p["break_lock"], now,
                                     self.fields["heartbeat_pid"], self.fields["host"])
        if not decision.allowed:
            self.fail_held(item, now)
        self.warn_break(decision, item)
        lock = lk.lock_after(item, decision, self.fields, now, self.p["ttl_seconds"])
        heartbeat = None
        if self.fields["heartbeat_pid"] is not None:
            heartbeat = {"started": False, "running": False, "pid": None, "pid_file": None,
                         "interval": lk.heartbeat_interval(self.p["ttl_seconds"]), "error": None}
        return self.result(True, True, decision.action, lock, item,
                           lk.acquire_message(self.env, decision, item, lock, now, check_mode=True), heartbeat)

    def acquire(self) -> Dict[str, Any]:
        ttl = self.p["ttl_seconds"]
        # Read first: a lock another run holds fails here with no write at all (a refused
        # conditional write changes nothing, but it is a mutating call in CloudTrail and in the
        # sandbox's log). The conditional write below still decides races.
        item = self.get_item()
        tried_create = False
        if item is False:  # no lock table yet: the first use of the collection in this account/region
            if not self.p["create_table"]:
                self.missing_table()
            tried_create = True
            self.create_table()
        elif item and not lk.decide_acquire(item, self.fields["incident_id"], self.p["break_lock"], self.clock()).allowed:
            self.fail_held(item, self.clock())
        for _attempt in range(ATTEMPTS):
            now = self.clock()
            request = lk.acquire_request(self.table, self.fields, self.p["break_lock"], now, ttl)
            try:
                old = self.client.update_item(aws_retry=True, **request).get("Attributes")
            except is_boto3_error_code("ResourceNotFoundException"):
                if tried_create or not self.p["create_table"]:
                    self.missing_table()
                tried_create = True
                self.create_table()
                continue
            except is_boto3_error_code("ConditionalCheckFailedException") as e:
                holder = lk.from_typed(e.response.get("Item")) or self.get_item()
                if holder and not lk.decide_acquire(holder, self.fields["incident_id"], self.p["break_lock"],
                                                    self.clock()).allowed:
                    self.fail_held(holder, now)
                continue  # the item changed since the write: decide again
            except (BotoCoreError, ClientError) as e:
                self.module.fail_json_aws(e, msg="Could not write the lock of env %s in table %s" % (self.env, self.table))
            previous = lk.from_typed(old)
            decision = lk.decide_acquire(previous, self.fields["incident_id"], self.p["break_lock"], now,
                                         self.fields["heartbeat_pid"], self.fields["host"])
            if not decision.allowed:  # the condition held for a reason this copy of it missed
                decision = lk.Decision(lk.ACQUIRED, True, takeover=True)
            lock = lk.lock_after(previous, decision, self.fields, now, ttl)
            if decision.takeover:
                self.fix_started(lock, now)
            self.warn_break(decision, previous)
            heartbeat = self.start_heartbeat() if self.fields["heartbeat_pid"] is not None else None
            return self.result(True, True, decision.action, lock, previous,
                               lk.acquire_message(self.env, decision, previous, lock, now), heartbeat)
        self.module.fail_json(msg="the lock item of env %s kept changing while it was being taken (%d attempts); "
                              "run again" % (self.env, ATTEMPTS), acquired=False, action=lk.HELD, changed=False)
        return {}

    def fix_started(self, lock: Dict[str, Any], now: float) -> None:
        """A takeover kept the previous holder's ``started``: set ours (guarded by the version)."""
        try:
            self.client.update_item(aws_retry=True, **lk.takeover_fixup_request(
                self.table, self.env, lock["incident_id"], lock["version"], now))
        except is_boto3_error_code("ConditionalCheckFailedException"):
            item = self.get_item()
            if not item or item.get("incident_id") != lock["incident_id"]:
                self.module.fail_json(
                    msg="the lock of env %s was taken over and then at once taken by %s"
                    % (self.env, lk.describe_holder(item, now) if item else "a release"),
                    acquired=False, action=lk.HELD, lock=item or None, previous=None, changed=True)
            self.module.warn("the lock changed right after it was taken over (another run of incident %s?); "
                             "its started time may be the previous holder's" % lock["incident_id"])
        except (BotoCoreError, ClientError) as e:
            self.module.warn("the lock was taken over but its started time is still the previous holder's: %s" % e)

    def start_heartbeat(self) -> Dict[str, Any]:
        pid, ttl = self.fields["heartbeat_pid"], self.p["ttl_seconds"]
        incident_id = self.fields["incident_id"]
        interval = lk.heartbeat_interval(ttl)
        try:
            directory = self.p["heartbeat_dir"] or lk.default_heartbeat_dir()
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o700)
        except OSError as e:
            self.module.warn("no heartbeat: cannot use the heartbeat directory (%s); the lease lasts %ds" % (e, ttl))
            return {"started": False, "running": False, "pid": None, "pid_file": None, "interval": interval,
                    "error": str(e)}
        path = lk.pid_file_path(directory, self.env, incident_id, pid)
        region, endpoint_url, boto_params = get_aws_connection_info(self.module)
        start_time = lk.process_start_time(pid)
        table, env = self.table, self.env
        describe = {"env": env, "incident_id": incident_id, "heartbeat_pid": pid, "table_name": table,
                    "ttl_seconds": ttl, "interval": interval}

        def prepare(log: Callable[[str], None]) -> Callable[..., str]:
            # Runs in the detached process: plain boto3, everything already imported.
            client = lk.plain_client(region, endpoint_url, boto_params)
            beat = lk.Heartbeat(lk.renewer(client, table, env, incident_id, ttl),
                                lambda: lk.pid_alive(pid, start_time), ttl, log=log)
            return beat.run

        started = lk.start_detached(path, describe, prepare)
        started["interval"] = interval
        if started["error"]:
            self.module.warn("the heartbeat did not start (%s); the lock is held for %ds without renewal"
                             % (started["error"], ttl))
        return started

    # -- absent ------------------------------------------------------------------
    def check_release(self) -> Dict[str, Any]:
        now = self.clock()
        item = self.get_item() or None
        decision = lk.decide_release(item, self.fields["incident_id"], self.p["break_lock"])
        return self.released(decision, item, now, check_mode=True)

    def release(self) -> Dict[str, Any]:
        request = lk.release_request(self.table, self.env, self.fields["incident_id"], self.p["break_lock"])
        for _attempt in range(ATTEMPTS):
            now = self.clock()
            try:
                old = self.client.delete_item(aws_retry=True, **request).get("Attributes")
            except is_boto3_error_code("ResourceNotFoundException"):
                return self.released(lk.decide_release(None, None, None), None, now)
            except is_boto3_error_code("ConditionalCheckFailedException") as e:
                item = lk.from_typed(e.response.get("Item"))
                if item is None:
                    item = self.get_item() or None
                decision = lk.decide_release(item, self.fields["incident_id"], self.p["break_lock"])
                if decision.allowed:
                    continue  # it became ours (or break_lock's) since the write: try again
                return self.released(decision, item, now)
            except (BotoCoreError, ClientError) as e:
                self.module.fail_json_aws(e, msg="Could not release the lock of env %s in table %s" % (self.env, self.table))
            previous = lk.from_typed(old)
            return self.released(lk.decide_release(previous, self.fields["incident_id"], self.p["break_lock"]), previous, now)
        self.module.fail_json(msg="the lock item of env %s kept changing while it was being released (%d attempts); "
                              "run again" % (self.env, ATTEMPTS), acquired=False, action=lk.HELD, changed=False)
        return {}

    def released(self, decision: lk.Decision, item: Optional[Dict[str, Any]], now: float,
                 check_mode: bool = False) -> Dict[str, Any]:
        if decision.action == lk.HELD and self.p["break_lock"]:
            self.fail_held(item, now)
        msg = lk.release_message(self.env, decision, item, self.fields["incident_id"], now, check_mode)
        if decision.action == lk.HELD:
            self.module.warn(msg)
        lock = item if decision.action == lk.HELD else None
        return self.result(decision.allowed, False, decision.action, lock, item, msg)


def do(module: Any) -> None:
    client = module.client("dynamodb", retry_decorator=aws_retry)
    module.exit_json(**LockRun(module, client).run())


def main() -> None:
    argument_spec = dict(
        env=dict(type="str", required=True),
        incident_id=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        table_name=dict(type="str", default="propie-rollback-locks"),
        ttl_seconds=dict(type="int", default=900),
        holder=dict(type="str"),
        host=dict(type="str"),
        break_lock=dict(type="str"),
        create_table=dict(type="bool", default=True),
        heartbeat_pid=dict(type="int"),
        heartbeat_dir=dict(type="path"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[("state", "present", ["incident_id"]), ("state", "absent", ["incident_id", "break_lock"], True)],
    )
    do(module)


if __name__ == "__main__":
    main()
