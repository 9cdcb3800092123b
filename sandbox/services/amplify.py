"""AWS Amplify (Hosting) emulation: apps, branches, jobs, manual deployments, domains, tags.

moto has no Amplify, so the sandbox owns the service. Behaviour follows the Amplify API
reference and AWS's observed errors:
- StartJob RELEASE builds the branch head and needs a connected repository; RETRY rebuilds
  the commit of an existing job (jobId required); MANUAL/WEB_HOOK are refused ("The requested
  jobType MANUAL does not support."), manual apps deploy via CreateDeployment/StartDeployment.
- Jobs of a repository app queue per branch (a job stays PENDING until the branch's earlier
  jobs end); manual apps refuse a new deployment while the last one is unfinished.
- CreateDeployment/StartDeployment are refused for apps connected to a repository
  ("Operation not supported. App is already connected a repository.").
- UpdateDomainAssociation replaces the whole sub-domain list (omitted prefixes are removed)
  and is refused while the domain is not AVAILABLE/FAILED; a sub-domain cannot point to a
  missing branch.
Job and domain statuses are derived on read from start times and the sandbox time scale.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sandbox import protocol
from sandbox.api import Call, Sandbox, ServiceError
from sandbox.state import BadControlRequest

SERVICE = "amplify"
JOB_PHASES = ("PENDING", "PROVISIONING", "RUNNING", "CANCELLING")
DEFAULT_JOB_DURATIONS = {"PENDING": 2.0, "PROVISIONING": 10.0, "RUNNING": 60.0, "CANCELLING": 3.0}
DEFAULT_DOMAIN_SECONDS = 30.0
FINAL_JOB_STATUSES = ("SUCCEED", "FAILED", "CANCELLED")
ACTIVE_JOB_STATUSES = ("PENDING", "PROVISIONING", "RUNNING", "CANCELLING")
# CreateDeployment -> StartDeployment must happen within 8 hours (API reference).
DEPLOYMENT_TTL_SECONDS = 8 * 3600
# Default service quotas (Amplify Hosting quotas page).
MAX_APPS_PER_REGION = 25
MAX_BRANCHES_PER_APP = 50
MAX_DOMAINS_PER_APP = 5
# Share of the RUNNING phase spent in the BUILD step; the rest is DEPLOY.
BUILD_SHARE = 0.75
UPDATABLE_DOMAIN_STATUSES = ("AVAILABLE", "FAILED")

STATUS_BY_CODE = {"BadRequestException": 400, "NotFoundException": 404,
                  "ResourceNotFoundException": 404, "LimitExceededException": 429}


def deterministic_app_id(name: str) -> str:
    """The app id the sandbox gives the first app of this name in a region."""
    return "d" + base64.b32encode(hashlib.sha256(name.encode()).digest()).decode().lower()[:13]


def _random_app_id() -> str:
    return "d" + base64.b32encode(secrets.token_bytes(16)).decode().lower()[:13]


def _fake_sha(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode()).hexdigest()


def _error(code: str, message: str) -> ServiceError:
    return ServiceError(code, message, STATUS_BY_CODE.get(code, 400))


def _missing(call: Call, message: str) -> ServiceError:
    """'Not found' in the exception the operation's model declares (some declare none)."""
    errors = {s.name for s in protocol.service_model(SERVICE).operation_model(call.operation)
              .error_shapes}
    return _error("NotFoundException" if "NotFoundException" in errors else "BadRequestException",
                  message)


def _output_members(shape: str) -> frozenset[str]:
    return frozenset(protocol.service_model(SERVICE).shape_for(shape).members)


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------

@dataclass
class Job:
    job_id: int
    job_type: str
    commit_id: str
    commit_message: str
    commit_time: dt.datetime
    start: dt.datetime
    durations: dict[str, float]
    outcome: str = "SUCCEED"
    reason: str | None = None
    source_url: str | None = None
    source_url_type: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    manual: bool = False              # a deployment (no build step)
    awaiting_start: bool = False      # made by CreateDeployment, not yet started
    stop_at: dt.datetime | None = None
    fixed_status: str | None = None   # seeded history: final status and end time
    fixed_end: dt.datetime | None = None


@dataclass
class JobView:
    """A job's state at one moment, derived from its timeline."""

    status: str
    start: dt.datetime
    end: dt.datetime | None
    steps: list[dict[str, Any]]


@dataclass
class Branch:
    name: str
    arn: str
    created: dt.datetime
    updated: dt.datetime
    settings: dict[str, Any]
    tags: dict[str, str]
    head: tuple[str, str, dt.datetime]
    jobs: list[Job] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    def job(self, job_id: Any) -> Job | None:
        for job in self.jobs:
            if str(job.job_id) == str(job_id):
                return job
        return None


@dataclass
class Domain:
    name: str
    arn: str
    settings: list[tuple[str, str]]
    previous: list[tuple[str, str]]   # settings verified before the current change
    options: dict[str, Any]
    transition: str                    # CREATING or UPDATING while it settles
    changed_at: dt.datetime
    settle_seconds: float
    hold: tuple[str, dt.datetime, float | None] | None = None


@dataclass
class App:
    app_id: str
    arn: str
    region: str
    name: str
    created: dt.datetime
    updated: dt.datetime
    repository: str
    settings: dict[str, Any]
    tags: dict[str, str]
    branches: dict[str, Branch] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)


APP_DEFAULTS: dict[str, Any] = {
    "description": "", "platform": "WEB", "environmentVariables": {},
    "enableBranchAutoBuild": False, "enableBranchAutoDeletion": False, "enableBasicAuth": False,
    "customRules": [], "enableAutoBranchCreation": False,
    "cacheConfig": {"type": "AMPLIFY_MANAGED"}, "jobConfig": {"buildComputeType": "STANDARD_8GB"},
}
BRANCH_DEFAULTS: dict[str, Any] = {
    "description": "", "stage": "NONE", "enableNotification": False, "environmentVariables": {},
    "enableAutoBuild": True, "framework": "", "enableBasicAuth": False,
    "enablePerformanceMode": False, "ttl": "5", "enablePullRequestPreview": False,
    "enableSkewProtection": False,
}
# Request fields never echoed back (secrets, ids, things kept elsewhere).
HIDDEN_INPUTS = frozenset({"appId", "branchName", "name", "oauthToken", "accessToken", "tags",
                           "repository"})


