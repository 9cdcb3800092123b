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
  wait_timeout:
    description: Seconds to wait for a Lambda function's configuration update to finish.
    type: int
    default: 300
  wait_delay:
    description: Seconds between two reads while waiting.
    type: int
    default: 2
attributes:
  check_mode:
    support: full
    description: Reads every target and reports what would change, without writing.
  diff_mode:
    support: full
    description: Returns each target's value before and after (masked where secret).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
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

import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils.common import WaitTimeout
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_for

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List
    from typing import Optional

MASK = "********"
REQUIRED = {
    "lambda_env": ("function_name", "variable"),
    "ssm_parameter": ("name",),
    "appsync_datasource": ("api_id", "name"),
}
IDENTIFYING = ("type", "function_name", "variable", "name", "api_id", "mask")


class SwapError(Exception):
    """A target that cannot be swapped; nothing has been written when it is raised."""


# ---------------------------------------------------------------------------
# Lambda
# ---------------------------------------------------------------------------


class LambdaEnv:
    service = "lambda"

    def __init__(self, client: Any, spec: Dict[str, Any]) -> None:
        self.client, self.spec = client, spec
        self.id = "lambda:%s:%s" % (spec["function_name"], spec["variable"])

    def read(self) -> Dict[str, Any]:
        try:
            config = self.client.get_function_configuration(FunctionName=self.spec["function_name"], aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            raise SwapError("%s: Lambda function %s does not exist" % (self.id, self.spec["function_name"]))
        self.config = config
        self.masked = bool(self.spec.get("mask"))
        return {"value": (config.get("Environment") or {}).get("Variables", {}).get(self.spec["variable"])}

    def desired(self, current: Dict[str, Any]) -> Optional[str]:
        return self.spec["value"]

    def write(self, value: str, module: AnsibleAWSModule) -> None:
        self._wait(module)  # an update still in progress would refuse ours
        config = self.client.get_function_configuration(FunctionName=self.spec["function_name"], aws_retry=True)
        variables = dict((config.get("Environment") or {}).get("Variables", {}))
        variables[self.spec["variable"]] = value
        kwargs = {"FunctionName": self.spec["function_name"], "Environment": {"Variables": variables}}
        if config.get("RevisionId"):
            kwargs["RevisionId"] = config["RevisionId"]  # never overwrite a concurrent change
        self.client.update_function_configuration(aws_retry=True, **kwargs)
        self._wait(module)

    def _wait(self, module: AnsibleAWSModule) -> None:
        def done(status: str) -> bool:
            if status == "Failed":
                raise SwapError("%s: the function's configuration update failed" % self.id)
            return status != "InProgress"

        def read() -> Dict[str, Any]:
            return self.client.get_function_configuration(FunctionName=self.spec["function_name"], aws_retry=True)

        wait_for(read,
                 lambda c: c.get("LastUpdateStatus", "Successful"), done,
                 module.params["wait_timeout"], module.params["wait_delay"], self.id, log=module.log)


# ---------------------------------------------------------------------------
# SSM
# ---------------------------------------------------------------------------


class SsmParameter:
    service = "ssm"

    def __init__(self, client: Any, spec: Dict[str, Any]) -> None:
        self.client, self.spec = client, spec
        self.id = "ssm:%s" % spec["name"]

    def read(self) -> Dict[str, Any]:
        try:
            param = self.client.get_parameter(Name=self.spec["name"], WithDecryption=True, aws_retry=True)["Parameter"]
        except is_boto3_error_code("ParameterNotFound"):
            raise SwapError("%s: SSM parameter %s does not exist" % (self.id, self.spec["name"]))
        described = self.client.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [self.spec["name"]]}],
            aws_retry=True).get("Parameters", [])
        self.meta = described[0] if described else {}
        self.kind = param["Type"]
        mask = self.spec.get("mask")
        self.masked = self.kind == "SecureString" if mask is None else mask
        return {"value": param["Value"], "version": param.get("Version")}

    def desired(self, current: Dict[str, Any]) -> Optional[str]:
        version = self.spec.get("value_from_version")
        if version is None:
            return self.spec["value"]
        try:
            old = self.client.get_parameter(Name="%s:%d" % (self.spec["name"], version), WithDecryption=True,
                                            aws_retry=True)["Parameter"]
        except is_boto3_error_code(["ParameterVersionNotFound", "ParameterNotFound"]):
            raise SwapError("%s: version %d of the parameter does not exist" % (self.id, version))
        return old["Value"]

    def write(self, value: str, module: AnsibleAWSModule) -> None:
        kwargs = {"Name": self.spec["name"], "Value": value, "Type": self.kind, "Overwrite": True}
        # Keep what the parameter was created with: its KMS key, tier, data type, pattern, text.
        for field in ("KeyId", "Tier", "DataType", "AllowedPattern", "Description"):
            if self.meta.get(field) and not (field == "KeyId" and self.kind != "SecureString"):
                kwargs[field] = self.meta[field]
        self.client.put_parameter(aws_retry=True, **kwargs)


