#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollback_status
short_description: Read the state of a rollback's running AWS operations in one call
version_added: 0.2.0
description:
  - Reads, in one module call, the operations a rollback started and did not wait for, an
    Amplify build, CloudFormation stack actions and DynamoDB point-in-time restores, and says
    whether all of them have ended.
  - Made to be polled with C(until)/C(retries)/C(delay) while the operations run side by side
    in AWS, so that the wait lasts as long as the slowest one, not the sum. Each poll returns a
    one-line RV(progress) text (what is still running, its state, time elapsed) that the
    C(propie.rollback.progress) callback prints with every retry.
  - It only reads; a failed operation is reported in RV(failures), not raised, so the poll ends
    and the playbook can say what failed. (It is not named C(failed), since Ansible reads a
    result's C(failed) key as the task's own outcome.)
author:
  - PropIE platform team (@propie)
options:
  amplify_jobs:
    description: Amplify jobs to watch.
    type: list
    elements: dict
    default: []
    suboptions:
      app_id:
        description: The Amplify app id.
        type: str
        required: true
      branch_name:
        description: The branch.
        type: str
        required: true
      job_id:
        description: The job id.
        type: str
        required: true
  stacks:
    description: CloudFormation stacks to watch (names or ids); done once none is C(*_IN_PROGRESS).
    type: list
    elements: str
    default: []
  tables:
    description: DynamoDB tables (recovery tables being restored) to watch; done once C(ACTIVE).
    type: list
    elements: str
    default: []
  started:
    description:
      - When the wait began (ISO 8601), for the elapsed time in RV(progress); empty means this call.
    type: str
    default: ""
extends_documentation_fragment: [propie.rollback.attributes.read_only,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Wait for the build, the stack and the restore, side by side
  propie.rollback.rollback_status:
    amplify_jobs: [{app_id: d4cebxzd5u3ynb, branch_name: production, job_id: "6"}]
    stacks: [prop-ie-production-appsync-stack]
    tables: [prop-ie-production-data-pitr-rb-20261130T034501Z-9f2c1a]
    started: "2026-11-30T03:45:01Z"
  register: status
  until: status.done
  retries: 480
  delay: 15
"""

RETURN = r"""
done:
  description: Whether every watched operation has ended (successfully or not).
  returned: always
  type: bool
failures:
  description: Operations that ended badly, one sentence each.
  returned: always
  type: list
  elements: str
running:
  description: Operations still running, one short text each.
  returned: always
  type: list
  elements: str
states:
  description: The state of each watched operation.
  returned: always
  type: dict
  contains:
    amplify:
      description: Job id (app/branch/job) to its status.
      type: dict
      returned: always
    stacks:
      description: Stack to its status.
      type: dict
      returned: always
    tables:
      description: Table to its status (C(MISSING) when it does not exist).
      type: dict
      returned: always
  sample: {"amplify": {"d4cebxzd5u3ynb/production/6": "RUNNING"}, "stacks": {"s": "UPDATE_ROLLBACK_IN_PROGRESS"}, "tables": {"t": "CREATING"}}
elapsed:
  description: Seconds since O(started) (or 0).
  returned: always
  type: float
progress:
  description: One line, what is still running and for how long (or that everything ended).
  returned: always
  type: str
  sample: "waiting 4m05s for: build production#6 RUNNING, restore t CREATING"
"""

import datetime

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

JOB_ENDED = ("SUCCEED", "FAILED", "CANCELLED")
JOB_BAD = ("FAILED", "CANCELLED")


def _elapsed(started):
    if not started:
        return 0.0
    try:
        begin = datetime.datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=datetime.timezone.utc)
    return round((datetime.datetime.now(datetime.timezone.utc) - begin).total_seconds(), 1)


def _clock(seconds):
    minutes, secs = divmod(int(seconds), 60)
    return "%dm%02ds" % (minutes, secs) if minutes else "%ds" % secs


def read_jobs(module, jobs, states, running, failed):
    if not jobs:
        return
    client = module.client("amplify", retry_decorator=aws_retry)
    for job in jobs:
        key = "%s/%s/%s" % (job["app_id"], job["branch_name"], job["job_id"])
        try:
            summary = client.get_job(appId=job["app_id"], branchName=job["branch_name"], jobId=job["job_id"],
                                     aws_retry=True)["job"]["summary"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Could not read Amplify job %s" % key)
        status = summary["status"]
        states["amplify"][key] = status
        if status not in JOB_ENDED:
            running.append("build %s#%s %s" % (job["branch_name"], job["job_id"], status))
        elif status in JOB_BAD:
            failed.append("Amplify job %s of branch %s ended %s" % (job["job_id"], job["branch_name"], status))


def read_stacks(module, stacks, states, running, failed):
    if not stacks:
        return
    client = module.client("cloudformation", retry_decorator=aws_retry)
    for name in stacks:
        try:
            found = client.describe_stacks(StackName=name, aws_retry=True)["Stacks"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Could not read stack %s" % name)
        status = found[0]["StackStatus"] if found else "MISSING"
        states["stacks"][name] = status
        if status.endswith("_IN_PROGRESS"):
            running.append("stack %s %s" % (name, status))
        elif status.endswith("_FAILED") or status == "MISSING":
            failed.append("stack %s is %s" % (name, status))


def read_tables(module, tables, states, running, failed):
    if not tables:
        return
    client = module.client("dynamodb", retry_decorator=aws_retry)
    for name in tables:
        try:
            status = client.describe_table(TableName=name, aws_retry=True)["Table"]["TableStatus"]
        except client.exceptions.ResourceNotFoundException:
            status = "MISSING"
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Could not read table %s" % name)
        states["tables"][name] = status
        if status == "MISSING":
            failed.append("table %s does not exist (the restore was not started or was deleted)" % name)
        elif status != "ACTIVE":
            running.append("restore %s %s" % (name, status))


def do(module):
    params = module.params
    states = {"amplify": {}, "stacks": {}, "tables": {}}
    running, failed = [], []
    read_jobs(module, params["amplify_jobs"], states, running, failed)
    read_stacks(module, params["stacks"], states, running, failed)
    read_tables(module, params["tables"], states, running, failed)
    elapsed = _elapsed(params["started"])
    if running:
        progress = "waiting %sfor: %s" % (_clock(elapsed) + " " if params["started"] else "", ", ".join(running))
    else:
        progress = "all ended after %s%s" % (_clock(elapsed), "; failed: " + "; ".join(failed) if failed else "")
    module.exit_json(changed=False, done=not running, failures=failed, running=running, states=states,
                     elapsed=elapsed, progress=progress)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            amplify_jobs=dict(type="list", elements="dict", default=[], options=dict(
                app_id=dict(type="str", required=True),
                branch_name=dict(type="str", required=True),
                job_id=dict(type="str", required=True),
            )),
            stacks=dict(type="list", elements="str", default=[]),
            tables=dict(type="list", elements="str", default=[]),
            started=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    do(module)


if __name__ == "__main__":
    main()
