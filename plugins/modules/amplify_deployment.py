#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amplify_deployment
short_description: Redeploy the last known-good build of an AWS Amplify branch
version_added: 0.1.0
description:
  - Rolls an Amplify branch back to its last known-good build and waits for the new job
    to finish (the runbook's "Rollback Amplify Deployment").
  - The target is O(job_id) when given, else the newest V(SUCCEED) job older than the
    branch's newest job. Failed rollbacks (see below) are skipped, both as targets and as
    "the newest job".
  - For an app connected to a repository the module calls C(StartJob) with
    C(jobType=RETRY) and the target's C(jobId), which is AWS's documented way to rebuild
    an older successful build. C(RELEASE) is never used; it always builds the branch
    head, that is, the broken code.
  - For an app without a repository the module calls C(StartDeployment) with the target
    job's C(sourceUrl) and C(sourceUrlType). A job deployed from an upload (no
    C(sourceUrl) in its summary) cannot be redeployed this way and the module says so.
  - The runbook's C(aws amplify start-deployment --job-id <old job>) is wrong and is not
    reproduced here. The C(jobId) of C(StartDeployment) must be the one returned by
    C(CreateDeployment) for a fresh upload; an old job's id does not redeploy that job.
  - B(Rollback jobs.) A I(rebuild) is a C(RETRY) or C(MANUAL) job whose content (commit
    id, or source URL for apps without a repository) an older job already had. A
    I(rollback) is a rebuild of content other than what the branch had just before it
    (a plain retry of the newest build is not a rollback). A I(failed rollback) is a
    rollback that FAILED or was CANCELLED.
  - B(Idempotency.) Amplify never returns a job's C(jobReason), so the module recognises
    its own work by shape. If the branch's newest job (ignoring failed rollbacks) is a
    rollback that is still running, the module waits for it instead of starting another
    one (a killed run that is re-run resumes); if it SUCCEEDED, or the newest job already
    has the target's content, nothing is started and C(changed=false).
    After a failed rollback a re-run starts a new one.
  - Every job the module starts carries the rollback marker (C(propie-rollback:<id>)) in
    C(jobReason), and, for C(RETRY), in C(commitMessage) too, so that the id can be read
    back where Amplify keeps the given commit message. C(StartDeployment) takes neither.
  - If another job is running on the branch (a release, say), the module fails and starts
    nothing; Amplify would queue the rollback behind it.
author:
  - PropIE platform team (@propie)
options:
  app_id:
    description:
      - The Amplify app id.
    type: str
    required: true
  branch_name:
    description:
      - The branch to roll back.
    type: str
    required: true
  job_id:
    description:
      - Rebuild this job instead of the automatically chosen last known-good one.
      - It must be a V(SUCCEED) job of the branch.
    type: str
  rollback_id:
    description:
      - The rollback id (C(rb-YYYYMMDDTHHMMSSZ-xxxxxx)) to mark the new job with and to
        report. A new one is made when omitted.
    type: str
  wait:
    description:
      - Wait for the new (or resumed) job to reach V(SUCCEED) or V(FAILED).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the job. On timeout the module fails; the job continues in
        Amplify and a re-run resumes the wait.
    type: int
    default: 1800
  wait_delay:
    description:
      - Seconds between polls of the job status.
    type: int
    default: 15
attributes:
  check_mode:
    support: full
    description:
      - Reports which job would be rebuilt and how, without starting anything.
  diff_mode:
    support: full
    description:
      - Before is the branch's newest job, after the job that would serve the branch.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Roll production back to its last known-good build
  propie.rollback.amplify_deployment:
    app_id: d4cebxzd5u3ynb
    branch_name: production
    wait_timeout: 1800
  register: redeploy

- name: Rebuild a specific job
  propie.rollback.amplify_deployment:
    app_id: d4cebxzd5u3ynb
    branch_name: production
    job_id: "41"
    rollback_id: rb-20261130T034501Z-9f2c1a

- name: What would be rebuilt?
  propie.rollback.amplify_deployment:
    app_id: d4cebxzd5u3ynb
    branch_name: production
  check_mode: true
"""

RETURN = r"""
action:
  description:
    - What the module did. V(started) a new job; V(resumed) waiting for a rollback that a
      previous run started; V(none) when the branch already serves the target build;
      V(would_start) in check mode.
  returned: always
  type: str
  sample: started
method:
  description: How the target is rebuilt, C(StartJob RETRY) or C(StartDeployment).
  returned: always
  type: str
  sample: StartJob RETRY
rollback_id:
  description: The rollback id of this run (or the one read back from a resumed job).
  returned: always
  type: str
  sample: rb-20261130T034501Z-9f2c1a
reason:
  description: Why the module did what it did, in one sentence.
  returned: always
  type: str
