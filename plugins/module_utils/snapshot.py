# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An environment's snapshot: what a later rollback needs to put it back, read without changing
anything (rollback_snapshot_info), and written as <snapshot id>.json with latest.json pointing
at the newest (rollback_snapshot)."""

from __future__ import annotations

import datetime
import json
import os
import typing

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.propie.rollback.plugins.module_utils import amplify as amp
from ansible_collections.propie.rollback.plugins.module_utils import cloudformation as cfn
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.files import make_dirs
from ansible_collections.propie.rollback.plugins.module_utils.files import write_atomic

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import Optional

# The options both snapshot modules take (their docs: doc fragment propie.rollback.snapshot).
ARGUMENT_SPEC = dict(
    env=dict(type="str", required=True),
    stacks=dict(type="list", elements="str", default=[]),
    amplify_app_id=dict(type="str"),
    amplify_branches=dict(type="list", elements="str", default=[]),
    amplify_domain=dict(type="str"),
    dynamodb_tables=dict(type="list", elements="str", default=[]),
    amplify_max_jobs=dict(type="int", default=200),
)


def capture_stack(client, name: str) -> Dict[str, Any]:
    state = cfn.read_stack_state(client, name)
    if state is None:
        return {"stack_name": name, "exists": False, "status": None, "healthy": False}
    return dict(state, exists=True)


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


def capture(module) -> Dict[str, Any]:
    """The snapshot document of the module's options; fails the module on an AWS error, warns
    about each resource that does not exist (recorded with exists=false)."""
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
    for kind, name in missing(document):
        module.warn("%s %s does not exist; recorded with exists=false" % (kind, name))
    document["healthy"] = all(s.get("exists") and s.get("healthy") for s in document["stacks"].values())
    return document


def missing(document: Dict[str, Any]):
    """(kind, name) of each captured resource that does not exist."""
    for name, entry in document["stacks"].items():
        if not entry.get("exists"):
            yield "stack", name
    amplify = document["amplify"] or {}
    for name, entry in (amplify.get("branches") or {}).items():
        if not entry.get("exists"):
            yield "Amplify branch", name
    if amplify.get("domain") and not amplify["domain"]["exists"]:
        yield "Amplify domain", amplify["domain"]["domain_name"]
    for name, entry in document["tables"].items():
        if not entry.get("exists"):
            yield "table", name


def render(document: Dict[str, Any]) -> bytes:
    """The file's bytes: sorted keys, two-space indent (as to_nice_json writes), a final newline."""
    return (json.dumps(document, indent=2, sort_keys=True, separators=(",", ": ")) + "\n").encode()


def paths(directory: str, snapshot_id: str) -> Dict[str, str]:
    """{path, latest}: where a snapshot of this id goes in the directory, and the link to the newest."""
    return {"path": os.path.join(directory, snapshot_id + ".json"),
            "latest": os.path.join(directory, cfn.SNAPSHOT_LATEST)}


def latest_id(directory: str) -> Optional[str]:
    """The snapshot id latest.json points at, or None."""
    try:
        target = os.readlink(os.path.join(directory, cfn.SNAPSHOT_LATEST))
    except OSError:
        return None
    return target[:-len(".json")] if target.endswith(".json") else target


def write(directory: str, document: Dict[str, Any]) -> Dict[str, str]:
    """Write <snapshot id>.json (whole or not at all) and move latest.json to it (a relative
    link, so the directory can be copied or archived as a whole; replaced by a rename, so a
    reader never finds it missing). Returns paths(directory, snapshot id)."""
    where = paths(directory, document["snapshot_id"])
    make_dirs(directory)
    write_atomic(where["path"], render(document))
    temp = os.path.join(directory, ".%s.%d" % (cfn.SNAPSHOT_LATEST, os.getpid()))
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass
    os.symlink(os.path.basename(where["path"]), temp)
    os.replace(temp, where["latest"])
    return where
