"""Shared set-up for the Amplify playbook tests: apps built through boto3 and control routes.

No tests here; the test_amplify_* modules import these helpers.
"""

from __future__ import annotations

from typing import Any

from sandbox.client import SandboxClient
from tests import emulated

DOMAIN = "prop-ie-app.com"
BLUE, GREEN = "production", "green"
REPO_URL = "https://github.com/propie/prop-ie-aws-app"
# Fast emulated time: a 72 s build takes 0.72 s, a 30 s domain update 0.3 s.
TIME_SCALE = 0.01
# Module waits poll every second (the smallest integer delay).
FAST = {"wait_delay": 1, "wait_timeout": 120}
MUTATING_AMPLIFY = ("StartJob", "StartDeployment", "CreateDeployment", "UpdateDomainAssociation",
                    "UpdateBranch")


def make_app(sandbox: SandboxClient, repository: bool, name: str | None = None,
             blue_jobs: list[dict[str, Any]] | None = None, domain: bool = True) -> str:
    """An app with branches production and green, job history, and the domain on green.

    The repository app is named prop-ie-app, so its id is the sandbox inventory's
    rollback_amplify_app_id. Blue's default history: three good builds, then a broken one.
    """
    sandbox.set_time_scale(TIME_SCALE)
    amplify = sandbox.boto3_client("amplify")
    kwargs: dict[str, Any] = {"name": name or ("prop-ie-app" if repository else "prop-ie-static"),
                              "platform": "WEB"}
    if repository:
        kwargs.update(repository=REPO_URL, accessToken="sandbox-token")
    app_id = amplify.create_app(**kwargs)["app"]["appId"]
    for branch in (BLUE, GREEN):
        amplify.create_branch(appId=app_id, branchName=branch, stage="PRODUCTION",
                              environmentVariables={"DATA_TABLE_NAME": "prop-ie-sandbox-data"})
    seed_jobs(sandbox, app_id, BLUE, blue_jobs if blue_jobs is not None else history(repository))
    seed_jobs(sandbox, app_id, GREEN, [job(repository, "SUCCEED", 9, minutes_ago=20)])
    if domain:
        amplify.create_domain_association(
            appId=app_id, domainName=DOMAIN,
            subDomainSettings=[{"prefix": "", "branchName": GREEN},
                               {"prefix": "www", "branchName": GREEN},
                               {"prefix": "beta", "branchName": GREEN}])
        wait_domain(sandbox, app_id)
    return app_id


def job(repository: bool, status: str, n: int, minutes_ago: float) -> dict[str, Any]:
    spec: dict[str, Any] = {"status": status, "minutes_ago": minutes_ago,
                            "commitMessage": f"Release 1.{n}"}
    if repository:
        spec.update(jobType="RELEASE", commitId=f"a1b2c3{n}")
    else:
        spec.update(jobType="MANUAL", sourceUrl=f"s3://prop-ie-builds/release-1.{n}.zip",
                    sourceUrlType="ZIP")
    return spec


def history(repository: bool, newest: str = "FAILED") -> list[dict[str, Any]]:
    """Good builds 1.1-1.3, then 1.4 with the given status (the incident's broken build)."""
    return [job(repository, "SUCCEED", n, minutes_ago=600 - n * 100) for n in (1, 2, 3)] + [
        job(repository, newest, 4, minutes_ago=45)]


def seed_jobs(sandbox: SandboxClient, app_id: str, branch: str,
              jobs: list[dict[str, Any]]) -> list[str]:
    if not jobs:
        return []
    return sandbox.control("POST", "amplify/jobs",
                           {"app_id": app_id, "branch_name": branch, "jobs": jobs})["job_ids"]


def wait_domain(sandbox: SandboxClient, app_id: str) -> None:
    """Wait for the domain to become AVAILABLE, an emulated second passing between reads."""
    amplify = sandbox.boto3_client("amplify")
    emulated.wait(sandbox, lambda: amplify.get_domain_association(appId=app_id, domainName=DOMAIN)[
        "domainAssociation"]["domainStatus"], lambda status: status == "AVAILABLE", f"domain {DOMAIN}")


def mapping(sandbox: SandboxClient, app_id: str) -> dict[str, str]:
    amplify = sandbox.boto3_client("amplify")
    subs = amplify.get_domain_association(appId=app_id, domainName=DOMAIN)[
        "domainAssociation"]["subDomains"]
    return {s["subDomainSetting"]["prefix"]: s["subDomainSetting"]["branchName"] for s in subs}


def jobs_of(sandbox: SandboxClient, app_id: str, branch: str = BLUE) -> list[dict[str, Any]]:
    return sandbox.boto3_client("amplify").list_jobs(appId=app_id, branchName=branch)["jobSummaries"]


def operations(sandbox: SandboxClient, since: int, mutating: bool | None = None) -> list[str]:
    return [r["operation"] for r in sandbox.requests(since)
            if mutating is None or r["mutating"] is mutating]


def task(name: str, module: str, args: dict[str, Any]) -> str:
    """A one-task playbook calling `module` with `args` (registered as `out`)."""
    import json

    return f"""
- name: Amplify test
  hosts: localhost
  gather_facts: false
  tasks:
    - name: {name}
      {module}: {json.dumps(args)}
      register: out
"""
