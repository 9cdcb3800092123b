#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollback_snapshot_info
short_description: Capture the last-known-good state of an environment for later rollbacks
version_added: 1.0.0
description:
  - Reads, without changing anything, what a later rollback needs to put an environment back,
    and returns it as one JSON document (M(propie.rollback.rollback_snapshot) captures the same
    and writes it to a snapshot directory; the C(propie.rollback.rollback_snapshot) role also
    uploads it to S3).
  - For each CloudFormation stack - its original template, parameters (NoEcho values stay
    masked), capabilities, tags, outputs and status, and whether it was healthy (settled in a
    V(*_COMPLETE) status other than V(ROLLBACK_COMPLETE)).
  - For each Amplify branch - the last successful job and the latest job; for the Amplify
    domain - its status and the prefix to branch mapping.
  - For each DynamoDB table - the point-in-time recovery status and the earliest and latest
    restorable times.
  - A resource that does not exist is recorded with C(exists=false) and a warning, so a
    snapshot before the first deploy still succeeds.
author:
  - PropIE platform team (@propie)
extends_documentation_fragment: [propie.rollback.snapshot, propie.rollback.attributes.read_only,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Capture the staging environment's last-known-good state
  propie.rollback.rollback_snapshot_info:
    env: staging
    stacks: [prop-ie-staging-appsync-stack]
    amplify_app_id: d1stagingpropie
    amplify_branches: [production, green]
    amplify_domain: prop-ie-app.com
    dynamodb_tables: [prop-ie-staging-data]
  register: snap

- name: Say whether the stacks were healthy
  ansible.builtin.debug:
    msg: "{{ snap.snapshot.stacks | dict2items | map(attribute='value.status') | list }} healthy={{ snap.snapshot.healthy }}"
"""

RETURN = r"""
snapshot:
  description: The snapshot document.
  returned: always
  type: dict
  contains:
    format:
      description: Version of the document's layout.
      type: int
      sample: 1
    snapshot_id:
      description: UTC timestamp naming this snapshot (sorts in time order).
      type: str
      sample: 20261130T034501.123456Z
    taken_at:
      description: When the snapshot was taken (UTC, ISO 8601).
      type: str
      sample: "2026-11-30T03:45:01.123456Z"
    env:
      description: The environment.
      type: str
    region:
      description: The AWS region read.
      type: str
    stacks:
      description:
        - Stack name to its state - C(exists), C(stack_id), C(status), C(healthy),
          C(template_body), C(parameters) (list of C(key), C(value), C(masked)),
          C(capabilities), C(tags), C(outputs), C(role_arn), C(notification_arns),
          C(creation_time), C(last_updated_time).
      type: dict
    amplify:
      description:
        - C(app_id); C(branches) - branch name to C(exists), C(active_job_id),
          C(last_successful_job) and C(latest_job) (each described as
          C(propie.rollback.amplify_job_info) returns jobs - C(job_id), C(status), C(commit_id),
          C(start_time), ... and the rollback classification - or null);
          C(domain) - C(domain_name), C(exists), C(status) and C(sub_domains), a mapping of
          prefix (V("") for the apex) to branch name.
      type: dict
    tables:
      description:
        - Table name to C(exists), C(pitr_status), C(earliest_restorable_time) and
          C(latest_restorable_time).
      type: dict
    healthy:
      description: True when every captured stack exists and is healthy.
      type: bool
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import snapshot


def main() -> None:
    module = AnsibleAWSModule(argument_spec=snapshot.ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(changed=False, snapshot=snapshot.capture(module))


if __name__ == "__main__":
    main()
