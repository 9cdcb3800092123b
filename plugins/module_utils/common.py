# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared plumbing for propie.rollback modules that amazon.aws does not already give.

- retries: AWSRetry with the throttling codes that its default list misses;
- the rollback-id convention that marks every mutating call so a re-run recognises it;
- a polling wait with a timeout that records progress (for APIs without botocore waiters).
"""

from __future__ import annotations

import datetime
import os
import re
import time

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# AWSRetry's default list has "Throttling" but not these (see DESIGN.md).
THROTTLING_CODES = [
    "ThrottlingException",
    "TooManyRequestsException",
    "LimitExceededException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
]

# One retry policy for every AWS call a propie.rollback module makes.
aws_retry = AWSRetry.jittered_backoff(
    retries=8, delay=1, max_delay=20, catch_extra_error_codes=THROTTLING_CODES
)

# A rollback id looks like rb-20261130T034501Z-9f2c1a; it is carried in Amplify jobReason,
# resource tags and incident records so that a re-run can recognise its own work.
ROLLBACK_ID_RE = re.compile(r"^rb-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
MARKER_PREFIX = "propie-rollback:"
_MARKER_RE = re.compile(re.escape(MARKER_PREFIX) + r"(rb-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6})")


def new_rollback_id(now=None):
    """A fresh rollback id: UTC timestamp plus 24 random bits."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return "rb-%s-%s" % (stamp, os.urandom(3).hex())


def validate_rollback_id(module, rollback_id):
    if rollback_id and not ROLLBACK_ID_RE.match(rollback_id):
        module.fail_json(
            msg="rollback_id %r is not of the form rb-YYYYMMDDTHHMMSSZ-xxxxxx; "
            "omit it to let the module make one" % rollback_id
        )


def marker(rollback_id, note=""):
    """Text to put in a jobReason/description that identifies the rollback."""
    text = MARKER_PREFIX + rollback_id
    return "%s %s" % (text, note) if note else text


def marked_rollback_id(text):
    """The rollback id carried by a jobReason/description, or None."""
    match = _MARKER_RE.search(text or "")
    return match.group(1) if match else None


def iso(value):
    """A botocore datetime as UTC ISO 8601 text (other values unchanged)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).isoformat()
    return value


class WaitTimeout(Exception):
    """A wait ran out of time; `progress` holds what was seen."""

    def __init__(self, message, progress, last):
        super(WaitTimeout, self).__init__(message)
        self.progress = progress
        self.last = last


def wait_for(read, status_of, done, timeout, delay, what, log=None, sleep=time.sleep):
    """Poll `read()` until `done(status)` is true; return (last_value, progress).

    `status_of(value)` gives the status string to watch. `done(status)` may raise to stop
    early (a failed job, say). Every status change is recorded in `progress` as
    {"elapsed": seconds, "status": ...} and passed to `log` (module.log), so a long wait
    is visible in the result and the host's log. Raises WaitTimeout after `timeout` seconds.
    """
    started = time.monotonic()
    progress = []
    last_status = object()
    while True:
        value = read()
        status = status_of(value)
        elapsed = round(time.monotonic() - started, 2)
        if status != last_status:
            progress.append({"elapsed": elapsed, "status": status})
            if log is not None:
                log("%s: %s after %.1fs" % (what, status, elapsed))
            last_status = status
        if done(status):
            return value, progress
        if elapsed + delay > timeout:
            raise WaitTimeout(
                "timed out after %ss waiting for %s (last status %s); raise the timeout or "
                "re-run: the operation continues in AWS and a re-run resumes the wait"
                % (timeout, what, status),
                progress,
                value,
            )
        sleep(delay)
