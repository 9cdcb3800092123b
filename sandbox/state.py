"""Sandbox-wide state that is not AWS data: the time scale, fault rules, the request log."""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

PROTOCOLS = ("query", "json", "rest-json", "rest-xml", "smithy-rpc-v2-cbor")


class BadControlRequest(ValueError):
    """A control-route request the sandbox cannot accept; the message says why."""


class Clock:
    """One time scale for every emulated duration, and a steppable "now".

    An emulated duration of D seconds takes D * scale real seconds, so scale 0.01 turns a
    five-minute Amplify build into three seconds. Durations are derived on read from start
    times, so nothing runs in the background and a scale change applies to what follows.

    `advance(N)` moves the sandbox's "now" forward as if N emulated seconds had passed (it adds
    N * scale real seconds to an offset): every emulated duration read after it has grown by N.
    Every emulation reads the time through `now()` / `time()`, never the system clock.
    """

    MAX_ADVANCE_SECONDS = 366 * 86400

    def __init__(self) -> None:
        self.scale = 1.0
        self.offset = 0.0  # real seconds "now" is ahead of the system clock
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """The sandbox's now (aware UTC): the system clock plus the advanced offset."""
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.offset)

    def time(self) -> float:
        """The sandbox's now as epoch seconds."""
        return time.time() + self.offset

    def real_seconds(self, emulated_seconds: float) -> float:
        return emulated_seconds * self.scale

    def emulated_elapsed(self, since: dt.datetime) -> float:
        """Emulated seconds since a moment read from `now()`."""
        real = (self.now() - since).total_seconds()
        return real / self.scale if self.scale > 0 else float("inf")

    def set_scale(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
            raise BadControlRequest(
                f"time_scale must be a number in (0, 100], got {value!r}; "
                "e.g. 0.01 makes a 300 s emulated operation take 3 s"
            )
        self.scale = float(value)

    def advance(self, seconds: Any) -> None:
        """Let `seconds` emulated seconds pass at once."""
        if (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                or not math.isfinite(seconds) or not 0 <= seconds <= self.MAX_ADVANCE_SECONDS):
            raise BadControlRequest(
                f"'seconds' must be a number of emulated seconds from 0 to "
                f"{self.MAX_ADVANCE_SECONDS}, got {seconds!r}; e.g. {{\"seconds\": 300}} lets "
                "five emulated minutes pass"
            )
        with self._lock:
            self.offset += self.real_seconds(float(seconds))

    def reset_offset(self) -> None:
        with self._lock:
            self.offset = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"time_scale": self.scale, "offset_seconds": self.offset,
                "now": self.now().isoformat()}


@dataclass
class FaultRule:
    service: str
    operation: str = "*"
    error_code: str | None = None
    http_status: int = 400
    message: str = "Injected by the sandbox"
    latency_ms: int = 0
    # Held after the call is done: a lost response (AWS did it, the client timed out).
    response_delay_ms: int = 0
    count: int | None = None  # remaining matches; None = unlimited
    probability: float = 1.0
    id: int = 0
    matched: int = 0

    FIELDS = ("service", "operation", "error_code", "http_status", "message", "latency_ms",
              "response_delay_ms", "count", "probability")

    @classmethod
    def from_json(cls, data: Any) -> "FaultRule":
        if not isinstance(data, dict):
            raise BadControlRequest("a fault rule must be a JSON object")
        unknown = sorted(set(data) - set(cls.FIELDS))
        if unknown:
            raise BadControlRequest(
                f"unknown fault rule field(s) {unknown}; allowed: {list(cls.FIELDS)}"
            )
        if not isinstance(data.get("service"), str) or not data["service"]:
            raise BadControlRequest(
                "a fault rule needs 'service' (botocore name, e.g. 'amplify', 'dynamodb')"
            )
        rule = cls(**data)
        if not isinstance(rule.operation, str) or not rule.operation:
            raise BadControlRequest("'operation' must be an operation name or '*'")
        if rule.error_code is None and not rule.latency_ms and not rule.response_delay_ms:
            raise BadControlRequest("a fault rule needs 'error_code', 'latency_ms' and/or 'response_delay_ms'")
        if rule.error_code is not None and rule.response_delay_ms:
            raise BadControlRequest("'response_delay_ms' holds the answer of a call that was made; an 'error_code' "
                                    "rule makes no call")
        if rule.error_code is not None and not isinstance(rule.error_code, str):
            raise BadControlRequest("'error_code' must be a string such as 'ThrottlingException'")
        if not isinstance(rule.http_status, int) or not 400 <= rule.http_status <= 599:
            raise BadControlRequest("'http_status' must be an integer from 400 to 599")
        if not isinstance(rule.latency_ms, int) or not 0 <= rule.latency_ms <= 600_000:
            raise BadControlRequest("'latency_ms' must be an integer from 0 to 600000")
        if rule.count is not None and (not isinstance(rule.count, int) or rule.count < 1):
            raise BadControlRequest("'count' must be a positive integer or absent (= always)")
        if not isinstance(rule.probability, (int, float)) or not 0 < rule.probability <= 1:
            raise BadControlRequest("'probability' must be a number in (0, 1]")
        return rule

    def matches(self, service: str, operation: str) -> bool:
        return self.service == service and self.operation in ("*", operation)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoggedRequest:
    seq: int
    time: str
    service: str
    operation: str
    mutating: bool
    region: str
    status: int = 0
    error_code: str | None = None
    fault: bool = False
    duration_ms: float = 0.0
    response_delay_ms: int = 0


@dataclass
class SandboxState:
    clock: Clock = field(default_factory=Clock)
    faults: list[FaultRule] = field(default_factory=list)
    log: list[LoggedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next_rule: int = 1
    _next_seq: int = 1

    def add_fault(self, data: Any) -> FaultRule:
        rule = FaultRule.from_json(data)
        with self.lock:
            rule.id = self._next_rule
            self._next_rule += 1
            self.faults.append(rule)
        return rule

    def take_fault(self, service: str, operation: str) -> FaultRule | None:
        """The first rule that fires for this call, consuming one of its counts."""
        with self.lock:
            for rule in self.faults:
                if not rule.matches(service, operation):
                    continue
                if rule.probability < 1 and random.random() >= rule.probability:
                    continue
                rule.matched += 1
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self.faults.remove(rule)
                return rule
        return None

    def record(self, service: str, operation: str, mutating: bool, region: str) -> LoggedRequest:
        with self.lock:
            entry = LoggedRequest(
                seq=self._next_seq,
                time=self.clock.now().isoformat(),
                service=service,
                operation=operation,
                mutating=mutating,
                region=region,
            )
            self._next_seq += 1
            self.log.append(entry)
            # Bound memory for long-running demo servers.
            if len(self.log) > 100_000:
                del self.log[:10_000]
        return entry

    def requests_since(self, seq: int) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(e) for e in self.log if e.seq > seq]

    def reset(self) -> None:
        """Drop the fault rules and the request log and undo clock advances; the time scale
        is kept.

        The scale is a setting of the run (--time-scale, POST /_sandbox/config), not state:
        whoever wants another one sets it. The clock offset is state (time that passed for the
        AWS state just dropped): after a reset the sandbox's now is the system clock again.
        """
        with self.lock:
            self.faults.clear()
            self.log.clear()
        self.clock.reset_offset()


def sleep_ms(ms: int) -> None:
    if ms > 0:
        time.sleep(ms / 1000)
