# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amplify plumbing shared by the propie.rollback amplify_* modules.

- one client factory and small read helpers that turn NotFound into a clear message;
- job history: which jobs are rebuilds/rollbacks of older builds, which rollbacks failed,
  which job is the last known-good one, which build a branch serves (used by
  amplify_deployment and amplify_job_info);
- whether the serving build predates the branch's last configuration change (build-time
  settings such as environment variables are live only after a rebuild);
- sub-domain mappings and domain status waits (amplify_domain).

Amplify never returns a job's jobReason (ListJobs/GetJob summaries have no such field), so
a rollback started by amplify_deployment is recognised on a re-run by its shape: a RETRY
(or a MANUAL deployment) whose content (commitId, or sourceUrl for apps without a
repository) is an older build's while the branch had moved on to other content. The
rollback marker is also put into the job's commitMessage so that it can be read back
where Amplify keeps the given message.
"""

from __future__ import annotations

import datetime
import re
import time
import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.propie.rollback.plugins.module_utils.common import WaitTimeout
from ansible_collections.propie.rollback.plugins.module_utils.common import iso
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.common import marked_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_for

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List
    from typing import Optional

# Job statuses (botocore's JobStatus enum).
ACTIVE_STATUSES = ("CREATED", "PENDING", "PROVISIONING", "RUNNING", "CANCELLING")
# Jobs that are building or deploying now. A CREATED job (CreateDeployment waiting for an
# upload and a StartDeployment) runs nothing and does not block a new deployment.
RUNNING_STATUSES = ("PENDING", "PROVISIONING", "RUNNING", "CANCELLING")
UNSUCCESSFUL_STATUSES = ("FAILED", "CANCELLED")
# Job types that rebuild content Amplify already built (RETRY) or was given (MANUAL).
REBUILD_TYPES = ("RETRY", "MANUAL")
# ListJobs pages hold at most 50; a deployment decision reads at most this much history.
PAGE_SIZE = 50
MAX_HISTORY = 500

# Domain statuses: AVAILABLE is the settled one. FAILED never recovers by waiting, but it
# accepts an update (that is how a failed domain is fixed). Every other status is
# transitional (or waits for DNS) and refuses updates, so it is waited out.
DOMAIN_READY = "AVAILABLE"
DOMAIN_FAILED = "FAILED"
DOMAIN_UPDATABLE = (DOMAIN_READY, DOMAIN_FAILED)

# Amplify may touch a branch (its updateTime) when it starts a job on it; a branch updated
# this close after a job's start is taken as that bookkeeping, not a settings change. Build
# settings are read by the build step, which runs after provisioning, so a real change this
# close to the start is in that build anyway.
START_BOOKKEEPING_SECONDS = 1.0

_REBUILD_NOTE_RE = re.compile(r"rebuild of job ([0-9A-Za-z-]+)")


def change_result(module, diff_before, diff_after, **result) -> Dict[str, Any]:
    """A changing module's result: the fields given, the rollback id it only reports (doc
    fragment propie.rollback.amplify.report_rollback_id) and, in diff mode, the diff."""
    if module.params.get("rollback_id"):
        result["rollback_id"] = module.params["rollback_id"]
    if module._diff:
        result["diff"] = dict(before=diff_before, after=diff_after)
    return result


def amplify_client(module):
    return module.client("amplify", retry_decorator=aws_retry)


# ---------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------


def get_app(module, client, app_id: str) -> Dict[str, Any]:
    app = find_app(module, client, app_id)
    if app is None:
        module.fail_json(
            msg="Amplify app %r does not exist in region %s" % (app_id, module.region),
            app_id=app_id,
        )
    return app


def _found(module, call, key: str, what: str, **params) -> Optional[Dict[str, Any]]:
    """call(**params)[key], retried; None when Amplify answers NotFound, else the module fails."""
    try:
        return call(aws_retry=True, **params)[key]
    except is_boto3_error_code("NotFoundException"):
        return None
    except (
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
    ) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="Could not read %s" % what)


def get_branch(module, client, app_id: str, branch_name: str) -> Optional[Dict[str, Any]]:
    """The branch, or None if the app has no such branch."""
    return _found(module, client.get_branch, "branch", "branch %s of Amplify app %s" % (branch_name, app_id),
                  appId=app_id, branchName=branch_name)


def require_branch(module, client, app_id: str, branch_name: str) -> Dict[str, Any]:
    """The branch; fails clearly (after checking the app) when it does not exist."""
    branch = get_branch(module, client, app_id, branch_name)
    if branch is None:
        get_app(module, client, app_id)  # an unknown app fails here with its own message
        module.fail_json(
            msg="Amplify app %s has no branch %r" % (app_id, branch_name),
            app_id=app_id,
            branch_name=branch_name,
        )
    return branch


def list_jobs(
    module, client, app_id: str, branch_name: str, limit: Optional[int] = None, until=None
) -> List[Dict[str, Any]]:
    """Job summaries, newest first, paging with nextToken.

    Stops after `limit` jobs, or once `until(jobs)` is true (so a caller looking for one
    job does not read a long history).
    """
    jobs = []  # type: List[Dict[str, Any]]
    token = None
    while True:
        params = dict(appId=app_id, branchName=branch_name, maxResults=PAGE_SIZE)
        if token:
            params["nextToken"] = token
        try:
            page = client.list_jobs(aws_retry=True, **params)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Could not list jobs of branch %s of Amplify app %s" % (branch_name, app_id))
        jobs.extend(page.get("jobSummaries", []))
        token = page.get("nextToken")
        if not token or (limit and len(jobs) >= limit) or (until is not None and until(jobs)):
            break
    jobs.sort(key=job_order, reverse=True)
    return jobs[:limit] if limit else jobs


def get_job(module, client, app_id: str, branch_name: str, job_id: str) -> Dict[str, Any]:
    try:
        return client.get_job(appId=app_id, branchName=branch_name, jobId=job_id, aws_retry=True)["job"]
    except is_boto3_error_code("NotFoundException"):
        module.fail_json(msg="Job %s of branch %s of Amplify app %s does not exist" % (job_id, branch_name, app_id))
    except (
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
    ) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="Could not read job %s of branch %s" % (job_id, branch_name))


def get_domain(module, client, app_id: str, domain_name: str) -> Dict[str, Any]:
    domain = find_domain(module, client, app_id, domain_name)
    if domain is None:
        get_app(module, client, app_id)  # a missing app is the clearer message
        known = list_domain_names(module, client, app_id)
        module.fail_json(
            msg="Amplify app %s has no domain association %r; its domains: %s. Fix the domain name (for the "
            "playbooks: rollback_amplify_domain in the inventory); nothing was changed"
            % (app_id, domain_name, ", ".join(known) if known else "none"),
            app_id=app_id,
            domain_name=domain_name,
            domains_of_app=known,
        )
    return domain


# ---------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------


def job_order(job: Dict[str, Any]):
    """Sort key: Amplify job ids are increasing integers; start time breaks other ties."""
    job_id = str(job.get("jobId", ""))
    start = job.get("startTime")
    if isinstance(start, datetime.datetime):
        start = start.timestamp()
    return (int(job_id) if job_id.isdigit() else -1, start or 0)


def content_key(job: Dict[str, Any]):
    """What a job deployed: its source URL for deployments, else its commit.

    A MANUAL job without a sourceUrl deployed an upload (CreateDeployment); uploads all
    carry the commit id "HEAD", so each one counts as content of its own.
    """
    if job.get("sourceUrl"):
        return ("source", job["sourceUrl"])
    if job.get("jobType") == "MANUAL":
        return ("upload", job.get("jobId"))
    return ("commit", job.get("commitId"))


def job_marker_id(job: Dict[str, Any]) -> Optional[str]:
    return marked_rollback_id(job.get("commitMessage")) or marked_rollback_id(job.get("jobReason"))


class JobHistory:
    """A branch's jobs, classified for rollback decisions.

    Definitions (documented in amplify_deployment):
    - a *rebuild* is a RETRY or MANUAL job whose content an older job already had, or a
      job carrying a rollback marker; it rebuilt the newest older original with that content
      (or the job its marker names);
    - a *rollback* is a rebuild of content other than what the branch had just before it
      (plain retries of the newest build are not rollbacks), or any marked job;
    - a *failed rollback* is a rollback that FAILED or was CANCELLED. It is never a target
      and never the baseline ("the newest job"): it changed nothing that is served.
    """

    def __init__(self, jobs: List[Dict[str, Any]]):
        self.jobs = sorted(jobs, key=job_order, reverse=True)  # newest first
        self.info = {}  # type: Dict[str, Dict[str, Any]]
        originals = {}  # content key -> id of the newest original job with it
        current = None  # content key of the newest job that was not a failed rollback
        current_info = {}  # type: Dict[str, Any]
        for job in reversed(self.jobs):
            key = content_key(job)
            rid = job_marker_id(job)
            named = _REBUILD_NOTE_RE.search(job.get("commitMessage") or "")
            rebuild_of = named.group(1) if (rid and named) else None
            is_rebuild = bool(rid) or (job.get("jobType") in REBUILD_TYPES and key in originals)
            if is_rebuild and rebuild_of is None:
                rebuild_of = originals.get(key)
            is_rollback = bool(rid) or (is_rebuild and key != current)
            if is_rebuild and not rid and key == current and current_info.get("is_rollback"):
                # A plain rebuild of a rollback (to apply changed branch settings, say) still
                # serves the rolled-back content: it stays a rollback of the same job.
                is_rollback, rebuild_of = True, current_info.get("rebuild_of") or rebuild_of
            failed_rollback = is_rollback and job.get("status") in UNSUCCESSFUL_STATUSES
            info = dict(
                rebuild_of=rebuild_of if is_rebuild else None,
                is_rollback=is_rollback,
                failed_rollback=failed_rollback,
                rollback_id=rid,
            )
            self.info[job["jobId"]] = info
            if not is_rebuild:
                originals[key] = job["jobId"]
            if not failed_rollback:
                current, current_info = key, info

    def find(self, job_id: str) -> Optional[Dict[str, Any]]:
        for job in self.jobs:
            if job["jobId"] == str(job_id):
                return job
        return None

    def effective(self) -> List[Dict[str, Any]]:
        """Newest first, without failed rollbacks."""
        return [j for j in self.jobs if not self.info[j["jobId"]]["failed_rollback"]]

    def head(self) -> Optional[Dict[str, Any]]:
        jobs = self.effective()
        return jobs[0] if jobs else None

    def last_good_before(self, job: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The newest SUCCEED job older than `job`, skipping failed rollbacks.

        When `job` succeeded, older builds of the same content are skipped too: they serve
        what `job` serves (`job` is a rebuild of them), so they are no way back.
        """
        older = job_order(job)
        served = content_key(job) if job.get("status") == "SUCCEED" else None
        for candidate in self.effective():
            if job_order(candidate) < older and candidate.get("status") == "SUCCEED":
                if content_key(candidate) != served:
                    return candidate
        return None

    def serving(self) -> Optional[Dict[str, Any]]:
        """The build the branch serves: its newest SUCCEED job."""
        return next((j for j in self.jobs if j.get("status") == "SUCCEED"), None)

    def running(self) -> List[Dict[str, Any]]:
        """Jobs building or deploying now, newest first."""
        return [j for j in self.jobs if j.get("status") in RUNNING_STATUSES]

    def describe(self, job: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        """A job summary for results: snake_case keys, ISO times, rollback classification."""
        if job is None:
            return None
        out = {
            "job_id": job.get("jobId"),
            "job_arn": job.get("jobArn"),
            "status": job.get("status"),
            "job_type": job.get("jobType"),
            "commit_id": job.get("commitId"),
            "commit_message": job.get("commitMessage"),
            "commit_time": iso(job.get("commitTime")),
            "start_time": iso(job.get("startTime")),
            "end_time": iso(job.get("endTime")),
            "source_url": job.get("sourceUrl"),
            "source_url_type": job.get("sourceUrlType"),
        }
        out.update(self.info.get(job.get("jobId"), {}))
        return out


def as_datetime(value) -> Optional[datetime.datetime]:
    """A botocore timestamp (datetime, or epoch seconds) as an aware UTC datetime."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    return None


def started_after(job: Dict[str, Any], moment) -> bool:
    """Whether `job` started after `moment` (a branch's updateTime), so that it built with
    the settings the branch had then. START_BOOKKEEPING_SECONDS absorbs Amplify touching
    the branch as it starts the job."""
    start, changed = as_datetime(job.get("startTime")), as_datetime(moment)
    if start is None or changed is None:
        return False  # unknown: assume stale, a rebuild is the safe side
    return (changed - start).total_seconds() <= START_BOOKKEEPING_SECONDS


def seconds_since(start: float) -> float:
    """Seconds since a time.monotonic() reading, for result timings."""
    return round(time.monotonic() - start, 2)


def short(job: Optional[Dict[str, Any]]) -> str:
    """'job 6 (FAILED, RELEASE of 1a2b3c4)' for messages."""
    if job is None:
        return "no job"
    what = job.get("sourceUrl") or (job.get("commitId") or "")[:12]
    return "job %s (%s, %s of %s)" % (job.get("jobId"), job.get("status"), job.get("jobType"), what)


# ---------------------------------------------------------------------------
# The last known-good decision (amplify_deployment target=last_known_good, rollback_plan)
# ---------------------------------------------------------------------------


class PlanError(Exception):
    """A rollback that cannot be planned: `msg` says why, `extra` are result keys for fail_json."""

    def __init__(self, msg: str, **extra):
        super(PlanError, self).__init__(msg)
        self.msg = msg
        self.extra = extra


class Plan:
    """What to do: start a rebuild of `target`, resume `job`, nothing, or (serving only)
    wait for `job`, a build that predates the branch's last change, and plan again."""

    def __init__(self, action: str, reason: str, head, target, job=None):
        self.action = action  # start | resume | none | busy
        self.reason = reason
        self.head = head
        self.target = target
        self.job = job


def plan_last_known_good(history: JobHistory, job_id: Optional[str], branch_name: str) -> Plan:
    """target=last_known_good: decide from the job history alone (no AWS calls); raises
    PlanError on bad input or when there is nothing safe to do."""
    head = history.head()
    if head is None:
        raise PlanError("Branch %s has no jobs (other than failed rollbacks): nothing to roll back to" % branch_name)
    head_info = history.info[head["jobId"]]

    if job_id:
        target = history.find(job_id)
        if target is None:
            raise PlanError("Branch %s has no job %s (newest job: %s)" % (branch_name, job_id, short(head)))
        if target.get("status") != "SUCCEED":
            raise PlanError("%s is not a successful build; choose a SUCCEED job" % short(target))
    elif head_info["is_rollback"] and head.get("status") not in UNSUCCESSFUL_STATUSES:
        # A rollback (ours, or someone's) is the newest job: it is the one to finish.
        target = history.find(head_info["rebuild_of"] or "") or head
    else:
        target = history.last_good_before(head)
        if target is None:
            raise PlanError(
                "Branch %s has no successful job older than its newest, %s: there is no "
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
        raise PlanError(
            "%s is in progress on branch %s; wait for it or stop it before rolling back "
            "(a new job would queue behind it)" % (short(head), branch_name),
            from_job=history.describe(head),
        )
    return Plan(
        "start", "%s is the newest job; %s is the last known-good build" % (short(head), short(target)), head, target
    )


def history_decides(jobs: List[Dict[str, Any]], job_id: Optional[str] = None) -> bool:
    """Whether a newest-first prefix of a branch's jobs is enough for plan_last_known_good
    (so that ListJobs can stop paging): a decision can be made from it, and every rebuild
    type job in it (RETRY, MANUAL deployment of a source URL) has its original among them,
    so that older pages cannot change how the jobs read are classified."""
    history = JobHistory(jobs)
    for job in history.jobs:
        uploaded = job.get("jobType") == "MANUAL" and not job.get("sourceUrl")
        if job.get("jobType") in REBUILD_TYPES and not uploaded and not history.info[job["jobId"]]["rebuild_of"]:
            return False
    try:
        plan_last_known_good(history, job_id, "the branch")
    except PlanError:
        return False
    return True


# ---------------------------------------------------------------------------
# Domains
# ---------------------------------------------------------------------------


def sub_domain_mapping(domain: Dict[str, Any]) -> Dict[str, str]:
    """{prefix: branchName} of a domain association ('' is the apex)."""
    mapping = {}
    for sub in domain.get("subDomains", []):
        setting = sub.get("subDomainSetting", {})
        mapping[setting.get("prefix", "")] = setting.get("branchName")
    return mapping


def fqdn(prefix: str, domain_name: str) -> str:
    return "%s.%s" % (prefix, domain_name) if prefix else domain_name


def wait_domain_settled(
    module, client, app_id: str, domain_name: str, timeout: int, delay: int, what: str, accept_failed: bool = False
):
    """Poll until the domain is AVAILABLE (or FAILED, if `accept_failed`); return
    (domain, progress). Fails on FAILED otherwise, and on timeout."""

    def done(status):
        if status == DOMAIN_FAILED and not accept_failed:
            raise _DomainFailed(status)
        return status in (DOMAIN_UPDATABLE if accept_failed else (DOMAIN_READY,))

    try:
        return wait_for(
            lambda: get_domain(module, client, app_id, domain_name),
            lambda d: d.get("domainStatus"),
            done,
            timeout,
            delay,
            what,
            log=module.log,
        )
    except _DomainFailed:
        domain = get_domain(module, client, app_id, domain_name)
        module.fail_json(
            msg="Domain %s of Amplify app %s is FAILED (%s) while waiting for %s; see the domain "
            "in the Amplify console" % (domain_name, app_id, domain.get("statusReason") or "no reason given", what),
            domain_status=domain.get("domainStatus"),
        )
    except WaitTimeout as e:
        module.fail_json(
            msg="%s: %s" % (what, e),
            domain_status=(e.last or {}).get("domainStatus"),
            progress=e.progress,
        )


class _DomainFailed(Exception):
    pass


# ---------------------------------------------------------------------------
# Lookups that report a missing resource instead of failing (the *_info modules)
# ---------------------------------------------------------------------------


def find_app(module, client, app_id: str) -> Optional[Dict[str, Any]]:
    """The app, or None if there is no such app in the region."""
    return _found(module, client.get_app, "app", "Amplify app %s" % app_id, appId=app_id)


def find_domain(module, client, app_id: str, domain_name: str) -> Optional[Dict[str, Any]]:
    """The domain association, or None if the app (or the app's domain) does not exist."""
    return _found(module, client.get_domain_association, "domainAssociation",
                  "domain %s of Amplify app %s" % (domain_name, app_id), appId=app_id, domainName=domain_name)


def _list_all(module, call, key: str, what: str, page_size: int) -> List[Dict[str, Any]]:
    items = []  # type: List[Dict[str, Any]]
    token = None
    while True:
        params = dict(maxResults=page_size)
        if token:
            params["nextToken"] = token
        try:
            page = call(aws_retry=True, **params)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Could not list %s" % what)
        items.extend(page.get(key, []))
        token = page.get("nextToken")
        if not token:
            return items


def list_app_names(module, client) -> List[str]:
    """'appId (name)' of every app in the region, for messages about a missing app."""
    apps = _list_all(module, client.list_apps, "apps", "the Amplify apps of region %s" % module.region, 100)
    return sorted("%s (%s)" % (a.get("appId"), a.get("name")) for a in apps)


def list_branch_names(module, client, app_id: str) -> List[str]:
    """The app's branch names, for messages about a missing branch."""

    def call(**params):
        return client.list_branches(appId=app_id, **params)

    return sorted(b.get("branchName") for b in _list_all(module, call, "branches", "the branches of Amplify app %s" % app_id, 50))


def list_domain_names(module, client, app_id: str) -> List[str]:
    """The app's custom domains, for messages about a missing domain."""

    def call(**params):
        return client.list_domain_associations(appId=app_id, **params)

    domains = _list_all(module, call, "domainAssociations", "the domain associations of Amplify app %s" % app_id, 50)
    return sorted(d.get("domainName") for d in domains)


def missing_app_message(module, client, app_id: str) -> str:
    apps = list_app_names(module, client)
    return "Amplify app %r does not exist in region %s (apps there: %s)" % (
        app_id,
        module.region,
        ", ".join(apps) if apps else "none",
    )


# ---------------------------------------------------------------------------
# Serving health: is what a branch serves a successful build?
# ---------------------------------------------------------------------------

# The verdicts of serving_health().
HEALTH_GOOD = "good"
HEALTH_UNKNOWN = "unknown"
HEALTH_NONE = "none"
# The step that puts a build live. A job that failed or was stopped once this step had
# started may have left the branch between two builds; one that ended before it changed
# nothing that is served (Amplify keeps serving the last successful build).
DEPLOY_STEP = "DEPLOY"
# Step statuses of a step that has not begun (steps share the JobStatus enum).
STEP_NOT_STARTED = ("CREATED", "PENDING", "PROVISIONING")
# Job statuses whose steps decide the health: running now, or ended without success.
STEPS_MATTER = ("RUNNING", "CANCELLING") + UNSUCCESSFUL_STATUSES


def health_jobs(history: JobHistory) -> List[Dict[str, Any]]:
    """The jobs whose steps (GetJob) serving_health() needs, newest first.

    Those newer than the serving build that are running (RUNNING, CANCELLING) or ended
    without success (FAILED, CANCELLED). A branch that serves nothing needs only its
    running ones: a failed job cannot make it serve a good build. PENDING and PROVISIONING
    jobs deploy nothing yet.
    """
    serving = history.serving()
    if serving is None:
        return [j for j in history.jobs if j.get("status") in ("RUNNING", "CANCELLING")]
    newer = [j for j in history.jobs if job_order(j) > job_order(serving)]
    return [j for j in newer if j.get("status") in STEPS_MATTER]


def deploy_step(steps: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The job's DEPLOY step if it has begun (whatever its status now), else None."""
    return next(
        (s for s in steps or [] if s.get("stepName") == DEPLOY_STEP and s.get("status") not in STEP_NOT_STARTED),
        None,
    )


def _ended_in(steps: List[Dict[str, Any]]) -> str:
    """Where a job ended or is now: 'in its BUILD step', or 'before any step'."""
    started = [s for s in steps or [] if s.get("status") not in STEP_NOT_STARTED]
    if not started:
        return "before any step"
    last = next((s for s in started if s.get("status") != "SUCCEED"), started[-1])
    return "in its %s step" % last.get("stepName")


def _job_words(history: JobHistory, job: Dict[str, Any]) -> str:
    """'job 4 (a failed rollback of job 2)' or 'job 4'."""
    info = history.info.get(job.get("jobId"), {})
    if info.get("failed_rollback"):
        of = " of job %s" % info["rebuild_of"] if info.get("rebuild_of") else ""
        return "job %s (a failed rollback%s)" % (job.get("jobId"), of)
    return "job %s" % job.get("jobId")


def serving_health(
    history: JobHistory, steps: Dict[str, List[Dict[str, Any]]], branch_name: str = "the branch"
) -> Dict[str, Any]:
    """Whether what a branch serves is a good (SUCCEED) build.

    `steps` maps the job ids of health_jobs(history) to their GetJob steps; a job missing
    from it is taken as deploying (running) or as having failed in DEPLOY (ended). Returns {health, reason, job_id}:

    - unknown: a job is in (or past) its DEPLOY step now; what is served changes as it ends;
    - none: no job ever SUCCEED, so the branch serves no successful build;
    - unknown: a job newer than the serving build FAILED or was CANCELLED in or after its
      DEPLOY step, which may have left the branch between two builds;
    - good: the branch serves its newest SUCCEED job, and every newer job ended (or is)
      before its DEPLOY step.

    `job_id` is the job the verdict rests on: the deploying or broken job for unknown, the
    serving job for good, None for none.
    """
    serving = history.serving()
    newest = history.jobs[0] if history.jobs else None
    deploying, broken, harmless = [], [], []
    for job in health_jobs(history):
        job_steps = steps.get(job.get("jobId"))
        step = deploy_step(job_steps) if job_steps is not None else None
        if job_steps is not None and step is None:
            harmless.append((job, job_steps))
        elif job.get("status") in RUNNING_STATUSES:
            deploying.append((job, job_steps))
        else:
            broken.append((job, job_steps))

    if deploying:
        job, job_steps = deploying[-1]  # the oldest running job deploys first
        where = _ended_in(job_steps) if job_steps is not None else "and its steps could not be read"
        served = ("; before it the branch served %s" % short(serving)) if serving else ""
        return dict(
            health=HEALTH_UNKNOWN,
            job_id=job.get("jobId"),
            reason="Branch %s is changing what it serves: %s is %s %s now%s."
            % (branch_name, _job_words(history, job), job.get("status"), where, served),
        )
    if serving is None:
        if newest is None:
            what = "it has no jobs"
        else:
            what = "none of its %d job(s) SUCCEED (newest: %s)" % (len(history.jobs), short(newest))
        return dict(health=HEALTH_NONE, job_id=None, reason="Branch %s serves no successful build: %s." % (branch_name, what))
    if broken:
        job, job_steps = broken[-1]  # the oldest: the first to have touched what is served
        how = _ended_in(job_steps) if job_steps is not None else "and its steps could not be read"
        return dict(
            health=HEALTH_UNKNOWN,
            job_id=job.get("jobId"),
            reason="Branch %s may not serve %s intact: newer %s ended %s %s, which can leave the branch between two builds."
            % (branch_name, short(serving), _job_words(history, job), job.get("status"), how),
        )

    ended = dict((j.get("jobId"), s) for j, s in harmless)
    parts = []
    for job in reversed([j for j in history.jobs if job_order(j) > job_order(serving)]):  # oldest first
        words = _job_words(history, job)
        verb = "" if job.get("status") in UNSUCCESSFUL_STATUSES else "is "
        where = (" " + _ended_in(ended[job.get("jobId")])) if job.get("jobId") in ended else ""
        parts.append("%s %s%s%s" % (words, verb, job.get("status"), where))
    tail = ("; the newer job(s) have not reached their DEPLOY step: %s" % ", ".join(parts)) if parts else ", its newest job"
    return dict(
        health=HEALTH_GOOD,
        job_id=serving.get("jobId"),
        reason="Branch %s serves %s%s." % (branch_name, short(serving), tail),
    )