class Amplify:
    """The emulated service; one instance per sandbox, guarded by one lock."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.clock = sandbox.clock
        self.lock = threading.RLock()
        self.apps: dict[tuple[str, str], App] = {}
        self.job_durations = dict(DEFAULT_JOB_DURATIONS)
        self.domain_seconds = DEFAULT_DOMAIN_SECONDS

    def reset(self) -> None:
        with self.lock:
            self.apps.clear()
            self.job_durations = dict(DEFAULT_JOB_DURATIONS)
            self.domain_seconds = DEFAULT_DOMAIN_SECONDS

    # -- lookups ---------------------------------------------------------------
    def _app(self, call: Call) -> App:
        app_id = call.params.get("appId", "")
        app = self.apps.get((call.region, app_id))
        if app is None:
            raise _missing(call, f"App {app_id} not found.")
        return app

    def _branch(self, call: Call, app: App | None = None) -> tuple[App, Branch]:
        app = app or self._app(call)
        name = call.params.get("branchName", "")
        branch = app.branches.get(name)
        if branch is None:
            raise _missing(call, f"Branch {name} not found for app {app.app_id}.")
        return app, branch

    def _job(self, call: Call, branch: Branch, job_id: Any) -> Job:
        job = branch.job(job_id)
        if job is None:
            raise _missing(call, f"Job {job_id} not found for branch {branch.name}.")
        return job

    # -- apps ------------------------------------------------------------------
    def create_app(self, call: Call) -> dict[str, Any]:
        p = call.params
        repository = p.get("repository") or ""
        if repository:
            _check_repository_auth(p)
        now = self.clock.now()
        region_apps = [a for (r, _unused), a in self.apps.items() if r == call.region]
        if len(region_apps) >= MAX_APPS_PER_REGION:
            raise _error("LimitExceededException",
                         f"The number of apps in {call.region} would exceed the limit of "
                         f"{MAX_APPS_PER_REGION}.")
        app_id = deterministic_app_id(p["name"])
        while (call.region, app_id) in self.apps:  # a second app of the same name
            app_id = _random_app_id()
        settings = {**APP_DEFAULTS, **_inputs(p)}
        if repository:
            settings["repositoryCloneMethod"] = _clone_method(repository, p)
        app = App(app_id, f"arn:aws:amplify:{call.region}:{call.account_id}:apps/{app_id}",
                  call.region, p["name"], now, now, repository, settings, dict(p.get("tags", {})))
        self.apps[(call.region, app_id)] = app
        return {"app": self._app_out(app)}

    def get_app(self, call: Call) -> dict[str, Any]:
        return {"app": self._app_out(self._app(call))}

    def list_apps(self, call: Call) -> dict[str, Any]:
        apps = [a for (r, _unused), a in self.apps.items() if r == call.region]
        page, token = _paginate(apps, call.params, lambda a: a.app_id, 100)
        return {"apps": [self._app_out(a) for a in page], **token}

    def update_app(self, call: Call) -> dict[str, Any]:
        app = self._app(call)
        p = call.params
        if p.get("repository"):
            _check_repository_auth(p)
            app.repository = p["repository"]
            app.settings["repositoryCloneMethod"] = _clone_method(app.repository, p)
        if p.get("name"):
            app.name = p["name"]
        app.settings.update(_inputs(p))
        app.updated = self.clock.now()
        return {"app": self._app_out(app)}

    def delete_app(self, call: Call) -> dict[str, Any]:
        app = self._app(call)
        out = self._app_out(app)
        del self.apps[(app.region, app.app_id)]
        return {"app": out}

    def _app_out(self, app: App) -> dict[str, Any]:
        out = {**app.settings, "appId": app.app_id, "appArn": app.arn, "name": app.name,
               "repository": app.repository, "createTime": app.created,
               "updateTime": app.updated, "defaultDomain": f"{app.app_id}.amplifyapp.com",
               "tags": dict(app.tags)}
        production = next((b for b in app.branches.values()
                           if b.settings.get("stage") == "PRODUCTION"), None)
        if production is not None:
            out["productionBranch"] = self._production_branch(production)
        return _only(out, "App")

    def _production_branch(self, branch: Branch) -> dict[str, Any]:
        views = self._timeline(branch)
        info: dict[str, Any] = {"branchName": branch.name}
        if branch.jobs:
            info["status"] = views[branch.jobs[-1].job_id].status
        deployed = self._deployed(branch, views)
        if deployed is not None:
            info["lastDeployTime"] = views[deployed.job_id].end
        return info

    # -- branches --------------------------------------------------------------
    def create_branch(self, call: Call) -> dict[str, Any]:
        app = self._app(call)
        p = call.params
        name = p["branchName"]
        if name in app.branches:
            raise _error("BadRequestException",
                         f"Branch {name} already exists for app {app.app_id}.")
        if len(app.branches) >= MAX_BRANCHES_PER_APP:
            raise _error("LimitExceededException",
                         f"App {app.app_id} already has the maximum of {MAX_BRANCHES_PER_APP} "
                         "branches.")
        now = self.clock.now()
        settings = {**BRANCH_DEFAULTS, "displayName": name.replace("/", "-"), **_inputs(p)}
        head = (_fake_sha(app.app_id, name, "initial"), f"Initial commit of {name}", now)
        branch = Branch(name, f"{app.arn}/branches/{name}", now, now, settings,
                        dict(p.get("tags", {})), head)
        app.branches[name] = branch
        return {"branch": self._branch_out(app, branch)}

    def get_branch(self, call: Call) -> dict[str, Any]:
        app, branch = self._branch(call)
        return {"branch": self._branch_out(app, branch)}

    def list_branches(self, call: Call) -> dict[str, Any]:
        app = self._app(call)
        page, token = _paginate(list(app.branches.values()), call.params, lambda b: b.name, 50)
        return {"branches": [self._branch_out(app, b) for b in page], **token}

    def update_branch(self, call: Call) -> dict[str, Any]:
        app, branch = self._branch(call)
        # Every given field replaces the stored one; environmentVariables is replaced as a
        # whole map (keys left out are removed), as AWS does.
        branch.settings.update(_inputs(call.params))
        branch.updated = self.clock.now()
        return {"branch": self._branch_out(app, branch)}

    def delete_branch(self, call: Call) -> dict[str, Any]:
        app, branch = self._branch(call)
        out = self._branch_out(app, branch)
        del app.branches[branch.name]
        return {"branch": out}

    def _branch_out(self, app: App, branch: Branch) -> dict[str, Any]:
        domains = [_fqdn(prefix, d.name) for d in app.domains.values()
                   for prefix, target in d.settings if target == branch.name]
        out = {**branch.settings, "branchArn": branch.arn, "branchName": branch.name,
               "createTime": branch.created, "updateTime": branch.updated,
               "customDomains": domains, "tags": dict(branch.tags),
               "activeJobId": str(branch.jobs[-1].job_id) if branch.jobs else "0",
               "totalNumberOfJobs": str(len(branch.jobs))}
        return _only(out, "Branch")

    # -- jobs ------------------------------------------------------------------
    def start_job(self, call: Call) -> dict[str, Any]:
        app, branch = self._branch(call)
        p = call.params
        job_type = p["jobType"]
        if job_type == "MANUAL":
            raise _error("BadRequestException",
                         "The requested jobType MANUAL does not support. Apps without a "
                         "repository are deployed with CreateDeployment and StartDeployment "
                         "(jobId from CreateDeployment, or a sourceUrl).")
        if job_type == "WEB_HOOK":
            raise _error("BadRequestException",
                         "The requested jobType WEB_HOOK does not support. WEB_HOOK jobs are "
                         "started by the repository's webhook; use RELEASE or RETRY.")
        views = self._timeline(branch)
        if job_type == "RELEASE":
            if not app.repository:
                raise _error("BadRequestException",
                             f"The requested jobType RELEASE is only available for apps "
                             f"connected to a repository; app {app.app_id} is deployed "
                             "manually: use CreateDeployment and StartDeployment.")
            commit = branch.head
            source: tuple[str | None, str | None] = (None, None)
        else:  # RETRY
            if not p.get("jobId"):
                raise _error("BadRequestException", "jobId is required when jobType is RETRY.")
            old = self._job(call, branch, p["jobId"])
            if views[old.job_id].status == "CREATED":
                raise _error("BadRequestException",
                             f"Job {old.job_id} was never started and cannot be retried.")
            commit = (old.commit_id, old.commit_message, old.commit_time)
            source = (old.source_url, old.source_url_type)
        if not app.repository:
            self._refuse_if_busy(branch, views)
        job = self._new_job(app, branch, job_type, commit, reason=p.get("jobReason"),
                            manual=not app.repository, source=source)
        return {"jobSummary": self._summary(app, branch, job)}

    def get_job(self, call: Call) -> dict[str, Any]:
        app, branch = self._branch(call)
        job = self._job(call, branch, call.params["jobId"])
        view = self._timeline(branch)[job.job_id]
        return {"job": {"summary": self._summary(app, branch, job, view), "steps": view.steps}}

    def list_jobs(self, call: Call) -> dict[str, Any]:
        app, branch = self._branch(call)
        views = self._timeline(branch)
        newest_first = sorted(branch.jobs, key=lambda j: j.job_id, reverse=True)
        page, token = _paginate(newest_first, call.params, lambda j: str(j.job_id), 50)
        return {"jobSummaries": [self._summary(app, branch, j, views[j.job_id]) for j in page],
                **token}

    def stop_job(self, call: Call) -> dict[str, Any]:
        app, branch = self._branch(call)
        job = self._job(call, branch, call.params["jobId"])
        status = self._timeline(branch)[job.job_id].status
        if status in FINAL_JOB_STATUSES:
            raise _error("BadRequestException",
                         f"Job {job.job_id} is already {status} and cannot be stopped.")
        if status != "CANCELLING":
            job.stop_at = self.clock.now()
            if job.awaiting_start:  # nothing runs yet: cancelled at once
                job.durations = {**job.durations, "CANCELLING": 0.0}
        return {"jobSummary": self._summary(app, branch, job)}

    def create_deployment(self, call: Call) -> dict[str, Any]:
        app, branch = self._branch(call)
        _refuse_repository_app(app)
        self._refuse_if_busy(branch, self._timeline(branch))
        job = self._new_job(app, branch, "MANUAL", ("HEAD", "", self.clock.now()),
                            manual=True, awaiting_start=True)
        base = (f"https://aws-amplify-prod-{app.region}-artifacts.s3.{app.region}.amazonaws.com/"
                f"{app.app_id}/{branch.name}/{job.job_id}")
        files = call.params.get("fileMap") or {}
        return {"jobId": str(job.job_id),
                "fileUploadUrls": {name: f"{base}/files/{name}?X-Amz-Expires=28800"
                                   for name in files},
                "zipUploadUrl": "" if files else f"{base}/artifacts.zip?X-Amz-Expires=28800"}

    def start_deployment(self, call: Call) -> dict[str, Any]:
        app, branch = self._branch(call)
        _refuse_repository_app(app)
        p = call.params
        job_id, url = p.get("jobId"), p.get("sourceUrl")
        if not job_id and not url:
            raise _error("BadRequestException",
                         "Must specify jobId or sourceUrl for StartDeploymentRequest.")
        if job_id and url:
            raise _error("BadRequestException",
                         "Specify either jobId or sourceUrl for StartDeploymentRequest, not both.")
        if p.get("sourceUrlType") and not url:
            raise _error("BadRequestException", "sourceUrlType is only valid with sourceUrl.")
        views = self._timeline(branch)
        if url:
            self._refuse_if_busy(branch, views)
            job = self._new_job(app, branch, "MANUAL", ("HEAD", "", self.clock.now()),
                                manual=True, source=(url, p.get("sourceUrlType") or "ZIP"))
            return {"jobSummary": self._summary(app, branch, job)}
        job = self._job(call, branch, job_id)
        status = views[job.job_id].status
        if not job.awaiting_start:
            # The runbook's `start-deployment --job-id <last successful job>` lands here.
            raise _error("BadRequestException",
                         f"Job {job.job_id} of branch {branch.name} is a {job.job_type} job in "
                         f"status {status}, not a deployment created by CreateDeployment; "
                         "StartDeployment needs the jobId returned by CreateDeployment, or a "
                         "sourceUrl. To rebuild an earlier job use StartJob with jobType RETRY.")
        if status != "CREATED":
            reason = ("more than 8 hours passed since CreateDeployment" if status == "FAILED"
                      else "the deployment was stopped")
            raise _error("BadRequestException",
                         f"Job {job.job_id} cannot be started: {reason}.")
        self._refuse_if_busy(branch, views)
        job.awaiting_start = False
        job.start = self.clock.now()
        job.durations = dict(self.job_durations)
        job.outcome = self._next_outcome(branch)
        job.env = _build_env(app, branch)
        return {"jobSummary": self._summary(app, branch, job)}

    def _refuse_if_busy(self, branch: Branch, views: dict[int, JobView]) -> None:
        busy = [j for j in branch.jobs if views[j.job_id].status in ACTIVE_JOB_STATUSES]
        if busy:
            raise _error("BadRequestException",
                         f"The last job(deployment) {busy[-1].job_id} was not finished, please "
                         "wait until it finish or use StopJob operation to cancel it before "
                         "creating a new deployment.")

    def _new_job(self, app: App, branch: Branch, job_type: str,
                 commit: tuple[str, str, dt.datetime], reason: str | None = None,
                 manual: bool = False, awaiting_start: bool = False,
                 source: tuple[str | None, str | None] = (None, None)) -> Job:
        job = Job(
            job_id=(branch.jobs[-1].job_id + 1) if branch.jobs else 1, job_type=job_type,
            commit_id=commit[0], commit_message=commit[1], commit_time=commit[2],
            start=self.clock.now(), durations=dict(self.job_durations), reason=reason,
            source_url=source[0], source_url_type=source[1], manual=manual,
            awaiting_start=awaiting_start, env=_build_env(app, branch),
        )
        if not awaiting_start:
            job.outcome = self._next_outcome(branch)
        branch.jobs.append(job)
        branch.updated = job.start
        return job

    @staticmethod
    def _next_outcome(branch: Branch) -> str:
        return branch.outcomes.pop(0) if branch.outcomes else "SUCCEED"

    def _summary(self, app: App, branch: Branch, job: Job,
                 view: JobView | None = None) -> dict[str, Any]:
        view = view or self._timeline(branch)[job.job_id]
        out: dict[str, Any] = {
            "jobArn": f"{branch.arn}/jobs/{job.job_id:010d}", "jobId": str(job.job_id),
            "commitId": job.commit_id, "commitMessage": job.commit_message,
            "commitTime": job.commit_time, "startTime": view.start, "status": view.status,
            "jobType": job.job_type,
        }
        if view.end is not None:
            out["endTime"] = view.end
        if job.source_url:
            out["sourceUrl"] = job.source_url
            out["sourceUrlType"] = job.source_url_type
        # jobReason is not in botocore's JobSummary shape (botocore drops it), but AWS
        # stores it; keep it on the wire for raw readers.
        if job.reason is not None:
            out["jobReason"] = job.reason
        return out

    # -- job timelines -----------------------------------------------------------
    def _timeline(self, branch: Branch) -> dict[int, JobView]:
        """Every job's state now. Times are emulated seconds from now (negative = past);
        a job of the branch starts running only when the branch's earlier jobs have ended."""
        now = self.clock.now()
        scale = self.clock.scale

        def offset(t: dt.datetime) -> float:
            return (t - now).total_seconds() / scale

        def real(o: float) -> dt.datetime:
            return now + dt.timedelta(seconds=o * scale)

        views: dict[int, JobView] = {}
        busy_until = float("-inf")
        for job in branch.jobs:
            if job.fixed_status is not None:
                views[job.job_id] = self._fixed_view(job, offset, real)
                continue
            if job.awaiting_start:
                views[job.job_id] = _created_view(job, offset, real)
                continue
            d = job.durations
            begin = max(offset(job.start), busy_until)
            provisioning = begin + d["PENDING"]
            running = provisioning + d["PROVISIONING"]
            finish = running + d["RUNNING"]
            plan = _step_plan(job, provisioning, running, finish)
            stop = offset(job.stop_at) if job.stop_at is not None else None
            if stop is not None and stop < finish:  # stopped before it ended
                end = stop + d["CANCELLING"]
                status = "CANCELLING" if end > 0 else "CANCELLED"
            else:
                stop, end = None, finish
                status = ("PENDING" if provisioning > 0 else "PROVISIONING" if running > 0
                          else "RUNNING" if end > 0 else job.outcome)
            busy_until = max(busy_until, end)
            views[job.job_id] = JobView(status, job.start, real(end) if end <= 0 else None,
                                        _steps(plan, job.outcome, stop, end, real))
        return views

    def _fixed_view(self, job: Job, offset: Callable[[dt.datetime], float],
                    real: Callable[[float], dt.datetime]) -> JobView:
        assert job.fixed_status is not None and job.fixed_end is not None
        begin, end = offset(job.start), offset(job.fixed_end)
        build_end = begin + (end - begin) * BUILD_SHARE
        plan = ([("DEPLOY", begin, end)] if job.manual
                else [("BUILD", begin, build_end), ("DEPLOY", build_end, end)]
                if job.fixed_status == "SUCCEED" else [("BUILD", begin, end)])
        steps = [_step(name, real(s), real(e), job.fixed_status if i == len(plan) - 1
                       else "SUCCEED") for i, (name, s, e) in enumerate(plan)]
        return JobView(job.fixed_status, job.start, job.fixed_end, steps)

    def _deployed(self, branch: Branch, views: dict[int, JobView]) -> Job | None:
        """The job whose result is live: the last successful job to finish."""
        done = [j for j in branch.jobs if views[j.job_id].status == "SUCCEED"]
        return max(done, key=lambda j: (views[j.job_id].end, j.job_id), default=None)

    # -- domains -------------------------------------------------------------------
    def create_domain_association(self, call: Call) -> dict[str, Any]:
        app = self._app(call)
        p = call.params
        name = p["domainName"].rstrip(".").lower()
        if name in app.domains:
            raise _error("BadRequestException",
                         f"Domain {name} is already associated with app {app.app_id}.")
        for other in self.apps.values():
            if other is not app and name in other.domains:
                raise _error("BadRequestException",
                             "One or more domains requested are already associated with "
                             f"another Amplify app: {name}")
        if len(app.domains) >= MAX_DOMAINS_PER_APP:
            raise _error("LimitExceededException",
                         f"App {app.app_id} already has the maximum of {MAX_DOMAINS_PER_APP} "
                         "domain associations.")
        settings = _sub_domain_settings(app, p.get("subDomainSettings"))
        options = _domain_options(p, {"enableAutoSubDomain": False})
        domain = Domain(name, f"{app.arn}/domains/{name}", settings, [], options, "CREATING",
                        self.clock.now(), self.domain_seconds)
        app.domains[name] = domain
        return {"domainAssociation": self._domain_out(app, domain)}

    def get_domain_association(self, call: Call) -> dict[str, Any]:
        app, domain = self._domain(call)
        return {"domainAssociation": self._domain_out(app, domain)}

    def list_domain_associations(self, call: Call) -> dict[str, Any]:
        app = self._app(call)
        page, token = _paginate(list(app.domains.values()), call.params, lambda d: d.name, 50)
        return {"domainAssociations": [self._domain_out(app, d) for d in page], **token}

    def update_domain_association(self, call: Call) -> dict[str, Any]:
        app, domain = self._domain(call)
        status = self._domain_status(domain)
        if status not in UPDATABLE_DOMAIN_STATUSES:
            raise _error("BadRequestException",
                         f"Cannot update domain while the domain is in {status} status.")
        p = call.params
        verified = domain.settings if status == "AVAILABLE" else []
        if p.get("subDomainSettings") is not None:
            # The given list replaces the association's sub-domains: prefixes left out are
            # removed (the documented and much-complained-about behaviour).
            domain.settings = _sub_domain_settings(app, p["subDomainSettings"])
        domain.options = _domain_options(p, domain.options)
        domain.previous = verified
        domain.transition = "UPDATING"
        domain.changed_at = self.clock.now()
        domain.settle_seconds = self.domain_seconds
        domain.hold = None
        return {"domainAssociation": self._domain_out(app, domain)}

    def delete_domain_association(self, call: Call) -> dict[str, Any]:
        app, domain = self._domain(call)
        out = self._domain_out(app, domain)
        del app.domains[domain.name]
        return {"domainAssociation": out}

    def _domain(self, call: Call) -> tuple[App, Domain]:
        app = self._app(call)
        name = call.params.get("domainName", "").rstrip(".").lower()
        domain = app.domains.get(name)
        if domain is None:
            raise _missing(call, f"Domain {name} not found for app {app.app_id}.")
        return app, domain

    def _domain_status(self, domain: Domain) -> str:
        if domain.hold is not None:
            status, since, seconds = domain.hold
            if seconds is None or self.clock.emulated_elapsed(since) < seconds:
                return status
        if self.clock.emulated_elapsed(domain.changed_at) < domain.settle_seconds:
            return domain.transition
        return "AVAILABLE"

    def _domain_out(self, app: App, domain: Domain) -> dict[str, Any]:
        status = self._domain_status(domain)
        distribution = "d" + _fake_sha(app.app_id, domain.name)[:13]
        cert_record = (f"_{_fake_sha(domain.name, 'acm')[:32]}.{domain.name}. CNAME "
                       f"_{_fake_sha(domain.name, 'acm-target')[:32]}.acm-validations.aws.")
        sub_domains = [{
            "subDomainSetting": {"prefix": prefix, "branchName": branch},
            "verified": status == "AVAILABLE" or (
                status == "UPDATING" and (prefix, branch) in domain.previous),
            "dnsRecord": f"{prefix} CNAME {distribution}.cloudfront.net",
        } for prefix, branch in domain.settings]
        certificate = {**domain.options.get("certificateSettings", {"type": "AMPLIFY_MANAGED"})}
        if certificate["type"] == "AMPLIFY_MANAGED":
            certificate["certificateVerificationDNSRecord"] = cert_record
        out: dict[str, Any] = {
            **{k: v for k, v in domain.options.items() if k != "certificateSettings"},
            "domainAssociationArn": domain.arn, "domainName": domain.name,
            "domainStatus": status, "statusReason": "", "subDomains": sub_domains,
            "certificateVerificationDNSRecord": cert_record, "certificate": certificate,
        }
        if domain.transition == "UPDATING":
            out["updateStatus"] = ("UPDATE_COMPLETE" if status == "AVAILABLE"
                                   else "UPDATE_FAILED" if status == "FAILED"
                                   else "PENDING_DEPLOYMENT")
        if domain.hold is not None and status == domain.hold[0] and status != "AVAILABLE":
            out["statusReason"] = f"Held in {status} by the sandbox control route."
        return out

    # -- tags --------------------------------------------------------------------------
    def _tagged(self, call: Call) -> dict[str, str]:
        arn = call.params.get("resourceArn", "")
        for app in self.apps.values():
            if arn == app.arn:
                return app.tags
            for branch in app.branches.values():
                if arn == branch.arn:
                    return branch.tags
        raise _error("ResourceNotFoundException", f"Resource {arn} not found.")

    def tag_resource(self, call: Call) -> dict[str, Any]:
        tags = self._tagged(call)
        new = call.params["tags"]
        if any(k.lower().startswith("aws:") for k in new):
            raise _error("BadRequestException", "Tag keys starting with 'aws:' are reserved.")
        tags.update(new)
        return {}

    def untag_resource(self, call: Call) -> dict[str, Any]:
        tags = self._tagged(call)
        for key in call.params["tagKeys"]:
            tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, call: Call) -> dict[str, Any]:
        return {"tags": dict(self._tagged(call))}

    # -- control routes ----------------------------------------------------------------
    def control(self, method: str, body: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        route = query.get("path", "").strip("/")
        handlers: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("GET", "config"): lambda _: self._config_out(),
            ("POST", "config"): self._control_config,
            ("POST", "next-job-outcome"): self._control_outcome,
            ("POST", "jobs"): self._control_jobs,
            ("POST", "domain-status"): self._control_domain_status,
            ("POST", "push"): self._control_push,
            ("GET", "deployed"): self._control_deployed,
        }
        handler = handlers.get((method, route))
        if handler is None:
            known = ", ".join(f"{m} /_sandbox/amplify/{r}" for m, r in handlers)
            raise BadControlRequest(f"unknown amplify control route {method} "
                                    f"/_sandbox/amplify/{route}; known: {known}")
        args = body if method == "POST" else {k: v for k, v in query.items() if k != "path"}
        if not isinstance(args, dict):
            raise BadControlRequest("the request body must be a JSON object")
        with self.lock:
            return 200, handler(args)

    def _config_out(self) -> dict[str, Any]:
        return {"job_durations": dict(self.job_durations),
                "domain_update_seconds": self.domain_seconds}

    def _control_config(self, body: dict[str, Any]) -> dict[str, Any]:
        _only_keys(body, {"job_durations", "domain_update_seconds"}, "config")
        durations = body.get("job_durations", {})
        if not isinstance(durations, dict):
            raise BadControlRequest("job_durations must be an object like "
                                    '{"PENDING": 2, "PROVISIONING": 10, "RUNNING": 60}')
        _only_keys(durations, set(JOB_PHASES), "job_durations")
        for phase, value in durations.items():
            self.job_durations[phase] = _seconds(value, f"job_durations.{phase}")
        if "domain_update_seconds" in body:
            self.domain_seconds = _seconds(body["domain_update_seconds"], "domain_update_seconds")
        return self._config_out()

    def _control_app_branch(self, body: dict[str, Any]) -> tuple[App, Branch]:
        app = self._control_app(body)
        name = body.get("branch_name")
        if name not in app.branches:
            raise BadControlRequest(f"app {app.app_id} has no branch {name!r}; branches: "
                                    f"{sorted(app.branches)}")
        return app, app.branches[name]

    def _control_app(self, body: dict[str, Any]) -> App:
        app_id, region = body.get("app_id"), body.get("region")
        found = [a for (r, i), a in self.apps.items()
                 if i == app_id and (region is None or r == region)]
        if not found:
            raise BadControlRequest(f"no Amplify app {app_id!r}"
                                    + (f" in {region}" if region else "")
                                    + f"; apps: {sorted(i for _unused, i in self.apps)}")
        return found[0]

    def _control_outcome(self, body: dict[str, Any]) -> dict[str, Any]:
        _only_keys(body, {"app_id", "branch_name", "status", "count", "region"},
                   "next-job-outcome")
        _unused, branch = self._control_app_branch(body)
        status = body.get("status")
        if status not in ("SUCCEED", "FAILED"):
            raise BadControlRequest(f"status must be SUCCEED or FAILED, got {status!r}")
        count = body.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise BadControlRequest(f"count must be a positive integer, got {count!r}")
        branch.outcomes.extend([status] * count)
        return {"pending_outcomes": list(branch.outcomes)}

    def _control_jobs(self, body: dict[str, Any]) -> dict[str, Any]:
        _only_keys(body, {"app_id", "branch_name", "jobs", "region"}, "jobs")
        app, branch = self._control_app_branch(body)
        specs = body.get("jobs")
        if not isinstance(specs, list) or not specs:
            raise BadControlRequest("jobs must be a non-empty list, oldest first")
        now = self.clock.now()
        total = sum(self.job_durations[p] for p in ("PENDING", "PROVISIONING", "RUNNING"))
        latest = max((j.start for j in branch.jobs), default=None)
        planned: list[Job] = []
        next_id = (branch.jobs[-1].job_id + 1) if branch.jobs else 1
        for index, spec in enumerate(specs):
            job = self._seed_job(app, branch, spec, index, len(specs), next_id + index, now,
                                 total)
            previous = planned[-1].start if planned else latest
            if previous is not None and job.start < previous:
                raise BadControlRequest(
                    f"jobs[{index}] starts before the job before it; list jobs oldest first "
                    "(minutes_ago decreasing) and newer than the branch's existing jobs")
            planned.append(job)
        branch.jobs.extend(planned)
        for job in planned:
            if job.job_type in ("RELEASE", "WEB_HOOK"):
                branch.head = (job.commit_id, job.commit_message, job.commit_time)
        return {"job_ids": [str(j.job_id) for j in planned]}

    def _seed_job(self, app: App, branch: Branch, spec: Any, index: int, count: int,
                  job_id: int, now: dt.datetime, total: float) -> Job:
        where = f"jobs[{index}]"
        if not isinstance(spec, dict):
            raise BadControlRequest(f"{where} must be an object")
        _only_keys(spec, {"status", "commitId", "commitMessage", "jobType", "jobReason",
                          "sourceUrl", "sourceUrlType", "minutes_ago"}, where)
        status = spec.get("status", "SUCCEED")
        if status not in FINAL_JOB_STATUSES:
            raise BadControlRequest(f"{where}.status must be one of {list(FINAL_JOB_STATUSES)} "
                                    f"(history is finished jobs), got {status!r}")
        job_type = spec.get("jobType", "RELEASE" if app.repository else "MANUAL")
        if job_type not in ("RELEASE", "RETRY", "MANUAL", "WEB_HOOK"):
            raise BadControlRequest(f"{where}.jobType must be RELEASE, RETRY, MANUAL or "
                                    f"WEB_HOOK, got {job_type!r}")
        url_type = spec.get("sourceUrlType")
        if url_type is not None and url_type not in ("ZIP", "BUCKET_PREFIX"):
            raise BadControlRequest(f"{where}.sourceUrlType must be ZIP or BUCKET_PREFIX")
        minutes = spec.get("minutes_ago", (count - index) * 60)
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes < 0:
            raise BadControlRequest(f"{where}.minutes_ago must be a number >= 0")
        start = now - dt.timedelta(minutes=minutes)
        end = min(start + dt.timedelta(seconds=total * self.clock.scale), now)
        manual = not app.repository
        commit_id = spec.get("commitId") or ("HEAD" if manual else
                                             _fake_sha(app.app_id, branch.name, str(job_id)))
        return Job(job_id=job_id, job_type=job_type, commit_id=commit_id,
                   commit_message=spec.get("commitMessage", f"Seeded job {job_id}"),
                   commit_time=start, start=start, durations=dict(self.job_durations),
                   outcome=status, reason=spec.get("jobReason"),
                   source_url=spec.get("sourceUrl"),
                   source_url_type=url_type or ("ZIP" if spec.get("sourceUrl") else None),
                   env=_build_env(app, branch), manual=manual, fixed_status=status,
                   fixed_end=end)

    def _control_domain_status(self, body: dict[str, Any]) -> dict[str, Any]:
        _only_keys(body, {"app_id", "domain_name", "status", "seconds", "region"},
                   "domain-status")
        app = self._control_app(body)
        domain = app.domains.get(str(body.get("domain_name", "")).rstrip(".").lower())
        if domain is None:
            raise BadControlRequest(f"app {app.app_id} has no domain association "
                                    f"{body.get('domain_name')!r}; domains: {sorted(app.domains)}")
        statuses = protocol.service_model(SERVICE).shape_for("DomainStatus").enum
        status = body.get("status")
        if status not in statuses:
            raise BadControlRequest(f"status must be one of {statuses}, got {status!r}")
        seconds = body.get("seconds")
        held = None if seconds is None else _seconds(seconds, "seconds")
        domain.hold = (status, self.clock.now(), held)
        return {"domainName": domain.name, "domainStatus": self._domain_status(domain),
                "held_for_seconds": held}

    def _control_push(self, body: dict[str, Any]) -> dict[str, Any]:
        _only_keys(body, {"app_id", "branch_name", "commitId", "commitMessage", "build",
                          "region"}, "push")
        app, branch = self._control_app_branch(body)
        if not app.repository:
            raise BadControlRequest(f"app {app.app_id} has no repository to push to")
        commit_id = body.get("commitId") or _fake_sha(app.app_id, branch.name,
                                                      self.clock.now().isoformat())
        branch.head = (commit_id, body.get("commitMessage", f"Push {commit_id[:7]}"),
                       self.clock.now())
        result: dict[str, Any] = {"commitId": commit_id}
        if body.get("build", branch.settings.get("enableAutoBuild", True)):
            job = self._new_job(app, branch, "WEB_HOOK", branch.head)
            result["jobId"] = str(job.job_id)
        return result

    def _control_deployed(self, query: dict[str, Any]) -> dict[str, Any]:
        app, branch = self._control_app_branch(query)
        views = self._timeline(branch)
        job = self._deployed(branch, views)
        if job is None:
            return {"deployed": None}
        return {"deployed": {"jobId": str(job.job_id), "jobType": job.job_type,
                             "commitId": job.commit_id, "commitMessage": job.commit_message,
                             "sourceUrl": job.source_url, "sourceUrlType": job.source_url_type,
                             "environmentVariables": job.env,
                             "endTime": views[job.job_id].end.isoformat()}}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def _inputs(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in HIDDEN_INPUTS}


