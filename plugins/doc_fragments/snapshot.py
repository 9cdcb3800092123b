# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What rollback_snapshot and rollback_snapshot_info capture; module_utils.snapshot.ARGUMENT_SPEC
    # is the options' argument spec.
    DOCUMENTATION = r"""
options:
  env:
    description: Name of the environment, recorded in the snapshot.
    type: str
    required: true
  stacks:
    description:
      - Names of the CloudFormation stacks to capture.
    type: list
    elements: str
    default: []
  amplify_app_id:
    description:
      - Amplify app id. Without it, no Amplify state is captured.
    type: str
  amplify_branches:
    description:
      - Amplify branches whose jobs are captured. Requires O(amplify_app_id).
    type: list
    elements: str
    default: []
  amplify_domain:
    description:
      - Amplify domain whose sub-domain to branch mapping is captured. Requires O(amplify_app_id).
    type: str
  dynamodb_tables:
    description:
      - Names of the DynamoDB tables whose restore window is captured.
    type: list
    elements: str
    default: []
  amplify_max_jobs:
    description:
      - Reading a branch's jobs (newest first, a page at a time) stops at the first page
        holding a successful job, or once this many jobs were read.
    type: int
    default: 200
"""
