#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dynamodb_table_swap
version_added: 0.3.0
short_description: Point an application at a recovery table, recording what it read before, or swap it back
description:
  - Swap (the default) - reads every swap target (a Lambda variable, an SSM parameter, an AppSync
    data source, an Amplify branch variable) and refuses, before any change, a target that
    names neither O(source_table) nor O(recovery_table); writes the swap record (what each
    target held before) to O(record_dir) before the first change; then points every target at
    O(recovery_table). A re-run keeps the first run's record and changes nothing that is
    already swapped.
  - Swap back (O(swap_back)) - checks the record (its kind, version, rollback id, table names,
    O(env), no template text) and every target's current value, which must be the record's
    recovery table (it is set back) or its recorded previous value (already back); anything else
    stops the run with what differs and nothing changed. SSM C(SecureString) values are put back
    from their recorded version, never passing through Ansible.
  - Amplify reads branch variables at build time only; RV(amplify_branches) lists the branches
    whose variables this run changed, for M(propie.rollback.amplify_deployment) with
    C(target=serving) to rebuild.
  - The swap record is JSON, written whole or not at all (mode 0600, directory 0700).
author:
  - PropIE platform team (@propie)
options:
  source_table:
    description: The table the application uses now (required unless O(swap_back)).
    type: str
  recovery_table:
    description: The table to point the application at (required unless O(swap_back)).
    type: str
  rollback_id:
    description: The rollback (incident) id; names the record C(<record_dir>/<rollback_id>-<source_table>.json).
    type: str
  env:
    description: The environment; written to the record, and a record of another environment is refused.
    type: str
    default: ""
  targets:
    description:
      - Where the application reads the table name; each item has a C(type) and its identifiers.
      - V(amplify_branch_env) - C(app_id), C(branch_name), C(variable).
      - V(lambda_env) - C(function_name), C(variable).
      - V(ssm_parameter) - C(name).
      - V(appsync_datasource) - C(api_id), C(name).
      - C(mask=true) hides the values (default for SSM C(SecureString) parameters).
    type: list
    elements: dict
    default: []
  record_dir:
    description: Directory of swap records (required unless O(swap_back)).
    type: path
  restore_date_time:
    description: When the recovery table's data is from; written to the record.
    type: str
  swap_back_command:
    description: The command that swaps back, written to the record as it is (a re-run keeps the first run's).
    type: str
  swap_back:
    description: Path of a swap record; put its targets back to the recorded previous values.
    type: path
  env_tables:
    description:
      - With O(swap_back), the environment's tables as the inventory lists them
        (C(rollback_dynamodb_tables)), each with C(name) and C(swap_targets).
      - A record whose source table is not one of them is refused, with nothing changed; a
        record target that the inventory no longer lists for that table is put back too, with a
        warning.
      - Empty (the default) skips these checks.
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    description: Reads every target and the record and reports what would change; writes neither.
  diff_mode:
    description: Each target's value before and after (masked where secret).
seealso:
  - module: propie.rollback.dynamodb_table_swap_info
extends_documentation_fragment: [propie.rollback.attributes, propie.rollback.lambda_update_wait,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Point the application at the recovery table
  propie.rollback.dynamodb_table_swap:
    source_table: prop-ie-production-data
    recovery_table: prop-ie-production-data-pitr-20261130T034500Z
    rollback_id: rb-20261130T040000Z-9f2c1a
    env: production
    record_dir: /var/lib/propie-rollback/dynamodb
    targets:
      - {type: ssm_parameter, name: /prop-ie/production/data-table}
      - {type: amplify_branch_env, app_id: d1a2b3c4, branch_name: main, variable: DATA_TABLE_NAME}
  register: swap

- name: Swap back with the record the swap wrote
  propie.rollback.dynamodb_table_swap:
    swap_back: "{{ swap.record }}"
    env: production
"""

RETURN = r"""
action:
  description: V(swap) or V(swap_back).
  returned: always
  type: str
record:
  description: Path of the swap record.
  returned: always
  type: str
record_written:
  description: Whether this run wrote the record (false when it already held the same content, and in check mode).
  returned: always
  type: bool
rollback_id:
  description: The rollback id of the record.
  returned: always
  type: str
source_table:
  description: The table the application used before the swap.
  returned: always
  type: str
recovery_table:
  description: The recovery table.
  returned: always
  type: str
swap_back_command:
  description: The record's command to swap back.
  returned: when O(swap_back) is not given
  type: str
targets:
  description: One entry per target.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(amplify:<app>/<branch>:<variable>), C(lambda:<function>:<variable>), C(ssm:<name>), C(appsync:<api>/<name>).
      type: str
    type:
      description: The target type.
      type: str
    before:
      description: The table name the target held before this run (masked when secret).
      type: str
    after:
      description: The table name it holds after - the recovery table, or the recorded one on a swap back (masked when secret).
      type: str
    changed:
      description: Whether this run set the target (or would, in check mode); V(false) when it already held RV(targets[].after).
      type: bool
    masked:
      description: Whether RV(targets[].before) and RV(targets[].after) are masked.
      type: bool
amplify_branches:
  description: The Amplify branches among the targets, and whether their variables changed in this run.
  returned: always
  type: list
  elements: dict
  sample: [{"app_id": "d1a2b3c4", "branch_name": "main", "variables_changed": true}]
skipped:
  description: Swap back only - ids of targets that had no value before the swap (left as they are).
  returned: always
  type: list
  elements: str
"""

import os
import typing

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils import swap as sw
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.common import validate_rollback_id

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List
    from typing import Tuple

NOTHING_CHANGED = sw.NOTHING_CHANGED


def check_params(params: Dict[str, Any]) -> None:
    """Everything that can be checked without a call."""
    if params["swap_back"]:
        return
    for field in ("source_table", "recovery_table", "record_dir", "rollback_id"):
        if not params[field]:
            raise sw.SwapError("%s is required to swap (or give swap_back); %s" % (field, NOTHING_CHANGED))
    for field in ("source_table", "recovery_table"):
        if not sw.TABLE_NAME_RE.match(params[field]):
            raise sw.SwapError("%s %r is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .); %s"
                               % (field, params[field][:80], NOTHING_CHANGED))
    if params["source_table"] == params["recovery_table"]:
        raise sw.SwapError("recovery_table is the source table %s; %s" % (params["source_table"], NOTHING_CHANGED))
    seen = set()
    for number, spec in enumerate(params["targets"]):
        sw.check_target("targets[%d]" % number, spec)
        if sw.target_id(spec) in seen:
            raise sw.SwapError("targets[%d] (%s) is listed twice; %s" % (number, sw.target_id(spec), NOTHING_CHANGED))
        seen.add(sw.target_id(spec))


def apply(module: AnsibleAWSModule, plans: List[Tuple[Any, Dict[str, Any], Any, bool]]) -> List[Dict[str, Any]]:
    results = []
    for handler, current, value, changed in plans:
        if changed and not module.check_mode:
            handler.write(value, module)
        shown = sw.report(handler, current, value, changed)
        results.append(dict((k, v) for k, v in shown.items() if k not in ("previous", "target")))
    return results


def swap(module: AnsibleAWSModule, targets: sw.Targets) -> Dict[str, Any]:
    params = module.params
    source, recovery = params["source_table"], params["recovery_table"]
    path = sw.record_path(params["record_dir"], params["rollback_id"], source)
    earlier = None
    if os.path.exists(path):
        earlier = sw.load_record(path)
        sw.check_record(earlier, path, params["env"], source, recovery, params["rollback_id"])
    earlier_previous = dict((t["id"], t["previous"]) for t in (earlier or {}).get("targets", []))

    handlers = [targets.handler(dict(spec, value=recovery)) for spec in params["targets"]]
    entries, plans = [], []
    # Read everything first: a target naming some other table stops the run before any write.
    for handler in handlers:
        current = handler.read()
        if current["value"] not in (source, recovery):
            shown = sw.MASK if handler.masked else repr(current["value"])
            raise sw.SwapError(
                "%s names %s, neither the source table %s nor the recovery table %s: the application may already "
                "use another table (an earlier rollback?). Swap that back first, or fix the target in the inventory; "
                "%s" % (handler.id, shown, source, recovery, NOTHING_CHANGED))
        shown = sw.report(handler, current, recovery, False)
        if handler.id in earlier_previous:
            previous = earlier_previous[handler.id]  # a re-run reads the recovery table back
        elif current["value"] == recovery:
            previous = {"value": source}  # swapped already, with no record of it: it named the source
        else:
            previous = shown["previous"]
        entries.append({"id": handler.id, "target": shown["target"], "previous": previous})
        plans.append((handler, current, recovery, current["value"] != recovery))

    record = {
        "kind": sw.RECORD_KIND, "version": sw.RECORD_VERSION, "rollback_id": params["rollback_id"],
        "env": params["env"], "source_table": source, "recovery_table": recovery,
        "restore_date_time": (earlier or {}).get("restore_date_time") or params["restore_date_time"],
        "recorded_at": (earlier or {}).get("recorded_at") or sw.utc_now_text(),
        "swap_back_command": (earlier or {}).get("swap_back_command") or params["swap_back_command"] or "",
        "targets": entries,
    }
    written = False
    if not module.check_mode and handlers:
        written = sw.write_record(path, record)  # before the first change
    results = apply(module, plans)
    changed_ids = [r["id"] for r in results if r["changed"]]
    return dict(changed=bool(written or changed_ids), action="swap", record=os.path.realpath(path),
                record_written=written, rollback_id=params["rollback_id"], source_table=source,
                recovery_table=recovery, swap_back_command=record["swap_back_command"], targets=results,
                amplify_branches=sw.amplify_branches(handlers, changed_ids), skipped=[])


def swap_back(module: AnsibleAWSModule, targets: sw.Targets) -> Dict[str, Any]:
    # Every target is read and checked before the first write (dynamodb_table_swap_info makes the same reads).
    plan = sw.plan_swap_back(module, targets, module.params["swap_back"])
    record = plan["record"]
    results = apply(module, plan["plans"])
    changed_ids = [r["id"] for r in results if r["changed"]]
    return dict(changed=bool(changed_ids), action="swap_back", record=plan["path"],
                record_written=False, rollback_id=record["rollback_id"], source_table=record["source_table"],
                recovery_table=record["recovery_table"], targets=results,
                amplify_branches=sw.amplify_branches(plan["handlers"], changed_ids), skipped=plan["skipped"])


def do(module: AnsibleAWSModule) -> None:
    params = module.params
    validate_rollback_id(module, params["rollback_id"])

    def work():
        check_params(params)
        targets = sw.Targets(module, aws_retry)
        result = swap_back(module, targets) if params["swap_back"] else swap(module, targets)
        for branch in result["amplify_branches"]:
            if branch["variables_changed"]:
                module.warn("Amplify reads environment variables at build time: branch %s serves the new table "
                            "only after its next build" % branch["branch_name"])
        return result

    sw.run(module, work)


def main() -> None:
    argument_spec = dict(
        source_table=dict(type="str"),
        recovery_table=dict(type="str"),
        rollback_id=dict(type="str"),
        env=dict(type="str", default=""),
        targets=dict(type="list", elements="dict", default=[]),
        record_dir=dict(type="path"),
        restore_date_time=dict(type="str"),
        swap_back_command=dict(type="str"),
        swap_back=dict(type="path"),
        env_tables=dict(type="list", elements="dict", default=[]),
        **sw.LAMBDA_WAIT_ARGS,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
