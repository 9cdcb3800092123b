#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: incident_record
short_description: Write the incident record of a rollback run as JSON, Markdown and an HTML timeline
version_added: 0.1.0
description:
  - Normalises the record of a rollback run (times as UTC ISO 8601 with C(Z), derived timings,
    failures and follow-ups), masks secrets in it, and writes three files into O(dest)
    named after the incident id, C(<incident_id>.json), C(<incident_id>.md) and C(<incident_id>.html).
  - The JSON file is the normalised record (sorted keys, indent 2). The Markdown file is the
    human summary, header, a from/to table per component, the timeline, data restore points
    and RPO, failures, and the follow-ups as a checklist with owners.
  - The HTML file is one self-contained page (inline CSS and JavaScript, a Content-Security-Policy
    that forbids loading anything) with the record embedded as JSON and a script that draws a
    Gantt-like chart of the timeline (one bar per step, coloured by status), plus the components,
    data, failures and follow-ups. All record text is HTML-escaped.
  - When the record has no follow-ups, the runbook's six post-rollback actions are added. The
    first (document the incident) is done by this record; the others are open, each owned by the
    contact whose role O(follow_up_owners) names (the first contact when no contact has that role).
    Only the owner's role and name are recorded, never the contact details.
  - "Secrets are masked as C(********) anywhere in the record: the value of any key whose name
    contains password, passwd, secret, token, access_key, secret_key, session_token, authorization,
    credential or private_key (case-insensitive; C(-), C(_), C(.) and spaces ignored), and text that
    looks like an AWS access key id (C(AKIA...), C(ASIA...)), secret access key or session token,
    or C(name=value) pairs with such a name. The masked values are also kept out of the module's result."
  - Each file is written atomically (a temporary file in O(dest), then a rename) with mode C(0640);
    O(dest) is created with mode C(0750) when missing. A file whose content and mode are already
    right is left alone, so a re-run with the same record changes nothing.
  - With O(bucket), the three files are also put into S3 under
    C(<bucket_prefix>/<env>/<incident_id>.<json|md|html>) with C(ServerSideEncryption=AES256);
    an object whose ETag (or C(md5) metadata) already matches the content is not uploaded again.
author:
  - PropIE platform team (@propie)
