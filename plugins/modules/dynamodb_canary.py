#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dynamodb_canary
short_description: Write or delete a DR drill's canary item in a DynamoDB table, and say when a restore would hold it
version_added: 0.3.0
description:
  - Writes (O(state=present)) one canary item of the drill O(drill_id) into O(table). Its key is built from
    the table's key schema so that it cannot be a real item's - C(propie-drill-canary#<drill id>) for a string
    hash key, the negative of the drill id's digits for a number hash key, C(propie-drill-canary) or C(0) for a
    sort key (binary keys are refused). It carries C(propie_drill_id) and C(propie_drill_written_at) (UTC, with
    microseconds) and, when the table has time to live enabled, its TTL attribute O(expire_after) seconds
    ahead, so that a canary a failed cleanup leaves behind expires by itself.
  - The write is conditional (C(attribute_not_exists) on the hash key), so it never overwrites an item. A
    re-run finds the canary with a strongly consistent read and keeps it, and its time.
  - "Every run with O(state=present) also reads the table's point-in-time recovery window and returns
    RV(restorable): the table's C(LatestRestorableDateTime) is at least a second after the canary's time, so a
    restore to the latest restorable time holds it (AWS restores to whole seconds). Made to be polled with
    C(until: result.restorable) and C(retries), its RV(progress) line is printed at every poll by the
    C(propie.rollback.progress) callback."
  - "RV(rpo_seconds) is how long after its write the canary became restorable: at the read that finds the
    window past the canary, it had passed it (latest - canary) seconds earlier, so the figure is read time -
    latest. Controller and AWS clocks should agree (NTP)."
  - A table without point-in-time recovery is refused before anything is written - it cannot be rolled back.
  - O(state=absent) deletes the canary, on the condition that its C(propie_drill_id) is O(drill_id); an item
    with the canary's key but not this drill's mark is never deleted (the module fails). No item, no change.
author:
  - PropIE platform team (@propie)
options:
  table:
    description: The live table to write the canary to (or delete it from).
    type: str
    required: true
  drill_id:
    description: The drill (C(dr-YYYYMMDDTHHMMSSZ-xxxxxx)); it names the canary's key and marks the item.
    type: str
    required: true
  state:
    description: V(present) writes the canary (or finds it) and reads the restore window; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  expire_after:
    description:
      - Seconds after the write at which the table's TTL attribute makes the canary expire, when the table
        has time to live enabled. V(0) sets no TTL value.
    type: int
    default: 86400
attributes:
  check_mode:
    description: Reads the table, the item and the window; reports what would be written or deleted and writes nothing.
  diff_mode:
    description: The canary item before and after.
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Write a canary to the live table
  propie.rollback.dynamodb_canary:
    table: prop-ie-production-data
    drill_id: dr-20261130T030000Z-9f2c1a
  register: canary

- name: Wait until a restore to the latest restorable time would hold it
  propie.rollback.dynamodb_canary:
    table: prop-ie-production-data
    drill_id: dr-20261130T030000Z-9f2c1a
  register: window
  until: window.restorable
  retries: 60
  delay: 15

- name: Delete it
  propie.rollback.dynamodb_canary:
    table: prop-ie-production-data
    drill_id: dr-20261130T030000Z-9f2c1a
    state: absent
"""

RETURN = r"""
table:
  description: The table the canary item is in (O(table)).
  returned: always
  type: str
drill_id:
  description: The drill the canary belongs to (O(drill_id)).
  returned: always
  type: str
key:
  description: The canary's primary key (plain values).
  returned: always
  type: dict
  sample: {"pk": "propie-drill-canary#dr-20261130T030000Z-9f2c1a", "sk": "propie-drill-canary"}
item:
  description: The canary item as it is now (or would be, in check mode); null when there is none.
  returned: always
  type: dict
written_at:
  description: When the canary was written (UTC ISO 8601); null when there is none.
  returned: always
  type: str
  sample: "2026-11-30T03:00:00.123456Z"
canary:
  description: The canary as a M(propie.rollback.dynamodb_table_verify) canary (C(key), C(present), C(attributes)).
  returned: always
  type: dict
restore_window:
  description: The table's point-in-time recovery window when it was read (C(status), C(earliest), C(latest)).
  returned: when O(state=present)
  type: dict
restorable:
  description: Whether a restore to the latest restorable time holds the canary now.
  returned: always
  type: bool
rpo_seconds:
  description: Seconds from the canary's write until it was restorable; null until it is.
  returned: always
  type: float
progress:
  description: One line - where the window is relative to the canary.
  returned: always
  type: str
  sample: "canary written 4.2s ago; the restorable window ends 4m56s before it"
"""

import datetime
import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import drill as dr
from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb
from ansible_collections.propie.rollback.plugins.module_utils import record as rec

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import Optional

# AWS restores to whole seconds: the window must pass the canary by this much.
RESTORE_SLACK = datetime.timedelta(seconds=1)


class CanaryError(Exception):
    """Stops the run with a message; nothing was changed."""


def get_item(client: Any, table: str, key: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    return client.get_item(TableName=table, Key=key, ConsistentRead=True, aws_retry=True).get("Item")


def put_new_item(client: Any, table: str, item: Dict[str, Any], hash_name: str) -> None:
    client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(#k)",
                    ExpressionAttributeNames={"#k": hash_name}, aws_retry=True)


def delete_own_item(client: Any, table: str, key: Dict[str, Any], drill_id: str) -> None:
    client.delete_item(TableName=table, Key=key, ConditionExpression="#d = :d",
                       ExpressionAttributeNames={"#d": dr.CANARY_DRILL_ATTR},
                       ExpressionAttributeValues={":d": {"S": drill_id}}, aws_retry=True)


def describe_pitr(client: Any, table: str) -> Dict[str, Any]:
    return client.describe_continuous_backups(TableName=table, aws_retry=True)["ContinuousBackupsDescription"]


def ttl_attribute(client: Any, table: str) -> Optional[str]:
    desc = client.describe_time_to_live(TableName=table, aws_retry=True).get("TimeToLiveDescription") or {}
    return desc.get("AttributeName") if desc.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None


def _hash_name(table: Dict[str, Any]) -> str:
    return next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")


def _clock(seconds: float) -> str:
    seconds = abs(seconds)
    return "%.1fs" % seconds if seconds < 120 else "%dm%02ds" % divmod(int(seconds), 60)


def judge(written_at: Optional[str], window: Dict[str, Any], read_at: datetime.datetime) -> Dict[str, Any]:
    """restorable, rpo_seconds and the progress line, from the canary's time and the window read at read_at."""
    latest = window.get("latest")
    written = rec.parse_time(written_at) if written_at else None
    if written is None:
        return {"restorable": False, "rpo_seconds": None, "progress": "no canary yet"}
    age = (read_at - written).total_seconds()
    if latest is None:
        return {"restorable": False, "rpo_seconds": None,
                "progress": "canary written %s ago; the table reports no latest restorable time yet" % _clock(age)}
    gap = (latest - written).total_seconds()
    if latest >= written + RESTORE_SLACK:
        rpo = round((read_at - latest).total_seconds(), 3)
        return {"restorable": True, "rpo_seconds": max(rpo, 0.0),
                "progress": "canary restorable: the window passed it by %s; RPO %ss" % (_clock(gap), max(rpo, 0.0))}
    return {"restorable": False, "rpo_seconds": None,
            "progress": "canary written %s ago; the restorable window ends %s %s it" % (
                _clock(age), _clock(gap), "before" if gap < 0 else "after (not a whole second yet)")}


def run(module: AnsibleAWSModule, client: Any) -> Dict[str, Any]:
    p = module.params
    name, drill_id = p["table"], p["drill_id"]
    table = ddb.describe_table(client, name)
    if table is None:
        raise CanaryError("table %s does not exist" % name)
    try:
        key = dr.canary_key(table, drill_id)
    except dr.DrillError as err:
        raise CanaryError(str(err))
    typed_key = ddb.to_typed(key)
    result = {"changed": False, "table": name, "drill_id": drill_id, "key": key,
              "canary": dr.canary_check(key, drill_id), "restorable": False, "rpo_seconds": None}
    window, read_at = None, None
    if p["state"] == "present":
        window = ddb.restore_window(describe_pitr(client, name))
        read_at = ddb.utcnow()
        if window["status"] != "ENABLED":
            raise CanaryError(
                "point-in-time recovery is %s on %s, so it cannot be restored to a point in time and a rollback of "
                "its data is impossible; enable it (UpdateContinuousBackups). No canary was written."
                % (window["status"], name))
        result["restore_window"] = {"status": window["status"], "earliest": ddb.iso(window["earliest"]),
                                    "latest": ddb.iso(window["latest"])}
    current = get_item(client, name, typed_key)
    before = ddb.to_plain(current) if current else None
    if before is not None and before.get(dr.CANARY_DRILL_ATTR) != drill_id:
        mark = before.get(dr.CANARY_DRILL_ATTR)
        raise CanaryError("table %s has an item with the canary's key %s that is not drill %s's canary "
                          "(its %s is %r); it was left alone" % (name, key, drill_id, dr.CANARY_DRILL_ATTR, mark))
    after = before
    if p["state"] == "present" and before is None:
        now = ddb.utcnow()
        after = dict(key)
        after[dr.CANARY_DRILL_ATTR] = drill_id
        after[dr.CANARY_WRITTEN_ATTR] = dr.utc_text(now)
        ttl = ttl_attribute(client, name) if p["expire_after"] > 0 else None
        if ttl and ttl not in key:
            after[ttl] = int(now.timestamp()) + p["expire_after"]
        if not module.check_mode:
            try:
                put_new_item(client, name, ddb.to_typed(after), _hash_name(table))
            except is_boto3_error_code("ConditionalCheckFailedException"):
                raise CanaryError("an item with the canary's key %s appeared in %s while writing it; it was left alone"
                                  % (key, name))
        result["changed"] = True
    elif p["state"] == "absent" and before is not None:
        after = None
        if not module.check_mode:
            try:
                delete_own_item(client, name, typed_key, drill_id)
            except is_boto3_error_code("ConditionalCheckFailedException"):
                raise CanaryError("the canary %s in %s changed while deleting it; it was left alone" % (key, name))
        result["changed"] = True
    result["item"] = after
    result["written_at"] = (after or {}).get(dr.CANARY_WRITTEN_ATTR)
    if p["state"] == "present":
        result.update(judge(result["written_at"] if not result["changed"] else None, window, read_at))
        if result["changed"]:
            result["progress"] = "%s canary to %s; the restorable window is %s behind now" % (
                "would write the" if module.check_mode else "wrote the", name,
                _clock((read_at - window["latest"]).total_seconds()) if window["latest"] else "not reported")
    else:
        result["progress"] = ("deleted the canary from %s" % name if result["changed"] and not module.check_mode
                              else "would delete the canary from %s" % name if result["changed"]
                              else "no canary of %s in %s" % (drill_id, name))
    if module._diff:
        result["diff"] = {"before": {"item": before}, "after": {"item": after}}
    return result


def do(module: AnsibleAWSModule) -> None:
    if not dr.DRILL_ID_RE.match(module.params["drill_id"] or ""):
        module.fail_json(msg="drill_id %r is not a drill id (dr-YYYYMMDDTHHMMSSZ-xxxxxx)" % module.params["drill_id"])
    if module.params["expire_after"] < 0:
        module.fail_json(msg="expire_after must be 0 or more seconds")
    client = ddb.dynamodb_client(module)
    try:
        result = run(module, client)
    except CanaryError as err:
        module.fail_json(msg=str(err), table=module.params["table"], drill_id=module.params["drill_id"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
        module.fail_json_aws(err, msg="canary of drill %s in table %s" % (module.params["drill_id"], module.params["table"]))
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        table=dict(type="str", required=True),
        drill_id=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        expire_after=dict(type="int", default=86400),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
