#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amplify_deployment
short_description: Redeploy the last known-good or the serving build of an AWS Amplify branch
version_added: 0.1.0
description:
  - With O(target=last_known_good) (the default), rolls an Amplify branch back to its last
    known-good build and waits for the new job to finish (the runbook's "Rollback Amplify
    Deployment").
  - With O(target=serving), rebuilds the build the branch serves now (its newest
    V(SUCCEED) job) so that changed branch settings take effect. Amplify reads branch
    environment variables at build time, so after M(propie.rollback.amplify_branch)
    changes one (the DynamoDB table swap, say) the new value is live only once the branch
    is rebuilt. See B(Serving rebuilds) below.
  - The last known-good target is O(job_id) when given, else the newest V(SUCCEED) job
    older than the branch's newest job with other content than the newest job (an older
    build of the same content serves the same thing). Failed rollbacks (see below) are
    skipped, both as targets and as "the newest job".
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
    (a plain retry of the newest build is not a rollback, unless that build was a
    rollback, since a rebuild of a rollback stays one). A I(failed rollback) is a rollback that
    FAILED or was CANCELLED.
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
  - B(Serving rebuilds) (O(target=serving)). The module compares the branch's
    C(updateTime) (GetBranch; Amplify moves it on every C(UpdateBranch)) with the
    C(startTime) of the serving build. A build uses the settings the branch had when it
    started, so a rebuild is needed only when the branch changed after the serving build
    started. Then the module starts C(StartJob RETRY) of the serving build (apps with a
    repository) or C(StartDeployment) of its C(sourceUrl) (apps without), and waits.
    If a job that started after the change is running, the module waits for it instead
    of starting another (a killed run that is re-run resumes); if the serving build
    started after the change, nothing is started and C(changed=false). An C(updateTime)
    within a second of a job's start counts as that job's (Amplify touches the branch
    when it starts a job). Only the branch is compared; a change of the app's own
    environment variables (C(UpdateApp)) does not move the branch's C(updateTime) and is
    not detected.
  - If a job that started B(before) the change is running when a serving rebuild is
    needed, the module waits for it to end (it will be the serving build, built with the
    old settings) and then rebuilds what serves; with O(wait=false) it fails instead. It
    never rebuilds an older build while a newer one is deploying, which would undo it.
  - A serving rebuild carries the rollback marker in C(jobReason) only. Its commit
    message stays the build's own, so the job history reads it as a plain rebuild, and a
    later O(target=last_known_good) run still rolls back past the content it rebuilt.
author:
  - PropIE platform team (@propie)
options:
  branch_name:
    description:
      - The branch to roll back.
    type: str
    required: true
  target:
    description:
      - Which build to deploy.
      - V(last_known_good) rolls back to the newest successful build older than the
        branch's newest job (or O(job_id)).
      - V(serving) rebuilds the build the branch serves now, when the branch's settings
        (environment variables) changed after it started, so that they take effect.
    type: str
    choices: [last_known_good, serving]
    default: last_known_good
  job_id:
    description:
      - Rebuild this job instead of the automatically chosen last known-good one.
      - It must be a V(SUCCEED) job of the branch. Only with O(target=last_known_good).
    type: str
  rollback_id:
    description:
      - The rollback id (C(rb-YYYYMMDDTHHMMSSZ-xxxxxx)) to mark the new job with and to
        report. A new one is made when omitted.
    type: str
  wait:
    description:
      - Wait for the new (or resumed) job to reach V(SUCCEED) or V(FAILED).
      - With O(target=serving), also wait for a job that started before the branch's last
        change to end before rebuilding; V(false) fails in that case.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the job (for each job waited for). On timeout the module fails;
        the job continues in Amplify and a re-run resumes the wait.
    type: int
    default: 1800
  wait_delay:
    description: Seconds between polls of the job status.
    type: int
    default: 15
attributes:
  check_mode:
    description:
      - Reports which job would be rebuilt and how, without starting anything (and
        without waiting for a running job).
  diff_mode:
    description:
      - V(last_known_good) - before is the branch's newest job, after the job that would
        serve the branch.
      - V(serving) - the serving build, when the settings it was built with date from, and
        when the branch's settings last changed; before and after the rebuild.
