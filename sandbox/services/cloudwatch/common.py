"""What the CloudWatch modules share: the lock and clock, constants, small helpers."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Union

from moto.cloudwatch import models as cw_models
from moto.core.exceptions import ServiceException

from sandbox.api import Call
from sandbox.state import Clock

# The package's module-globals, shared by the moto patches and the handlers: alarm state
# changes and their side effects (history, SNS) happen under this lock (the sandbox is
# served threaded), and the sandbox clock (given by install) says what "now" is.
_LOCK = threading.RLock()
_CLOCK = [Clock()]


def use_clock(clock: Clock) -> None:
    _CLOCK[0] = clock


Series = dict[dt.datetime, float]  # bucket start (naive UTC, as moto stores) -> value
Value = Union[float, None, Series, list]  # scalar, no value, series or array of series

HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")


class MissingParameter(ServiceException):
    code = "MissingParameter"


def _utcnow() -> dt.datetime:
    """The sandbox's now (clock advances included), naive UTC as moto stores timestamps."""
    return _CLOCK[0].now().replace(tzinfo=None)


def _naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _backend(call: Call) -> cw_models.CloudWatchBackend:
    return cw_models.cloudwatch_backends[call.account_id][call.region]


def _iso(stamp: dt.datetime) -> str:
    """AWS's alarm timestamp format, e.g. 2026-11-30T04:48:57.362+0000."""
    return _naive(stamp).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
