# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: state_dir
short_description: Where a propie.rollback run writes its state
version_added: 0.2.0
description:
  - Returns the absolute path of the run's state directory, or of a sub-directory of it named
    by the terms (joined in order).
  - The state directory is, first found, the variable C(rollback_state_dir), the environment
    variable E(PROPIE_ROLLBACK_STATE_DIR), else C(rollback-state) in the directory the run was
    started from. Relative values are taken from that directory too.
  - Never a path inside the collection, since an installed collection (or an execution environment's
    copy of it) may be read-only or thrown away after the run.
  - It only computes a path; it creates nothing.
author:
  - PropIE platform team (@propie)
options:
  _terms:
    description: Path parts below the state directory, for example V(dynamodb), or V(snapshots) and V(production).
    type: list
    elements: str
    required: false
notes:
  - In AWX or an execution environment the run's working directory is the project checkout, which
    is discarded after the job; set C(rollback_state_dir) to a persistent volume there, or rely on
    the S3 copies of snapshots and incident records.
"""

EXAMPLES = r"""
- name: Where swap records go
  ansible.builtin.debug:
    msg: "{{ lookup('propie.rollback.state_dir', 'dynamodb') }}"

- name: Snapshots of one environment
  ansible.builtin.debug:
    msg: "{{ lookup('propie.rollback.state_dir', 'snapshots', 'staging') }}"
"""

RETURN = r"""
_raw:
  description: One absolute path.
  type: list
  elements: str
"""

import os

from ansible.plugins.lookup import LookupBase

ENV_VAR = "PROPIE_ROLLBACK_STATE_DIR"
DEFAULT_NAME = "rollback-state"


def state_dir(parts=(), configured=None, environ=None, cwd=None):
    """The absolute state directory (or a path below it) for a run started in `cwd`."""
    environ = os.environ if environ is None else environ
    cwd = os.getcwd() if cwd is None else cwd
    base = configured or environ.get(ENV_VAR) or DEFAULT_NAME
    path = os.path.join(cwd, os.path.expanduser(str(base)), *[str(p) for p in parts if str(p)])
    return os.path.normpath(path)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        configured = None
        if variables and variables.get("rollback_state_dir"):
            configured = self._templar.template(variables["rollback_state_dir"])
        return [state_dir(terms or (), configured)]
