#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amplify_domain
short_description: Point sub-domains of an AWS Amplify custom domain at branches
version_added: 0.1.0
description:
  - Makes sub-domain prefixes of an Amplify custom domain point at the given branches,
    for example the apex and C(www) at C(production) (the runbook's blue/green revert),
    then reads the association back and checks it (the runbook's "verify traffic routing").
  - Amplify refuses C(UpdateDomainAssociation) while the domain is not C(AVAILABLE) (for
    example C(UPDATING)), so the module waits for C(AVAILABLE) before updating, and again
    after. A domain in C(FAILED) accepts the update (that is how it is repaired); if it is
    C(FAILED) after the update, the module fails.
  - C(UpdateDomainAssociation) replaces the whole list of sub-domains. The module sends
    the current sub-domains it was not asked about unchanged, unless
    O(purge_sub_domains=true).
  - Every target branch must exist; the module checks before changing anything.
  - Domain associations take no tags or description, so O(rollback_id) is only reported.
author:
  - PropIE platform team (@propie)
options:
  sub_domains:
    description:
      - The sub-domains to point, each a prefix and a branch.
    type: list
    elements: dict
    required: true
    suboptions:
      prefix:
        description:
          - The sub-domain prefix; the empty string is the domain itself (the apex).
        type: str
        default: ""
      branch_name:
        description:
          - The branch the sub-domain should serve.
        type: str
        required: true
  purge_sub_domains:
    description:
      - Remove sub-domains that are not in O(sub_domains).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the domain to become C(AVAILABLE), before and again after the
        update. If the domain stays busy before the update, the module fails without
        changing anything.
    type: int
    default: 900
  wait_delay:
    description:
      - Seconds between polls of the domain status.
    type: int
    default: 10
attributes:
  check_mode:
    description:
      - Predicts the mapping without calling C(UpdateDomainAssociation) and without waiting.
  diff_mode:
    description:
      - Shows the sub-domain to branch mapping before and after.
extends_documentation_fragment: [propie.rollback.attributes, propie.rollback.amplify, propie.rollback.amplify.domain,
  propie.rollback.amplify.report_rollback_id, amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Send traffic back to the blue branch
  propie.rollback.amplify_domain:
    app_id: d4cebxzd5u3ynb
    domain_name: prop-ie-app.com
    sub_domains:
      - prefix: ""
        branch_name: production
      - prefix: www
        branch_name: production
  register: routing

- name: Make the domain serve only the apex, from production
  propie.rollback.amplify_domain:
    app_id: d4cebxzd5u3ynb
    domain_name: prop-ie-app.com
    sub_domains:
      - branch_name: production
    purge_sub_domains: true
"""

RETURN = r"""
domain_name:
  description: The domain.
  returned: always
  type: str
  sample: prop-ie-app.com
mapping:
  description: Sub-domain prefix to branch, as read back from Amplify (predicted in check mode).
  returned: always
  type: dict
  sample: {"": "production", "www": "production"}
before:
  description: The mapping before the module ran.
  returned: always
  type: dict
  sample: {"": "green", "www": "green"}
changed_prefixes:
  description: Prefixes whose branch was set, added or removed.
  returned: always
  type: list
  elements: str
verified:
  description:
    - True when the domain read back from Amplify (after the update settled) is
      C(AVAILABLE) and maps every requested prefix to its branch. False in check mode when
      a change is pending.
  returned: always
  type: bool
sub_domains:
  description: The sub-domains read back.
  returned: always
  type: list
  elements: dict
  contains:
    prefix:
      description: Prefix.
      type: str
      returned: always
    fqdn:
      description: The full host name.
      type: str
      returned: always
    branch_name:
      description: The branch served.
      type: str
      returned: always
    dns_verified:
      description: Amplify's own C(verified) flag for the sub-domain's DNS record.
      type: bool
      returned: always
domain_status:
  description: The domain status at the end.
  returned: always
  type: str
  sample: AVAILABLE
rollback_id:
  description: The rollback id given, if any.
  returned: when given
  type: str
progress:
  description: Domain status changes seen while waiting (C(before) and C(after) the update).
  returned: always
  type: dict
timings:
  description: Seconds spent waiting before and after the update, and in total.
  returned: always
  type: dict
  sample: {"wait_before_seconds": 0.0, "wait_after_seconds": 41.2, "total_seconds": 42.0}
"""

import time
import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports it

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils.amplify import DOMAIN_FAILED
from ansible_collections.propie.rollback.plugins.module_utils.amplify import DOMAIN_READY
from ansible_collections.propie.rollback.plugins.module_utils.amplify import DOMAIN_UPDATABLE
from ansible_collections.propie.rollback.plugins.module_utils.amplify import amplify_client
from ansible_collections.propie.rollback.plugins.module_utils.amplify import change_result
from ansible_collections.propie.rollback.plugins.module_utils.amplify import fqdn
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_app
from ansible_collections.propie.rollback.plugins.module_utils.amplify import seconds_since
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_branch
from ansible_collections.propie.rollback.plugins.module_utils.amplify import get_domain
from ansible_collections.propie.rollback.plugins.module_utils.amplify import sub_domain_mapping
from ansible_collections.propie.rollback.plugins.module_utils.amplify import wait_domain_settled
from ansible_collections.propie.rollback.plugins.module_utils.common import validate_rollback_id
from ansible_collections.propie.rollback.plugins.module_utils.common import wait_options

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List


def requested_mapping(module) -> Dict[str, str]:
    wanted = {}  # type: Dict[str, str]
    for sub in module.params["sub_domains"]:
        prefix = sub["prefix"] or ""
        if prefix in wanted and wanted[prefix] != sub["branch_name"]:
            module.fail_json(
                msg="sub_domains names prefix %r twice, for branches %s and %s"
                % (prefix, wanted[prefix], sub["branch_name"])
            )
        wanted[prefix] = sub["branch_name"]
    if not wanted:
        module.fail_json(msg="sub_domains is empty: name at least one prefix and branch")
    return wanted


def check_branches(module, client, app_id: str, branches) -> None:
    missing = [b for b in sorted(set(branches)) if get_branch(module, client, app_id, b) is None]
    if missing:
        get_app(module, client, app_id)  # an unknown app fails with its own message
        module.fail_json(
            msg="Amplify app %s has no branch %s; a sub-domain cannot point at a missing branch "
            "(nothing was changed)" % (app_id, ", ".join(repr(b) for b in missing)),
            missing_branches=missing,
        )


def update_domain(module, client, app_id: str, domain_name: str, mapping: Dict[str, str]) -> None:
    settings = [dict(prefix=p, branchName=b) for p, b in sorted(mapping.items())]
    try:
        client.update_domain_association(
            appId=app_id, domainName=domain_name, subDomainSettings=settings, aws_retry=True
        )
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not update the sub-domains of %s" % domain_name)


def describe_sub_domains(domain: Dict[str, Any], domain_name: str) -> List[Dict[str, Any]]:
    out = []
    for sub in domain.get("subDomains", []):
        setting = sub.get("subDomainSetting", {})
        prefix = setting.get("prefix", "")
        out.append(
            dict(
                prefix=prefix,
                fqdn=fqdn(prefix, domain_name),
                branch_name=setting.get("branchName"),
                dns_verified=sub.get("verified"),
            )
        )
    return sorted(out, key=lambda s: s["prefix"])


def diff_view(mapping: Dict[str, str], domain_name: str) -> Dict[str, Any]:
    return dict(sub_domains={fqdn(p, domain_name): b for p, b in sorted(mapping.items())})


def do(module) -> None:
    started = time.monotonic()
    params = module.params
    app_id, domain_name = params["app_id"], params["domain_name"]
    timeout, delay = params["wait_timeout"], params["wait_delay"]
    validate_rollback_id(module, params["rollback_id"])
    wanted = requested_mapping(module)
    client = amplify_client(module)

    def settled(when: str, accept_failed: bool = False):
        what = "domain %s to become AVAILABLE %s" % (domain_name, when)
        return wait_domain_settled(module, client, app_id, domain_name, timeout, delay, what, accept_failed=accept_failed)

    domain = get_domain(module, client, app_id, domain_name)
    progress = dict(before=[], after=[])
    timings = dict(wait_before_seconds=0.0, wait_after_seconds=0.0)
    if domain.get("domainStatus") not in DOMAIN_UPDATABLE and not module.check_mode:
        domain, progress["before"] = settled("before the update (nothing was changed)", accept_failed=True)
        timings["wait_before_seconds"] = seconds_since(started)
    if domain.get("domainStatus") != DOMAIN_READY and module.check_mode:
        module.warn(
            "Domain %s is %s; a real run would wait up to %ss for AVAILABLE before updating"
            % (domain_name, domain.get("domainStatus"), timeout)
        )
    before = sub_domain_mapping(domain)
    after = dict(wanted) if params["purge_sub_domains"] else dict(before, **wanted)
    changed_prefixes = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    check_branches(module, client, app_id, [after[p] for p in changed_prefixes if p in after])

    result = change_result(module, diff_view(before, domain_name), diff_view(after, domain_name),
                           changed=bool(changed_prefixes), domain_name=domain_name, before=before,
                           changed_prefixes=changed_prefixes, progress=progress)

    if changed_prefixes and not module.check_mode:
        update_domain(module, client, app_id, domain_name, after)
        wait_after = time.monotonic()
        domain, progress["after"] = settled("after the update (the update was accepted)")
        timings["wait_after_seconds"] = seconds_since(wait_after)
        seen = sub_domain_mapping(domain)
        wrong = sorted(p for p in after if seen.get(p) != after[p])
        if wrong:
            module.fail_json(
                msg="After the update Amplify maps %s, not %s as requested"
                % (
                    ", ".join("%r->%s" % (p, seen.get(p)) for p in wrong),
                    ", ".join("%r->%s" % (p, after[p]) for p in wrong),
                ),
                mapping=seen,
                verified=False,
                **result,
            )

    mapping = after if (module.check_mode and changed_prefixes) else sub_domain_mapping(domain)
    timings["total_seconds"] = seconds_since(started)
    if domain.get("domainStatus") == DOMAIN_FAILED:
        module.warn(
            "Domain %s is FAILED (%s): its sub-domains map as requested but it may not serve "
            "traffic; see the domain in the Amplify console"
            % (domain_name, domain.get("statusReason") or "no reason given")
        )
    result.update(
        mapping=mapping,
        verified=domain.get("domainStatus") == DOMAIN_READY
        and all(sub_domain_mapping(domain).get(p) == b for p, b in wanted.items()),
        sub_domains=describe_sub_domains(domain, domain_name),
        domain_status=domain.get("domainStatus"),
        timings=timings,
    )
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        domain_name=dict(type="str", required=True),
        sub_domains=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                prefix=dict(type="str", default=""),
                branch_name=dict(type="str", required=True),
            ),
        ),
        purge_sub_domains=dict(type="bool", default=False),
        rollback_id=dict(type="str"),
        **wait_options(900, 10, with_wait=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
