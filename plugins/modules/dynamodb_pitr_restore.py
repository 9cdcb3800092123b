#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dynamodb_pitr_restore
version_added: 0.1.0
short_description: Restore a DynamoDB table to a point in time and re-apply what the restore leaves out
description:
  - Restores O(source_table) to a new table with point-in-time recovery (RestoreTableToPointInTime),
    waits until it is C(ACTIVE), then re-applies the settings that AWS does not carry over to a
    restored table, each copied from the source and reported in RV(reapplied) - point-in-time
    recovery itself, time to live, tags, the stream specification, deletion protection, the
    resource-based policy, and Application Auto Scaling scalable targets, scaling policies and
    scheduled actions (for the table and its global secondary indexes).
  - The restore point is checked against the source's EarliestRestorableDateTime and
    LatestRestorableDateTime before any call that changes anything; a source without
    point-in-time recovery is an error.
  - "Idempotent: when the target table already exists and is a restore of this source (its
    RestoreSummary names the source's ARN and, for a given time, that time; and its
    C(propie-rollback:rollback-id) tag, once written, matches O(rollback_id)), the module does not
    restore again but resumes waiting and re-applying. A target that exists but is not such a
    restore is an error and nothing is changed."
  - "Default target name: C(<source>-pitr-<YYYYMMDDTHHMMSSZ>) for a given time, and
    C(<source>-pitr-<rollback id>) for V(latest) (the latest restorable time moves on every run,
    so the rollback id anchors the name). Pass the same O(rollback_id) to re-run a V(latest)
    restore; without one a new id, and so a new table, is made."
  - "Encryption: the recovery table keeps the source's server-side encryption unless
    O(sse_enabled) or O(sse_kms_key_id) overrides it - the same customer managed KMS key
    (the source's C(SSEDescription.KMSMasterKeyArn)), the AWS managed key C(alias/aws/dynamodb)
    when the source uses it (found with KMS DescribeKey, C(KeyManager=AWS)), or the AWS owned
    key (no SSEDescription). RV(sse) reports the key the recovery table was asked for and the
    one it reports, and a warning names any difference."
  - Never deletes or modifies the source table.
author:
  - PropIE platform team (@propie)
options:
  source_table:
    description:
      - Name of the table to restore from. Point-in-time recovery must be enabled on it.
    type: str
    required: true
  target_table:
    description:
      - Name of the recovery table to create. Defaults to a name derived from O(source_table) and
        the restore point (see the description).
      - A DynamoDB table name, 3 to 255 characters of C(A-Z a-z 0-9 _ - .); any other value fails
        before the first AWS call.
    type: str
  restore_point:
    description:
      - V(latest) to restore to the latest restorable time (UseLatestRestorableTime), or an
        ISO-8601 time such as V(2026-11-30T03:45:00Z). A time without an offset is taken as UTC.
        Fractions of a second are dropped.
    type: str
    default: latest
  rollback_id:
    description:
      - The rollback this restore belongs to (C(rb-YYYYMMDDTHHMMSSZ-xxxxxx)). It is written to the
        recovery table's C(propie-rollback:rollback-id) tag and names the table for V(latest).
      - When omitted, an existing recognised restore's tag is adopted, or a new id is made.
    type: str
  sse_enabled:
    description:
      - Overrides the recovery table's server-side encryption. Unset (the default), the recovery
        table keeps the source's encryption, with the same KMS key.
      - V(true) - a KMS key, O(sse_kms_key_id) or else the AWS managed key C(alias/aws/dynamodb)
        (the runbook's C(--sse-specification-override Enabled=true); this was the default before,
        and it moved a source with a customer managed key to the AWS managed key).
      - V(false) - the AWS owned key (C(SSESpecificationOverride Enabled=false)).
      - "Precedence: O(sse_kms_key_id) first (that key), then O(sse_enabled) (V(true) the AWS
        managed key, V(false) the AWS owned key), then the source's settings."
    type: bool
  sse_kms_key_id:
    description:
      - KMS key (key id, key ARN, alias name or alias ARN) to encrypt the recovery table with,
        instead of the source's key. Implies O(sse_enabled=true); O(sse_enabled=false) with a key
        is an error.
    type: str
  billing_mode:
    description:
      - Billing mode of the recovery table (BillingModeOverride). Default is the source's.
    type: str
    choices: [PROVISIONED, PAY_PER_REQUEST]
  provisioned_throughput:
    description:
      - Provisioned throughput of the recovery table (ProvisionedThroughputOverride).
    type: dict
    suboptions:
      read_capacity_units:
        description: Read capacity units.
        type: int
        required: true
      write_capacity_units:
        description: Write capacity units.
        type: int
        required: true
  global_secondary_index_override:
    description:
      - Passed through as GlobalSecondaryIndexOverride, in the API's shape (C(IndexName),
        C(KeySchema), C(Projection), C(ProvisionedThroughput)). Only the listed indexes are
        created; auto scaling is copied only for indexes the recovery table has.
    type: list
    elements: dict
  local_secondary_index_override:
    description:
      - Passed through as LocalSecondaryIndexOverride, in the API's shape.
    type: list
    elements: dict
  reapply:
    description:
      - Which settings to copy from the source to the recovery table once it is ACTIVE.
    type: list
    elements: str
    choices: [pitr, ttl, tags, stream, deletion_protection, resource_policy, autoscaling]
    default: [pitr, ttl, tags, stream, deletion_protection, resource_policy, autoscaling]
  tags:
    description:
      - Extra tags for the recovery table, on top of the source's tags and the rollback tags.
    type: dict
    default: {}
  wait:
    description:
      - Wait for the recovery table to become ACTIVE and re-apply the settings. With V(false) the
        module returns once the restore has started and reports the settings as C(pending); a
        re-run (with the same O(rollback_id)) finishes the job.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the restore (real restores take 20 minutes or more). On timeout the
        restore continues in AWS and a re-run resumes the wait.
    type: int
    default: 7200
  wait_delay:
    description:
      - Seconds between two status reads while waiting.
    type: int
    default: 15
