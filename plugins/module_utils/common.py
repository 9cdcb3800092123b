# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared plumbing for propie.rollback modules that amazon.aws does not already give.

- retries: AWSRetry with the throttling codes that its default list misses, for single
  calls and for every page of a paginated one (paginate);
- botocore's own waiters whose polls ride out the errors aws_retry retries (retrying_waiter);
- the rollback-id names, re-exported from rollback_id.py;
- the one time format of module results (iso, and parse_iso to read it back);
- a polling wait with a timeout that records progress (for APIs without botocore waiters).
"""

from __future__ import annotations

import copy
import datetime
import time

try:
    import botocore.config
    import botocore.exceptions
    import botocore.session
    import botocore.waiter
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.propie.rollback.plugins.module_utils import rollback_id as rbid

# AWSRetry.found() (amazon.aws module_utils/retries.py) already retries RequestLimitExceeded,
# TooManyRequestsException and Throttling (the query-protocol services, CloudFormation among
# them), and Unavailable, ServiceUnavailable, InternalFailure, InternalError. It misses these,
# which botocore itself counts as throttling (botocore/retries/standard.py,
# ThrottledRetryableChecker._THROTTLED_ERROR_CODES; botocore/data/_retry.json):
#   ThrottlingException - the JSON-protocol services (Amplify, DynamoDB control plane,
#     Application Auto Scaling, CloudWatch);
#   LimitExceededException - in that list (and _retry.json for Kinesis);
#   ProvisionedThroughputExceededException - DynamoDB data calls (_retry.json "throughput_exceeded").
THROTTLING_CODES = [
    "ThrottlingException",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
]

# One retry policy for every AWS call a propie.rollback module makes.
aws_retry = AWSRetry.jittered_backoff(
    retries=8, delay=1, max_delay=20, catch_extra_error_codes=THROTTLING_CODES
)

# Every error code aws_retry retries: AWSRetry.found()'s own list (amazon.aws
# module_utils/retries.py) plus THROTTLING_CODES. For retry loops that are not AWSRetry's
# (the acceptors of retrying_waiter).
AWS_RETRY_CODES = (
    "RequestLimitExceeded", "Unavailable", "ServiceUnavailable", "InternalFailure", "InternalError",
    "TooManyRequestsException", "Throttling",
) + tuple(THROTTLING_CODES)


def retrying_waiter(client, name, delay, max_attempts):
    """botocore's own waiter `name` (as client.get_waiter takes it, or as the model spells it)
    for the client's service, polling every `delay` seconds up to `max_attempts` times, with one
    `retry` acceptor (matcher `error`) more per code in AWS_RETRY_CODES.

    botocore's waiters poll with the bare client method, outside the module's retry policy: a
    poll answered with an error no acceptor names ends the wait at once ("Unexpected error
    encountered"), so one throttled read would end a wait that aws_retry would have ridden out.
    With these acceptors a throttled (or 5xx) poll is one more attempt; any other error (access
    denied, say) still ends the wait at once, and so does running out of attempts: WaiterError's
    last_response then holds the error. The success and failure acceptors stay botocore's.
    Built the way client.get_waiter builds it, through public botocore API only: the waiters-2
    model from the session's data loader, WaiterModel and create_waiter_with_client.
    Raises ValueError, naming the waiters there are, when botocore has no such waiter.
    """
    service = client.meta.service_model
    loader = botocore.session.get_session().get_component("data_loader")
    try:
        waiters = loader.load_service_model(service.service_name, "waiters-2", service.api_version)["waiters"]
    except botocore.exceptions.DataNotFoundError:
        waiters = {}
    model_name = dict((botocore.xform_name(n), n) for n in waiters).get(name, name)
    if model_name not in waiters:
        raise ValueError("botocore %s has no %s waiter for %s (it has: %s)" % (
            botocore.__version__, name, service.service_name, ", ".join(sorted(waiters)) or "none"))
    config = copy.deepcopy(waiters[model_name])
    config["acceptors"] = list(config["acceptors"]) + [
        {"state": "retry", "matcher": "error", "expected": code} for code in AWS_RETRY_CODES]
    config.update(delay=delay, maxAttempts=max_attempts)
    model = botocore.waiter.WaiterModel({"version": 2, "waiters": {model_name: config}})
    return botocore.waiter.create_waiter_with_client(model_name, model, client)


def paginate(client, operation, key=None, retry=None, **params):
    """Every page of `operation`, each page request retried by `retry` (default aws_retry).

    With `key`, the items of that list in every page, concatenated; without, the pages.
    Unlike amazon.aws's paginated_query_with_retries, which retries the whole listing from the
    first page, a throttled page is asked for again with the same token and the pages already
    read are kept. botocore's PageIterator makes each page request through its `_method`
    (the client method); that one callable is wrapped, so the paginator's token handling,
    result keys and PaginationError checks stay botocore's.

    `_method` is a private attribute of botocore (1.x has always had it, but nothing promises
    it). Where a botocore release no longer has it, the whole listing is retried instead, as
    paginated_query_with_retries does: slower under throttling (pages already read are read
    again), never wrong, and still botocore's own pagination.
    """
    retry = aws_retry if retry is None else retry
    paginator = client.get_paginator(operation)
    pages = paginator.paginate(**params)
    method = getattr(pages, "_method", None)
    if callable(method):
        pages._method = retry(method)
        listing = list(pages)
    else:
        listing = retry(lambda: list(paginator.paginate(**params)))()
    if key is None:
        return listing
    return [item for page in listing for item in page.get(key) or []]


# The rollback-id convention lives in rollback_id.py; these names stay importable from here.
ROLLBACK_ID_RE = rbid.ROLLBACK_ID_RE
MARKER_PREFIX = rbid.MARKER_PREFIX
new_rollback_id = rbid.new_rollback_id
validate_rollback_id = rbid.validate_rollback_id
marker = rbid.marker
marked_rollback_id = rbid.marked_rollback_id


def iso(value):
    """A datetime as the one time format of every module result: UTC ISO 8601 with the RFC 3339
    'Z' suffix, e.g. 2026-11-30T03:45:01Z or 2026-11-30T03:45:01.123456Z (microseconds when the
    time has them). A naive datetime is taken as UTC (botocore's are aware); any other value
    (None, text) is returned unchanged. dynamodb.iso is this one for epoch seconds too.
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).replace(tzinfo=None).isoformat() + "Z"
    return value


def parse_iso(text):
    """ISO 8601 text (what iso() writes, or an older result's +00:00 form) as an aware UTC
    datetime; a time without an offset is UTC. None for anything else. The 'Z' is rewritten
    because datetime.fromisoformat reads it only from Python 3.11 on."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


class WaitTimeout(Exception):
    """A wait ran out of time; `progress` holds what was seen."""

    def __init__(self, message, progress, last):
        super(WaitTimeout, self).__init__(message)
        self.progress = progress
        self.last = last


def wait_options(timeout, delay, with_wait=True):
    """The argument spec of a module's wait options: C(wait) (unless not `with_wait`),
    C(wait_timeout) and C(wait_delay) with the module's defaults. Each module documents them
    itself, since what is waited for differs."""
    spec = dict(wait_timeout=dict(type="int", default=timeout), wait_delay=dict(type="int", default=delay))
    if with_wait:
        spec["wait"] = dict(type="bool", default=True)
    return spec


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
# The throttling codes AWSRetry retries by default plus ours, and two more from botocore's list.
_NOT_DONE_CODES = set(THROTTLING_CODES) | {
    "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "ThrottledException", "SlowDown"}


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
