#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dynamodb_recovery_table
short_description: Delete a recovery or DR drill scratch table that a propie.rollback restore made
version_added: 0.3.0
description:
  - Deletes O(table) only when it is a point-in-time restore that this collection made for O(rollback_id) -
    it has a C(RestoreSummary) (it is a restore), of O(source_table) when given, and its
    C(propie-rollback:rollback-id) tag, once M(propie.rollback.dynamodb_pitr_restore) has written it, is
    O(rollback_id). Any other table is refused and left alone, so the module never deletes a table that a
    rollback did not restore (nor the source).
  - A restore still C(CREATING) cannot be deleted; the module waits until it is C(ACTIVE), then deletes it.
    Deletion protection, which the restore copies from the source, is turned off first (on that table only).
  - Waits until the table is gone when O(wait=true). No such table is no change.
author:
  - PropIE platform team (@propie)
options:
  table:
    description: The recovery (or scratch) table to delete.
    type: str
    required: true
  rollback_id:
    description: The rollback id the restore was made for (C(rb-YYYYMMDDTHHMMSSZ-xxxxxx)).
    type: str
    required: true
  source_table:
    description: The table it must be a restore of.
    type: str
  state:
    description: Only V(absent).
    type: str
    choices: [absent]
    default: absent
  wait:
    description: Wait until the table is gone.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for a restore to finish and for the deletion.
    type: int
    default: 7200
  wait_delay:
    description: Seconds between two reads while waiting.
    type: int
    default: 5
attributes:
  check_mode:
    description: Reads the table and reports whether it would be deleted; changes nothing.
  diff_mode:
    description: The table (name, status, rollback id) before, and none after.
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Delete a drill's scratch table
  propie.rollback.dynamodb_recovery_table:
    table: prop-ie-production-data-dr-20261130T030000Z-9f2c1a
    source_table: prop-ie-production-data
    rollback_id: rb-20261130T030000Z-9f2c1a
    state: absent
"""

RETURN = r"""
table:
  description: The table.
  returned: always
  type: str
deleted:
  description: Whether this run deleted the table (or would, in check mode).
  returned: always
  type: bool
status:
  description: The table's status when it was first read (C(absent) when there was none).
  returned: always
  type: str
  sample: ACTIVE
restore_of:
  description: The ARN of the table it was restored from.
  returned: when the table existed
  type: str
deletion_protection_disabled:
  description: Whether deletion protection had to be turned off first.
  returned: always
  type: bool
progress:
  description: Status changes seen while waiting, with elapsed seconds.
  returned: always
  type: list
  elements: dict
"""

import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb
from ansible_collections.propie.rollback.plugins.module_utils.common import WaitTimeout
from ansible_collections.propie.rollback.plugins.module_utils.common import validate_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_for
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_options

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import Optional


class RefusedError(Exception):
    """The table is not ours to delete (or cannot be); nothing was changed."""


def refusal(table: Dict[str, Any], tags: Dict[str, str], rollback_id: str, source: Optional[Dict[str, Any]],
            source_name: Optional[str]) -> Optional[str]:
    """None when `table` is this rollback's restore (of `source` when given), else why it is not."""
    name = table["TableName"]
    if source_name and name == source_name:
        return "table %s is the source table itself" % name
    arn = ddb.restore_source_arn(table)
    if arn is None:
        return "table %s is not a point-in-time restore (it has no RestoreSummary)" % name
    if source is not None and arn != source["TableArn"]:
        return "table %s is a restore of %s, not of %s" % (name, arn, source["TableArn"])
    if source is None and source_name and not arn.endswith("/" + source_name):
        return "table %s is a restore of %s, not of %s" % (name, arn, source_name)
    tagged = tags.get(ddb.TAG_ROLLBACK_ID)
    if tagged and tagged != rollback_id:
        return "table %s belongs to rollback %s, not %s" % (name, tagged, rollback_id)
    return None


def _status(table: Optional[Dict[str, Any]]) -> str:
    return "DELETED" if table is None else table["TableStatus"]


def do(module: AnsibleAWSModule) -> None:
    p = module.params
    validate_rollback_id(module, p["rollback_id"])
    if not p["rollback_id"]:
        module.fail_json(msg="rollback_id is required")
    client = ddb.dynamodb_client(module)
    name = p["table"]
    result = {"changed": False, "table": name, "deleted": False, "deletion_protection_disabled": False,
              "progress": []}  # type: Dict[str, Any]

    def read() -> Optional[Dict[str, Any]]:
        return ddb.describe_table(client, name)

    def wait(done: Any, what: str) -> Optional[Dict[str, Any]]:
        try:
            last, progress = wait_for(read, _status, done, p["wait_timeout"], p["wait_delay"], what, log=module.log)
        except WaitTimeout as err:
            module.fail_json(msg=str(err), progress=result["progress"] + err.progress, table=name)
        result["progress"] += progress
        return last

    try:
        table = read()
        result["status"] = "absent" if table is None else table["TableStatus"]
        if table is None:
            result["progress"] = [{"elapsed": 0, "status": "absent"}]
            if module._diff:
                result["diff"] = {"before": {"table": None}, "after": {"table": None}}
            module.exit_json(**result)
        source = ddb.describe_table(client, p["source_table"]) if p["source_table"] else None
        tags = ddb.list_tags(client, table["TableArn"])
        why = refusal(table, tags, p["rollback_id"], source, p["source_table"])
        if why:
            raise RefusedError("%s; it was left alone" % why)
        result["restore_of"] = ddb.restore_source_arn(table)
        result["changed"] = result["deleted"] = True
        if module._diff:
            result["diff"] = {"before": {"table": {"name": name, "status": table["TableStatus"],
                                                   "rollback_id": tags.get(ddb.TAG_ROLLBACK_ID)}},
                              "after": {"table": None}}
        if module.check_mode:
            module.exit_json(**result)
        if table["TableStatus"] == "CREATING" or (table.get("RestoreSummary") or {}).get("RestoreInProgress"):
            table = wait(lambda status: status in ("ACTIVE", "DELETED", "DELETING"), "restore %s to end" % name)
        elif table["TableStatus"] == "UPDATING":
            table = wait(lambda status: status in ("ACTIVE", "DELETED", "DELETING"), "table %s to settle" % name)
        if table is not None and table["TableStatus"] != "DELETING":
            if table.get("DeletionProtectionEnabled"):
                client.update_table(TableName=name, DeletionProtectionEnabled=False, aws_retry=True)
                result["deletion_protection_disabled"] = True
                wait(lambda status: status in ("ACTIVE", "DELETED"), "table %s to settle" % name)
            client.delete_table(TableName=name, aws_retry=True)
        if p["wait"]:
            wait(lambda status: status == "DELETED", "table %s to be deleted" % name)
    except RefusedError as err:
        module.fail_json(msg=str(err), table=name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
        module.fail_json_aws(err, msg="deleting table %s" % name, table=name)
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        table=dict(type="str", required=True),
        rollback_id=dict(type="str", required=True),
        source_table=dict(type="str"),
        state=dict(type="str", choices=["absent"], default="absent"),
        **wait_options(7200, 5),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