# ---------------------------------------------------------------------------
# AppSync
# ---------------------------------------------------------------------------


class AppSyncDataSource:
    service = "appsync"

    def __init__(self, client: Any, spec: Dict[str, Any]) -> None:
        self.client, self.spec = client, spec
        self.id = "appsync:%s/%s" % (spec["api_id"], spec["name"])

    def read(self) -> Dict[str, Any]:
        try:
            source = self.client.get_data_source(apiId=self.spec["api_id"], name=self.spec["name"],
                                                 aws_retry=True)["dataSource"]
        except is_boto3_error_code("NotFoundException"):
            raise SwapError("%s: AppSync API %s has no data source %s" % (self.id, self.spec["api_id"],
                                                                          self.spec["name"]))
        if source.get("type") != "AMAZON_DYNAMODB":
            raise SwapError("%s: the data source is of type %s, not AMAZON_DYNAMODB" % (self.id, source.get("type")))
        self.source = source
        self.masked = bool(self.spec.get("mask"))
        return {"value": (source.get("dynamodbConfig") or {}).get("tableName")}

    def desired(self, current: Dict[str, Any]) -> Optional[str]:
        return self.spec["value"]

    def write(self, value: str, module: AnsibleAWSModule) -> None:
        # UpdateDataSource replaces the whole definition: send back everything it had.
        source = self.source
        config = dict(source.get("dynamodbConfig") or {}, tableName=value)
        kwargs = {"apiId": self.spec["api_id"], "name": self.spec["name"], "type": source["type"],
                  "dynamodbConfig": config}
        for field in ("description", "serviceRoleArn", "metricsConfig"):
            if source.get(field):
                kwargs[field] = source[field]
        self.client.update_data_source(aws_retry=True, **kwargs)


KINDS = {"lambda_env": LambdaEnv, "ssm_parameter": SsmParameter, "appsync_datasource": AppSyncDataSource}


# ---------------------------------------------------------------------------


def check_spec(index: int, spec: Dict[str, Any]) -> None:
    missing = [f for f in REQUIRED[spec["type"]] if not spec.get(f)]
    if missing:
        raise SwapError("targets[%d] (%s) needs %s" % (index, spec["type"], ", ".join(missing)))
    has_value = spec.get("value") is not None
    has_version = spec.get("value_from_version") is not None
    if has_value == has_version:
        raise SwapError("targets[%d] needs exactly one of value and value_from_version" % index)
    if has_version and spec["type"] != "ssm_parameter":
        raise SwapError("targets[%d]: value_from_version is for ssm_parameter targets only" % index)
    ignored = [f for f in ("function_name", "variable", "name", "api_id")
               if spec.get(f) and f not in REQUIRED[spec["type"]]]
    if ignored:
        raise SwapError("targets[%d] (%s) does not take %s" % (index, spec["type"], ", ".join(ignored)))


def do(module: AnsibleAWSModule) -> None:
    clients = {}  # type: Dict[str, Any]
    handlers = []
    try:
        for index, spec in enumerate(module.params["targets"]):
            check_spec(index, spec)
        for spec in module.params["targets"]:
            kind = KINDS[spec["type"]]
            if kind.service not in clients:
                clients[kind.service] = module.client(kind.service, retry_decorator=aws_retry)
            handlers.append(kind(clients[kind.service], spec))
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
            results.append(_report(handler, current, value, changed))
    except SwapError as e:
        module.fail_json(msg=str(e), targets=[])
    except WaitTimeout as e:
        module.fail_json(msg=str(e), progress=e.progress)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="swapping application configuration failed")
    module.exit_json(
        changed=any(r["changed"] for r in results),
        targets=results,
        diff={"before": {r["id"]: r["before"] for r in results}, "after": {r["id"]: r["after"] for r in results}},
    )


def _report(handler: Any, current: Dict[str, Any], value: str, changed: bool) -> Dict[str, Any]:
    def show(v: Optional[str], note: str = "") -> Optional[str]:
        return MASK + note if handler.masked and v is not None else v

    previous = {}  # type: Dict[str, Any]
    if not handler.masked:
        previous["value"] = current["value"]
    if current.get("version") is not None:
        previous["version"] = current["version"]
    return {
        "id": handler.id, "type": handler.spec["type"], "changed": changed, "masked": handler.masked,
        "before": show(current["value"]), "after": show(value, " (changed)" if changed else ""),
        "previous": previous,
        "target": {k: handler.spec[k] for k in IDENTIFYING if handler.spec.get(k) is not None},
    }


def main() -> None:
    argument_spec = dict(
        targets=dict(
            type="list", elements="dict", required=True,
            options=dict(
                type=dict(type="str", required=True, choices=list(KINDS)),
                function_name=dict(type="str"),
                variable=dict(type="str"),
                name=dict(type="str"),
                api_id=dict(type="str"),
                value=dict(type="str"),
                value_from_version=dict(type="int"),
                mask=dict(type="bool"),
            ),
        ),
        wait_timeout=dict(type="int", default=300),
        wait_delay=dict(type="int", default=2),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
