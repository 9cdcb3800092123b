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

try:
    import botocore.config
    import botocore.exceptions
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

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


# ---------------------------------------------------------------------------
# Non-idempotent calls: made once, whatever fails around them
# ---------------------------------------------------------------------------

# Answers that say AWS did not do the call, so it may simply be repeated.
_NOT_DONE_CODES = set(THROTTLING_CODES) | {"Throttling", "ThrottledException", "SlowDown"}


def once_client(module, service):
    """A client whose calls botocore never repeats on its own (no retries at all): for
    calls that must not run twice, made through call_once. The user's aws_config is kept."""
    user = module.params.get("aws_config") or {}
    config = botocore.config.Config(**user).merge(botocore.config.Config(retries={"total_max_attempts": 1}))
    return module.client(service, aws_config=config)


def _ambiguous(error):
    """'not_done' (throttled: retry), 'unknown' (no answer or a 5xx: AWS may have done it), or None."""
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _NOT_DONE_CODES or status == 429:
            return "not_done"
        return "unknown" if status >= 500 else None
    if isinstance(error, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError)):
        return "unknown"
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return "not_done"  # the connection was never made
    return None


def call_once(call, find, what, conflict_codes=(), attempts=8, delay=1.0, max_delay=20.0, log=None,
              sleep=time.sleep):
    """call() exactly once in effect; returns what it returned, or what find() found.

    Throttling is retried with backoff (AWS did nothing). After an answer that leaves it
    unknown whether AWS did the call (a read timeout, a dropped connection, a 5xx), find()
    reads AWS for the call's own work first, after the backoff (a slow request may still be
    landing), and returns it if it is there (None otherwise); only then is the call repeated.
    A repeat refused with one of `conflict_codes` (the name is taken, say) means the earlier
    attempt did land: find() is asked again. Any other error is raised at once.
    """
    wait, unclear = delay, False
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            code = e.response.get("Error", {}).get("Code") if isinstance(e, botocore.exceptions.ClientError) else None
            if unclear and code in conflict_codes:
                kind = "unknown"
            else:
                kind = _ambiguous(e)
            if kind is None or attempt == attempts:
                raise
            if log is not None:
                log("%s: %s; %s in %.1fs" % (what, e, "looking for it" if kind == "unknown" else "trying again", wait))
            sleep(wait)
            wait = min(wait * 2, max_delay)
            if kind == "unknown":
                unclear = True
                found = find()
                if found is not None:
                    if log is not None:
                        log("%s: AWS has done it: adopting it" % what)
                    return found
    raise AssertionError("not reached")