def _only(out: dict[str, Any], shape: str) -> dict[str, Any]:
    members = _output_members(shape)
    return {k: v for k, v in out.items() if k in members}


def _check_repository_auth(params: dict[str, Any]) -> None:
    # CreateApp docs: a repository needs accessToken (GitHub) or oauthToken (others);
    # CodeCommit authenticates with the service role instead.
    repository = params["repository"]
    if "codecommit" in repository:
        return
    if not params.get("accessToken") and not params.get("oauthToken"):
        raise _error("BadRequestException",
                     f"You must specify either accessToken or oauthToken to connect repository "
                     f"{repository}.")
    if "github.com" in repository and not params.get("accessToken"):
        raise _error("BadRequestException",
                     "GitHub repositories are connected with accessToken (the Amplify GitHub "
                     "App); oauthToken is for other providers.")


def _clone_method(repository: str, params: dict[str, Any]) -> str:
    if "codecommit" in repository:
        return "SIGV4"
    return "TOKEN" if params.get("accessToken") else "SSH"


def _refuse_repository_app(app: App) -> None:
    if app.repository:
        raise _error("BadRequestException",
                     "Operation not supported. App is already connected a repository.")


def _build_env(app: App, branch: Branch) -> dict[str, str]:
    # Environment variables are read at build time: the branch's override the app's.
    return {**app.settings.get("environmentVariables", {}),
            **branch.settings.get("environmentVariables", {})}


