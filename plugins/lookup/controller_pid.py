# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: controller_pid
short_description: The process id of the running ansible-playbook
version_added: 0.2.0
description:
  - Returns the process id of the ansible-playbook (or ansible) main process running the
    play, a process that lives exactly as long as the run, which
    M(propie.rollback.rollback_lock) follows with O(propie.rollback.rollback_lock#module:heartbeat_pid)
    to keep a lock renewed while the run is alive.
  - Task arguments are templated in a worker process forked from the main process (checked
    with ansible-core 2.19), so there the main process is the worker's parent; where a
    template is rendered in the main process itself (a task name, for example) it is that
    process. Both give the same id.
  - The id is only meaningful on the controller; use it with modules that run there
    (a local connection).
author:
  - PropIE platform team (@propie)
options: {}
"""

EXAMPLES = r"""
- name: Keep the production lock while this playbook runs
  propie.rollback.rollback_lock:
    env: production
    incident_id: "{{ incident_id }}"
    heartbeat_pid: "{{ lookup('propie.rollback.controller_pid') }}"
"""

RETURN = r"""
_raw:
  description: One process id (a list of one integer).
  type: list
  elements: int
"""

import multiprocessing
import os

from ansible.plugins.lookup import LookupBase

try:
    from ansible.executor.process.worker import WorkerProcess
except ImportError:  # pragma: no cover - every supported ansible-core has it
    WorkerProcess = None


def controller_pid():
    """The ansible-playbook main process, seen from a worker or from the main process."""
    current = multiprocessing.current_process()
    if WorkerProcess is not None and isinstance(current, WorkerProcess):
        return os.getppid()
    return os.getpid()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [controller_pid()]
