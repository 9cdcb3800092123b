#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_config_swap
version_added: 0.1.0
short_description: Point an application's configuration at another value (a recovery table), recording what it was
description:
  - Sets one configuration value in each of O(targets) - a Lambda function's environment
    variable (only that variable; the others are kept), an SSM parameter's value, or an AppSync
    DynamoDB data source's table name - and returns each target's previous value in
    RV(targets[].previous) so that a swap can be undone by passing the previous values back.
  - Every target is read before anything is written; a missing target, a wrong target type or a
    non-DynamoDB data source fails the run with no change made.
  - Values of SSM C(SecureString) parameters (and of targets with O(targets[].mask=true)) never
    appear in results or diffs; their previous value is recorded as the parameter's version, and
    O(targets[].value_from_version) restores it without the value passing through Ansible.
  - Amplify branch environment variables are set by M(propie.rollback.amplify_branch), which
    also handles the rebuild Amplify needs to read them.
author:
  - PropIE platform team (@propie)
options:
  targets:
    description: The configuration values to set.
    type: list
    elements: dict
    required: true
    suboptions:
      type:
        description:
          - V(lambda_env) - an environment variable of a Lambda function ($LATEST).
          - V(ssm_parameter) - the value of an SSM parameter (its type, key and tier are kept).
          - V(appsync_datasource) - C(dynamodbConfig.tableName) of an AppSync data source.
        type: str
        required: true
        choices: [lambda_env, ssm_parameter, appsync_datasource]
      function_name:
        description: Lambda function name or ARN (V(lambda_env)).
        type: str
      variable:
        description: Environment variable name (V(lambda_env)).
        type: str
      name:
        description: Parameter name (V(ssm_parameter)) or data source name (V(appsync_datasource)).
        type: str
      api_id:
        description: AppSync GraphQL API id (V(appsync_datasource)).
        type: str
      value:
        description: The value to set. Exactly one of O(targets[].value) and
          O(targets[].value_from_version) is required.
        type: str
      value_from_version:
        description: Set an SSM parameter back to the value it had in this version
          (V(ssm_parameter) only).
        type: int
      mask:
        description: Hide the values in results and diffs. Default is V(true) for SSM
          C(SecureString) parameters and V(false) otherwise.
        type: bool
attributes:
  check_mode:
    description: Reads every target and reports what would change, without writing.
  diff_mode:
    description: Returns each target's value before and after (masked where secret).
extends_documentation_fragment: [propie.rollback.attributes, propie.rollback.lambda_update_wait,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Point the application at the recovery table
  propie.rollback.app_config_swap:
    targets:
      - type: lambda_env
        function_name: prop-ie-api
        variable: DATA_TABLE_NAME
        value: prop-ie-production-data-pitr-20261130T034500Z
      - type: ssm_parameter
        name: /prop-ie/production/data-table
        value: prop-ie-production-data-pitr-20261130T034500Z
      - type: appsync_datasource
        api_id: abcdefghijklmnopqrstuvwxyz
        name: PropertiesTable
        value: prop-ie-production-data-pitr-20261130T034500Z
  register: swap

- name: Swap a SecureString parameter back to its recorded version
  propie.rollback.app_config_swap:
    targets:
      - type: ssm_parameter
        name: /prop-ie/production/data-table-secure
        value_from_version: 7
"""

RETURN = r"""
targets:
  description: One entry per target, in order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: A readable id - C(lambda:<function>:<variable>), C(ssm:<name>),
        C(appsync:<api id>/<data source>).
      type: str
      sample: "ssm:/prop-ie/production/data-table"
    type:
      description: The target type.
      type: str
    before:
      description: The value before (masked when secret; null when it was not set).
      type: str
    after:
      description: The value after (masked when secret).
      type: str
    changed:
      description: Whether this target changed (or would, in check mode).
      type: bool
    masked:
      description: Whether the values are masked.
      type: bool
    previous:
      description: What to pass back to undo the swap - C(value) (unless masked) and, for SSM
        parameters, C(version).
      type: dict
      sample: {"value": "prop-ie-production-data", "version": 3}
    target:
      description: The target's options as given, without O(targets[].value), ready to be
        combined with RV(targets[].previous) for the swap back.
      type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.swap import LAMBDA_WAIT_ARGS
from ansible_collections.propie.rollback.plugins.module_utils.swap import Targets
from ansible_collections.propie.rollback.plugins.module_utils.swap import check_value_spec
from ansible_collections.propie.rollback.plugins.module_utils.swap import report
from ansible_collections.propie.rollback.plugins.module_utils.swap import run


def do(module: AnsibleAWSModule) -> None:
    def work():
        for index, spec in enumerate(module.params["targets"]):
            check_value_spec(index, spec)
        targets = Targets(module, aws_retry)
        handlers = [targets.handler(spec) for spec in module.params["targets"]]
        # Read (and resolve) everything first, so that a bad target stops the run before any write.
        plans = []
        for handler in handlers:
            current = handler.read()
            plans.append((handler, current, handler.desired(current)))
        results = []
        for handler, current, value in plans:
            changed = current["value"] != value
            if changed and not module.check_mode:
                handler.write(value, module)
            results.append(report(handler, current, value, changed))
        return dict(changed=any(r["changed"] for r in results), targets=results)

    run(module, work)


def main() -> None:
    argument_spec = dict(
        targets=dict(
            type="list", elements="dict", required=True,
            options=dict(
                type=dict(type="str", required=True, choices=["lambda_env", "ssm_parameter", "appsync_datasource"]),
                function_name=dict(type="str"),
                variable=dict(type="str"),
                name=dict(type="str"),
                api_id=dict(type="str"),
                value=dict(type="str"),
                value_from_version=dict(type="int"),
                mask=dict(type="bool"),
            ),
        ),
        **LAMBDA_WAIT_ARGS,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