attributes:
  check_mode:
    description:
      - Reads the source and target and reports what would be restored and re-applied, without
        any call that changes anything.
  diff_mode:
    description:
      - Returns the recovery table's state and settings before and after.
notes:
  - Not carried over and not re-created here, because they live outside the table - CloudWatch
    alarms other than the target-tracking alarms Application Auto Scaling creates, identity-based
    IAM policies that name the source table, Kinesis streaming destinations and Contributor
    Insights. RV(not_reapplied) lists them as a reminder.
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Restore the data table to just before the bad release
  propie.rollback.dynamodb_pitr_restore:
    source_table: prop-ie-production-data
    restore_point: "2026-11-30T03:45:00Z"
    rollback_id: "{{ rollback_id }}"
  register: restore

- name: Restore under another customer managed key than the source's
  propie.rollback.dynamodb_pitr_restore:
    source_table: prop-ie-production-data
    restore_point: "2026-11-30T03:45:00Z"
    rollback_id: "{{ rollback_id }}"
    sse_kms_key_id: alias/prop-ie-recovery

- name: Restore to the latest restorable time, on demand billing, without waiting
  propie.rollback.dynamodb_pitr_restore:
    source_table: prop-ie-production-data
    restore_point: latest
    rollback_id: rb-20261130T034501Z-9f2c1a
    billing_mode: PAY_PER_REQUEST
    wait: false
"""

RETURN = r"""
rollback_id:
  description: The rollback id written to the recovery table's tag.
  returned: always
  type: str
  sample: rb-20261130T034501Z-9f2c1a
source_table:
  description: The source table's name.
  returned: always
  type: str
target_table:
  description: The recovery table's name.
  returned: always
  type: str
  sample: prop-ie-production-data-pitr-20261130T034500Z
restore_point:
  description: The restore point asked for (V(latest) or the UTC time).
  returned: always
  type: str
restore_date_time:
  description: The time the recovery table holds the data of (its RestoreSummary), or in check mode
    the time it would; null while AWS has not reported it.
  returned: always
  type: str
  sample: "2026-11-30T03:45:00Z"
restore_window:
  description: The source's restorable window when it was read (only when a restore had to be planned).
  returned: when the target did not exist
  type: dict
  contains:
    earliest:
      description: EarliestRestorableDateTime.
      type: str
    latest:
      description: LatestRestorableDateTime.
      type: str
restored:
  description: Whether this run started the restore (or would, in check mode).
  returned: always
  type: bool
resumed:
  description: Whether an existing restore of this source was recognised and resumed.
  returned: always
  type: bool
status:
  description: The recovery table's status at the end (C(absent) in check mode before a restore).
  returned: always
  type: str
  sample: ACTIVE
timings:
  description: Seconds spent - C(wait) waiting for ACTIVE, C(reapply) re-applying settings,
    C(total) the whole run; C(restore) the table's creation to ACTIVE when this run saw it.
  returned: always
  type: dict
progress:
  description: Status changes seen while waiting, with elapsed seconds.
  returned: always
  type: list
  elements: dict
reapplied:
  description:
    - One entry per setting in O(reapply) - C(status) is C(applied), C(unchanged), C(would_apply)
      (check mode), C(not_set) (the source has none), C(skipped) (with C(detail)) or C(pending)
      (not waited for); C(before) and C(after) are the recovery table's values.
  returned: always
  type: dict
  sample: {"ttl": {"status": "applied", "before": null, "after": "expires_at"}}
not_reapplied:
  description: Things a restore leaves behind that this module does not re-create.
  returned: always
  type: list
  elements: str
sse:
  description: The recovery table's server-side encryption - asked for and reported.
  returned: always
  type: dict
  contains:
    source:
      description: The source's encryption, C({type, kms_key_arn}); C(type) is V(KMS) or V(AWS_OWNED).
      type: dict
    choice:
      description: Where the recovery table's encryption comes from - V(source) (kept),
        V(kms_key) (O(sse_kms_key_id)), V(aws_managed) (O(sse_enabled=true)) or V(aws_owned)
        (O(sse_enabled=false)).
      type: str
    override:
      description: The SSESpecificationOverride sent (or that would be sent, or was sent by the run
        that started the restore); null for none.
      type: dict
    expected:
      description: The encryption the recovery table must have, C({type, kms_key_arn}); C(kms_key_arn)
        is null where only KMS can tell (the AWS managed key, a key given by alias or id).
      type: dict
    recovery:
      description: The recovery table's own report (its SSEDescription), C({type, kms_key_arn, status});
        null before it exists.
      type: dict
    matches:
      description: Whether RV(sse.recovery) is RV(sse.expected); null before the table exists.
      type: bool
    detail:
      description: How the choice was made, in words.
      type: str
  sample:
    source: {type: KMS, kms_key_arn: "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"}
    choice: source
    override: {Enabled: true, SSEType: KMS, KMSMasterKeyId: "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"}
    expected: {type: KMS, kms_key_arn: "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"}
    recovery: {type: KMS, kms_key_arn: "arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
               status: ENABLED}
    matches: true
    detail: "the source's customer managed KMS key"
