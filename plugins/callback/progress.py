# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: progress
type: notification
short_description: Show what a long rollback wait is waiting for, on every poll
version_added: 0.2.0
description:
  - A task that polls with C(until)/C(retries) prints only C(FAILED - RETRYING) between polls.
    When the polled module returns a C(progress) text (as M(propie.rollback.rollback_status)
    does), this callback prints it with each retry, so a 20-minute restore shows what it waits
    for, how long it has waited and the state now, at every poll.
  - It only adds lines; the stdout callback (the default one, or AWX's) is unchanged.
  - Enable it with C(callbacks_enabled = propie.rollback.progress) in C(ansible.cfg) (the
    repository's does) or E(ANSIBLE_CALLBACKS_ENABLED).
author:
  - PropIE platform team (@propie)
requirements:
  - enabled in the configuration (callbacks_enabled)
"""

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "propie.rollback.progress"
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_retry(self, result):
        progress = result._result.get("progress")
        if isinstance(progress, str) and progress:
            self._display.display("  ... %s: %s" % (result._host.get_name(), progress))