from_job:
  description: The branch's newest job before the rollback (failed rollbacks skipped).
  returned: always
  type: dict
  contains:
    job_id:
      description: Job id.
      type: str
      returned: always
    status:
      description: Job status.
      type: str
      returned: always
    job_type:
      description: Job type (RELEASE, RETRY, MANUAL, WEB_HOOK).
      type: str
      returned: always
    commit_id:
      description: Commit id.
      type: str
      returned: always
    source_url:
      description: Source URL of a deployment job.
      type: str
      returned: when known
    is_rollback:
      description: Whether the job is a rollback (see the module description).
      type: bool
      returned: always
    rebuild_of:
      description: The job this job rebuilt, for rebuilds.
      type: str
      returned: always
target_job:
  description: The job that is rebuilt (same keys as RV(from_job)).
  returned: always
  type: dict
job:
  description: The new or resumed job, after waiting (same keys as RV(from_job)).
  returned: when a job was started or resumed
  type: dict
skipped_failed_rollbacks:
  description: Ids of failed rollback jobs that were ignored.
  returned: always
  type: list
  elements: str
progress:
  description: Status changes seen while waiting, as C({elapsed, status}).
  returned: when the module waited
  type: list
  elements: dict
timings:
  description: Seconds spent waiting, and in total.
  returned: always
  type: dict
  sample: {"wait_seconds": 312.4, "total_seconds": 313.1}
