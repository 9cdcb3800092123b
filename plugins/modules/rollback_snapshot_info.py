#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollback_snapshot_info
short_description: Capture the last-known-good state of an environment for later rollbacks
version_added: 1.0.0
description:
  - Reads, without changing anything, what a later rollback needs to put an environment back,
    and returns it as one JSON document (the C(propie.rollback.rollback_snapshot) role writes it
    to the snapshot directory and S3).
  - For each CloudFormation stack - its original template, parameters (NoEcho values stay
    masked), capabilities, tags, outputs and status, and whether it was healthy (settled in a
    V(*_COMPLETE) status other than V(ROLLBACK_COMPLETE)).
  - For each Amplify branch - the last successful job and the latest job; for the Amplify
    domain - its status and the prefix to branch mapping.
  - For each DynamoDB table - the point-in-time recovery status and the earliest and latest
    restorable times.
  - A resource that does not exist is recorded with C(exists=false) and a warning, so a
    snapshot before the first deploy still succeeds.
author:
  - PropIE platform team (@propie)
options:
  env:
    description: Name of the environment, recorded in the snapshot.
    type: str
    required: true
  stacks:
    description:
      - Names of the CloudFormation stacks to capture.
    type: list
    elements: str
    default: []
  amplify_app_id:
    description:
      - Amplify app id. Without it, no Amplify state is captured.
    type: str
  amplify_branches:
    description:
      - Amplify branches whose jobs are captured. Requires O(amplify_app_id).
    type: list
    elements: str
    default: []
  amplify_domain:
    description:
      - Amplify domain whose sub-domain to branch mapping is captured. Requires O(amplify_app_id).
    type: str
  dynamodb_tables:
    description:
      - Names of the DynamoDB tables whose restore window is captured.
    type: list
    elements: str
    default: []
  amplify_max_jobs:
    description:
      - Reading a branch's jobs (newest first, a page at a time) stops at the first page
        holding a successful job, or once this many jobs were read.
    type: int
    default: 200
