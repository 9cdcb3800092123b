#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollback_snapshot
short_description: Take a snapshot of an environment's state and write it to its snapshot directory
version_added: 0.4.0
description:
  - Captures what M(propie.rollback.rollback_snapshot_info) captures (stack templates, parameters
    and outputs, Amplify jobs and domain mapping, DynamoDB restore windows; read-only towards
    AWS) and writes it, in one step, to O(path) as C(<snapshot id>.json), then points
    C(latest.json) at it.
  - The file is written whole or not at all (a temporary file renamed over it) with mode
    C(0640); missing directories are made with mode C(0750) whatever the umask; C(latest.json)
    is a relative link replaced by a rename, so a reader never finds it missing and the
    directory can be copied or archived as a whole.
  - Each run is a new snapshot (a new id, named by its UTC time), so the module always reports
    a change; earlier snapshots are kept.
author:
  - PropIE platform team (@propie)
options:
  path:
    description:
      - The environment's snapshot directory.
    type: path
    required: true
attributes:
  check_mode:
    description:
      - Reads AWS as a real run does and returns the snapshot it would write and its path;
        writes no file.
  diff_mode:
    description:
      - The snapshot C(latest.json) pointed at before and after.
extends_documentation_fragment: [propie.rollback.snapshot, propie.rollback.attributes,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Take a snapshot of production's stack and table before a release
  propie.rollback.rollback_snapshot:
    env: production
    path: /var/lib/propie-rollback/snapshots/production
    stacks: [prop-ie-appsync-stack]
    dynamodb_tables: [prop-ie-data]
  register: snap

- name: Say where it went
  ansible.builtin.debug:
    msg: "{{ snap.path }} (latest.json points at it); stacks healthy: {{ snap.snapshot.healthy }}"
"""

RETURN = r"""
snapshot:
  description:
    - The snapshot document written (in check mode, the one that would be), laid out as
      M(propie.rollback.rollback_snapshot_info) returns it.
  returned: always
  type: dict
path:
  description: The snapshot's file.
  returned: always
  type: str
  sample: /var/lib/propie-rollback/snapshots/staging/20261130T034501.123456Z.json
latest:
  description: The link to the newest snapshot.
  returned: always
  type: str
  sample: /var/lib/propie-rollback/snapshots/staging/latest.json
"""

import os

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import snapshot


def do(module) -> None:
    directory = module.params["path"]
    if os.path.exists(directory) and not os.path.isdir(directory):
        module.fail_json(msg="path %s is not a directory: give the environment's snapshot directory" % directory)
    before = snapshot.latest_id(directory)
    document = snapshot.capture(module)
    where = snapshot.paths(directory, document["snapshot_id"])
    if not module.check_mode:
        try:
            snapshot.write(directory, document)
        except OSError as err:
            module.fail_json(msg="could not write the snapshot to %s: %s; check the directory's owner and mode"
                             % (directory, err))
    result = dict(changed=True, snapshot=document, **where)
    if module._diff:
        result["diff"] = {"before": {"latest": before}, "after": {"latest": document["snapshot_id"]}}
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(snapshot.ARGUMENT_SPEC, path=dict(type="path", required=True))
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