table:
  description: The recovery table's description (DescribeTable, snake_case); empty in check mode
    before a restore.
  returned: always
  type: dict
"""

import json
import re
import time
import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb
from ansible_collections.propie.rollback.plugins.module_utils.common import WaitTimeout
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.common import call_once
from ansible_collections.propie.rollback.plugins.module_utils.common import new_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import once_client
from ansible_collections.propie.rollback.plugins.module_utils.common import paginate
from ansible_collections.propie.rollback.plugins.module_utils.common import validate_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_for
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_options
from ansible_collections.propie.rollback.plugins.module_utils.dynamodb import table_name_problem

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List
    from typing import Optional

SETTINGS = ["pitr", "ttl", "tags", "stream", "deletion_protection", "resource_policy", "autoscaling"]
NOT_REAPPLIED = [
    "CloudWatch alarms on the source table (other than auto scaling's own target-tracking alarms)",
    "identity-based IAM policies that name the source table's ARN",
    "Kinesis streaming destinations and Contributor Insights",
]
SCALING_NAMESPACE = "dynamodb"
AWS_OWNED = "AWS_OWNED"
MANAGED_KEY_ALIAS = "alias/aws/dynamodb"


class RestoreError(Exception):
    """A condition found before or during the run that stops it with a clear message."""


# ---------------------------------------------------------------------------
# AWS calls (one small function each)
# ---------------------------------------------------------------------------


def describe_pitr(client: Any, table: str) -> Dict[str, Any]:
    return client.describe_continuous_backups(TableName=table, aws_retry=True)["ContinuousBackupsDescription"]


def describe_ttl(client: Any, table: str) -> Dict[str, Any]:
    return client.describe_time_to_live(TableName=table, aws_retry=True).get("TimeToLiveDescription", {})


def get_resource_policy(client: Any, arn: str) -> Optional[str]:
    try:
        return client.get_resource_policy(ResourceArn=arn, aws_retry=True).get("Policy")
    except is_boto3_error_code("PolicyNotFoundException"):
        return None


def scalable_targets(aas: Any, resource_ids: List[str]) -> List[Dict[str, Any]]:
    if not resource_ids:
        return []
    return paginate(aas, "describe_scalable_targets", "ScalableTargets",
                    ServiceNamespace=SCALING_NAMESPACE, ResourceIds=resource_ids)


def scaling_policies(aas: Any, resource_id: str) -> List[Dict[str, Any]]:
    return paginate(aas, "describe_scaling_policies", "ScalingPolicies",
                    ServiceNamespace=SCALING_NAMESPACE, ResourceId=resource_id)


def scheduled_actions(aas: Any, resource_id: str) -> List[Dict[str, Any]]:
    return paginate(aas, "describe_scheduled_actions", "ScheduledActions",
                    ServiceNamespace=SCALING_NAMESPACE, ResourceId=resource_id)


# ---------------------------------------------------------------------------
# Desired settings (read from the source) and current ones (read from the target)
# ---------------------------------------------------------------------------


def _ttl_attribute(desc: Dict[str, Any]) -> Optional[str]:
    if desc.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return desc.get("AttributeName")
    return None


def _stream(table: Dict[str, Any]) -> Optional[str]:
    spec = table.get("StreamSpecification") or {}
    return spec.get("StreamViewType") if spec.get("StreamEnabled") else None


def _pitr_state(client: Any, table: str) -> Dict[str, Any]:
    window = ddb.restore_window(describe_pitr(client, table))
    return {"enabled": window["status"] in ("ENABLED", "ENABLING"),
            "recovery_period_in_days": window["recovery_period_in_days"]}


def _scaling_ids(table: Dict[str, Any]) -> List[str]:
    name = table["TableName"]
    return ["table/%s" % name] + [
        "table/%s/index/%s" % (name, i["IndexName"]) for i in table.get("GlobalSecondaryIndexes") or []
    ]


def _scaling_state(aas: Any, table: Dict[str, Any]) -> Dict[str, Any]:
    """Targets, policies and scheduled actions of a table, keyed relative to the table."""
    prefix = "table/%s" % table["TableName"]
    state = {"targets": {}, "policies": {}, "scheduled_actions": {}}  # type: Dict[str, Dict[str, Any]]
    ids = _scaling_ids(table)
    for target in scalable_targets(aas, ids):
        rel = target["ResourceId"][len(prefix):] or "/"
        key = "%s %s" % (rel, target["ScalableDimension"])
        state["targets"][key] = {
            "MinCapacity": target["MinCapacity"], "MaxCapacity": target["MaxCapacity"],
            "SuspendedState": target.get("SuspendedState"), "RoleARN": target.get("RoleARN"),
        }
    for resource_id in ids:
        rel = resource_id[len(prefix):] or "/"
        # Filter on the answer's ResourceId too: some implementations match ResourceId loosely.
        for policy in scaling_policies(aas, resource_id):
            if policy["ResourceId"] != resource_id:
                continue
            key = "%s %s %s" % (rel, policy["ScalableDimension"], policy["PolicyName"])
            body = {"PolicyType": policy["PolicyType"]}
            for field in ("TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration"):
                if policy.get(field):
                    body[field] = policy[field]
            state["policies"][key] = body
        for action in scheduled_actions(aas, resource_id):
            if action["ResourceId"] != resource_id:
                continue
            key = "%s %s %s" % (rel, action["ScalableDimension"], action["ScheduledActionName"])
            body = {k: action[k] for k in ("Schedule", "Timezone", "StartTime", "EndTime",
                                           "ScalableTargetAction") if action.get(k) is not None}
            state["scheduled_actions"][key] = body
    return state


# ---------------------------------------------------------------------------
# Server-side encryption of the recovery table
# ---------------------------------------------------------------------------


def sse_of(table: Dict[str, Any]) -> Dict[str, Any]:
    """{type, kms_key_arn} of a table: KMS with its key, or the AWS owned key (no SSEDescription)."""
    desc = table.get("SSEDescription") or {}
    if desc.get("SSEType") == "KMS" and desc.get("Status", "ENABLED") not in ("DISABLED", "DISABLING"):
        return {"type": "KMS", "kms_key_arn": desc.get("KMSMasterKeyArn")}
    return {"type": AWS_OWNED, "kms_key_arn": None}


def sse_choice(source: Dict[str, Any], sse_enabled: Optional[bool], kms_key_id: Optional[str],
               key_manager: Optional[str] = None, why_unknown: str = "") -> Dict[str, Any]:
    """How to encrypt the recovery table: {choice, override, expected, detail}.

    Precedence: an explicit key, then sse_enabled (true: the AWS managed key, false: the AWS
    owned key), then the source's settings. `key_manager` is the source key's KeyManager
    (AWS for the AWS managed key, CUSTOMER) or None when it could not be read.
    """
    if kms_key_id:
        arn = kms_key_id if kms_key_id.startswith("arn:") and ":key/" in kms_key_id else None
        return {"choice": "kms_key", "override": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key_id},
                "expected": {"type": "KMS", "kms_key_arn": arn}, "detail": "sse_kms_key_id %s" % kms_key_id}
    if sse_enabled:
        return {"choice": "aws_managed", "override": {"Enabled": True, "SSEType": "KMS"},
                "expected": {"type": "KMS", "kms_key_arn": None},
                "detail": "sse_enabled=true: the AWS managed key %s" % MANAGED_KEY_ALIAS}
    if sse_enabled is False:
        return {"choice": "aws_owned", "override": {"Enabled": False},
                "expected": {"type": AWS_OWNED, "kms_key_arn": None}, "detail": "sse_enabled=false: the AWS owned key"}
    expected = dict(source)
    if source["type"] != "KMS":
        return {"choice": "source", "override": None, "expected": expected,
                "detail": "the AWS owned key, as the source (no override)"}
    arn = source["kms_key_arn"]
    if not arn or key_manager == "AWS":
        return {"choice": "source", "override": {"Enabled": True, "SSEType": "KMS"}, "expected": expected,
                "detail": "the AWS managed key %s, as the source" % MANAGED_KEY_ALIAS}
    if key_manager == "CUSTOMER":
        detail = "the source's customer managed KMS key"
    else:
        detail = "the source's KMS key, named explicitly (%s)" % (why_unknown or "its KeyManager is unknown")
    return {"choice": "source", "override": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": arn},
            "expected": expected, "detail": detail}


def sse_matches(expected: Dict[str, Any], recovery: Dict[str, Any]) -> bool:
    return expected["type"] == recovery["type"] and (
        expected["kms_key_arn"] is None or expected["kms_key_arn"] == recovery["kms_key_arn"])


def _sse_words(sse: Dict[str, Any]) -> str:
    if sse["type"] != "KMS":
        return "the AWS owned key"
    return "KMS key %s" % sse["kms_key_arn"] if sse["kms_key_arn"] else "a KMS key"


def _retarget_policy(policy: str, source_arn: str, target_arn: str) -> str:
    # The ARN followed by a quote or "/index/..." only: the target's own name often starts
    # with the source's.
    return re.sub(re.escape(source_arn) + r'(?=["/])', target_arn, policy)


# ---------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------


class Restore:
    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.client = ddb.dynamodb_client(module)
        self._aas = None
        self.started = time.monotonic()
        self.sse = {}  # type: Dict[str, Any]

    @property
    def aas(self) -> Any:
        if self._aas is None:
            self._aas = self.module.client("application-autoscaling", retry_decorator=aws_retry)
        return self._aas

    # -- planning -------------------------------------------------------------
    def run(self) -> Dict[str, Any]:
        p = self.params
        validate_rollback_id(self.module, p["rollback_id"])
        self._check_options()
        try:
            point = ddb.parse_restore_point(p["restore_point"])
        except ddb.RestorePointError as e:
            raise RestoreError("%s; nothing was changed" % e)
        source = ddb.describe_table(self.client, p["source_table"])
        if source is None:
            raise RestoreError(
                "source table %s does not exist in region %s; nothing was changed"
                % (p["source_table"], self.module.region))
        rollback_id = p["rollback_id"]
        if point == "latest" and not p["target_table"] and not rollback_id:
            rollback_id = new_rollback_id()
        target_name = p["target_table"] or ddb.default_target_name(source["TableName"], point, rollback_id)
        if target_name == source["TableName"]:
            raise RestoreError("target_table must differ from source_table: a restore always creates a new table")
        result = {
            "source_table": source["TableName"], "target_table": target_name,
            "restore_point": point if point == "latest" else ddb.iso(point),
            "restored": False, "resumed": False, "progress": [], "not_reapplied": NOT_REAPPLIED,
        }
        target = ddb.describe_table(self.client, target_name)
        before = {"table": None}
        if target is not None:
            tags = ddb.list_tags(self.client, target["TableArn"])
            why = ddb.recognise_restore(target, tags, source, point, rollback_id)
            if why:
                raise RestoreError("%s; choose another target_table (or delete that table) - "
                                   "nothing was changed" % why)
            rollback_id = rollback_id or tags.get(ddb.TAG_ROLLBACK_ID) or new_rollback_id()
            result["resumed"] = True
            self.sse = self._resumed_sse(sse_of(source))
            before = {"table": {"name": target_name, "status": target["TableStatus"],
                                "restore_date_time": ddb.iso(ddb.restore_time(target))}}
        else:
            rollback_id = rollback_id or new_rollback_id()
            window = ddb.restore_window(describe_pitr(self.client, source["TableName"]))
            result["restore_window"] = {"earliest": ddb.iso(window["earliest"]),
                                        "latest": ddb.iso(window["latest"])}
            try:
                ddb.check_restore_point(source["TableName"], point, window, ddb.utcnow())
            except ddb.RestorePointError as e:
                raise RestoreError("%s; nothing was changed" % e)
            self.sse = self._plan_sse(sse_of(source))
            result["restored"] = True
            if not self.check:
                target = self._start_restore_once(source, target_name, point, rollback_id)
            predicted = window["latest"] if point == "latest" else point
            result["restore_date_time"] = ddb.iso(predicted)
        result["rollback_id"] = rollback_id
        self.rollback_id = rollback_id
        return self._finish(result, source, target, point, before)

    def _start_restore_once(self, source: Dict[str, Any], target_name: str, point: Any,
                            rollback_id: str) -> Dict[str, Any]:
        """RestoreTableToPointInTime once: botocore may not repeat it, and after an unclear answer
        (a lost response, a 5xx) the target table is looked for first; if it is this restore it is
        adopted instead of asking for a second one (which AWS would refuse: the name is taken)."""
        once = once_client(self.module, "dynamodb")

        def find() -> Optional[Dict[str, Any]]:
            found = ddb.describe_table(self.client, target_name)
            if found is None or ddb.recognise_restore(found, {}, source, point, rollback_id):
                return None
            return found

        params = self._restore_params(source, target_name, point)
        return call_once(lambda: once.restore_table_to_point_in_time(**params)["TableDescription"], find,
                         "the restore of %s as %s" % (source["TableName"], target_name),
                         conflict_codes=("TableAlreadyExistsException", "TableInUseException"), log=self.module.log)

    def _check_options(self) -> None:
        """Bad input fails here, before any AWS call."""
        p = self.params
        if p["target_table"] is not None:
            why = table_name_problem(p["target_table"])
            if why:
                raise RestoreError(
                    "target_table %s is not a valid DynamoDB table name: %s; a table name is %d to %d characters "
                    "of A-Z a-z 0-9 _ - . - pass such a target_table, or leave target_table out for the derived name "
                    "(<source>-pitr-<time or rollback id>, trimmed to %d characters); nothing was changed"
                    % (ddb.shown_name(p["target_table"]), why, ddb.TABLE_NAME_MIN, ddb.TABLE_NAME_MAX, ddb.TABLE_NAME_MAX))
        if p["sse_enabled"] is False and p["sse_kms_key_id"]:
            raise RestoreError(
                "sse_kms_key_id %s asks for a KMS key but sse_enabled=false asks for the AWS owned key; drop one of "
                "them (leave both out to keep the source's encryption); nothing was changed" % p["sse_kms_key_id"])

    def _plan_sse(self, source_sse: Dict[str, Any]) -> Dict[str, Any]:
        """The encryption of a restore about to start; reads the source key's KeyManager when needed."""
        p = self.params
        if p["sse_kms_key_id"] or p["sse_enabled"] is not None or not source_sse["kms_key_arn"]:
            return dict(sse_choice(source_sse, p["sse_enabled"], p["sse_kms_key_id"]), source=source_sse)
        try:
            key = self.module.client("kms", retry_decorator=aws_retry).describe_key(
                KeyId=source_sse["kms_key_arn"], aws_retry=True)["KeyMetadata"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            code = e.response["Error"]["Code"] if isinstance(e, botocore.exceptions.ClientError) else type(e).__name__
            # The same key either way: named by its ARN, the restore cannot pick another one.
            return dict(sse_choice(source_sse, None, None, None, "KMS DescribeKey of it failed: %s" % code),
                        source=source_sse)
        return dict(sse_choice(source_sse, None, None, key.get("KeyManager")), source=source_sse)

    def _resumed_sse(self, source_sse: Dict[str, Any]) -> Dict[str, Any]:
        """A restore that exists: its encryption was chosen by the run that started it; compare only."""
        p = self.params
        sse = dict(sse_choice(source_sse, p["sse_enabled"], p["sse_kms_key_id"]), override=None, source=source_sse)
        if sse["choice"] == "source":
            sse["detail"] = "the source's encryption (the restore was started by an earlier run)"
        return sse

    def _report_sse(self, result: Dict[str, Any], target: Optional[Dict[str, Any]]) -> None:
        sse = self.sse
        sse["recovery"] = sse["matches"] = None
        if target is not None:
            desc = target.get("SSEDescription") or {}
            sse["recovery"] = dict(sse_of(target), status=desc.get("Status"))
            sse["matches"] = sse_matches(sse["expected"], sse["recovery"])
            if not sse["matches"]:
                self.module.warn(
                    "recovery table %s is encrypted with %s, but %s was asked for (%s); the application would read "
                    "it under another key: change it (UpdateTable SSESpecification) or delete it and re-run before "
                    "the swap" % (target["TableName"], _sse_words(sse["recovery"]), _sse_words(sse["expected"]),
                                  sse["detail"]))
        result["sse"] = sse

    def _restore_params(self, source: Dict[str, Any], target_name: str, point: Any) -> Dict[str, Any]:
        p = self.params
        params = {"SourceTableName": source["TableName"], "TargetTableName": target_name}
        if point == "latest":
            params["UseLatestRestorableTime"] = True
        else:
            params["RestoreDateTime"] = point
        if self.sse.get("override") is not None:
            params["SSESpecificationOverride"] = self.sse["override"]
        if p["billing_mode"]:
            params["BillingModeOverride"] = p["billing_mode"]
        if p["provisioned_throughput"]:
            params["ProvisionedThroughputOverride"] = {
                "ReadCapacityUnits": p["provisioned_throughput"]["read_capacity_units"],
                "WriteCapacityUnits": p["provisioned_throughput"]["write_capacity_units"],
            }
        if p["global_secondary_index_override"] is not None:
            params["GlobalSecondaryIndexOverride"] = p["global_secondary_index_override"]
        if p["local_secondary_index_override"] is not None:
            params["LocalSecondaryIndexOverride"] = p["local_secondary_index_override"]
        return params

    # -- waiting and re-applying --------------------------------------------------
    def _finish(self, result: Dict[str, Any], source: Dict[str, Any], target: Optional[Dict[str, Any]],
                point: Any, before: Dict[str, Any]) -> Dict[str, Any]:
        p = self.params
        timings = {"wait": 0.0, "reapply": 0.0, "restore": None}
        if target is not None and not self._is_ready(target) and p["wait"] and not self.check:
            waited = time.monotonic()
            target, progress = self._wait_ready(target["TableName"])
            result["progress"] = progress
            timings["wait"] = round(time.monotonic() - waited, 2)
            created = ddb.to_utc(target.get("CreationDateTime"))
            if created is not None:
                timings["restore"] = round((ddb.utcnow() - created).total_seconds(), 2)
        if target is not None:
            result["restore_date_time"] = ddb.iso(ddb.restore_time(target)) or result.get("restore_date_time")
        ready = target is not None and self._is_ready(target)
        reapplying = time.monotonic()
        if ready:
            result["reapplied"] = self._reapply(source, target, result)
        elif self.check:
            # Not there yet (or still restoring): predict from the source, as for a new table.
            result["reapplied"] = self._reapply(source, None, result)
        else:
            result["reapplied"] = {name: {"status": "pending", "before": None, "after": None,
                                          "detail": "the recovery table is not ACTIVE yet; re-run to finish"}
                                   for name in p["reapply"]}
        timings["reapply"] = round(time.monotonic() - reapplying, 2)
        if target is not None:
            target = ddb.describe_table(self.client, target["TableName"]) or target
        timings["total"] = round(time.monotonic() - self.started, 2)
        result["timings"] = timings
        result["status"] = target["TableStatus"] if target is not None else "absent"
        result["table"] = _jsonable(camel_dict_to_snake_dict(target)) if target else {}
        self._report_sse(result, target)
        result["changed"] = result["restored"] or any(
            r["status"] in ("applied", "would_apply") for r in result["reapplied"].values())
        after_settings = {k: v["after"] for k, v in result["reapplied"].items()}
        before_settings = {k: v["before"] for k, v in result["reapplied"].items()}
        if before["table"] is not None:
            before["table"]["settings"] = before_settings
        result["diff"] = {
            "before": before,
            "after": {"table": {"name": result["target_table"], "status": result["status"] if target else "ACTIVE",
                                "restore_date_time": result.get("restore_date_time"),
                                "settings": after_settings, "sse": result["sse"]["expected"]}},
        }
        return result

    @staticmethod
    def _is_ready(table: Dict[str, Any]) -> bool:
        return (table["TableStatus"] == "ACTIVE"
                and not (table.get("RestoreSummary") or {}).get("RestoreInProgress")
                and all(i.get("IndexStatus", "ACTIVE") == "ACTIVE"
                        for i in table.get("GlobalSecondaryIndexes") or []))

    def _status(self, table: Optional[Dict[str, Any]]) -> str:
        if table is None:
            return "DELETED"
        status = table["TableStatus"]
        if (table.get("RestoreSummary") or {}).get("RestoreInProgress"):
            status += " (restore in progress)"
        elif status == "ACTIVE" and not self._is_ready(table):
            status += " (indexes building)"
        return status

    def _wait_ready(self, name: str, timeout: Optional[int] = None) -> Any:
        p = self.params

        def done(status: str) -> bool:
            if status in ("DELETED", "DELETING", "INACCESSIBLE_ENCRYPTION_CREDENTIALS", "ARCHIVING", "ARCHIVED"):
                raise RestoreError("recovery table %s became %s while waiting" % (name, status))
            return status == "ACTIVE"

        try:
            return wait_for(lambda: ddb.describe_table(self.client, name), self._status, done,
                            timeout or p["wait_timeout"], p["wait_delay"], "table %s" % name,
                            log=self.module.log)
        except WaitTimeout as e:
            self.module.fail_json(msg=str(e), progress=e.progress, rollback_id=self.rollback_id,
                                  target_table=name, status=self._status(e.last))

    def _settle(self, name: str) -> Dict[str, Any]:
        """After an UpdateTable, wait (briefly) until the table is ACTIVE again."""
        return self._wait_ready(name)[0]

    def _reapply(self, source: Dict[str, Any], target: Optional[Dict[str, Any]],
                 result: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        out = {}
        for name in SETTINGS:
            if name not in self.params["reapply"]:
                continue
            entry = getattr(self, "_reapply_" + name)(source, target, result)
            out[name] = entry
            if target is not None and entry["status"] == "applied" and name in ("stream", "deletion_protection"):
                target = self._settle(target["TableName"])
        return out

    def _entry(self, desired: Any, current: Any, apply: Any, equal: Any = None) -> Dict[str, Any]:
        """Compare, and call `apply()` unless equal / check mode / nothing to copy."""
        if desired is None:
            return {"status": "not_set", "before": current, "after": current}
        same = equal(desired, current) if equal else desired == current
        if same:
            return {"status": "unchanged", "before": current, "after": current}
        if self.check:
            return {"status": "would_apply", "before": current, "after": desired}
        apply()
        return {"status": "applied", "before": current, "after": desired}

    # Each _reapply_<setting>(source, target, result): target None means check mode before
    # the restore exists, when the restored table would have none of these settings.

    def _reapply_pitr(self, source, target, result):
        desired = _pitr_state(self.client, source["TableName"])
        desired["enabled"] = True  # the recovery table is the new production: always protect it
        current = {"enabled": False, "recovery_period_in_days": None}
        if target:
            current = _pitr_state(self.client, target["TableName"])
        spec = {"PointInTimeRecoveryEnabled": True}
        if desired["recovery_period_in_days"]:
            spec["RecoveryPeriodInDays"] = desired["recovery_period_in_days"]

        def apply():
            self._with_backups_available(lambda: self.client.update_continuous_backups(
                TableName=target["TableName"], PointInTimeRecoverySpecification=spec, aws_retry=True))

        def equal(d, c):
            return c["enabled"] and (not d["recovery_period_in_days"]
                                     or d["recovery_period_in_days"] == c["recovery_period_in_days"])

        return self._entry(desired, current, apply, equal)

    def _with_backups_available(self, call):
        """call(), repeated while the table answers ContinuousBackupsUnavailableException.

        A freshly restored table refuses UpdateContinuousBackups until its backups are set up
        (seconds to minutes). This is not throttling, so it is not in the AWSRetry policy
        (whose backoff stops at 8 tries, ~1 min): it is a capped wait like the table waits,
        bounded by wait_timeout and polled every wait_delay, through this module's
        `time` (tests emulate it); after the cap the last error is raised to the caller.
        Throttling of each attempt is still retried by aws_retry inside call().
        """
        deadline = time.monotonic() + self.params["wait_timeout"]
        while True:
            try:
                return call()
            except is_boto3_error_code("ContinuousBackupsUnavailableException"):
                if time.monotonic() + self.params["wait_delay"] > deadline:
                    raise
                self.module.log("UpdateContinuousBackups: backups not available yet; trying again in %ss"
                                % self.params["wait_delay"])
                time.sleep(self.params["wait_delay"])

    def _reapply_ttl(self, source, target, result):
        desired = _ttl_attribute(describe_ttl(self.client, source["TableName"]))
        current = _ttl_attribute(describe_ttl(self.client, target["TableName"])) if target else None

        def apply():
            self.client.update_time_to_live(
                TableName=target["TableName"], aws_retry=True,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": desired})

        return self._entry(desired, current, apply)

    def _reapply_tags(self, source, target, result):
        wanted = {k: v for k, v in ddb.list_tags(self.client, source["TableArn"]).items()
                  if not k.startswith("aws:") and k not in ddb.OWN_TAG_KEYS}
        wanted.update(self.params["tags"] or {})
        wanted.update({ddb.TAG_ROLLBACK_ID: self.rollback_id, ddb.TAG_SOURCE: source["TableName"],
                       ddb.TAG_RESTORE_POINT: result.get("restore_date_time") or result["restore_point"]})
        current = ddb.list_tags(self.client, target["TableArn"]) if target else {}
        missing = {k: v for k, v in wanted.items() if current.get(k) != v}
        after = dict(current, **wanted)

        def apply():
            self.client.tag_resource(ResourceArn=target["TableArn"], aws_retry=True,
                                     Tags=[{"Key": k, "Value": v} for k, v in sorted(missing.items())])

        entry = self._entry(after, current, apply)
        entry["detail"] = "added or updated: %s" % ", ".join(sorted(missing)) if missing else "all present"
        return entry

    def _reapply_stream(self, source, target, result):
        desired = _stream(source)
        current = _stream(target) if target else None

        def apply():
            if current is not None:
                # A stream's view type cannot be changed in place: disable, then enable.
                self.client.update_table(TableName=target["TableName"], aws_retry=True,
                                         StreamSpecification={"StreamEnabled": False})
                self._settle(target["TableName"])
            self.client.update_table(TableName=target["TableName"], aws_retry=True,
                                     StreamSpecification={"StreamEnabled": True, "StreamViewType": desired})

        entry = self._entry(desired, current, apply)
        if entry["status"] == "applied":
            entry["detail"] = "a new stream ARN: consumers of the source's stream must be pointed at it"
        return entry

    def _reapply_deletion_protection(self, source, target, result):
        desired = True if source.get("DeletionProtectionEnabled") else None
        current = bool(target.get("DeletionProtectionEnabled")) if target else False

        def apply():
            self.client.update_table(TableName=target["TableName"], DeletionProtectionEnabled=True,
                                     aws_retry=True)

        return self._entry(desired, current, apply)

    def _reapply_resource_policy(self, source, target, result):
        source_policy = get_resource_policy(self.client, source["TableArn"])
        target_arn = target["TableArn"] if target else source["TableArn"].rsplit("/", 1)[0] + "/" + result["target_table"]
        desired = _retarget_policy(source_policy, source["TableArn"], target_arn) if source_policy else None
        current = get_resource_policy(self.client, target_arn) if target else None

        def apply():
            self.client.put_resource_policy(ResourceArn=target_arn, Policy=desired, aws_retry=True)

        def equal(d, c):
            return c is not None and json.loads(d) == json.loads(c)

        return self._entry(desired, current, apply, equal)

    def _reapply_autoscaling(self, source, target, result):
        desired = _scaling_state(self.aas, source)
        if not any(desired.values()):
            return {"status": "not_set", "before": None, "after": None}
        if target is not None:
            billing = (target.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
            indexes = {i["IndexName"] for i in target.get("GlobalSecondaryIndexes") or []}
        else:
            billing = self.params["billing_mode"] or (source.get("BillingModeSummary") or {}).get(
                "BillingMode", "PROVISIONED")
            overrides = self.params["global_secondary_index_override"]
            indexes = ({i.get("IndexName") for i in overrides} if overrides is not None
                       else {i["IndexName"] for i in source.get("GlobalSecondaryIndexes") or []})
        if billing == "PAY_PER_REQUEST":
            return {"status": "skipped", "before": None, "after": None,
                    "detail": "the recovery table is on-demand (PAY_PER_REQUEST); auto scaling applies "
                              "to provisioned capacity only"}

        def kept(key):
            rel = key.split(" ", 1)[0]
            return rel == "/" or rel.split("/index/", 1)[-1] in indexes

        desired = {kind: {k: v for k, v in items.items() if kept(k)} for kind, items in desired.items()}
        current = {"targets": {}, "policies": {}, "scheduled_actions": {}}
        if target:
            current = _scaling_state(self.aas, target)
        for body in desired["targets"].values():
            body["RoleARN"] = None
        for body in current["targets"].values():
            body["RoleARN"] = None
        todo = {kind: sorted(k for k, v in items.items() if current[kind].get(k) != v)
                for kind, items in desired.items()}

        def apply():
            self._apply_scaling(source, target, todo, desired)

        entry = self._entry(desired, current, apply, lambda d, c: not any(todo.values()))
        entry["detail"] = "; ".join("%s: %s" % (kind, ", ".join(keys)) for kind, keys in todo.items() if keys) \
            or "all present"
        return entry

    def _apply_scaling(self, source, target, todo, desired):
        prefix = "table/%s" % target["TableName"]
        roles = {t["ResourceId"][len("table/%s" % source["TableName"]):] or "/": t.get("RoleARN")
                 for t in scalable_targets(self.aas, _scaling_ids(source))}
        for key in todo["targets"]:
            rel, dimension = key.split(" ", 1)
            body = desired["targets"][key]
            kwargs = {"ServiceNamespace": SCALING_NAMESPACE, "ResourceId": prefix + ("" if rel == "/" else rel),
                      "ScalableDimension": dimension, "MinCapacity": body["MinCapacity"],
                      "MaxCapacity": body["MaxCapacity"]}
            if body.get("SuspendedState"):
                kwargs["SuspendedState"] = body["SuspendedState"]
            role = roles.get(rel)
            if role and "/aws-service-role/" not in role:
                kwargs["RoleARN"] = role  # a custom role; otherwise AWS uses its service-linked role
            self.aas.register_scalable_target(aws_retry=True, **kwargs)
        for key in todo["policies"]:
            rel, dimension, name = key.split(" ", 2)
            self.aas.put_scaling_policy(
                aws_retry=True, PolicyName=name, ServiceNamespace=SCALING_NAMESPACE,
                ResourceId=prefix + ("" if rel == "/" else rel), ScalableDimension=dimension,
                **desired["policies"][key])
        for key in todo["scheduled_actions"]:
            rel, dimension, name = key.split(" ", 2)
            self.aas.put_scheduled_action(
                aws_retry=True, ScheduledActionName=name, ServiceNamespace=SCALING_NAMESPACE,
                ResourceId=prefix + ("" if rel == "/" else rel), ScalableDimension=dimension,
                **desired["scheduled_actions"][key])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return ddb.iso(value)
    return value


def do(module: AnsibleAWSModule) -> None:
    restore = Restore(module)
    try:
        result = restore.run()
    except RestoreError as e:
        module.fail_json(msg=str(e))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="DynamoDB point-in-time restore of %s failed" % module.params["source_table"])
    result = _jsonable(result)
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        source_table=dict(type="str", required=True),
        target_table=dict(type="str"),
        restore_point=dict(type="str", default="latest"),
        rollback_id=dict(type="str"),
        sse_enabled=dict(type="bool"),
        sse_kms_key_id=dict(type="str"),
        billing_mode=dict(type="str", choices=["PROVISIONED", "PAY_PER_REQUEST"]),
        provisioned_throughput=dict(
            type="dict",
            options=dict(
                read_capacity_units=dict(type="int", required=True),
                write_capacity_units=dict(type="int", required=True),
            ),
        ),
        global_secondary_index_override=dict(type="list", elements="dict"),
        local_secondary_index_override=dict(type="list", elements="dict"),
        reapply=dict(type="list", elements="str", choices=SETTINGS, default=SETTINGS),
        tags=dict(type="dict", default={}),
        **wait_options(7200, 15),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
