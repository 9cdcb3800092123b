# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an application reads its table name, and the swap record that undoes a swap.

- one handler per kind of swap target (a Lambda variable, an SSM parameter, an AppSync data
  source, an Amplify branch variable): read the current value, resolve the value to set,
  write it keeping everything else the target has;
- the swap record: what every target held before a swap, written before the first change, so
  that the swap back restores exactly that; `check_record` refuses a record of another
  environment or table, a corrupt one, or one whose values are template text.

Used by app_config_swap (one-off values), dynamodb_table_swap (a table's swap and swap back) and
dynamodb_table_swap_info (what a swap back would do, from reads only: plan_swap_back).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.propie.rollback.plugins.module_utils import files
from ansible_collections.propie.rollback.plugins.module_utils.branches import merge_branches
from ansible_collections.propie.rollback.plugins.module_utils.common import ROLLBACK_ID_RE
from ansible_collections.propie.rollback.plugins.module_utils.common import WaitTimeout
from ansible_collections.propie.rollback.plugins.module_utils.common import call_once
from ansible_collections.propie.rollback.plugins.module_utils.common import iso
from ansible_collections.propie.rollback.plugins.module_utils.common import once_client
from ansible_collections.propie.rollback.plugins.module_utils.common import retrying_waiter
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_options

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List
    from typing import Optional

MASK = "********"
# The Lambda update wait of the modules that swap (documented by doc fragment propie.rollback.lambda_update_wait).
LAMBDA_WAIT_ARGS = wait_options(300, 2, with_wait=False)
# The fields each target type needs.
REQUIRED = {
    "amplify_branch_env": ("app_id", "branch_name", "variable"),
    "lambda_env": ("function_name", "variable"),
    "ssm_parameter": ("name",),
    "appsync_datasource": ("api_id", "name"),
}
IDENTIFYING = ("type", "app_id", "branch_name", "function_name", "variable", "name", "api_id", "mask")
RECORD_KIND = "propie.rollback.dynamodb_swap"
RECORD_VERSION = 1
# AWS table names: 3-255 of a-z A-Z 0-9 _ - .
TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
TEMPLATE_RE = re.compile(r"{{|{%|{#")
NOTHING_CHANGED = "nothing was changed"


class SwapError(Exception):
    """A target or record that cannot be used; nothing has been written when it is raised."""


def target_id(spec: Dict[str, Any]) -> str:
    """A readable id: amplify:<app>/<branch>:<var>, lambda:<fn>:<var>, ssm:<name>, appsync:<api>/<name>."""
    kind = spec["type"]
    if kind == "amplify_branch_env":
        return "amplify:%s/%s:%s" % (spec["app_id"], spec["branch_name"], spec["variable"])
    if kind == "lambda_env":
        return "lambda:%s:%s" % (spec["function_name"], spec["variable"])
    if kind == "appsync_datasource":
        return "appsync:%s/%s" % (spec["api_id"], spec["name"])
    return "ssm:%s" % spec["name"]


def check_target(where: str, spec: Any, kinds=tuple(REQUIRED)) -> None:
    """A target's type and identifying fields (no value), before any call."""
    if not isinstance(spec, dict):
        raise SwapError("%s must be a dict with a type and its identifiers, got %r" % (where, spec))
    if spec.get("type") not in kinds:
        raise SwapError("%s: unknown swap target type %s; known types: %s"
                        % (where, spec.get("type") or "(none)", ", ".join(kinds)))
    missing = [f for f in REQUIRED[spec["type"]] if not spec.get(f)]
    if missing:
        raise SwapError("%s (%s) needs %s" % (where, spec["type"], ", ".join(missing)))
    ignored = [f for f in ("app_id", "branch_name", "function_name", "variable", "name", "api_id")
               if spec.get(f) and f not in REQUIRED[spec["type"]]]
    if ignored:
        raise SwapError("%s (%s) does not take %s" % (where, spec["type"], ", ".join(ignored)))


def check_value_spec(index: int, spec: Dict[str, Any]) -> None:
    """A target of app_config_swap: identifiers plus exactly one of value and value_from_version."""
    where = "targets[%d]" % index
    check_target(where, spec, tuple(k for k in REQUIRED if k != "amplify_branch_env"))
    has_value = spec.get("value") is not None
    has_version = spec.get("value_from_version") is not None
    if has_value == has_version:
        raise SwapError("%s needs exactly one of value and value_from_version" % where)
    if has_version and spec["type"] != "ssm_parameter":
        raise SwapError("%s: value_from_version is for ssm_parameter targets only" % where)


# ---------------------------------------------------------------------------
# Handlers: read() -> {"value", "version"?}; desired(current) -> value; write(value, module)
# ---------------------------------------------------------------------------


class LambdaEnv:
    service = "lambda"

    def __init__(self, client: Any, spec: Dict[str, Any]) -> None:
        self.client, self.spec = client, spec
        self.id = target_id(spec)

    def read(self) -> Dict[str, Any]:
        try:
            config = self.client.get_function_configuration(FunctionName=self.spec["function_name"], aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            raise SwapError("%s: Lambda function %s does not exist" % (self.id, self.spec["function_name"]))
        self.masked = bool(self.spec.get("mask"))
        return {"value": (config.get("Environment") or {}).get("Variables", {}).get(self.spec["variable"])}

    def desired(self, current: Dict[str, Any]) -> Optional[str]:
        return self.spec["value"]

    def write(self, value: str, module: Any) -> None:
        self.wait_updated(module)  # an update still in progress would refuse ours
        config = self.client.get_function_configuration(FunctionName=self.spec["function_name"], aws_retry=True)
        variables = dict((config.get("Environment") or {}).get("Variables", {}))
        variables[self.spec["variable"]] = value
        kwargs = {"FunctionName": self.spec["function_name"], "Environment": {"Variables": variables}}
        if config.get("RevisionId"):
            kwargs["RevisionId"] = config["RevisionId"]  # never overwrite a concurrent change
        # Not repeated blindly: a repeat would carry a stale RevisionId. After an unclear answer
        # the variable is read back; holding the value means the update landed.
        once = once_client(module, "lambda")
        call_once(lambda: once.update_function_configuration(**kwargs), lambda: self._holds(value),
                  "%s: update" % self.id, log=module.log)
        self.wait_updated(module)

    def _holds(self, value: str) -> Optional[bool]:
        return True if self.read()["value"] == value else None

    def wait_updated(self, module: Any) -> None:
        """botocore's function_updated waiter (GetFunctionConfiguration until LastUpdateStatus is
        Successful; Failed ends it), every wait_delay seconds within wait_timeout; a poll that is
        throttled (any code aws_retry retries) is retried by the waiter, not the end of it."""
        delay = max(1, module.params["wait_delay"])
        attempts = max(1, -(-module.params["wait_timeout"] // delay))
        try:
            waiter = retrying_waiter(self.client, "function_updated", delay, attempts)
        except ValueError as e:
            raise SwapError("%s: cannot wait for the function's update: %s" % (self.id, e))
        try:
            waiter.wait(FunctionName=self.spec["function_name"])
        except botocore.exceptions.WaiterError as e:
            response = e.last_response or {}
            if response.get("Error"):  # a read the waiter could not use (access denied, retries spent)
                raise SwapError("%s: reading the function's update status failed: %s %s" % (
                    self.id, response["Error"].get("Code"), response["Error"].get("Message") or ""))
            status = response.get("LastUpdateStatus")
            if status == "Failed":
                raise SwapError("%s: the function's configuration update failed (%s)"
                                % (self.id, response.get("LastUpdateStatusReason") or "no reason given"))
            raise SwapError("%s: the function's configuration update is still %s after %ds; wait for it, then "
                            "run again" % (self.id, status or "unknown", module.params["wait_timeout"]))


class SsmParameter:
    service = "ssm"

    def __init__(self, client: Any, spec: Dict[str, Any]) -> None:
        self.client, self.spec = client, spec
        self.id = target_id(spec)

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

    def write(self, value: str, module: Any) -> None:
        kwargs = {"Name": self.spec["name"], "Value": value, "Type": self.kind, "Overwrite": True}
        # Keep what the parameter was created with: its KMS key, tier, data type, pattern, text.
        for field in ("KeyId", "Tier", "DataType", "AllowedPattern", "Description"):
            if self.meta.get(field) and not (field == "KeyId" and self.kind != "SecureString"):
                kwargs[field] = self.meta[field]
        # Each PutParameter makes a new version: after an unclear answer, read the value back
        # before writing again.
        once = once_client(module, "ssm")
        call_once(lambda: once.put_parameter(**kwargs), lambda: self._holds(value), "%s: update" % self.id,
                  log=module.log)

    def _holds(self, value: str) -> Optional[bool]:
        current = self.client.get_parameter(Name=self.spec["name"], WithDecryption=True, aws_retry=True)["Parameter"]
        return True if current["Value"] == value else None


class AppSyncDataSource:
    service = "appsync"

    def __init__(self, client: Any, spec: Dict[str, Any]) -> None:
        self.client, self.spec = client, spec
        self.id = target_id(spec)

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

    def write(self, value: str, module: Any) -> None:
        # UpdateDataSource replaces the whole definition: send back everything it had.
        source = self.source
        config = dict(source.get("dynamodbConfig") or {}, tableName=value)
        kwargs = {"apiId": self.spec["api_id"], "name": self.spec["name"], "type": source["type"],
                  "dynamodbConfig": config}
        for field in ("description", "serviceRoleArn", "metricsConfig"):
            if source.get(field):
                kwargs[field] = source[field]
        self.client.update_data_source(aws_retry=True, **kwargs)


class AmplifyBranchEnv:
    """A branch environment variable; Amplify reads it at build time, so a change needs a rebuild."""

    service = "amplify"

    def __init__(self, client: Any, spec: Dict[str, Any]) -> None:
        self.client, self.spec = client, spec
        self.id = target_id(spec)

    def _branch(self) -> Dict[str, Any]:
        try:
            return self.client.get_branch(appId=self.spec["app_id"], branchName=self.spec["branch_name"],
                                          aws_retry=True)["branch"]
        except is_boto3_error_code("NotFoundException"):
            raise SwapError("%s: Amplify app %s has no branch %s (or the app does not exist)"
                            % (self.id, self.spec["app_id"], self.spec["branch_name"]))

    def read(self) -> Dict[str, Any]:
        self.masked = bool(self.spec.get("mask"))
        return {"value": (self._branch().get("environmentVariables") or {}).get(self.spec["variable"])}

    def desired(self, current: Dict[str, Any]) -> Optional[str]:
        return self.spec["value"]

    def write(self, value: str, module: Any) -> None:
        # Read again: another target of this run may have just set another variable of the branch.
        variables = dict(self._branch().get("environmentVariables") or {})
        variables[self.spec["variable"]] = value
        self.client.update_branch(appId=self.spec["app_id"], branchName=self.spec["branch_name"],
                                  environmentVariables=variables, aws_retry=True)


KINDS = {"lambda_env": LambdaEnv, "ssm_parameter": SsmParameter, "appsync_datasource": AppSyncDataSource,
         "amplify_branch_env": AmplifyBranchEnv}


class Targets(object):
    """Handlers for a list of targets, one client per service."""

    def __init__(self, module: Any, retry_decorator: Any) -> None:
        self.module, self.retry = module, retry_decorator
        self._clients = {}  # type: Dict[str, Any]

    def handler(self, spec: Dict[str, Any]) -> Any:
        kind = KINDS[spec["type"]]
        if kind.service not in self._clients:
            self._clients[kind.service] = self.module.client(kind.service, retry_decorator=self.retry)
        return kind(self._clients[kind.service], spec)


def run(module: Any, work: Any, failed: str = "swapping the application's configuration failed",
        diff: bool = True) -> None:
    """Exit with work()'s result (it has `targets`) and, with `diff`, a diff of the targets' before
    and after; errors fail the module (an AWS error with the `failed` text)."""
    try:
        result = work()
    except SwapError as e:
        module.fail_json(msg=str(e), targets=[])
    except WaitTimeout as e:
        module.fail_json(msg=str(e), progress=e.progress)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=failed)
    if diff:
        result["diff"] = {"before": dict((r["id"], r["before"]) for r in result["targets"]),
                          "after": dict((r["id"], r["after"]) for r in result["targets"])}
    module.exit_json(**result)


def amplify_branches(handlers: List[Any], changed_ids: List[str]) -> List[Dict[str, Any]]:
    """The Amplify branches among the handlers' targets, each with whether one of its variables is
    in `changed_ids` (changed, or would change)."""
    return merge_branches({"app_id": h.spec["app_id"], "branch_name": h.spec["branch_name"],
                           "variables_changed": h.id in changed_ids}
                          for h in handlers if h.spec["type"] == "amplify_branch_env")


def show(handler: Any, value: Optional[str], note: str = "") -> Optional[str]:
    """A target's value as a result may show it: the mask (and the note) when the target is secret."""
    return MASK + note if handler.masked and value is not None else value


def report(handler: Any, current: Dict[str, Any], value: Optional[str], changed: bool) -> Dict[str, Any]:
    """A target's result: before/after (masked where secret), what undoes it, the target itself."""
    previous = {}  # type: Dict[str, Any]
    if not handler.masked:
        previous["value"] = current["value"]
    if current.get("version") is not None:
        previous["version"] = current["version"]
    return {
        "id": handler.id, "type": handler.spec["type"], "changed": changed, "masked": handler.masked,
        "before": show(handler, current["value"]),
        "after": show(handler, value, " (changed)" if changed else ""),
        "previous": previous,
        "target": {k: handler.spec[k] for k in IDENTIFYING if handler.spec.get(k) is not None},
    }


# ---------------------------------------------------------------------------
# The swap record
# ---------------------------------------------------------------------------


def record_path(record_dir: str, rollback_id: str, source_table: str) -> str:
    return os.path.join(record_dir, "%s-%s.json" % (rollback_id, source_table))


def load_record(path: str) -> Dict[str, Any]:
    """The parsed record; a missing, empty or corrupt file raises SwapError naming it."""
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError) as e:
        raise SwapError("swap record %s cannot be read (%s); pass the path the swap printed (it is in the state "
                        "directory, dynamodb/<rollback id>-<table>.json); nothing was changed" % (path, e.strerror))
    if not text.strip():
        raise SwapError("swap record %s is empty; it is not a record a swap wrote (a swap writes it before the "
                        "first change): restore it from the incident record or set the targets by hand; nothing "
                        "was changed" % path)
    try:
        record = json.loads(text)
    except ValueError as e:
        raise SwapError("swap record %s is not valid JSON (%s); it may have been edited or truncated: restore it "
                        "from the incident record or set the targets by hand; nothing was changed" % (path, e))
    return record


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (dict, list)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def check_record(record: Any, path: str, env: str = "", source_table: str = "", recovery_table: str = "",
                 rollback_id: str = "") -> None:
    """Refuse a record that is not a swap record, or one of another env, table or rollback."""
    def bad(what: str) -> SwapError:
        return SwapError("swap record %s %s; nothing was changed" % (path, what))

    if not isinstance(record, dict) or record.get("kind") != RECORD_KIND:
        raise bad("is not a DynamoDB swap record (kind %s): pass the file the swap printed" % RECORD_KIND)
    if record.get("version") != RECORD_VERSION:
        raise bad("has version %r; this collection reads version %d" % (record.get("version"), RECORD_VERSION))
    templated = sorted(set(t for t in _strings(record) if TEMPLATE_RE.search(t)))
    if templated:
        raise bad("holds template text (%s), which would be written literally; restore the record the swap wrote"
                  % ", ".join(templated[:3]))
    if not ROLLBACK_ID_RE.match(str(record.get("rollback_id") or "")):
        raise bad("has no valid rollback_id (rb-YYYYMMDDTHHMMSSZ-xxxxxx), got %r" % record.get("rollback_id"))
    for field in ("source_table", "recovery_table"):
        if not TABLE_NAME_RE.match(str(record.get(field) or "")):
            raise bad("has no valid %s (3-255 of A-Z a-z 0-9 _ - .), got %r" % (field, record.get(field)))
    for field, expected in (("env", env), ("source_table", source_table), ("recovery_table", recovery_table),
                            ("rollback_id", rollback_id)):
        if expected and record.get(field) != expected:
            raise bad("is for %s %r, not %r: use the record of this %s (the run prints its path)"
                      % (field, record.get(field), expected, field.replace("_", " ")))
    targets = record.get("targets")
    if not isinstance(targets, list):
        raise bad("has targets of type %s, not a list of {id, target, previous}: restore the record the swap wrote, "
                  "or set the targets by hand" % type(targets).__name__)
    for number, entry in enumerate(targets):
        where = "targets[%d]" % number
        if not isinstance(entry, dict) or not isinstance(entry.get("previous"), dict):
            raise bad("%s is not {id, target, previous}: restore the record the swap wrote, or set the targets by "
                      "hand" % where)
        try:
            check_target(where + ".target", entry.get("target"))
        except SwapError as e:
            raise bad("has a bad target: %s" % e)
        if entry.get("id") != target_id(entry["target"]):
            raise bad("%s has id %r, but its target is %s" % (where, entry.get("id"), target_id(entry["target"])))
        previous = entry["previous"]
        if previous.get("value") is not None and not isinstance(previous["value"], str):
            raise bad("%s.previous.value is not text" % where)
        if previous.get("version") is not None and not isinstance(previous["version"], int):
            raise bad("%s.previous.version is not a number" % where)


def check_record_tables(record: Dict[str, Any], path: str, env: str, env_tables: List[Dict[str, Any]]) -> List[str]:
    """A checked record against the env's tables (rollback_dynamodb_tables): its source table must
    be one of them; the warnings name record targets the inventory no longer lists for it."""
    if not env_tables:
        return []
    names = [str(t.get("name")) for t in env_tables if isinstance(t, dict)]
    source = record["source_table"]
    if source not in names:
        raise SwapError("swap record %s is for table %s, which env %s does not have (its tables: %s): use the record "
                        "a swap of this environment printed; nothing was changed"
                        % (path, source, env or "(not given)", ", ".join(names) or "none"))
    table = next(t for t in env_tables if isinstance(t, dict) and t.get("name") == source)
    listed = set()
    for spec in table.get("swap_targets") or []:
        if isinstance(spec, dict) and spec.get("type") in REQUIRED:
            listed.add(target_id(spec))
    return ["swap record %s: target %s is not in the swap_targets of table %s any more; it is put back as the "
            "record says" % (path, entry["id"], source) for entry in record["targets"] if entry["id"] not in listed]


def plan_swap_back(module: Any, targets: Targets, path: str) -> Dict[str, Any]:
    """What a swap back with the record at `path` does, decided from reads only (no write).

    Loads and checks the record (module.params env and env_tables, as check_record and
    check_record_tables do; their warnings go to module.warn), reads every target it names and
    resolves the value to put back (an SSM SecureString from its recorded version). A target
    that holds neither the record's recovery table nor that value raises SwapError naming them
    all. Returns {record, path (the record's real path), handlers, plans: [(handler, current, value,
    changed)], skipped: [ids of targets that had no value before the swap]}.
    """
    env = module.params["env"]
    record = load_record(path)
    check_record(record, path, env)
    for warning in check_record_tables(record, path, env, module.params["env_tables"]):
        module.warn(warning)
    recovery = record["recovery_table"]
    handlers, skipped = [], []
    for entry in record["targets"]:
        previous = entry["previous"]
        if previous.get("value") is not None:
            handlers.append(targets.handler(dict(entry["target"], value=previous["value"])))
        elif previous.get("version") is not None and entry["target"]["type"] == "ssm_parameter":
            handlers.append(targets.handler(dict(entry["target"], value_from_version=previous["version"])))
        else:
            skipped.append(entry["id"])
    plans, differs = [], []
    for handler in handlers:
        current = handler.read()
        value = handler.desired(current)
        if current["value"] not in (recovery, value):
            differs.append("%s names %s (the swap set %s, it held %s before)" % (
                handler.id, MASK if handler.masked else repr(current["value"]), recovery,
                MASK if handler.masked else repr(value)))
        plans.append((handler, current, value, current["value"] != value))
    if differs:
        raise SwapError(
            "swap record %s: a target holds neither the recovery table this record swapped to nor the value it "
            "held before: %s. A later swap or a person changed it since; if a later swap did, swap back with "
            "that swap's record first (state directory, dynamodb/*-%s.json), else set the target by hand; %s"
            % (path, "; ".join(differs), record["source_table"], NOTHING_CHANGED))
    return {"record": record, "path": os.path.realpath(path), "handlers": handlers, "plans": plans,
            "skipped": skipped}


def write_record(path: str, record: Dict[str, Any]) -> bool:
    """Write the record (0600, in a 0700 directory) unless the file already holds it; True if written."""
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    if os.path.exists(path):
        with open(path) as handle:
            if handle.read() == text:
                return False
    files.make_dirs(os.path.dirname(path) or ".", 0o700)
    files.write_atomic(path, text.encode("utf-8"), 0o600)
    return True


def utc_now_text() -> str:
    return iso(datetime.datetime.now(datetime.timezone.utc))