extends_documentation_fragment: [propie.rollback.attributes, propie.rollback.amplify,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
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

- name: Point the app at the recovery table
  propie.rollback.amplify_branch:
    app_id: d4cebxzd5u3ynb
    branch_name: production
    environment_variables:
      DATA_TABLE_NAME: prop-ie-production-data-recovery

- name: Rebuild the serving build so that the new variable is live
  propie.rollback.amplify_deployment:
    app_id: d4cebxzd5u3ynb
    branch_name: production
    target: serving
    rollback_id: rb-20261130T034501Z-9f2c1a
  register: rebuild
"""

RETURN = r"""
action:
  description:
    - What the module did. V(started) a new job; V(resumed) waiting for a rollback (or,
      for V(serving), a build started after the branch's last change) that a previous run
      started; V(none) when the branch already serves the target build (for V(serving),
      when the serving build started after the branch's last change); V(would_start) in
      check mode.
  returned: always
  type: str
  sample: started
method:
  description: How the target is rebuilt, C(StartJob RETRY) or C(StartDeployment).
  returned: always
  type: str
  sample: StartJob RETRY
target:
  description: The O(target) option, V(last_known_good) or V(serving).
  returned: always
  type: str
  sample: serving
branch_update_time:
  description: When the branch's settings last changed (GetBranch C(updateTime)), UTC ISO 8601.
  returned: when O(target=serving)
  type: str
  sample: "2026-11-30T03:52:10.114000Z"
busy_job:
  description:
    - A job that started before the branch's last change and was running; the module
      waited for it before rebuilding (same keys as RV(from_job), plus C(progress)).
  returned: when O(target=serving) and such a job was waited for
  type: dict
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
  description:
    - The branch's newest job before the rollback (failed rollbacks skipped); for
      V(serving), the serving build.
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
      description: The commit the job built (what a redeploy of it serves).
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
  description: The job that is rebuilt (same keys as RV(from_job)); for V(serving), the serving build.
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
from ansible_collections.propie.rollback.plugins.module_utils.amplify import Plan
from ansible_collections.propie.rollback.plugins.module_utils.amplify import PlanError
from ansible_collections.propie.rollback.plugins.module_utils.amplify import amplify_client
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_app
from ansible_collections.propie.rollback.plugins.module_utils.amplify import seconds_since
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_job
from ansible_collections.propie.rollback.plugins.module_utils.amplify import list_jobs
from ansible_collections.propie.rollback.plugins.module_utils.amplify import plan_last_known_good
from ansible_collections.propie.rollback.plugins.module_utils.amplify import require_branch
from ansible_collections.propie.rollback.plugins.module_utils.amplify import short
from ansible_collections.propie.rollback.plugins.module_utils.amplify import started_after
from ansible_collections.propie.rollback.plugins.module_utils.common import WaitTimeout
from ansible_collections.propie.rollback.plugins.module_utils.common import iso
from ansible_collections.propie.rollback.plugins.module_utils.common import call_once
from ansible_collections.propie.rollback.plugins.module_utils.common import marker
from ansible_collections.propie.rollback.plugins.module_utils.common import once_client
from ansible_collections.propie.rollback.plugins.module_utils.common import new_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import validate_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_for
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_options

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import Optional
    from typing import Tuple

COMMIT_MESSAGE_MAX = 10000
JOB_REASON_MAX = 255
TARGETS = ("last_known_good", "serving")


def plan(module, history: JobHistory, job_id: Optional[str], branch_name: str) -> Plan:
    """target=last_known_good: decide from the job history alone (no AWS calls), failing
    clearly on bad input (module_utils.amplify.plan_last_known_good)."""
    try:
        return plan_last_known_good(history, job_id, branch_name)
    except PlanError as e:
        module.fail_json(msg=e.msg, **e.extra)


def plan_serving(module, history: JobHistory, branch: Dict[str, Any]) -> Plan:
    """target=serving: is the serving build older than the branch's last change?

    The rule is AWS's own record: a build uses the branch settings of when it started, so
    it is current when it started after the branch's updateTime.
    """
    branch_name = branch["branchName"]
    changed = branch.get("updateTime")
    serving = history.serving()
    if serving is None:
        module.fail_json(
            msg="Branch %s has no successful build, so it serves nothing to rebuild; deploy "
            "it first (newest job: %s)" % (branch_name, short(history.jobs[0] if history.jobs else None)),
            branch_update_time=iso(changed),
        )
    if started_after(serving, changed):
        return Plan(
            "none",
            "the serving build, %s, started at %s, after the branch's last change at %s"
            % (short(serving), iso(serving.get("startTime")), iso(changed)),
            serving,
            serving,
        )
    running = history.running()
    fresh = [j for j in running if started_after(j, changed)]
    if fresh:
        return Plan(
            "resume",
            "%s started after the branch's last change at %s and is building it" % (short(fresh[0]), iso(changed)),
            serving,
            serving,
            fresh[0],
        )
    if running:
        return Plan(
            "busy",
            "%s is in progress and started before the branch's last change at %s; the branch "
            "is rebuilt once it ends" % (short(running[0]), iso(changed)),
            serving,
            serving,
            running[0],
        )
    return Plan(
        "start",
        "the branch changed at %s, after the serving build, %s, started at %s"
        % (iso(changed), short(serving), iso(serving.get("startTime"))),
        serving,
        serving,
    )


def start_job_once(module, client, call_name: str, params: Dict[str, Any], known, matches, what: str):
    """StartJob / StartDeployment exactly once: neither takes a client token, so botocore may
    not repeat it, and after an unclear answer (a lost response, a 5xx) the branch's jobs are
    read for the job this call started (one not among `known` that `matches`) before any retry."""
    once = getattr(once_client(module, "amplify"), call_name)

    def find():
        jobs = list_jobs(module, client, params["appId"], params["branchName"], limit=10)
        return next((j for j in jobs if j["jobId"] not in known and matches(j)), None)

    try:
        return call_once(lambda: once(**params)["jobSummary"], find, what, log=module.log)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not %s" % what)


def start_retry(module, client, app_id, branch_name, target, reason, known, commit_message=None) -> Dict[str, Any]:
    """StartJob RETRY of `target`. `reason` (the rollback marker) goes in jobReason; a
    rollback also gives a marked commit message, which a serving rebuild leaves as the
    build's own so that the job history reads it as a plain rebuild of what is served."""
    params = dict(appId=app_id, branchName=branch_name, jobType="RETRY", jobId=target["jobId"])
    params["jobReason"] = reason[:JOB_REASON_MAX]
    if commit_message is not None:
        params.update(commitId=target.get("commitId"), commitMessage=commit_message[:COMMIT_MESSAGE_MAX])
    return start_job_once(module, client, "start_job", params, known,
                          lambda j: j.get("jobType") == "RETRY" and j.get("commitId") == target.get("commitId"),
                          "start a RETRY of %s" % short(target))


def start_deployment(module, client, app_id, branch_name, target, known) -> Dict[str, Any]:
    params = dict(appId=app_id, branchName=branch_name, sourceUrl=target["sourceUrl"])
    if target.get("sourceUrlType"):
        params["sourceUrlType"] = target["sourceUrlType"]
    return start_job_once(module, client, "start_deployment", params, known,
                          lambda j: j.get("jobType") == "MANUAL", "redeploy %s" % short(target))


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


def read_history(module, client, app_id: str, branch_name: str) -> JobHistory:
    return JobHistory(list_jobs(module, client, app_id, branch_name, limit=MAX_HISTORY))


def decide_serving(module, client, app_id: str, branch_name: str, result: Dict[str, Any]):
    """Plan a serving rebuild; a build that predates the change is waited out first (when
    not in check mode), since a rebuild of today's serving build would undo what it
    deploys. Returns (plan, history, branch)."""
    for _attempt in range(2):
        branch = require_branch(module, client, app_id, branch_name)
        history = read_history(module, client, app_id, branch_name)
        decision = plan_serving(module, history, branch)
        if decision.action != "busy" or module.check_mode:
            return decision, history, branch
        busy = decision.job
        if not module.params["wait"] or "busy_job" in result:
            hint = "" if module.params["wait"] else " (or with wait=true to wait for it)"
            module.fail_json(
                **dict(
                    result,
                    msg="%s; re-run when it has ended%s" % (decision.reason, hint),
                    from_job=history.describe(decision.head),
                    busy_job=history.describe(busy),
                )
            )
        try:
            ended, progress = wait_job(module, client, app_id, branch_name, busy["jobId"])
        except WaitTimeout as e:
            module.fail_json(**dict(result, msg="%s: %s" % (decision.reason, e), busy_job=history.describe(e.last)))
        result["busy_job"] = dict(history.describe(ended), progress=progress)
    return decision, history, branch  # not reached: the second busy plan fails above


def do(module) -> None:
    started = time.monotonic()
    params = module.params
    app_id, branch_name, serving = params["app_id"], params["branch_name"], params["target"] == "serving"
    validate_rollback_id(module, params["rollback_id"])
    if serving and params["job_id"]:
        module.fail_json(
            msg="job_id chooses a build to roll back to and applies to target=last_known_good only; "
            "target=serving rebuilds the build the branch serves"
        )
    client = amplify_client(module)

    app = get_app(module, client, app_id)
    connected = bool(app.get("repository"))
    method = "StartJob RETRY" if connected else "StartDeployment"
    result = dict(changed=False, method=method, target=params["target"])  # type: Dict[str, Any]
    if serving:
        decision, history, branch = decide_serving(module, client, app_id, branch_name, result)
        result["branch_update_time"] = iso(branch.get("updateTime"))
    else:
        require_branch(module, client, app_id, branch_name)
        history = read_history(module, client, app_id, branch_name)
        decision = plan(module, history, params["job_id"], branch_name)
    target = decision.target
    if decision.action in ("start", "busy") and not connected and not target.get("sourceUrl"):
        remedy = (
            "upload the artifact again"
            if serving
            else "pass job_id of a job deployed from a sourceUrl, or upload the artifact again"
        )
        module.fail_json(
            msg="%s has no sourceUrl (it was deployed from an upload): Amplify cannot redeploy it "
            "for an app without a repository; %s" % (short(target), remedy),
            target_job=history.describe(target),
        )

    rollback_id = params["rollback_id"]
    if decision.job is not None and decision.action == "resume":
        rollback_id = history.info[decision.job["jobId"]]["rollback_id"] or rollback_id
    rollback_id = rollback_id or new_rollback_id()
    result.update(
        rollback_id=rollback_id,
        reason=decision.reason,
        from_job=history.describe(decision.head),
        target_job=history.describe(target),
        skipped_failed_rollbacks=[j["jobId"] for j in history.jobs if history.info[j["jobId"]]["failed_rollback"]],
    )
    if module._diff:
        result["diff"] = diff(decision, serving, result.get("branch_update_time"))

    if decision.action == "none":
        result.update(action="none", timings=dict(wait_seconds=0, total_seconds=seconds_since(started)))
        module.exit_json(**result)
    if module.check_mode:
        resumes = decision.action == "resume"
        result.update(
            changed=not resumes,
            action="resumed" if resumes else "would_start",
            job=history.describe(decision.job),
            timings=dict(wait_seconds=0, total_seconds=seconds_since(started)),
        )
        module.exit_json(**result)

    if decision.action == "start":
        known = set(j["jobId"] for j in history.jobs)
        if not connected:
            job = start_deployment(module, client, app_id, branch_name, target, known)
        elif serving:
            reason = "rebuild of job %s with the branch's current settings" % target["jobId"]
            job = start_retry(module, client, app_id, branch_name, target, marker(rollback_id, reason), known)
        else:
            note = "rebuild of job %s: %s" % (target["jobId"], target.get("commitMessage") or "")
            reason = marker(rollback_id, "rollback to job %s" % target["jobId"])
            job = start_retry(module, client, app_id, branch_name, target, reason, known, marker(rollback_id, note))
        result.update(changed=True, action="started")
    else:
        job = decision.job
        result.update(action="resumed")
    if not serving:
        history.info.setdefault(
            job["jobId"],
            dict(rebuild_of=target["jobId"], is_rollback=True, failed_rollback=False, rollback_id=rollback_id),
        )

    wait_started = time.monotonic()
    if params["wait"]:
        try:
            job, result["progress"] = wait_job(module, client, app_id, branch_name, job["jobId"])
        except WaitTimeout as e:
            result.update(job=describe_job(history, e.last, serving), progress=e.progress)
            module.fail_json(msg=str(e), **result)
    result["job"] = describe_job(history, job, serving)
    result["timings"] = dict(wait_seconds=seconds_since(wait_started), total_seconds=seconds_since(started))
    if job.get("status") in UNSUCCESSFUL_STATUSES:
        what = "rebuild" if serving else "rollback"
        module.fail_json(
            msg="The %s %s of branch %s ended %s; the branch still serves what it served "
            "before. See the job's logs in the Amplify console; a re-run starts a new %s"
            % (what, short(job), branch_name, job.get("status"), what),
            **result,
        )
    module.exit_json(**result)


def describe_job(history: JobHistory, job: Optional[Dict[str, Any]], serving: bool) -> Optional[Dict[str, Any]]:
    """The new or resumed job for the result; a serving rebuild is classified among the
    branch's jobs (it is a rollback only if what it rebuilds was one)."""
    if job is None or not serving:
        return history.describe(job)
    others = [j for j in history.jobs if j["jobId"] != job["jobId"]]
    return JobHistory(others + [job]).describe(job)


def diff(decision: Plan, serving: bool, branch_update_time: Optional[str]) -> Dict[str, Any]:
    if not serving:
        after = short(decision.head) if decision.action == "none" else "rebuild of " + short(decision.target)
        return dict(before=dict(newest_job=short(decision.head)), after=dict(newest_job=after))
    before = dict(
        serving_job=short(decision.head),
        built_with_settings_of=iso(decision.head.get("startTime")),
        branch_settings_changed=branch_update_time,
    )
    if decision.action == "none":
        return dict(before=before, after=dict(before))
    job = decision.job if decision.action == "resume" else None
    after = dict(
        serving_job="rebuild of %s" % short(decision.target) if job is None else short(job),
        built_with_settings_of=branch_update_time,
        branch_settings_changed=branch_update_time,
    )
    return dict(before=before, after=after)


def main() -> None:
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        branch_name=dict(type="str", required=True),
        target=dict(type="str", default="last_known_good", choices=list(TARGETS)),
        job_id=dict(type="str"),
        rollback_id=dict(type="str"),
        **wait_options(1800, 15),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
