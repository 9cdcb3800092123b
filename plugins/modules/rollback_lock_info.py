#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollback_lock_info
short_description: Read an environment's rollback lock - whether a rollback holds it, which, until when
version_added: 0.4.0
description:
  - Reads the lease item that M(propie.rollback.rollback_lock) keeps for an environment, with a
    consistent C(GetItem) on the lock table, and says whether the lock is held (a lease that has
    not ended), free, or expired (a lease that has ended; acquiring takes it over), and by which
    incident, who, from which host, since and until when.
  - A lock table that does not exist (before the collection's first lock in this account and
    region) is no lock; it is not created.
  - Expiry is judged by this host's clock, as M(propie.rollback.rollback_lock) judges it.
author:
  - PropIE platform team (@propie)
options:
  env:
    description:
      - The environment whose lock is read (the item's key), for example V(production).
    type: str
    required: true
  table_name:
    description:
      - The DynamoDB table holding the locks (hash key C(env), a string).
    type: str
    default: propie-rollback-locks
seealso:
  - module: propie.rollback.rollback_lock
extends_documentation_fragment: [propie.rollback.attributes.read_only,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Look for a rollback of production in progress
  propie.rollback.rollback_lock_info:
    env: production
  register: production_lock

- name: Say who holds it
  ansible.builtin.debug:
    msg: >-
      incident {{ production_lock.lock.incident_id }} ({{ production_lock.lock.holder }}) holds the lock
      until {{ production_lock.lock.expires }}
  when: production_lock.held
"""

RETURN = r"""
held:
  description: Whether a rollback holds the lock (an item whose lease has not ended).
  returned: always
  type: bool
status:
  description:
    - V(held), V(free) (no item, or no lock table) or V(expired) (an item whose lease has ended;
      a rollback that acquires the lock takes it over).
  returned: always
  type: str
  sample: held
table_exists:
  description: Whether the lock table exists.
  returned: always
  type: bool
expires_in:
  description: Seconds until the lease ends (negative once it has ended); null when there is no item.
  returned: always
  type: float
lock:
  description:
    - The lock item as read (an expired lease's too); null when there is none.
    - Its keys are those of the C(lock) that M(propie.rollback.rollback_lock) returns - C(env),
      C(incident_id) (the incident holding the lock), C(holder) (who), C(host), C(started),
      C(renewed) and C(expires) (ISO 8601 UTC), C(expires_at) (the end of the lease in epoch
      seconds), C(version), and C(heartbeat_pid) when the holder's lease follows a process.
  returned: always
  type: dict
  sample:
    env: production
    incident_id: INC-2026-1130
    holder: alice
    host: ctl-1
    started: "2026-11-30T03:45:01Z"
    renewed: "2026-11-30T03:50:01Z"
    expires: "2026-11-30T04:05:01Z"
    expires_at: 1796010301
    version: 3
msg:
  description: What was found.
  returned: always
  type: str
  sample: >-
    the rollback lock on env production is held by incident INC-2026-1130 (who: alice, host: ctl-1,
    started 2026-11-30T03:45:01Z, expires 2026-11-30T04:00:01Z)
"""

import time
import typing

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.propie.rollback.plugins.module_utils import lock as lk
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Callable
    from typing import Dict


def lock_info(module: Any, client: Any, clock: Callable[[], float] = time.time) -> Dict[str, Any]:
    env, table = module.params["env"], module.params["table_name"]
    if not env:
        module.fail_json(msg="env must not be empty")
    item = lk.read_item(module, client, table, env)
    now = clock()
    lock = item or None
    status = lk.lock_status(lock, now)
    expires_at = (lock or {}).get("expires_at")
    expires_in = None
    if isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool):
        expires_in = round(expires_at - now, 3)
    return dict(changed=False, held=status == lk.HELD, status=status, table_exists=item is not False,
                expires_in=expires_in, lock=lock, msg=lk.status_message(env, table, item, now))


def do(module: Any) -> None:
    client = module.client("dynamodb", retry_decorator=aws_retry)
    module.exit_json(**lock_info(module, client))


def main() -> None:
    argument_spec = dict(
        env=dict(type="str", required=True),
        table_name=dict(type="str", default="propie-rollback-locks"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
