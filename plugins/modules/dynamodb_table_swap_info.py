#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dynamodb_table_swap_info
version_added: 0.4.0
short_description: Check a DynamoDB swap record and say what swapping back would do, changing nothing
description:
  - Reads the swap record that M(propie.rollback.dynamodb_table_swap) wrote and every target it
    names, and checks them exactly as that module's swap back (O(swap_back)) does before its first
    write - the record's kind, version, rollback id, table names, O(env), no template text; with
    O(env_tables), that the record's source table is one of the environment's; and that every
    target holds either the record's recovery table (a swap back sets it back) or its recorded
    previous value (already back). Anything else fails with the same message, naming the record,
    the targets and the fix.
  - Returns, per target, the value it holds, the value a swap back would restore and whether it is
    already restored; a run before the rollback lock shows bad input with no mutating call at all.
  - SSM C(SecureString) values are read (the one to restore from its recorded version) but never
    returned; they show as C(********).
author:
  - PropIE platform team (@propie)
options:
  swap_back:
    description: Path of the swap record (the run that swapped printed it; it is in the state directory, C(dynamodb/)).
    type: path
    required: true
  env:
    description: The environment; a record of another environment is refused.
    type: str
    default: ""
  env_tables:
    description:
      - The environment's tables as the inventory lists them (C(rollback_dynamodb_tables)), each
        with C(name) and C(swap_targets).
      - A record whose source table is not one of them is refused; a record target that the
        inventory no longer lists for that table is reported with a warning (a swap back puts it
        back too).
      - Empty (the default) skips these checks.
    type: list
    elements: dict
    default: []
seealso:
  - module: propie.rollback.dynamodb_table_swap
extends_documentation_fragment: [propie.rollback.attributes.read_only,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Check the swap record and its targets before taking the lock
  propie.rollback.dynamodb_table_swap_info:
    swap_back: /var/lib/propie-rollback/dynamodb/rb-20261130T040000Z-9f2c1a-prop-ie-production-data.json
    env: production
    env_tables: "{{ rollback_dynamodb_tables }}"
  register: swap_back_plan

- name: Say what the swap back will do
  ansible.builtin.debug:
    msg: "{{ swap_back_plan.lines }}"
"""

RETURN = r"""
record:
  description: Path of the swap record (symbolic links resolved).
  returned: always
  type: str
rollback_id:
  description: The rollback id of the record.
  returned: always
  type: str
source_table:
  description: The table the application used before the swap (a swap back points it there again).
  returned: always
  type: str
recovery_table:
  description: The recovery table the swap pointed the application at.
  returned: always
  type: str
restored:
  description: Whether every target already holds its recorded previous value (a swap back would change nothing).
  returned: always
  type: bool
targets:
  description: One entry per target a swap back would set (not the RV(skipped) ones), in the record's order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description:
        - The target as the record names it - C(ssm:<name>), C(lambda:<function>:<variable>),
          C(appsync:<api>/<name>) or C(amplify:<app>/<branch>:<variable>).
      type: str
    type:
      description: The target type.
      type: str
    masked:
      description: Whether the values are masked.
      type: bool
    current:
      description: The value the target holds now (masked when secret).
      type: str
    restore:
      description: The value a swap back would set (masked when secret).
      type: str
    restored:
      description: Whether the target already holds that value (a swap back leaves it as it is).
      type: bool
amplify_branches:
  description: The Amplify branches among the targets, and whether a swap back would change their variables (then they need a build).
  returned: always
  type: list
  elements: dict
  sample: [{"app_id": "d1a2b3c4", "branch_name": "main", "variables_changed": true}]
skipped:
  description: Ids of targets that had no value before the swap (a swap back leaves them as they are).
  returned: always
  type: list
  elements: str
lines:
  description: One line per target saying what a swap back would do.
  returned: always
  type: list
  elements: str
  sample: ["ssm:/prop-ie/production/data-table: 'prop-ie-production-data-pitr-20261130T034500Z' -> 'prop-ie-production-data'"]
"""

import typing

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils import swap as sw
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict


def describe(handler: Any, current: Dict[str, Any], value: Any, changed: bool) -> Dict[str, Any]:
    return {"id": handler.id, "type": handler.spec["type"], "masked": handler.masked,
            "current": sw.show(handler, current["value"]), "restore": sw.show(handler, value), "restored": not changed}


def line(target: Dict[str, Any]) -> str:
    if target["restored"]:
        return "%s: holds %r already; left as it is" % (target["id"], target["current"])
    return "%s: %r -> %r" % (target["id"], target["current"], target["restore"])


def swap_back_info(module: AnsibleAWSModule, targets: sw.Targets) -> Dict[str, Any]:
    plan = sw.plan_swap_back(module, targets, module.params["swap_back"])
    record = plan["record"]
    results = [describe(*entry) for entry in plan["plans"]]
    would_change = [r["id"] for r in results if not r["restored"]]
    lines = [line(r) for r in results] + ["%s: had no value before the swap; left as it is" % s
                                          for s in plan["skipped"]]
    return dict(changed=False, record=plan["path"], rollback_id=record["rollback_id"],
                source_table=record["source_table"], recovery_table=record["recovery_table"],
                restored=not would_change, targets=results,
                amplify_branches=sw.amplify_branches(plan["handlers"], would_change), skipped=plan["skipped"],
                lines=lines)


def do(module: AnsibleAWSModule) -> None:
    sw.run(module, lambda: swap_back_info(module, sw.Targets(module, aws_retry)),
           failed="reading the swap record's targets failed", diff=False)


def main() -> None:
    argument_spec = dict(
        swap_back=dict(type="path", required=True),
        env=dict(type="str", default=""),
        env_tables=dict(type="list", elements="dict", default=[]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
