#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amplify_branch
short_description: Set the environment variables of an AWS Amplify branch
version_added: 0.1.0
description:
  - Merges the given environment variables into an Amplify branch's, or makes them the
    branch's only ones (O(purge_environment_variables=true)).
  - B(Amplify reads branch environment variables at build time.) A change takes effect
    only after the branch is rebuilt (for example with
    M(propie.rollback.amplify_deployment) or a new release); the module reports
    RV(rebuild_required) and does not rebuild by itself.
  - Values never appear in logs, results or diffs; they are masked. Only variable names
    are shown. O(environment_variables) is a C(no_log) option, so Ansible also masks any
    other output text equal to one of its values.
  - C(UpdateBranch) replaces the branch's whole variable map, so the module sends the
    merged map.
author:
  - PropIE platform team (@propie)
options:
  branch_name:
    description:
      - The branch.
    type: str
    required: true
  environment_variables:
    description:
      - Variable names and values to set.
    type: dict
    required: true
  purge_environment_variables:
    description:
      - Remove the branch's variables that are not in O(environment_variables).
    type: bool
    default: false
attributes:
  check_mode:
    description:
      - Predicts the change without calling C(UpdateBranch).
  diff_mode:
    description:
      - Shows variable names before and after, with masked values (changed values are
        marked as changed).
extends_documentation_fragment: [propie.rollback.attributes, propie.rollback.amplify, propie.rollback.amplify.report_rollback_id,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Point the app at the recovery table (takes effect after the next build)
  propie.rollback.amplify_branch:
    app_id: d4cebxzd5u3ynb
    branch_name: production
    environment_variables:
      DYNAMODB_TABLE: prop-ie-production-data-recovery
  register: env_swap

- name: Rebuild so that the new variables are used
  propie.rollback.amplify_deployment:
    app_id: d4cebxzd5u3ynb
    branch_name: production
  when: env_swap.rebuild_required
"""

RETURN = r"""
environment_variables:
  description: The branch's variable names after the change, each with a masked value.
  returned: always
  type: dict
  sample: {"DYNAMODB_TABLE": "********"}
added:
  description: Names of variables added.
  returned: always
  type: list
  elements: str
updated:
  description: Names of variables whose value changed.
  returned: always
  type: list
  elements: str
removed:
  description: Names of variables removed (only with O(purge_environment_variables=true)).
  returned: always
  type: list
  elements: str
rebuild_required:
  description: True when variables changed; Amplify uses them only from the next build.
  returned: always
  type: bool
rollback_id:
  description: The rollback id given, if any.
  returned: when given
  type: str
"""

import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports it

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils.amplify import amplify_client
from ansible_collections.propie.rollback.plugins.module_utils.amplify import change_result
from ansible_collections.propie.rollback.plugins.module_utils.amplify import require_branch
from ansible_collections.propie.rollback.plugins.module_utils.common import validate_rollback_id

if typing.TYPE_CHECKING:
    from typing import Dict
    from typing import List

MASK = "********"
MASK_CHANGED = "******** (changed)"


def masked(variables: Dict[str, str], changed=()) -> Dict[str, str]:
    return {k: (MASK_CHANGED if k in changed else MASK) for k in sorted(variables)}


def update_branch(module, client, app_id: str, branch_name: str, variables: Dict[str, str]) -> None:
    try:
        client.update_branch(appId=app_id, branchName=branch_name, environmentVariables=variables, aws_retry=True)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        # The exception text never holds the values (boto3 does not echo request bodies).
        module.fail_json_aws(e, msg="Could not update the environment variables of branch %s" % branch_name)


def do(module) -> None:
    params = module.params
    app_id, branch_name = params["app_id"], params["branch_name"]
    validate_rollback_id(module, params["rollback_id"])
    given = {}  # type: Dict[str, str]
    for key, value in params["environment_variables"].items():
        if not isinstance(value, str):
            # Amplify stores strings; a YAML number or boolean would read back as text.
            module.fail_json(msg="environment_variables[%s] must be a string (quote it in YAML)" % key)
        given[key] = value
    client = amplify_client(module)
    before = dict(require_branch(module, client, app_id, branch_name).get("environmentVariables") or {})
    after = dict(given) if params["purge_environment_variables"] else dict(before, **given)

    added = sorted(k for k in after if k not in before)  # type: List[str]
    updated = sorted(k for k in after if k in before and before[k] != after[k])
    removed = sorted(k for k in before if k not in after)
    changed = bool(added or updated or removed)
    diff = dict(environment_variables=masked(before)), dict(environment_variables=masked(after, set(updated)))
    result = change_result(module, *diff, changed=changed, environment_variables=masked(after),
                           added=added, updated=updated, removed=removed, rebuild_required=changed)
    if changed and not module.check_mode:
        update_branch(module, client, app_id, branch_name, after)
    if changed:
        module.warn(
            "Amplify reads environment variables at build time: branch %s uses the new values "
            "only after its next build" % branch_name
        )
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        branch_name=dict(type="str", required=True),
        environment_variables=dict(type="dict", required=True, no_log=True),
        purge_environment_variables=dict(type="bool", default=False),
        rollback_id=dict(type="str"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