options:
  record:
    description:
      - The record of the run. Its keys follow (all but C(incident_id) and C(env) are optional;
        unknown keys are kept as they are).
      - C(incident_id), the incident or rollback id (letters, digits, C(.), C(_), C(-)); it names the files.
      - C(env), the environment.
      - C(who), who ran it, a text or a dict such as C({user, awx_job_id, awx_job_template}).
      - C(trigger), null for a manual run, else the watcher's decision, such as the result of
        M(propie.rollback.rollback_triggers) (C(decision), C(reasons), C(triggers) with their values).
      - C(started), C(finished), ISO 8601 times (naive times are UTC); C(started) defaults to the
        earliest step, C(finished) of a finished run to the latest end.
      - C(status), V(succeeded), V(failed), V(running) or V(planned); by default V(failed) when there
        are failures, else V(succeeded) once finished, else V(running).
      - C(components), a dict of component name (C(traffic), C(frontend), C(infra), C(data), any names)
        to C({status, changed, before, after, started, ended, ...}); a list of dicts with C(name) is accepted too.
      - C(timeline), a list of C({step, component, started, ended, status, detail}), sorted by start
        when normalised.
      - C(data), a list of C({table, restore_point, recovery_table, rpo_seconds, ...}), one per restored table.
      - C(time_to_traffic_restored_s), by default from the end of the C(traffic) component or of its
        last successful step; C(time_to_all_done_s), by default C(finished) - C(started).
      - C(failures), a list of C({step, msg}); by default the failed timeline steps.
      - C(follow_ups), a list of C({action, status (open or done), owner}); generated when empty (see above).
    type: dict
    required: true
  dest:
    description:
      - The directory to write the files into; created with mode C(0750) when missing.
    type: path
    required: true
  contacts:
    description:
      - The emergency contacts table (the inventory's C(rollback_contacts)), used to name the
        owners of generated follow-ups. Only O(contacts[].role) and O(contacts[].name) reach the record.
    type: list
    elements: dict
    default: []
    suboptions:
      role:
        description:
          - The role, for example C(DevOps Lead).
        type: str
        required: true
      name:
        description:
          - The person (or team) in that role.
        type: str
      contact:
        description:
          - How to reach them. Never written to the record; masked in the module's output.
        type: str
      hours:
        description:
          - When they can be reached.
        type: str
      severities:
        description:
          - Which alert severities reach them.
        type: list
        elements: str
  follow_up_owners:
    description:
      - Which contact role owns each generated follow-up (the runbook's post-rollback actions).
        A role no contact has falls back to the first contact (and the record keeps C(requested_role)).
    type: dict
    suboptions:
      document:
        description:
          - Document the incident (done by this record).
        type: str
        default: DevOps Lead
      root_cause:
        description:
          - Analyse the root cause.
        type: str
        default: Backend Lead
      fix:
        description:
          - Fix the issues.
        type: str
        default: Backend Lead
      tests:
        description:
          - Improve tests.
        type: str
        default: Frontend Lead
      monitoring:
        description:
          - Update monitoring.
        type: str
        default: DevOps Lead
      procedure:
        description:
          - Update the rollback procedure.
        type: str
        default: DevOps Lead
  bucket:
    description:
      - An S3 bucket to put the three files into as well. Not set, nothing is uploaded.
    type: str
  bucket_prefix:
    description:
      - The key prefix in O(bucket); keys are C(<bucket_prefix>/<env>/<incident_id>.<ext>).
    type: str
    default: incidents
attributes:
  check_mode:
    description:
      - Reports what would be written or uploaded (reading the existing files and objects) and
        writes and uploads nothing.
  diff_mode:
    description:
      - The JSON record before (the existing file, or nothing) and after.
notes:
  - The AWS connection options are used only with O(bucket); without it no AWS call is made.
  - The record as given is still visible in the task's C(invocation) at high verbosity, except the
    masked values of 6 characters or more, which are removed from the whole result (shorter ones
    would mask ordinary text too; they are masked in the record and the files all the same).
extends_documentation_fragment: [propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Write the incident record
  propie.rollback.incident_record:
    dest: "{{ playbook_dir }}/../records"
    contacts: "{{ rollback_contacts }}"
    record:
      incident_id: "{{ rollback_id }}"
      env: "{{ rollback_env }}"
      who: {user: "{{ lookup('ansible.builtin.env', 'USER') }}", awx_job_id: "{{ tower_job_id | default(None) }}"}
      trigger: "{{ watcher | default(None) }}"
      started: "{{ run_started }}"
      finished: "{{ now(utc=true).isoformat() }}"
      components:
        traffic: {status: succeeded, changed: true, before: green, after: production}
      timeline: "{{ rollback_timeline }}"
  register: incident

- name: Keep it in S3 as well, with other owners for the code fixes
  propie.rollback.incident_record:
    dest: /var/lib/propie/incidents
    bucket: propie-incident-records
    bucket_prefix: incidents
    contacts: "{{ rollback_contacts }}"
    follow_up_owners:
      fix: Frontend Lead
      tests: Frontend Lead
    record: "{{ incident_record }}"

- name: Say how it went
  ansible.builtin.debug:
    msg: "{{ incident.summary }}"
"""

RETURN = r"""
paths:
  description: Where the incident record is (or, in check mode, would be) written, by format.
  returned: always
  type: dict
  contains:
    json:
      description: The JSON record.
      type: str
      returned: always
      sample: /var/lib/propie/incidents/rb-20261130T030000Z-9f2c1a.json
    markdown:
      description: The Markdown summary.
      type: str
      returned: always
      sample: /var/lib/propie/incidents/rb-20261130T030000Z-9f2c1a.md
    html:
      description: The HTML page with the timeline chart.
      type: str
      returned: always
      sample: /var/lib/propie/incidents/rb-20261130T030000Z-9f2c1a.html
files_changed:
  description: The files that were (or in check mode would be) written or had their mode fixed.
  returned: always
  type: list
  elements: str
s3_keys:
  description: The S3 keys of the three files (same keys as RV(paths)); empty without O(bucket).
  returned: always
  type: dict
  sample: {"json": "incidents/production/rb-20261130T030000Z-9f2c1a.json",
           "markdown": "incidents/production/rb-20261130T030000Z-9f2c1a.md",
           "html": "incidents/production/rb-20261130T030000Z-9f2c1a.html"}
s3_uploaded:
  description: The keys that were (or in check mode would be) uploaded; the others already matched.
  returned: always
  type: list
  elements: str
summary:
  description: One line about the run.
  returned: always
  type: str
  sample: "rb-20261130T030000Z-9f2c1a production: succeeded; traffic restored in 95s; all done in 1840s; 5 follow-ups open"
record:
  description:
    - The normalised, redacted record, as written to the JSON file.
    - Keys as in O(record), each component and step with C(duration_s), and C(record_format).
  returned: always
  type: dict
  contains:
    incident_id:
      description: The incident id.
      type: str
      returned: always
    env:
      description: The environment.
      type: str
      returned: always
    status:
      description: V(succeeded), V(failed), V(running) or V(planned).
      type: str
      returned: always
    started:
      description: Start of the run (UTC, ISO 8601 with C(Z)).
      type: str
      returned: always
    finished:
      description: End of the run, null while running.
      type: str
      returned: always
    time_to_traffic_restored_s:
      description: Seconds from the start until traffic was restored, null when unknown.
      type: float
      returned: always
    time_to_all_done_s:
      description: Seconds from the start until everything was done, null when unfinished.
      type: float
      returned: always
    follow_ups:
      description: The follow-ups, each with C(action), C(status) (V(open) or V(done)) and C(owner) (C({role, name})).
      type: list
      elements: dict
      returned: always
"""

import base64
import hashlib
import os
import typing

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by HAS_BOTO3

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.amazon.aws.plugins.module_utils.botocore import HAS_BOTO3
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils import files
from ansible_collections.propie.rollback.plugins.module_utils import record as rec
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List

# (return key, file extension, S3 content type)
OUTPUTS = (
    ("json", "json", "application/json"),
    ("markdown", "md", "text/markdown; charset=utf-8"),
    ("html", "html", "text/html; charset=utf-8"),
)
# Masked values this short would also mask ordinary text in the result; they are masked in the
# record and files all the same.
MIN_NO_LOG_LENGTH = 6


def _md5(data: bytes):
    try:
        digest = hashlib.md5(data, usedforsecurity=False)  # an ETag, not security
    except TypeError:  # Python < 3.9
        digest = hashlib.md5(data)  # an ETag, not security
    return digest


# -- files ------------------------------------------------------------------------------------


def ensure_dir(module, path: str) -> bool:
    """Create `path` (and missing parents) with mode 0750; whether anything was (or would be) made."""
    if os.path.isdir(path):
        return False
    if os.path.exists(path):
        module.fail_json(msg="dest %s exists and is not a directory" % path)
    if module.check_mode:
        return True
    try:
        files.make_dirs(path)
    except OSError as err:
        module.fail_json(msg="cannot create directory %s: %s" % (err.filename or path, err.strerror or err))
    return True


def sync_file(module, path: str, data: bytes, existing) -> bool:
    """Make `path` hold `data` with mode 0640; whether it changed (or would)."""
    content, mode = existing
    if content == data and mode == files.FILE_MODE:
        return False
    if module.check_mode:
        return True
    try:
        if content == data:
            os.chmod(path, files.FILE_MODE)
        else:
            files.write_atomic(path, data)
    except OSError as err:
        module.fail_json(msg="cannot write %s: %s" % (path, err))
    return True


# -- S3 ---------------------------------------------------------------------------------------


def s3_key(prefix: str, env: str, incident_id: str, ext: str) -> str:
    parts = [p for p in ((prefix or "").strip("/"), env, "%s.%s" % (incident_id, ext)) if p]
    return "/".join(parts)


def s3_matches(client, bucket: str, key: str, md5_hex: str) -> bool:
    """Whether the object exists with this content (its ETag, or our md5 metadata, matches)."""
    try:
        head = client.head_object(Bucket=bucket, Key=key, aws_retry=True)
    except is_boto3_error_code(["404", "NoSuchKey", "NotFound"]):
        return False
    etag = (head.get("ETag") or "").strip('"')
    return etag == md5_hex or (head.get("Metadata") or {}).get("md5") == md5_hex


def s3_put(client, bucket: str, key: str, data: bytes, content_type: str, incident_id: str) -> None:
    digest = _md5(data)
    client.put_object(
        Bucket=bucket, Key=key, Body=data, ContentType=content_type,
        ContentMD5=base64.b64encode(digest.digest()).decode("ascii"),
        ServerSideEncryption="AES256",
        Metadata={"md5": digest.hexdigest(), "incident-id": incident_id},
        aws_retry=True,
    )


def upload(module, record: Dict[str, Any], contents: Dict[str, bytes]):
    """Put the files into the bucket; (keys by output, keys uploaded or to upload)."""
    params = module.params
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 and botocore"))
    bucket = params["bucket"]
    keys = {}
    uploaded: List[str] = []
    client = module.client("s3", retry_decorator=aws_retry)
    for name, ext, content_type in OUTPUTS:
        key = s3_key(params["bucket_prefix"], record["env"], record["incident_id"], ext)
        keys[name] = key
        what = "reading s3://%s/%s" % (bucket, key)
        try:
            if s3_matches(client, bucket, key, _md5(contents[name]).hexdigest()):
                continue
            uploaded.append(key)
            if not module.check_mode:
                what = "uploading s3://%s/%s" % (bucket, key)
                s3_put(client, bucket, key, contents[name], content_type, record["incident_id"])
        except (BotoCoreError, ClientError) as err:
            module.fail_json_aws(err, msg="incident record %s: failed %s" % (record["incident_id"], what))
    return keys, uploaded


# -- the module ---------------------------------------------------------------------------------


def do(module) -> None:
    params = module.params
    found = set()
    try:
        record = rec.build_record(params["record"], params["contacts"], params["follow_up_owners"], found)
    except rec.RecordError as err:
        module.fail_json(msg="incident record: %s" % err)
    # The masked values stay out of the result (module_args included).
    module.no_log_values.update(v for v in found if len(v) >= MIN_NO_LOG_LENGTH)

    contents = {
        "json": rec.render_json(record).encode("utf-8"),
        "markdown": rec.render_markdown(record).encode("utf-8"),
        "html": rec.render_html(record).encode("utf-8"),
    }
    dest = params["dest"]
    paths = {name: os.path.join(dest, "%s.%s" % (record["incident_id"], ext)) for name, ext, dummy in OUTPUTS}
    existing = {name: files.read_file(path) if os.path.isdir(dest) else (None, None) for name, path in paths.items()}

    changed = ensure_dir(module, dest)
    files_changed = [paths[name] for name in paths if sync_file(module, paths[name], contents[name], existing[name])]
    changed = changed or bool(files_changed)

    keys, uploaded = {}, []
    if params["bucket"]:
        keys, uploaded = upload(module, record, contents)
        changed = changed or bool(uploaded)

    result = dict(
        changed=changed,
        paths=paths,
        files_changed=files_changed,
        s3_keys=keys,
        s3_uploaded=uploaded,
        summary=rec.summary_line(record),
        record=record,
    )
    if module._diff:
        before = existing["json"][0]
        result["diff"] = {
            "before": before.decode("utf-8", "replace") if before is not None else "",
            "after": contents["json"].decode("utf-8"),
            "before_header": paths["json"],
            "after_header": paths["json"],
        }
    module.exit_json(**result)


def main() -> None:
    owners = {key: dict(type="str", default=role) for key, role in rec.DEFAULT_FOLLOW_UP_OWNERS.items()}
    argument_spec = dict(
        record=dict(type="dict", required=True),
        dest=dict(type="path", required=True),
        contacts=dict(
            type="list", elements="dict", default=[],
            options=dict(
                role=dict(type="str", required=True),
                name=dict(type="str"),
                contact=dict(type="str", no_log=True),
                hours=dict(type="str"),
                severities=dict(type="list", elements="str"),
            ),
        ),
        follow_up_owners=dict(type="dict", options=owners, apply_defaults=True),
        bucket=dict(type="str"),
        bucket_prefix=dict(type="str", default="incidents"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True, check_boto3=False)
    do(module)


if __name__ == "__main__":
    main()