extends_documentation_fragment: [propie.rollback.attributes.read_only,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Capture the staging environment's last-known-good state
  propie.rollback.rollback_snapshot_info:
    env: staging
    stacks: [prop-ie-staging-appsync-stack]
    amplify_app_id: d1stagingpropie
    amplify_branches: [production, green]
    amplify_domain: prop-ie-app.com
    dynamodb_tables: [prop-ie-staging-data]
  register: snap

- name: Write it
  ansible.builtin.copy:
    content: "{{ snap.snapshot | to_nice_json }}"
    dest: "snapshots/staging/{{ snap.snapshot.snapshot_id }}.json"
    mode: "0640"
"""

RETURN = r"""
snapshot:
  description: The snapshot document.
  returned: always
  type: dict
  contains:
    format:
      description: Version of the document's layout.
      type: int
      sample: 1
    snapshot_id:
      description: UTC timestamp naming this snapshot (sorts in time order).
      type: str
      sample: 20261130T034501.123456Z
    taken_at:
      description: When the snapshot was taken (UTC, ISO 8601).
      type: str
      sample: "2026-11-30T03:45:01.123456Z"
    env:
      description: The environment.
      type: str
    region:
      description: The AWS region read.
      type: str
    stacks:
      description:
        - Stack name to its state - C(exists), C(stack_id), C(status), C(healthy),
          C(template_body), C(parameters) (list of C(key), C(value), C(masked)),
          C(capabilities), C(tags), C(outputs), C(role_arn), C(notification_arns),
          C(creation_time), C(last_updated_time).
      type: dict
    amplify:
      description:
        - C(app_id); C(branches) - branch name to C(exists), C(active_job_id),
          C(last_successful_job) and C(latest_job) (each described as
          C(propie.rollback.amplify_job_info) returns jobs - C(job_id), C(status), C(commit_id),
          C(start_time), ... and the rollback classification - or null);
          C(domain) - C(domain_name), C(exists), C(status) and C(sub_domains), a mapping of
          prefix (V("") for the apex) to branch name.
      type: dict
    tables:
      description:
        - Table name to C(exists), C(pitr_status), C(earliest_restorable_time) and
          C(latest_restorable_time).
      type: dict
    healthy:
      description: True when every captured stack exists and is healthy.
      type: bool
"""

import datetime
import typing

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import amplify as amp
from ansible_collections.propie.rollback.plugins.module_utils import cloudformation as cfn
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import Optional

# -- CloudFormation ----------------------------------------------------------------------


def capture_stack(client, name: str) -> Dict[str, Any]:
    state = cfn.read_stack_state(client, name)
    if state is None:
        return {"stack_name": name, "exists": False, "status": None, "healthy": False}
    return dict(state, exists=True)


# -- Amplify -------------------------------------------------------------------------------


def capture_branch(module, client, app_id: str, branch: str, max_jobs: int) -> Dict[str, Any]:
    """The branch's latest and last successful job, described as amplify_job_info does."""
    found = amp.get_branch(module, client, app_id, branch)
    if found is None:
        return {"exists": False, "active_job_id": None, "last_successful_job": None, "latest_job": None}

    def seen_success(jobs):
        return len(jobs) >= max_jobs or any(j.get("status") == "SUCCEED" for j in jobs)

    history = amp.JobHistory(amp.list_jobs(module, client, app_id, branch, until=seen_success))
    successful = next((j for j in history.jobs if j.get("status") == "SUCCEED"), None)
    return {
        "exists": True,
        "active_job_id": found.get("activeJobId"),
        "last_successful_job": history.describe(successful),
        "latest_job": history.describe(history.jobs[0] if history.jobs else None),
    }


def capture_domain(client, app_id: str, domain: str) -> Dict[str, Any]:
    try:
        assoc = client.get_domain_association(appId=app_id, domainName=domain, aws_retry=True)["domainAssociation"]
    except is_boto3_error_code("NotFoundException"):
        return {"domain_name": domain, "exists": False, "status": None, "sub_domains": {}}
    return {
        "domain_name": domain,
        "exists": True,
        "status": assoc.get("domainStatus"),
        "sub_domains": amp.sub_domain_mapping(assoc),
    }


# -- DynamoDB -------------------------------------------------------------------------------


def capture_table(client, name: str) -> Dict[str, Any]:
    try:
        desc = client.describe_continuous_backups(TableName=name, aws_retry=True)["ContinuousBackupsDescription"]
    except is_boto3_error_code("TableNotFoundException"):
        return {"exists": False, "pitr_status": None, "earliest_restorable_time": None,
                "latest_restorable_time": None}
    pitr = desc.get("PointInTimeRecoveryDescription") or {}
    return {
        "exists": True,
        "pitr_status": pitr.get("PointInTimeRecoveryStatus"),
        "earliest_restorable_time": cfn.iso(pitr.get("EarliestRestorableDateTime")),
        "latest_restorable_time": cfn.iso(pitr.get("LatestRestorableDateTime")),
    }


# -- the document ----------------------------------------------------------------------------


def do(module: AnsibleAWSModule) -> None:
    params = module.params
    if (params["amplify_branches"] or params["amplify_domain"]) and not params["amplify_app_id"]:
        module.fail_json(msg="amplify_branches and amplify_domain need amplify_app_id")
    taken = datetime.datetime.now(datetime.timezone.utc)
    document = {
        "format": cfn.SNAPSHOT_FORMAT,
        "snapshot_id": taken.strftime("%Y%m%dT%H%M%S.%fZ"),
        "taken_at": cfn.iso(taken),
        "env": params["env"],
        "region": module.region,
        "stacks": {},
        "amplify": None,
        "tables": {},
    }
    what = "reading"
    try:
        if params["stacks"]:
            client = module.client("cloudformation", retry_decorator=aws_retry)
            for name in params["stacks"]:
                what = "reading stack %s" % name
                document["stacks"][name] = capture_stack(client, name)
        if params["amplify_app_id"]:
            client = module.client("amplify", retry_decorator=aws_retry)
            app_id = params["amplify_app_id"]
            amplify = {"app_id": app_id, "branches": {}, "domain": None}
            for branch in params["amplify_branches"]:
                what = "reading Amplify branch %s of app %s" % (branch, app_id)
                amplify["branches"][branch] = capture_branch(module, client, app_id, branch,
                                                             params["amplify_max_jobs"])
            if params["amplify_domain"]:
                what = "reading Amplify domain %s of app %s" % (params["amplify_domain"], app_id)
                amplify["domain"] = capture_domain(client, app_id, params["amplify_domain"])
            document["amplify"] = amplify
        if params["dynamodb_tables"]:
            client = module.client("dynamodb", retry_decorator=aws_retry)
            for name in params["dynamodb_tables"]:
                what = "reading the restore window of table %s" % name
                document["tables"][name] = capture_table(client, name)
    except (BotoCoreError, ClientError) as err:
        module.fail_json_aws(err, msg="snapshot of %s failed while %s" % (params["env"], what))
    for kind, name, entry in _missing(document):
        module.warn("%s %s does not exist; recorded with exists=false" % (kind, name))
    stacks = document["stacks"].values()
    document["healthy"] = all(s.get("exists") and s.get("healthy") for s in stacks)
    module.exit_json(changed=False, snapshot=document)


def _missing(document: Dict[str, Any]):
    for name, entry in document["stacks"].items():
        if not entry.get("exists"):
            yield "stack", name, entry
    amplify = document["amplify"] or {}
    for name, entry in (amplify.get("branches") or {}).items():
        if not entry.get("exists"):
            yield "Amplify branch", name, entry
    if amplify.get("domain") and not amplify["domain"]["exists"]:
        yield "Amplify domain", amplify["domain"]["domain_name"], amplify["domain"]
    for name, entry in document["tables"].items():
        if not entry.get("exists"):
            yield "table", name, entry


def main() -> None:
    argument_spec = dict(
        env=dict(type="str", required=True),
        stacks=dict(type="list", elements="str", default=[]),
        amplify_app_id=dict(type="str"),
        amplify_branches=dict(type="list", elements="str", default=[]),
        amplify_domain=dict(type="str"),
        dynamodb_tables=dict(type="list", elements="str", default=[]),
        amplify_max_jobs=dict(type="int", default=200),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
