#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amplify_branch_info
short_description: Read AWS Amplify branches and whether what each serves is a good build
version_added: 0.1.0
description:
  - Reads an Amplify app and some of its branches, and for each branch its newest job, the
    build it serves and a health verdict on what it serves.
  - Amplify keeps serving a branch's last successful build when a newer build fails before
    its C(DEPLOY) step, so a branch whose newest job V(FAILED) in C(BUILD) still serves a good
    build. RV(branches[].health) is V(good) then. It is V(unknown) while a job is in its
    C(DEPLOY) step, or when a job newer than the serving build V(FAILED) or was V(CANCELLED)
    in or after its C(DEPLOY) step (that can leave the branch between two builds), and
    V(none) when no job of the branch ever succeeded.
  - "Calls: C(GetApp), C(GetBranch) per branch, C(ListJobs) (paged only until a successful
    job is seen) and C(GetJob) only for the jobs newer than the serving build that are
    running or ended without success (to read their steps; usually one or none)."
  - B(Branch environment variables are returned with their values), as Amplify returns them.
    In this project they hold no secrets (table names, feature flags); do not use the module
    on branches whose variables are secret, or do not log its result.
author:
  - PropIE platform team (@propie)
options:
  branch_names:
    description:
      - The branches to read, in the order wanted.
      - Exactly one of O(branch_names) and O(branch_name) is required.
    type: list
    elements: str
  branch_name:
    description:
      - One branch to read; the same as O(branch_names) with one element.
    type: str
  missing_ok:
    description:
      - When the app or a branch does not exist, report it with RV(app.exists=false) or
        RV(branches[].exists=false) instead of failing.
      - When V(false), the module fails with a message naming the missing app or branches,
        and listing the apps of the region or the branches of the app.
    type: bool
    default: false