def _fqdn(prefix: str, domain: str) -> str:
    return f"{prefix}.{domain}" if prefix else domain


def _sub_domain_settings(app: App, given: Any) -> list[tuple[str, str]]:
    if not given:
        raise _error("BadRequestException", "The domain doesn't contain any subdomains.")
    settings: list[tuple[str, str]] = []
    for item in given:
        prefix, branch = item["prefix"], item["branchName"]
        if branch not in app.branches:
            raise _error("BadRequestException",
                         "A subdomain cannot point to a non-existent branch")
        if any(prefix == p for p, _unused in settings):
            raise _error("BadRequestException",
                         f"Duplicate subdomain prefix {prefix!r} in subDomainSettings.")
        settings.append((prefix, branch))
    return settings


def _domain_options(params: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    options = dict(current)
    for key in ("enableAutoSubDomain", "autoSubDomainCreationPatterns", "autoSubDomainIAMRole",
                "certificateSettings"):
        if key in params:
            options[key] = params[key]
    cert = options.get("certificateSettings")
    if cert and cert.get("type") == "CUSTOM" and not cert.get("customCertificateArn"):
        raise _error("BadRequestException",
                     "customCertificateArn is required when the certificate type is CUSTOM.")
    return options


def _created_view(job: Job, offset: Callable[[dt.datetime], float],
                  real: Callable[[float], dt.datetime]) -> JobView:
    if job.stop_at is not None:
        return JobView("CANCELLED", job.start, job.stop_at, [])
    expires = offset(job.start) + DEPLOYMENT_TTL_SECONDS
    if expires <= 0:
        return JobView("FAILED", job.start, real(expires), [])
    return JobView("CREATED", job.start, None, [])


def _step_plan(job: Job, provisioning: float, running: float,
               end: float) -> list[tuple[str, float, float]]:
    """(step, begin, end) in emulated offsets: deployments only DEPLOY; builds BUILD then
    DEPLOY; a failing build fails in BUILD."""
    if job.manual and job.job_type == "MANUAL":
        return [("DEPLOY", provisioning, end)]
    if job.outcome == "FAILED":
        return [("BUILD", provisioning, end)]
    build_end = running + (end - running) * BUILD_SHARE
    return [("BUILD", provisioning, build_end), ("DEPLOY", build_end, end)]


def _steps(plan: list[tuple[str, float, float]], outcome: str, stop: float | None,
           cancel_end: float, real: Callable[[float], dt.datetime]) -> list[dict[str, Any]]:
    steps = []
    for index, (name, begin, end) in enumerate(plan):
        if begin > 0 or (stop is not None and begin >= stop):
            break  # not started (yet, or ever)
        if stop is not None and end > stop:
            status = "CANCELLING" if cancel_end > 0 else "CANCELLED"
            steps.append(_step(name, real(begin), real(cancel_end) if cancel_end <= 0 else None,
                               status))
            break
        if end > 0:
            steps.append(_step(name, real(begin), None, "RUNNING"))
            break
        final = outcome if index == len(plan) - 1 else "SUCCEED"
        steps.append(_step(name, real(begin), real(end), final))
    return steps


def _step(name: str, begin: dt.datetime, end: dt.datetime | None,
          status: str) -> dict[str, Any]:
    step: dict[str, Any] = {
        "stepName": name, "startTime": begin, "status": status,
        "logUrl": f"https://amplify-sandbox-logs.s3.amazonaws.com/{name.lower()}.log",
    }
    if end is not None:
        step["endTime"] = end
    if name == "BUILD":
        step["artifactsUrl"] = "https://amplify-sandbox-artifacts.s3.amazonaws.com/artifacts.zip"
        step["context"] = "Build image: amplify:al2023"
    return step


def _paginate(items: list[Any], params: dict[str, Any], key: Callable[[Any], str],
              cap: int) -> tuple[list[Any], dict[str, str]]:
    limit = params.get("maxResults") or cap
    if limit > cap:
        raise _error("BadRequestException", f"maxResults must be at most {cap}.")
    start = 0
    token = params.get("nextToken")
    if token:
        try:
            marker = json.loads(base64.urlsafe_b64decode(token.encode()))["next"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise _error("BadRequestException", "Invalid nextToken.") from None
        keys = [key(i) for i in items]
        if marker not in keys:
            raise _error("BadRequestException", "Invalid nextToken.")
        start = keys.index(marker)
    page = items[start:start + limit]
    rest = items[start + limit:]
    if not rest:
        return page, {}
    marker = base64.urlsafe_b64encode(json.dumps({"next": key(rest[0])}).encode()).decode()
    return page, {"nextToken": marker}


def _only_keys(body: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadControlRequest(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BadControlRequest(f"{name} must be a number of emulated seconds >= 0, "
                                f"got {value!r}")
    return float(value)


OPERATIONS: dict[str, Callable[[Amplify, Call], dict[str, Any]]] = {
    "CreateApp": Amplify.create_app, "GetApp": Amplify.get_app, "ListApps": Amplify.list_apps,
    "UpdateApp": Amplify.update_app, "DeleteApp": Amplify.delete_app,
    "CreateBranch": Amplify.create_branch, "GetBranch": Amplify.get_branch,
    "ListBranches": Amplify.list_branches, "UpdateBranch": Amplify.update_branch,
    "DeleteBranch": Amplify.delete_branch,
    "StartJob": Amplify.start_job, "GetJob": Amplify.get_job, "ListJobs": Amplify.list_jobs,
    "StopJob": Amplify.stop_job, "CreateDeployment": Amplify.create_deployment,
    "StartDeployment": Amplify.start_deployment,
    "CreateDomainAssociation": Amplify.create_domain_association,
    "GetDomainAssociation": Amplify.get_domain_association,
    "ListDomainAssociations": Amplify.list_domain_associations,
    "UpdateDomainAssociation": Amplify.update_domain_association,
    "DeleteDomainAssociation": Amplify.delete_domain_association,
    "TagResource": Amplify.tag_resource, "UntagResource": Amplify.untag_resource,
    "ListTagsForResource": Amplify.list_tags_for_resource,
}


def install(sandbox: Sandbox) -> Amplify:
    service = Amplify(sandbox)
    sandbox.own_service(SERVICE)

    def bind(method: Callable[[Amplify, Call], dict[str, Any]]) -> Callable[[Call], Any]:
        def handler(call: Call) -> dict[str, Any]:
            with service.lock:
                return method(service, call)
        return handler

    for operation, method in OPERATIONS.items():
        sandbox.handle(SERVICE, operation)(bind(method))
    sandbox.control(SERVICE)(service.control)
    sandbox.on_reset(service.reset)
    return service
