#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amplify_job_info
short_description: List the jobs of an AWS Amplify branch and find its last successful one
version_added: 0.1.0
description:
  - Lists a branch's jobs, newest first, following C(nextToken) pages.
  - Returns the newest job and the newest V(SUCCEED) job, which may be older than the
    jobs listed when O(max_jobs) cuts the list short (the module keeps paging to find it).
  - Each job is classified the way M(propie.rollback.amplify_deployment) sees it,
    whether it is a rollback, which job it rebuilt, whether it is a failed rollback.
author:
  - PropIE platform team (@propie)
options:
  branch_name:
    description:
      - The branch whose jobs to list.
    type: str
    required: true
  max_jobs:
    description:
      - At most this many jobs in RV(jobs). V(0) lists them all.
    type: int
    default: 50
extends_documentation_fragment: [propie.rollback.amplify, propie.rollback.attributes.read_only,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Is the blue branch healthy?
  propie.rollback.amplify_job_info:
    app_id: d4cebxzd5u3ynb
    branch_name: production
    max_jobs: 10
  register: blue

- name: Refuse if its newest build did not succeed
  ansible.builtin.assert:
    that: blue.latest_job.status == "SUCCEED"
"""

RETURN = r"""
jobs:
  description: The branch's jobs, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    job_id:
      description: Job id.
      type: str
      returned: always
      sample: "42"
    job_arn:
      description: Job ARN.
      type: str
      returned: always
    status:
      description: C(CREATED), C(PENDING), C(PROVISIONING), C(RUNNING), C(FAILED), C(SUCCEED), C(CANCELLING) or C(CANCELLED).
      type: str
      returned: always
    job_type:
      description: C(RELEASE), C(RETRY), C(MANUAL) or C(WEB_HOOK).
      type: str
      returned: always
    commit_id:
      description: Commit id.
      type: str
      returned: always
    commit_message:
      description: Commit message.
      type: str
      returned: always
    commit_time:
      description: Commit time (ISO 8601).
      type: str
      returned: always
    start_time:
      description: Start time (ISO 8601).
      type: str
      returned: always
    end_time:
      description: End time (ISO 8601), once finished.
      type: str
      returned: always
    source_url:
      description: Source URL of a C(MANUAL) deployment.
      type: str
      returned: always
    source_url_type:
      description: C(ZIP) or C(BUCKET_PREFIX).
      type: str
      returned: always
    is_rollback:
      description: Whether the job rebuilt an older build than the one before it.
      type: bool
      returned: always
    rebuild_of:
      description: The job whose build this job rebuilt, for rebuilds.
      type: str
      returned: always
    failed_rollback:
      description: A rollback that FAILED or was CANCELLED.
      type: bool
      returned: always
    rollback_id:
      description: The rollback id read from the job's marker, when Amplify returned one.
      type: str
      returned: always
latest_job:
  description: The newest job (same keys as RV(jobs)), or null for a branch without jobs.
  returned: always
  type: dict
last_successful_job:
  description: The newest V(SUCCEED) job (same keys as RV(jobs)), or null when there is none.
  returned: always
  type: dict
"""

import typing

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils.amplify import JobHistory
from ansible_collections.propie.rollback.plugins.module_utils.amplify import amplify_client
from ansible_collections.propie.rollback.plugins.module_utils.amplify import list_jobs
from ansible_collections.propie.rollback.plugins.module_utils.amplify import require_branch

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List


def _has_success(jobs: List[Dict[str, Any]], limit: int) -> bool:
    return len(jobs) >= limit and any(j.get("status") == "SUCCEED" for j in jobs)


def do(module) -> None:
    app_id, branch_name, limit = module.params["app_id"], module.params["branch_name"], module.params["max_jobs"]
    if limit < 0:
        module.fail_json(msg="max_jobs must be 0 (all) or a positive number, not %d" % limit)
    client = amplify_client(module)
    require_branch(module, client, app_id, branch_name)
    # Keep paging past max_jobs only until a successful job has been seen.
    until = (lambda js: _has_success(js, limit)) if limit else None
    jobs = list_jobs(module, client, app_id, branch_name, until=until)
    history = JobHistory(jobs)
    successful = next((j for j in history.jobs if j.get("status") == "SUCCEED"), None)
    listed = history.jobs[:limit] if limit else history.jobs
    module.exit_json(
        changed=False,
        jobs=[history.describe(j) for j in listed],
        latest_job=history.describe(history.jobs[0] if history.jobs else None),
        last_successful_job=history.describe(successful),
    )


def main() -> None:
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        branch_name=dict(type="str", required=True),
        max_jobs=dict(type="int", default=50),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