extends_documentation_fragment: [propie.rollback.amplify, propie.rollback.attributes.read_only,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: What do the blue and green branches serve?
  propie.rollback.amplify_branch_info:
    app_id: d4cebxzd5u3ynb
    branch_names: [production, green]
  register: branches

- name: Refuse when blue serves no successful build
  ansible.builtin.assert:
    that: branches.branches['production'].health != 'none'
    fail_msg: "{{ branches.branches['production'].health_reason }}"

- name: Wait while a deploy makes what blue serves unknown
  propie.rollback.amplify_branch_info:
    app_id: d4cebxzd5u3ynb
    branch_name: production
  register: blue
  until: blue.branches['production'].health != 'unknown'
  retries: 30
  delay: 10
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the app exists (V(false) only with O(missing_ok=true)).
      type: bool
      returned: always
    app_id:
      description: App id.
      type: str
      returned: always
      sample: d4cebxzd5u3ynb
    name:
      description: App name.
      type: str
      returned: when the app exists
    app_arn:
      description: App ARN.
      type: str
      returned: when the app exists
    repository:
      description: The connected repository; empty for an app deployed manually.
      type: str
      returned: when the app exists
    platform:
      description: C(WEB), C(WEB_DYNAMIC) or C(WEB_COMPUTE).
      type: str
      returned: when the app exists
    default_domain:
      description: The app's C(amplifyapp.com) domain.
      type: str
      returned: when the app exists
    production_branch:
      description: The branch Amplify lists as the app's production branch, if any.
      type: str
      returned: when the app exists
branches:
  description:
    - One entry per requested branch, keyed by branch name.
  returned: always
  type: dict
  sample:
    production:
      exists: true
      branch_name: production
      stage: PRODUCTION
      health: good
      health_reason: >-
        Branch production serves job 3 (SUCCEED, RELEASE of a1b2c33); newer job 4 ended FAILED in
        its BUILD step, before deploying, so the branch still serves it.
      health_job_id: "3"
  contains:
    exists:
      description: Whether the branch exists (V(false) only with O(missing_ok=true)).
      type: bool
      returned: always
    branch_name:
      description: Branch name.
      type: str
      returned: always
    branch_arn:
      description: Branch ARN.
      type: str
      returned: when the branch exists
    stage:
      description: C(PRODUCTION), C(BETA), C(DEVELOPMENT), C(EXPERIMENTAL), C(PULL_REQUEST) or C(NONE).
      type: str
      returned: when the branch exists
    display_name:
      description: Display name.
      type: str
      returned: when the branch exists
    description:
      description: Description.
      type: str
      returned: when the branch exists
    framework:
      description: Framework.
      type: str
      returned: when the branch exists
    enable_auto_build:
      description: Whether pushes build the branch.
      type: bool
      returned: when the branch exists
    environment_variables:
      description:
        - The branch's environment variables, names and values, as Amplify returns them
          (not masked; see the description). They take effect at the next build.
      type: dict
      returned: when the branch exists
    custom_domains:
      description: Custom domain host names that point at the branch.
      type: list
      elements: str
      returned: when the branch exists
    active_job_id:
      description: Amplify's active job id of the branch.
      type: str
      returned: when the branch exists
    total_number_of_jobs:
      description: Amplify's job count of the branch.
      type: str
      returned: when the branch exists
    create_time:
      description: Creation time (ISO 8601).
      type: str
      returned: when the branch exists
    update_time:
      description: Time of the last change of the branch's settings (ISO 8601).
      type: str
      returned: when the branch exists
    tags:
      description: Tags.
      type: dict
      returned: when the branch exists
    newest_job:
      description:
        - The branch's newest job, or null when it has none. Same keys as the jobs of
          M(propie.rollback.amplify_job_info).
      type: dict
      returned: always
    serving_job:
      description:
        - The build the branch serves, its newest V(SUCCEED) job, or null when there is none.
          Same keys as RV(branches[].newest_job).
      type: dict
      returned: always
    health:
      description:
        - V(good), the branch serves a V(SUCCEED) build, and no newer job is deploying or
          failed or was stopped in or after its C(DEPLOY) step (newer jobs that ended in
          C(BUILD), or are building, changed nothing that is served).
        - V(unknown), a job is in its C(DEPLOY) step now, or a job newer than the serving
          build V(FAILED) or was V(CANCELLED) in or after its C(DEPLOY) step.
        - V(none), the branch serves no successful build (or does not exist).
      type: str
      returned: always
      sample: good
    health_reason:
      description: One sentence that explains RV(branches[].health), naming the jobs.
      type: str
      returned: always
    health_job_id:
      description:
        - The job the verdict rests on, the serving job for V(good), the deploying or broken
          job for V(unknown); null for V(none).
      type: str
      returned: always
    jobs_read:
      description: How many job summaries were listed to decide (C(ListJobs) pages stop at the first successful job).
      type: int
      returned: when the branch exists
"""

import typing

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils.amplify import HEALTH_NONE
from ansible_collections.propie.rollback.plugins.module_utils.amplify import JobHistory
from ansible_collections.propie.rollback.plugins.module_utils.amplify import amplify_client
from ansible_collections.propie.rollback.plugins.module_utils.amplify import find_app
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_branch
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_job
from ansible_collections.propie.rollback.plugins.module_utils.amplify import health_jobs
from ansible_collections.propie.rollback.plugins.module_utils.amplify import list_branch_names
from ansible_collections.propie.rollback.plugins.module_utils.amplify import list_jobs
from ansible_collections.propie.rollback.plugins.module_utils.amplify import missing_app_message
from ansible_collections.propie.rollback.plugins.module_utils.amplify import serving_health
from ansible_collections.propie.rollback.plugins.module_utils.common import iso

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List


def requested_names(module) -> List[str]:
    names = module.params["branch_names"] if module.params["branch_names"] is not None else [module.params["branch_name"]]
    unique = []  # type: List[str]
    for name in names:
        if not name:
            module.fail_json(msg="branch names must not be empty")
        if name not in unique:
            unique.append(name)
    if not unique:
        module.fail_json(msg="branch_names is empty: name at least one branch")
    return unique


def describe_app(app_id: str, app: Dict[str, Any]) -> Dict[str, Any]:
    if app is None:
        return dict(exists=False, app_id=app_id)
    return dict(
        exists=True,
        app_id=app.get("appId"),
        name=app.get("name"),
        app_arn=app.get("appArn"),
        repository=app.get("repository") or "",
        platform=app.get("platform"),
        default_domain=app.get("defaultDomain"),
        production_branch=(app.get("productionBranch") or {}).get("branchName"),
    )


def missing_branch(name: str, why: str) -> Dict[str, Any]:
    return dict(
        exists=False,
        branch_name=name,
        newest_job=None,
        serving_job=None,
        health=HEALTH_NONE,
        health_reason="Branch %s serves nothing: %s." % (name, why),
        health_job_id=None,
    )


def describe_branch(branch: Dict[str, Any]) -> Dict[str, Any]:
    return dict(
        exists=True,
        branch_name=branch.get("branchName"),
        branch_arn=branch.get("branchArn"),
        stage=branch.get("stage"),
        display_name=branch.get("displayName"),
        description=branch.get("description"),
        framework=branch.get("framework"),
        enable_auto_build=branch.get("enableAutoBuild"),
        environment_variables=dict(branch.get("environmentVariables") or {}),
        custom_domains=list(branch.get("customDomains") or []),
        active_job_id=branch.get("activeJobId"),
        total_number_of_jobs=branch.get("totalNumberOfJobs"),
        create_time=iso(branch.get("createTime")),
        update_time=iso(branch.get("updateTime")),
        tags=dict(branch.get("tags") or {}),
    )


def _has_success(jobs: List[Dict[str, Any]]) -> bool:
    return any(j.get("status") == "SUCCEED" for j in jobs)


def branch_health(module, client, app_id: str, branch: Dict[str, Any]) -> Dict[str, Any]:
    name = branch["branchName"]
    # Only the jobs newer than the serving build matter: stop paging at the first success.
    jobs = list_jobs(module, client, app_id, name, until=_has_success)
    history = JobHistory(jobs)
    steps = {}  # type: Dict[str, List[Dict[str, Any]]]
    for job in health_jobs(history):
        steps[job["jobId"]] = get_job(module, client, app_id, name, job["jobId"]).get("steps") or []
    verdict = serving_health(history, steps, name)
    out = describe_branch(branch)
    out.update(
        newest_job=history.describe(history.jobs[0] if history.jobs else None),
        serving_job=history.describe(history.serving()),
        health=verdict["health"],
        health_reason=verdict["reason"],
        health_job_id=verdict["job_id"],
        jobs_read=len(jobs),
    )
    return out


def do(module) -> None:
    app_id, missing_ok = module.params["app_id"], module.params["missing_ok"]
    names = requested_names(module)
    client = amplify_client(module)

    app = find_app(module, client, app_id)
    if app is None:
        if not missing_ok:
            module.fail_json(msg=missing_app_message(module, client, app_id), app_id=app_id, branch_names=names)
        why = "app %s does not exist in region %s" % (app_id, module.region)
        module.exit_json(
            changed=False, app=describe_app(app_id, None), branches=dict((n, missing_branch(n, why)) for n in names)
        )

    found = dict((n, get_branch(module, client, app_id, n)) for n in names)
    missing = [n for n in names if found[n] is None]
    if missing and not missing_ok:
        known = list_branch_names(module, client, app_id)
        module.fail_json(
            msg="Amplify app %s (%s) has no branch %s; its branches: %s"
            % (app_id, app.get("name"), ", ".join(repr(n) for n in missing), ", ".join(known) if known else "none"),
            app_id=app_id,
            missing_branches=missing,
            branches_of_app=known,
        )

    branches = {}  # type: Dict[str, Dict[str, Any]]
    for name in names:
        if found[name] is None:
            branches[name] = missing_branch(name, "app %s has no branch %s" % (app_id, name))
        else:
            branches[name] = branch_health(module, client, app_id, found[name])
    module.exit_json(changed=False, app=describe_app(app_id, app), branches=branches)


def main() -> None:
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        branch_names=dict(type="list", elements="str"),
        branch_name=dict(type="str"),
        missing_ok=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("branch_names", "branch_name")],
        required_one_of=[("branch_names", "branch_name")],
    )
    do(module)


if __name__ == "__main__":
    main()