"""

import time
import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports it

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils.amplify import ACTIVE_STATUSES
from ansible_collections.propie.rollback.plugins.module_utils.amplify import MAX_HISTORY
from ansible_collections.propie.rollback.plugins.module_utils.amplify import UNSUCCESSFUL_STATUSES
from ansible_collections.propie.rollback.plugins.module_utils.amplify import JobHistory
from ansible_collections.propie.rollback.plugins.module_utils.amplify import amplify_client
from ansible_collections.propie.rollback.plugins.module_utils.amplify import content_key
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_app
from ansible_collections.propie.rollback.plugins.module_utils.amplify import seconds_since
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_job
from ansible_collections.propie.rollback.plugins.module_utils.amplify import list_jobs
from ansible_collections.propie.rollback.plugins.module_utils.amplify import require_branch
from ansible_collections.propie.rollback.plugins.module_utils.amplify import short
from ansible_collections.propie.rollback.plugins.module_utils.common import WaitTimeout
from ansible_collections.propie.rollback.plugins.module_utils.common import marker
from ansible_collections.propie.rollback.plugins.module_utils.common import new_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import validate_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_for

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import Optional
    from typing import Tuple

COMMIT_MESSAGE_MAX = 10000


class Plan:
    """What to do: start a rebuild of `target`, resume `job`, or nothing."""

    def __init__(self, action: str, reason: str, head, target, job=None):
        self.action = action  # start | resume | none
        self.reason = reason
        self.head = head
        self.target = target
        self.job = job


def plan(module, history: JobHistory, job_id: Optional[str], branch_name: str) -> Plan:
    """Decide from the job history alone (no AWS calls), failing clearly on bad input."""
    head = history.head()
    if head is None:
        module.fail_json(
            msg="Branch %s has no jobs (other than failed rollbacks): nothing to roll back to" % branch_name
        )
    head_info = history.info[head["jobId"]]

    if job_id:
        target = history.find(job_id)
        if target is None:
            module.fail_json(
                msg="Branch %s has no job %s (newest job: %s)" % (branch_name, job_id, short(head)),
            )
        if target.get("status") != "SUCCEED":
            module.fail_json(msg="%s is not a successful build; choose a SUCCEED job" % short(target))
    elif head_info["is_rollback"] and head.get("status") not in UNSUCCESSFUL_STATUSES:
        # A rollback (ours, or someone's) is the newest job: it is the one to finish.
        target = history.find(head_info["rebuild_of"] or "") or head
    else:
        target = history.last_good_before(head)
        if target is None:
            module.fail_json(
                msg="Branch %s has no successful job older than its newest, %s: there is no "
                "known-good build to return to" % (branch_name, short(head)),
                from_job=history.describe(head),
            )

    same_content = content_key(head) == content_key(target)
    if same_content and head.get("status") in ACTIVE_STATUSES:
        return Plan("resume", "%s is already rebuilding %s" % (short(head), short(target)), head, target, head)
    if same_content and head.get("status") == "SUCCEED":
        return Plan(
            "none",
            "the branch already serves the build of %s (newest: %s)" % (short(target), short(head)),
            head,
            target,
        )
    if head.get("status") in ACTIVE_STATUSES:
        module.fail_json(
            msg="%s is in progress on branch %s; wait for it or stop it before rolling back "
            "(a new job would queue behind it)" % (short(head), branch_name),
            from_job=history.describe(head),
        )
    return Plan(
        "start", "%s is the newest job; %s is the last known-good build" % (short(head), short(target)), head, target
    )


def start_retry(module, client, app_id, branch_name, target, rollback_id) -> Dict[str, Any]:
    note = "rebuild of job %s: %s" % (target["jobId"], target.get("commitMessage") or "")
    try:
        return client.start_job(
            appId=app_id,
            branchName=branch_name,
            jobType="RETRY",
            jobId=target["jobId"],
            jobReason=marker(rollback_id, "rollback to job %s" % target["jobId"])[:255],
            commitId=target.get("commitId"),
            commitMessage=marker(rollback_id, note)[:COMMIT_MESSAGE_MAX],
            aws_retry=True,
        )["jobSummary"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not start a RETRY of %s" % short(target))


def start_deployment(module, client, app_id, branch_name, target) -> Dict[str, Any]:
    params = dict(appId=app_id, branchName=branch_name, sourceUrl=target["sourceUrl"])
    if target.get("sourceUrlType"):
        params["sourceUrlType"] = target["sourceUrlType"]
    try:
        return client.start_deployment(aws_retry=True, **params)["jobSummary"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not redeploy %s" % short(target))


def wait_job(module, client, app_id, branch_name, job_id) -> Tuple[Dict[str, Any], list]:
    def read():
        return get_job(module, client, app_id, branch_name, job_id)["summary"]

    return wait_for(
        read,
        lambda s: s.get("status"),
        lambda status: status not in ACTIVE_STATUSES,
        module.params["wait_timeout"],
        module.params["wait_delay"],
        "Amplify job %s on branch %s" % (job_id, branch_name),
        log=module.log,
    )


def do(module) -> None:
    started = time.monotonic()
    params = module.params
    app_id, branch_name = params["app_id"], params["branch_name"]
    validate_rollback_id(module, params["rollback_id"])
    client = amplify_client(module)

    app = get_app(module, client, app_id)
    require_branch(module, client, app_id, branch_name)
    connected = bool(app.get("repository"))
    method = "StartJob RETRY" if connected else "StartDeployment"
    history = JobHistory(list_jobs(module, client, app_id, branch_name, limit=MAX_HISTORY))
    decision = plan(module, history, params["job_id"], branch_name)
    target = decision.target
    if decision.action == "start" and not connected and not target.get("sourceUrl"):
        module.fail_json(
            msg="%s has no sourceUrl (it was deployed from an upload): Amplify cannot redeploy it "
            "for an app without a repository; pass job_id of a job deployed from a sourceUrl, or "
            "upload the artifact again" % short(target),
            target_job=history.describe(target),
        )

    rollback_id = params["rollback_id"]
    if decision.job is not None:
        rollback_id = history.info[decision.job["jobId"]]["rollback_id"] or rollback_id
    rollback_id = rollback_id or new_rollback_id()
    result = dict(
        changed=False,
        method=method,
        rollback_id=rollback_id,
        reason=decision.reason,
        from_job=history.describe(decision.head),
        target_job=history.describe(target),
        skipped_failed_rollbacks=[j["jobId"] for j in history.jobs if history.info[j["jobId"]]["failed_rollback"]],
    )
    if module._diff:
        result["diff"] = dict(
            before=dict(newest_job=short(decision.head)),
            after=dict(newest_job=short(decision.head) if decision.action == "none" else "rebuild of " + short(target)),
        )

    if decision.action == "none":
        result.update(action="none", timings=dict(wait_seconds=0, total_seconds=seconds_since(started)))
        module.exit_json(**result)
    if module.check_mode:
        result.update(
            changed=decision.action == "start",
            action="would_start" if decision.action == "start" else "resumed",
            job=history.describe(decision.job),
            timings=dict(wait_seconds=0, total_seconds=seconds_since(started)),
        )
        module.exit_json(**result)

    if decision.action == "start":
        if connected:
            job = start_retry(module, client, app_id, branch_name, target, rollback_id)
        else:
            job = start_deployment(module, client, app_id, branch_name, target)
        result.update(changed=True, action="started")
    else:
        job = decision.job
        result.update(action="resumed")
    history.info.setdefault(
        job["jobId"], dict(rebuild_of=target["jobId"], is_rollback=True, failed_rollback=False, rollback_id=rollback_id)
    )

    wait_started = time.monotonic()
    if params["wait"]:
        try:
            job, result["progress"] = wait_job(module, client, app_id, branch_name, job["jobId"])
        except WaitTimeout as e:
            result.update(job=history.describe(e.last), progress=e.progress)
            module.fail_json(msg=str(e), **result)
    result["job"] = history.describe(job)
    result["timings"] = dict(wait_seconds=seconds_since(wait_started), total_seconds=seconds_since(started))
    if job.get("status") in UNSUCCESSFUL_STATUSES:
        module.fail_json(
            msg="The rollback %s of branch %s ended %s; the branch still serves what it served "
            "before. See the job's logs in the Amplify console; a re-run starts a new rollback"
            % (short(job), branch_name, job.get("status")),
            **result,
        )
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        branch_name=dict(type="str", required=True),
        job_id=dict(type="str"),
        rollback_id=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        wait_delay=dict(type="int", default=15),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
