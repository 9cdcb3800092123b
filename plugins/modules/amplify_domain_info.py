#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amplify_domain_info
short_description: Read an AWS Amplify custom domain and which branch each sub-domain serves
version_added: 0.1.0
description:
  - Reads one domain association of an Amplify app (C(GetDomainAssociation)) and returns its
    status and its sub-domain prefix to branch mapping, for example to record where traffic
    goes before a blue/green revert.
  - An unknown domain fails with a message that lists the app's domains (C(ListDomainAssociations)),
    an unknown app with one that lists the region's apps, unless O(missing_ok=true).
  - With O(required_branches) it also checks that those branches exist (C(GetBranch) each),
    for example the branch a caller is about to point sub-domains at; Amplify refuses to point
    a sub-domain at a missing branch, so the caller can find out before it changes anything.
author:
  - PropIE platform team (@propie)
options:
  missing_ok:
    description:
      - When the app or the domain does not exist, return RV(exists=false) instead of failing.
    type: bool
    default: false
  required_branches:
    description:
      - Branches of the app that must exist, read with C(GetBranch) after the domain.
      - A missing one fails the module with a message that names it and lists the app's
        branches (C(ListBranches)), unless O(missing_ok=true); RV(missing_branches) lists them
        either way.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
extends_documentation_fragment: [propie.rollback.amplify, propie.rollback.amplify.domain, propie.rollback.attributes.read_only,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Where does the domain send traffic?
  propie.rollback.amplify_domain_info:
    app_id: d4cebxzd5u3ynb
    domain_name: prop-ie-app.com
  register: routing

- name: Say it
  ansible.builtin.debug:
    msg: "{{ routing.domain.domain_status }}: {{ routing.domain.mapping }}"

- name: Read the mapping, and fail now if the green branch to point it at does not exist
  propie.rollback.amplify_domain_info:
    app_id: d4cebxzd5u3ynb
    domain_name: prop-ie-app.com
    required_branches: [green]
  register: routing
"""

RETURN = r"""
exists:
  description: Whether the domain association exists (V(false) only with O(missing_ok=true)).
  returned: always
  type: bool
missing_branches:
  description:
    - Those of O(required_branches) that do not exist (the module fails on any unless
      O(missing_ok=true)).
  returned: when O(required_branches) is given and the domain exists
  type: list
  elements: str
  sample: []
  version_added: 0.2.0
domain_name:
  description: The domain asked about.
  returned: always
  type: str
  sample: prop-ie-app.com
domain:
  description: The domain association (Amplify's fields, snake_cased), null when it does not exist.
  returned: always
  type: dict
  contains:
    domain_name:
      description: The domain.
      type: str
      returned: always
    domain_association_arn:
      description: ARN of the association.
      type: str
      returned: always
    domain_status:
      description:
        - C(AVAILABLE) when settled; C(CREATING), C(UPDATING), C(PENDING_VERIFICATION),
          C(PENDING_DEPLOYMENT), C(IN_PROGRESS), C(REQUESTING_CERTIFICATE),
          C(AWAITING_APP_CNAME) while it changes; C(FAILED).
      type: str
      returned: always
      sample: AVAILABLE
    update_status:
      description: Status of the last update, when Amplify reports one.
      type: str
      returned: when Amplify returns it
    status_reason:
      description: Amplify's reason for the status.
      type: str
      returned: always
    enable_auto_sub_domain:
      description: Whether sub-domains are made for new branches automatically.
      type: bool
      returned: always
    certificate:
      description: The certificate settings (C(type), and the verification DNS record).
      type: dict
      returned: when Amplify returns it
    mapping:
      description: Sub-domain prefix to branch (C("") is the apex).
      type: dict
      returned: always
      sample: {"": "production", "www": "production"}
    sub_domains:
      description: The sub-domains as Amplify returns them, snake_cased.
      type: list
      elements: dict
      returned: always
      contains:
        sub_domain_setting:
          description: C(prefix) and C(branch_name).
          type: dict
          returned: always
          sample: {"prefix": "www", "branch_name": "production"}
        verified:
          description: Whether Amplify verified the sub-domain's DNS record.
          type: bool
          returned: always
        dns_record:
          description: The DNS record to create for the sub-domain.
          type: str
          returned: always
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils.amplify import amplify_client
from ansible_collections.propie.rollback.plugins.module_utils.amplify import find_app
from ansible_collections.propie.rollback.plugins.module_utils.amplify import find_domain
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_branch
from ansible_collections.propie.rollback.plugins.module_utils.amplify import list_branch_names
from ansible_collections.propie.rollback.plugins.module_utils.amplify import list_domain_names
from ansible_collections.propie.rollback.plugins.module_utils.amplify import missing_app_message
from ansible_collections.propie.rollback.plugins.module_utils.amplify import sub_domain_mapping


def describe_domain(domain):
    out = camel_dict_to_snake_dict(domain)
    out["mapping"] = sub_domain_mapping(domain)
    return out


def missing_branches(module, client, app_id: str, domain_name: str, domain) -> list:
    """Those of required_branches that do not exist; fails naming them unless missing_ok."""
    missing = [b for b in module.params["required_branches"] if get_branch(module, client, app_id, b) is None]
    if missing and not module.params["missing_ok"]:
        known = list_branch_names(module, client, app_id)
        module.fail_json(
            msg="Amplify app %s has no branch %s (its branches: %s); a sub-domain of %s cannot point at a missing branch"
            % (app_id, ", ".join(repr(b) for b in missing), ", ".join(known) if known else "none", domain_name),
            app_id=app_id,
            domain_name=domain_name,
            missing_branches=missing,
            branches_of_app=known,
            domain=describe_domain(domain),
        )
    return missing


def do(module) -> None:
    app_id, domain_name, missing_ok = module.params["app_id"], module.params["domain_name"], module.params["missing_ok"]
    client = amplify_client(module)
    domain = find_domain(module, client, app_id, domain_name)
    if domain is not None:
        result = dict(changed=False, exists=True, domain_name=domain_name, domain=describe_domain(domain))
        if module.params.get("required_branches"):
            result["missing_branches"] = missing_branches(module, client, app_id, domain_name, domain)
        module.exit_json(**result)

    if find_app(module, client, app_id) is None:
        if missing_ok:
            module.exit_json(changed=False, exists=False, domain_name=domain_name, domain=None)
        module.fail_json(msg=missing_app_message(module, client, app_id), app_id=app_id, domain_name=domain_name)
    if missing_ok:
        module.exit_json(changed=False, exists=False, domain_name=domain_name, domain=None)
    known = list_domain_names(module, client, app_id)
    module.fail_json(
        msg="Amplify app %s has no domain association %r; its domains: %s"
        % (app_id, domain_name, ", ".join(known) if known else "none"),
        app_id=app_id,
        domain_name=domain_name,
        domains_of_app=known,
    )


def main() -> None:
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        domain_name=dict(type="str", required=True),
        missing_ok=dict(type="bool", default=False),
        required_branches=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
