"""CloudWatch fidelity on top of moto: statistics, metric math, alarm evaluation.

moto 5.2.5 stores metric data but computes no percentiles, evaluates metric math only for
a bare query id, aligns buckets to the first datapoint, and never evaluates alarms (a new
alarm even starts in OK). This module keeps moto's storage and alarm objects and adds:

- PutMetricData storage that keeps `Values`/`Counts` as one weighted sample set (no
  per-count expansion) and enforces AWS's timestamp window;
- GetMetricStatistics / GetMetricData served here, from moto's stored data, with exact
  dimension matching, AWS's StartTime rounding, percentiles and trimmed statistics, and a
  small metric-math evaluator (no `eval`);
- alarms that start in INSUFFICIENT_DATA, keep their state across PutMetricAlarm updates,
  record history (DescribeAlarmHistory) and publish AWS's alarm JSON to SNS actions on
  every state change (SetAlarmState included);
- `POST /_sandbox/cloudwatch/evaluate-alarms {"alarm_names": [...]}`: evaluates metric
  alarms on demand over their latest periods and returns the transitions.

Percentiles use the nearest-rank method over the raw samples (weighted by Counts): pX is
the smallest value whose cumulative weight reaches X% of the total. AWS computes them
from the same samples (its sketches are exact at the sizes tests use). As on AWS,
percentiles are unavailable when a value is negative or when a StatisticValues set is
not a single repeated value (Min == Max and Sum == Min * SampleCount).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Union

import botocore.session
from moto.cloudwatch import models as cw_models
from moto.cloudwatch.exceptions import (
    InvalidParameterCombination,
    InvalidParameterValue,
)
from moto.core.exceptions import ServiceException

from sandbox.server import ACCOUNT_ID, Call, Sandbox, ServiceError
from sandbox.state import BadControlRequest

# Alarm state changes and their side effects (history, SNS) happen under this lock; the
# sandbox is served threaded.
_LOCK = threading.RLock()

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
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


# ---------------------------------------------------------------------------
# Storage: PutMetricData
# ---------------------------------------------------------------------------

class SampleSet(cw_models.MetricAggregatedDatum):
    """A Values/Counts entry: one datum carrying weighted samples.

    It is a MetricAggregatedDatum so moto's own code (ListMetrics, its Statistics
    helper) still sees correct Sum/Min/Max/SampleCount.
    """

    def __init__(self, namespace: str, name: str, values: list[float], counts: list[float],
                 dimensions: list[dict[str, str]], timestamp: dt.datetime | None,
                 unit: str | None) -> None:
        pairs = [(float(v), float(c)) for v, c in zip(values, counts) if float(c) > 0]
        nums = [v for v, _unused in pairs] or [0.0]
        super().__init__(namespace, name, min_stat=min(nums), max_stat=max(nums),
                         sample_count=sum(c for _unused, c in pairs),
                         sum_stat=sum(v * c for v, c in pairs),
                         dimensions=dimensions, timestamp=timestamp, unit=unit)
        self.samples = pairs


def _put_metric_data(self: cw_models.CloudWatchBackend, namespace: str,
                     metric_data: list[dict[str, Any]]) -> None:
    now = _utcnow()
    for i, member in enumerate(metric_data, start=1):
        self._validate_parameters_put_metric_data(member, i)
        prefix = f"MetricData.member.{i}"
        if member.get("Values") and member.get("StatisticValues"):
            raise InvalidParameterCombination(
                f"The parameters {prefix}.Values and {prefix}.StatisticValues are mutually "
                "exclusive and you have specified both.")
        if "Value" not in member and not member.get("Values") and not member.get("StatisticValues"):
            raise MissingParameter(f"The parameter {prefix}.Value is required.")
        if member.get("Counts") and not member.get("Values"):
            raise InvalidParameterCombination(
                f"The parameter {prefix}.Counts can only be used together with {prefix}.Values.")
        if any(float(c) < 0 for c in member.get("Counts") or []):
            raise InvalidParameterValue(f"The parameter {prefix}.Counts must not be negative.")
        stamp = member.get("Timestamp")
        if stamp is not None:
            stamp = _naive(stamp)
            # AWS accepts data up to two weeks old and up to two hours ahead.
            if stamp < now - dt.timedelta(days=14):
                raise InvalidParameterValue(
                    f"The parameter {prefix}.Timestamp must specify a time no more than two "
                    "weeks in the past.")
            if stamp > now + dt.timedelta(hours=2):
                raise InvalidParameterValue(
                    f"The parameter {prefix}.Timestamp must specify a time no more than two "
                    "hours in the future.")
    for member in metric_data:
        stamp = _naive(member["Timestamp"]) if member.get("Timestamp") else now
        args = (namespace, member["MetricName"])
        dims = member.get("Dimensions") or []
        unit = member.get("Unit")
        if member.get("Values"):
            values = member["Values"]
            counts = member.get("Counts") or [1.0] * len(values)
            datum: cw_models.MetricDatumBase = SampleSet(*args, values, counts, dims, stamp, unit)
        elif member.get("StatisticValues"):
            stats = member["StatisticValues"]
            datum = cw_models.MetricAggregatedDatum(
                *args, min_stat=float(stats["Minimum"]), max_stat=float(stats["Maximum"]),
                sample_count=float(stats["SampleCount"]), sum_stat=float(stats["Sum"]),
                dimensions=dims, timestamp=stamp, unit=unit)
        else:
            datum = cw_models.MetricDatum(*args, float(member["Value"]), dims, stamp, unit)
        self.metric_data.append(datum)


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------

@dataclass
class Aggregate:
    """Everything a statistic needs about the datums of one period."""

    count: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    # Sorted (value, weight) samples; None when percentiles are unavailable.
    samples: list[tuple[float, float]] | None = field(default_factory=list)


def aggregate(datums: Iterable[cw_models.MetricDatumBase]) -> Aggregate:
    agg = Aggregate()
    samples: list[tuple[float, float]] | None = []
    for d in datums:
        if isinstance(d, SampleSet):
            pairs = d.samples
        elif isinstance(d, cw_models.MetricAggregatedDatum):
            simple = d.min == d.max and math.isclose(d.sum, d.min * d.sample_count)
            pairs = [(d.min, d.sample_count)] if simple and d.sample_count > 0 else None
            agg.count += d.sample_count
            agg.total += d.sum
            agg.low = min(agg.low, d.min)
            agg.high = max(agg.high, d.max)
            if pairs is None:
                samples = None
            elif samples is not None:
                samples.extend(pairs)
            continue
        else:
            pairs = [(float(d.value), 1.0)]  # type: ignore[attr-defined]
        for v, w in pairs:
            agg.count += w
            agg.total += v * w
            agg.low = min(agg.low, v)
            agg.high = max(agg.high, v)
        if samples is not None:
            samples.extend(pairs)
    if samples is not None and any(v < 0 for v, _unused in samples):
        samples = None  # AWS: no percentiles for metrics with negative values
    agg.samples = sorted(samples) if samples is not None else None
    return agg


def _percentile(samples: list[tuple[float, float]], pct: float) -> float | None:
    """Nearest rank: the smallest value whose cumulative weight reaches pct% of the total."""
    total = sum(w for _unused, w in samples)
    if total <= 0:
        return None
    target = pct / 100.0 * total
    cumulative = 0.0
    for value, weight in samples:
        cumulative += weight
        if cumulative >= target - 1e-9 * total:
            return value
    return samples[-1][0]


def _trimmed(samples: list[tuple[float, float]], kind: str, lo: float, hi: float,
             percent: bool) -> float | None:
    """TM/TC/TS/WM/PR over the samples inside (lo, hi] (ranks if percent, else values)."""
    total = sum(w for _unused, w in samples)
    if total <= 0:
        return None
    if kind == "PR":  # percentage of samples whose value lies in (lo, hi]
        inside = sum(w for v, w in samples if lo < v <= hi)
        return 100.0 * inside / total
    if not percent:
        chosen = [(v, w) for v, w in samples if lo < v <= hi]
    else:
        low_rank, high_rank = lo / 100.0 * total, hi / 100.0 * total
        chosen, cumulative = [], 0.0
        for v, w in samples:
            start, cumulative = cumulative, cumulative + w
            overlap = min(cumulative, high_rank) - max(start, low_rank)
            if overlap > 0:
                chosen.append((v, overlap))
    weight = sum(w for _unused, w in chosen)
    if kind == "TC":
        return weight
    if kind == "TS":
        return sum(v * w for v, w in chosen)
    if kind == "WM":  # winsorized mean: clamp the outliers to the bounds, keep their weight
        if not chosen:
            return None
        floor_v, ceil_v = chosen[0][0], chosen[-1][0]
        return sum(min(max(v, floor_v), ceil_v) * w for v, w in samples) / total
    if weight <= 0:
        return None
    return sum(v * w for v, w in chosen) / weight


_NUM = r"\d+(?:\.\d+)?"
_SHORT_STAT = re.compile(rf"^(p|tm|tc|ts|wm)({_NUM})$")
_RANGE_STAT = re.compile(rf"^(TM|TC|TS|WM|PR)\(({_NUM}%?)?:({_NUM}%?)?\)$")


def stat_function(stat: str) -> Callable[[Aggregate], float | None] | None:
    """A function computing `stat` from an Aggregate, or None if CloudWatch has no such stat."""
    simple: dict[str, Callable[[Aggregate], float | None]] = {
        "SampleCount": lambda a: a.count,
        "Sum": lambda a: a.total,
        "Average": lambda a: a.total / a.count if a.count else None,
        "Minimum": lambda a: a.low,
        "Maximum": lambda a: a.high,
    }
    if stat in simple:
        return simple[stat]
    if stat == "IQM":
        stat = "TM(25%:75%)"
    match = _SHORT_STAT.match(stat)
    if match:
        kind, number = match.group(1), float(match.group(2))
        if not 0 <= number <= 100:
            return None
        if kind == "p":
            return lambda a: _percentile(a.samples, number) if a.samples else None
        return lambda a: (_trimmed(a.samples, kind.upper(), 0.0, number, True)
                          if a.samples else None)
    match = _RANGE_STAT.match(stat)
    if match:
        kind, low, high = match.groups()
        if kind == "PR" and ((low or "").endswith("%") or (high or "").endswith("%")):
            return None
        percent = (low or high or "").endswith("%") or (not low and not high)
        if any(b and b.endswith("%") != percent for b in (low, high)):
            return None
        lo = float(low.rstrip("%")) if low else (0.0 if percent else -math.inf)
        hi = float(high.rstrip("%")) if high else (100.0 if percent else math.inf)
        if percent and not 0 <= lo <= hi <= 100:
            return None
        return lambda a: _trimmed(a.samples, kind, lo, hi, percent) if a.samples else None
    return None


# ---------------------------------------------------------------------------
# Selecting and bucketing stored data
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class MetricRef:
    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    unit: str | None = None

    @classmethod
    def from_params(cls, metric: dict[str, Any], unit: str | None = None) -> "MetricRef":
        dims = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions") or [])
        return cls(metric.get("Namespace", ""), metric.get("MetricName", ""), dims, unit)


def _select(backend: cw_models.CloudWatchBackend, ref: MetricRef,
            start: dt.datetime, end: dt.datetime) -> list[cw_models.MetricDatumBase]:
    """Datums of exactly this metric (same dimension set, as AWS requires) in [start, end)."""
    chosen = []
    for d in backend.get_all_metrics():
        if d.namespace != ref.namespace or d.name != ref.name:
            continue
        if ref.unit and d.unit != ref.unit:
            continue
        if frozenset((x.name, x.value) for x in d.dimensions) != ref.dimensions:
            continue
        if start <= _naive(d.timestamp) < end:
            chosen.append(d)
    return chosen


@dataclass(frozen=True)
class Grid:
    """Contiguous periods [start + k*period, start + (k+1)*period) for k < count."""

    start: dt.datetime
    period: int
    count: int

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.period * self.count)

    def starts(self) -> list[dt.datetime]:
        return [self.start + dt.timedelta(seconds=self.period * k) for k in range(self.count)]

    def buckets(self, datums: list[cw_models.MetricDatumBase]) -> dict[dt.datetime, list[Any]]:
        out: dict[dt.datetime, list[Any]] = {}
        for d in datums:
            index = int((_naive(d.timestamp) - self.start).total_seconds() // self.period)
            if 0 <= index < self.count:
                key = self.start + dt.timedelta(seconds=self.period * index)
                out.setdefault(key, []).append(d)
        return dict(sorted(out.items()))


def request_grid(start: dt.datetime, end: dt.datetime, period: int,
                 now: dt.datetime | None = None) -> Grid:
    """AWS rounds StartTime down (minute, 5 minutes or hour by age; high-resolution periods
    to their own multiple) and returns periods from there up to EndTime."""
    now = now or _utcnow()
    age = now - start
    if period < 60:
        unit = period
    elif age <= dt.timedelta(days=15):
        unit = 60
    elif age <= dt.timedelta(days=63):
        unit = 300
    else:
        unit = 3600
    epoch = dt.datetime(1970, 1, 1)
    seconds = int((start - epoch).total_seconds())
    rounded = epoch + dt.timedelta(seconds=seconds - seconds % unit)
    count = max(0, math.ceil((end - rounded).total_seconds() / period))
    return Grid(rounded, period, count)


def metric_series(backend: cw_models.CloudWatchBackend, ref: MetricRef, stat: str,
                  grid: Grid) -> tuple[Series, dict[dt.datetime, Aggregate]]:
    fn = stat_function(stat)
    assert fn is not None, stat
    series: Series = {}
    aggregates: dict[dt.datetime, Aggregate] = {}
    for start, datums in grid.buckets(_select(backend, ref, grid.start, grid.end)).items():
        agg = aggregate(datums)
        aggregates[start] = agg
        value = fn(agg)
        if value is not None:
            series[start] = float(value)
    return series, aggregates


def _check_period(period: Any, name: str) -> int:
    if not isinstance(period, int) or period <= 0 or (
            period not in HIGH_RESOLUTION_PERIODS and period % 60):
        raise ServiceError("InvalidParameterValue",
                           f"The parameter {name} must be 1, 5, 10, 30 or a multiple of 60.")
    return period


# ---------------------------------------------------------------------------
# Metric math: tokenizer, parser, evaluator
# ---------------------------------------------------------------------------

class ExpressionError(ValueError):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>[-+*/^(),\[\]]))")


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].strip()[:1]!r} at {pos}")
        kind = match.lastgroup or "op"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*;
    unary := ('-'|'+') unary | power; power := atom ('^' unary)?;
    atom := number | id | string | NAME '(' args ')' | '(' expr ')' | '[' args ']'."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def parse(self) -> tuple:
        if not self.tokens:
            raise ExpressionError("the expression is empty")
        node = self._expr()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos][1]!r}")
        return node

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError("the expression ends unexpectedly")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def _expr(self) -> tuple:
        node = self._term()
        while self._peek() in ("+", "-"):
            node = ("bin", self._take()[1], node, self._term())
        return node

    def _term(self) -> tuple:
        node = self._unary()
        while self._peek() in ("*", "/"):
            node = ("bin", self._take()[1], node, self._unary())
        return node

    def _unary(self) -> tuple:
        if self._peek() in ("-", "+"):
            sign = self._take()[1]
            operand = self._unary()
            return ("bin", "*", ("num", -1.0), operand) if sign == "-" else operand
        return self._power()

    def _power(self) -> tuple:
        node = self._atom()
        if self._peek() == "^":
            self._take()
            node = ("bin", "^", node, self._unary())
        return node

    def _args(self, closing: str) -> list[tuple]:
        args: list[tuple] = []
        if self._peek() == closing:
            self._take()
            return args
        while True:
            args.append(self._expr())
            if self._take()[1] == closing:
                return args
            if self.tokens[self.pos - 1][1] != ",":
                raise ExpressionError(f"expected ',' or {closing!r}")

    def _atom(self) -> tuple:
        kind, text = self._take()
        if kind == "num":
            return ("num", float(text))
        if kind == "str":
            return ("str", text[1:-1])
        if kind == "name":
            if self._peek() == "(":
                self._take()
                return ("call", text.upper(), self._args(")"))
            return ("id", text)
        if text == "(":
            node = self._expr()
            self._take(")")
            return node
        if text == "[":
            return ("list", self._args("]"))
        raise ExpressionError(f"unexpected {text!r}")


def _apply(op: str, a: float, b: float) -> float | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else a / b  # AWS: division by zero gives no value
    try:
        result = math.pow(a, b)
    except (OverflowError, ValueError):
        return None
    return None if isinstance(result, complex) else result


def _combine(op: str, left: Value, right: Value) -> Value:
    if isinstance(left, list):
        return [_combine(op, item, right) for item in left]
    if isinstance(right, list):
        return [_combine(op, left, item) for item in right]
    if left is None or right is None:
        return None
    if isinstance(left, dict) and isinstance(right, dict):
        # Per timestamp: a timestamp missing on either side has no value.
        out = {t: _apply(op, v, right[t]) for t, v in left.items() if t in right}
    elif isinstance(left, dict):
        out = {t: _apply(op, v, right) for t, v in left.items()}  # type: ignore[arg-type]
    elif isinstance(right, dict):
        out = {t: _apply(op, left, v) for t, v in right.items()}
    else:
        return _apply(op, left, right)
    return {t: v for t, v in out.items() if v is not None}


_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "SUM": sum,
    "AVG": lambda xs: sum(xs) / len(xs),
    "MIN": min,
    "MAX": max,
}


class Evaluator:
    """Evaluates the expression queries of one request over series of MetricStat queries."""

    def __init__(self, queries: list[dict[str, Any]], metric_values: dict[str, Series],
                 grid: Grid) -> None:
        self.queries = {q["Id"]: q for q in queries}
        self.order = [q["Id"] for q in queries]
        self.values: dict[str, Value] = dict(metric_values)
        self.grid = grid
        self._active: list[str] = []

    def value_of(self, query_id: str) -> Value:
        if query_id in self.values:
            return self.values[query_id]
        query = self.queries.get(query_id)
        if query is None or "Expression" not in query:
            raise ExpressionError(f"Unrecognized metric id {query_id!r}")
        if query_id in self._active:
            raise ExpressionError(f"circular reference through {query_id!r}")
        self._active.append(query_id)
        try:
            result = self._eval(_Parser(query["Expression"]).parse())
        finally:
            self._active.pop()
        self.values[query_id] = result
        return result

    def label(self, query_id: str) -> str:
        query = self.queries[query_id]
        if query.get("Label"):
            return query["Label"]
        if "MetricStat" in query:
            return query["MetricStat"]["Metric"].get("MetricName", query_id)
        return query_id

    def _eval(self, node: tuple) -> Value:
        kind = node[0]
        if kind == "num":
            return node[1]
        if kind == "id":
            return self.value_of(node[1])
        if kind == "str":
            raise ExpressionError(f"a string ({node[1]!r}) is only allowed as METRICS() filter")
        if kind == "bin":
            return _combine(node[1], self._eval(node[2]), self._eval(node[3]))
        if kind == "list":
            out: list = []
            for item in node[1]:
                value = self._eval(item)
                out.extend(value if isinstance(value, list) else [value])
            return out
        return self._call(node[1], node[2])

    def _call(self, name: str, args: list[tuple]) -> Value:
        if name == "METRICS":
            text = args[0][1] if args and args[0][0] == "str" else None
            if len(args) > 1 or (args and text is None):
                raise ExpressionError("METRICS() takes at most one string argument")
            return [self.value_of(i) for i in self.order
                    if "MetricStat" in self.queries[i]
                    and (text is None or text in i or text in self.label(i))]
        if name in _REDUCERS:
            if len(args) != 1:
                raise ExpressionError(f"{name}() takes one argument")
            return self._reduce(name, self._eval(args[0]))
        if name in ("ABS", "CEIL", "FLOOR"):
            fn = {"ABS": abs, "CEIL": math.ceil, "FLOOR": math.floor}[name]
            return self._map(lambda v: float(fn(v)), self._eval_one(name, args))
        if name == "FILL":
            if len(args) != 2:
                raise ExpressionError("FILL() takes a time series and a value or REPEAT")
            repeat = args[1] == ("id", "REPEAT")
            filler = None if repeat else self._eval(args[1])
            if not repeat and not isinstance(filler, float):
                raise ExpressionError("FILL() needs a number or REPEAT as second argument")
            return self._map_series(lambda s: self._fill(s, filler), self._eval(args[0]))
        raise ExpressionError(f"unsupported function {name}()")

    def _eval_one(self, name: str, args: list[tuple]) -> Value:
        if len(args) != 1:
            raise ExpressionError(f"{name}() takes one argument")
        return self._eval(args[0])

    @staticmethod
    def _map(fn: Callable[[float], float], value: Value) -> Value:
        if isinstance(value, list):
            return [Evaluator._map(fn, v) for v in value]
        if isinstance(value, dict):
            return {t: fn(v) for t, v in value.items()}
        return None if value is None else fn(value)

    @staticmethod
    def _map_series(fn: Callable[[Series], Series], value: Value) -> Value:
        if isinstance(value, list):
            return [Evaluator._map_series(fn, v) for v in value]
        if isinstance(value, dict):
            return fn(value)
        raise ExpressionError("FILL() needs a time series")

    def _fill(self, series: Series, filler: float | None) -> Series:
        out: Series = {}
        last = None
        for t in self.grid.starts():
            if t in series:
                last = series[t]
                out[t] = last
            elif filler is not None:
                out[t] = filler
            elif last is not None:
                out[t] = last
        return out

    @staticmethod
    def _reduce(name: str, value: Value) -> Value:
        reducer = _REDUCERS[name]
        if isinstance(value, dict):  # one series -> one number
            return reducer(list(value.values())) if value else None
        if isinstance(value, list):  # array -> a series over the values present per time
            series = [v for v in value if isinstance(v, dict)]
            stamps = sorted({t for s in series for t in s})
            return {t: reducer([s[t] for s in series if t in s]) for t in stamps}
        return value

    def result(self, query_id: str) -> list[tuple[str, Series]]:
        """The (label, series) results of one query; a scalar spans the whole grid."""
        value = self.value_of(query_id)
        label = self.label(query_id)
        if isinstance(value, list):
            return [(f"{label} {i + 1}" if len(value) > 1 else label, self._as_series(v))
                    for i, v in enumerate(value)]
        return [(label, self._as_series(value))]

    def _as_series(self, value: Value) -> Series:
        if isinstance(value, dict):
            return dict(sorted(value.items()))
        if value is None:
            return {}
        return {t: float(value) for t in self.grid.starts()}  # type: ignore[arg-type]


_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def _validate_queries(queries: list[dict[str, Any]], error: str) -> None:
    seen: set[str] = set()
    for n, q in enumerate(queries, start=1):
        if not _QUERY_ID.match(q.get("Id", "")):
            raise ServiceError(error, f"The value {q.get('Id')!r} for parameter "
                               f"MetricDataQueries.member.{n}.Id is invalid: it must start with "
                               "a lowercase letter and contain only letters, digits and _.")
        if q["Id"] in seen:
            raise ServiceError(error, f"The value {q['Id']} for parameter "
                               "MetricDataQueries.member.Id is not unique.")
        seen.add(q["Id"])
        if ("MetricStat" in q) == ("Expression" in q):
            raise ServiceError(error, f"Exactly one element of MetricStat or Expression must be "
                               f"specified for MetricDataQueries.member.{n}.")
        if "MetricStat" in q:
            _check_period(q["MetricStat"].get("Period"), f"MetricDataQueries.member.{n}.MetricStat.Period")
            if stat_function(q["MetricStat"].get("Stat", "")) is None:
                raise ServiceError(error, f"The value {q['MetricStat'].get('Stat')} for parameter "
                                   f"MetricDataQueries.member.{n}.MetricStat.Stat is not supported.")


def evaluate_queries(backend: cw_models.CloudWatchBackend, queries: list[dict[str, Any]],
                     grid_for: Callable[[int], Grid]) -> Evaluator:
    """Fetch every MetricStat query and prepare expressions; `grid_for(period)` gives buckets."""
    metric_values: dict[str, Series] = {}
    periods = []
    for q in queries:
        if "MetricStat" in q:
            ms = q["MetricStat"]
            periods.append(ms["Period"])
            ref = MetricRef.from_params(ms["Metric"], ms.get("Unit"))
            metric_values[q["Id"]], _unused = metric_series(backend, ref, ms["Stat"], grid_for(ms["Period"]))
    period = max(periods) if periods else max([q.get("Period") or 60 for q in queries])
    return Evaluator(queries, metric_values, grid_for(period))


# ---------------------------------------------------------------------------
# GetMetricStatistics / GetMetricData
# ---------------------------------------------------------------------------

def _backend(call: Call) -> cw_models.CloudWatchBackend:
    return cw_models.cloudwatch_backends[call.account_id][call.region]


def get_metric_statistics(call: Call) -> dict[str, Any]:
    p = call.params
    stats = p.get("Statistics") or []
    extended = p.get("ExtendedStatistics") or []
    if not stats and not extended:
        raise ServiceError("InvalidParameterCombination",
                           "Must specify either Statistics or ExtendedStatistics.")
    for name in extended:
        if stat_function(name) is None or name in ("SampleCount", "Sum", "Average", "Minimum",
                                                   "Maximum"):
            raise ServiceError("InvalidParameterValue",
                               f"The value {name} for parameter ExtendedStatistics is not supported.")
    start, end = _naive(p["StartTime"]), _naive(p["EndTime"])
    if start >= end:
        raise ServiceError("InvalidParameterValue",
                           "The parameter StartTime must be less than the parameter EndTime.")
    period = _check_period(p.get("Period"), "Period")
    grid = request_grid(start, end, period)
    if grid.count > 1440:
        raise ServiceError(
            "InvalidParameterCombination",
            f"You have requested up to {grid.count:,} datapoints, which exceeds the limit of "
            "1,440. You may reduce the datapoints requested by increasing Period, or decreasing "
            "the time range.")
    ref = MetricRef.from_params(p, p.get("Unit"))
    datapoints = []
    for stamp, datums in grid.buckets(_select(_backend(call), ref, grid.start, grid.end)).items():
        agg = aggregate(datums)
        point: dict[str, Any] = {"Timestamp": stamp,
                                 "Unit": p.get("Unit") or datums[0].unit or "None"}
        for name in stats:
            value = stat_function(name)(agg)  # type: ignore[misc]
            if value is not None:
                point[name] = float(value)
        ext = {name: float(v) for name in extended
               if (v := stat_function(name)(agg)) is not None}  # type: ignore[misc]
        if ext:
            point["ExtendedStatistics"] = ext
        datapoints.append(point)
    return {"Label": p.get("MetricName", ""), "Datapoints": datapoints}


def get_metric_data(call: Call) -> dict[str, Any] | None:
    p = call.params
    queries = p.get("MetricDataQueries") or []
    if any(q.get("Expression", "").lstrip().upper().startswith("SELECT") for q in queries):
        return None  # Metrics Insights: left to moto's approximation
    _validate_queries(queries, "ValidationError")
    start, end = _naive(p["StartTime"]), _naive(p["EndTime"])
    if start >= end:
        raise ServiceError("ValidationError",
                           "The parameter StartTime must be less than the parameter EndTime.")
    descending = (p.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
    evaluator = evaluate_queries(_backend(call), queries,
                                 lambda period: request_grid(start, end, period))
    results = []
    for q in queries:
        if q.get("ReturnData") is False:
            continue
        try:
            outputs = evaluator.result(q["Id"])
        except ExpressionError as err:
            raise ServiceError("ValidationError", f"Error in expression {q['Id']}: {err}") from None
        for label, series in outputs:
            stamps = sorted(series, reverse=descending)
            results.append({"Id": q["Id"], "Label": label, "Timestamps": stamps,
                            "Values": [series[t] for t in stamps], "StatusCode": "Complete",
                            "Messages": []})
    return {"MetricDataResults": results, "Messages": []}


# ---------------------------------------------------------------------------
# Alarms: state changes, history, actions
# ---------------------------------------------------------------------------

def _iso(stamp: dt.datetime) -> str:
    """AWS's alarm timestamp format, e.g. 2026-11-30T04:48:57.362+0000."""
    return _naive(stamp).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _history(backend: cw_models.CloudWatchBackend) -> list[dict[str, Any]]:
    # Kept on the backend so that moto's reset clears it with the alarms.
    return backend.__dict__.setdefault("_sandbox_alarm_history", [])


def _backend_of(alarm: cw_models.Alarm) -> cw_models.CloudWatchBackend:
    account = alarm.alarm_arn.split(":")[4]
    return cw_models.cloudwatch_backends[account][alarm.region_name]


def _add_history(alarm: cw_models.Alarm, kind: str, summary: str, data: dict[str, Any],
                 stamp: dt.datetime | None = None) -> None:
    _history(_backend_of(alarm)).append({
        "AlarmName": alarm.name,
        "AlarmType": "CompositeAlarm" if alarm.rule else "MetricAlarm",
        "Timestamp": stamp or _utcnow(),
        "HistoryItemType": kind,
        "HistorySummary": summary,
        "HistoryData": json.dumps(data),
    })


def _region_name(region: str) -> str:
    """AWS's display name of a region, as alarm notifications show it."""
    for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
        if region in partition["regions"]:
            return partition["regions"][region].get("description", region)
    return region


_STAT_UPPER = {"SampleCount": "SAMPLE_COUNT", "Average": "AVERAGE", "Sum": "SUM",
               "Minimum": "MINIMUM", "Maximum": "MAXIMUM"}


def _query_dict(q: cw_models.MetricDataQuery) -> dict[str, Any]:
    """A moto MetricDataQuery back in API shape."""
    out: dict[str, Any] = {"Id": q.id}
    if q.expression:
        out["Expression"] = q.expression
    if q.metric_stat is not None:
        ms = q.metric_stat
        metric = {"Namespace": ms.metric.namespace, "MetricName": ms.metric.metric_name,
                  "Dimensions": [{"Name": d.name, "Value": d.value} for d in ms.metric.dimensions]}
        out["MetricStat"] = {"Metric": metric, "Period": int(ms.period), "Stat": ms.stat}
        if ms.unit:
            out["MetricStat"]["Unit"] = ms.unit
    if q.label:
        out["Label"] = q.label
    if q.return_data is not None:
        out["ReturnData"] = q.return_data in (True, "true", "True")
    if q.period:
        out["Period"] = int(q.period)
    return out


def _message_metric(q: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": q["Id"]}
    if "Expression" in q:
        out["Expression"] = q["Expression"]
    if "Label" in q:
        out["Label"] = q["Label"]
    if "MetricStat" in q:
        ms = q["MetricStat"]
        out["MetricStat"] = {
            "Metric": {"Dimensions": [{"value": d["Value"], "name": d["Name"]}
                                      for d in ms["Metric"]["Dimensions"]],
                       "MetricName": ms["Metric"]["MetricName"],
                       "Namespace": ms["Metric"]["Namespace"]},
            "Period": ms["Period"], "Stat": ms["Stat"]}
        if ms.get("Unit"):
            out["MetricStat"]["Unit"] = ms["Unit"]
    out["ReturnData"] = q.get("ReturnData", True)
    return out


def _trigger(alarm: cw_models.Alarm) -> dict[str, Any]:
    trigger: dict[str, Any] = {}
    if alarm.metric_data_queries:
        if alarm.period:
            trigger["Period"] = int(alarm.period)
    else:
        trigger.update({"MetricName": alarm.metric_name, "Namespace": alarm.namespace})
        if alarm.extended_statistic:
            trigger.update({"StatisticType": "ExtendedStatistic",
                            "ExtendedStatistic": alarm.extended_statistic})
        else:
            trigger.update({"StatisticType": "Statistic",
                            "Statistic": _STAT_UPPER.get(alarm.statistic, alarm.statistic)})
        trigger.update({"Unit": alarm.unit,
                        "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
                        "Period": int(alarm.period)})
    trigger["EvaluationPeriods"] = int(alarm.evaluation_periods)
    if alarm.datapoints_to_alarm:
        trigger["DatapointsToAlarm"] = int(alarm.datapoints_to_alarm)
    trigger.update({"ComparisonOperator": alarm.comparison_operator,
                    "Threshold": float(alarm.threshold),
                    "TreatMissingData": alarm.treat_missing_data or "",
                    "EvaluateLowSampleCountPercentile":
                        alarm.evaluate_low_sample_count_percentile or ""})
    if alarm.metric_data_queries:
        trigger["Metrics"] = [_message_metric(_query_dict(q)) for q in alarm.metric_data_queries]
    return trigger


def alarm_message(alarm: cw_models.Alarm, old_state: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS actions."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": alarm.alarm_arn.split(":")[4],
        "AlarmConfigurationUpdatedTimestamp": _iso(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _iso(alarm.state_updated_timestamp),
        "Region": _region_name(alarm.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": _trigger(alarm),
    }


def _run_actions(alarm: cw_models.Alarm, old_state: str) -> list[dict[str, Any]]:
    from moto.sns.models import sns_backends

    targets = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
               "INSUFFICIENT_DATA": alarm.insufficient_data_actions}[alarm.state_value]
    if not targets or not alarm.actions_enabled:
        return []
    message = json.dumps(alarm_message(alarm, old_state))
    subject = f'{alarm.state_value}: "{alarm.name}" in {_region_name(alarm.region_name)}'[:100]
    outcomes = []
    for arn in targets:
        parts = arn.split(":")
        outcome: dict[str, Any] = {"arn": arn}
        try:
            if len(parts) < 6 or parts[2] != "sns":
                raise RuntimeError("the sandbox only executes SNS alarm actions")
            sns_backends[parts[4]][parts[3]].publish(message, arn=arn, subject=subject)
            outcome["status"] = "Succeeded"
            summary = f"Successfully executed action {arn}"
            data = {"actionState": "Succeeded", "notificationResource": arn,
                    "stateUpdateTimestamp": int(alarm.state_updated_timestamp.replace(
                        tzinfo=dt.timezone.utc).timestamp() * 1000),
                    "publishedMessage": message}
        except Exception as err:  # noqa: BLE001 - AWS records a failed action, it does not raise
            outcome.update(status="Failed", error=str(err) or type(err).__name__)
            summary = f"Failed to execute action {arn}"
            data = {"actionState": "Failed", "notificationResource": arn,
                    "error": outcome["error"]}
        _add_history(alarm, "Action", summary, data)
        outcomes.append(outcome)
    return outcomes


_original_update_state = cw_models.Alarm.update_state


def _update_state(self: cw_models.Alarm, reason: str, reason_data: str | None,
                  state_value: str) -> None:
    """Every state change (evaluation or SetAlarmState) records history and runs actions."""
    with _LOCK:
        old_state, old_reason = self.state_value, self.state_reason
        _original_update_state(self, reason, reason_data, state_value)
        self.sandbox_last_actions = []
        if state_value == old_state:
            return
        self.state_transitioned_timestamp = self.state_updated_timestamp
        new_state: dict[str, Any] = {"stateValue": state_value, "stateReason": reason}
        if reason_data:
            try:
                new_state["stateReasonData"] = json.loads(reason_data)
            except ValueError:
                pass
        _add_history(self, "StateUpdate", f"Alarm updated from {old_state} to {state_value}",
                     {"version": "1.0",
                      "oldState": {"stateValue": old_state, "stateReason": old_reason},
                      "newState": new_state},
                     self.state_updated_timestamp)
        self.sandbox_last_actions = _run_actions(self, old_state)


_original_put_metric_alarm = cw_models.CloudWatchBackend.put_metric_alarm


def _put_metric_alarm(self: cw_models.CloudWatchBackend, *args: Any,
                      **kwargs: Any) -> cw_models.Alarm:
    """AWS: a new alarm starts in INSUFFICIENT_DATA; an update keeps the alarm's state."""
    name = kwargs["name"] if "name" in kwargs else args[0]
    with _LOCK:
        existing = self.alarms.get(name)
        alarm = _original_put_metric_alarm(self, *args, **kwargs)
        if existing is not None:
            for attr in ("state_value", "state_reason", "state_reason_data",
                         "state_updated_timestamp", "history"):
                setattr(alarm, attr, getattr(existing, attr))
            alarm.state_transitioned_timestamp = getattr(
                existing, "state_transitioned_timestamp", existing.state_updated_timestamp)
        else:
            alarm.state_value = "INSUFFICIENT_DATA"
            alarm.state_reason = "Unchecked: Initial alarm creation"
            alarm.state_updated_timestamp = alarm.configuration_updated_timestamp
            alarm.state_transitioned_timestamp = alarm.configuration_updated_timestamp
        verb = "updated" if existing is not None else "created"
        _add_history(alarm, "ConfigurationUpdate", f'Alarm "{name}" {verb}',
                     {"type": "Update" if existing is not None else "Create", "version": "1.0"},
                     alarm.configuration_updated_timestamp)
    return alarm


def put_metric_alarm(call: Call) -> None:
    """AWS's checks that moto skips; the alarm itself is stored by moto."""
    p = call.params
    metrics = p.get("Metrics") or []
    if metrics and (p.get("MetricName") or p.get("Namespace")):
        raise ServiceError("InvalidParameterCombination",
                           "The parameters MetricName/Namespace and Metrics are mutually "
                           "exclusive and you have specified both.")
    if not metrics and not (p.get("MetricName") and p.get("Namespace")):
        if not p.get("ThresholdMetricId"):
            raise ServiceError("ValidationError",
                               "Either MetricName and Namespace, or Metrics must be specified.")
    if not metrics:
        if bool(p.get("Statistic")) == bool(p.get("ExtendedStatistic")):
            raise ServiceError("InvalidParameterCombination",
                               "Exactly one of the parameters Statistic and ExtendedStatistic "
                               "must be specified.")
        if p.get("ExtendedStatistic") and stat_function(p["ExtendedStatistic"]) is None:
            raise ServiceError("InvalidParameterValue",
                               f"The value {p['ExtendedStatistic']} for parameter "
                               "ExtendedStatistic is not supported.")
        if p.get("Period") is None:
            raise ServiceError("ValidationError", "Period must be specified.")
        _check_period(p["Period"], "Period")
    else:
        _validate_queries(metrics, "ValidationError")
        returning = [m for m in metrics if m.get("ReturnData", True)]
        if len(returning) != 1:
            raise ServiceError("ValidationError",
                               "Exactly one element of the metrics list should return data.")
    dta = p.get("DatapointsToAlarm")
    if dta is not None and dta > p["EvaluationPeriods"]:
        raise ServiceError("ValidationError",
                           "DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
    tmd = p.get("TreatMissingData")
    if tmd is not None and tmd not in TREAT_MISSING:
        raise ServiceError("ValidationError",
                           f"Option {tmd} is not supported. Supported options for parameter "
                           "TreatMissingData are breaching, notBreaching, ignore and missing.")
    return None


# ---------------------------------------------------------------------------
# Alarm evaluation
# ---------------------------------------------------------------------------

@dataclass
class Period:
    start: dt.datetime
    value: float | None
    sample_count: float | None = None


def _alarm_periods(alarm: cw_models.Alarm, now: dt.datetime) -> tuple[list[Period], int]:
    """The alarm's latest EvaluationPeriods periods, oldest first, ending now."""
    backend = _backend_of(alarm)
    n = int(alarm.evaluation_periods)
    if alarm.metric_data_queries:
        queries = [_query_dict(q) for q in alarm.metric_data_queries]
        periods = [q["MetricStat"]["Period"] for q in queries if "MetricStat" in q]
        period = int(alarm.period or max(periods or [60]))
        grid = Grid(now - dt.timedelta(seconds=n * period), period, n)
        evaluator = evaluate_queries(backend, queries, lambda _p: grid)
        target = next(q["Id"] for q in queries if q.get("ReturnData", True))
        series = evaluator.result(target)[0][1]
        return [Period(t, series.get(t)) for t in grid.starts()], period
    period = int(alarm.period)
    grid = Grid(now - dt.timedelta(seconds=n * period), period, n)
    ref = MetricRef(alarm.namespace, alarm.metric_name,
                    frozenset((d.name, d.value) for d in alarm.dimensions), alarm.unit)
    stat = alarm.extended_statistic or alarm.statistic
    series, aggs = metric_series(backend, ref, stat, grid)
    return [Period(t, series.get(t), aggs[t].count if t in aggs else None)
            for t in grid.starts()], period


def _points(periods: list[Period]) -> str:
    return ", ".join(f"{p.value!r} ({p.start:%d/%m/%y %H:%M:%S})" for p in periods)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass
class Verdict:
    state: str | None  # None: leave the state as it is
    reason: str = ""
    note: str = ""


def judge(alarm: cw_models.Alarm, periods: list[Period]) -> Verdict:
    """AWS's M-out-of-N evaluation with its missing-data treatments."""
    n = len(periods)
    m = int(alarm.datapoints_to_alarm or n)
    threshold = float(alarm.threshold)
    op_text, breaches = COMPARISONS[alarm.comparison_operator]
    treat = alarm.treat_missing_data or "missing"
    if alarm.namespace == "AWS/DynamoDB":
        treat = "ignore"  # AWS: DynamoDB-namespace alarms always ignore missing data
    present = [p for p in periods if p.value is not None]
    old = alarm.state_value
    if treat in ("breaching", "notBreaching"):
        filled = treat == "breaching"
        if not present:
            word = "Breaching" if filled else "NonBreaching"
            state = "ALARM" if filled and n >= m else "OK"
            return Verdict(state, f"Threshold Crossed: no datapoints were received for "
                                  f"{_plural(n, 'period')} and {_plural(n, 'missing datapoint')} "
                                  f"{'was' if n == 1 else 'were'} treated as [{word}].")
        flags = [breaches(p.value, threshold) if p.value is not None else filled for p in periods]
    else:
        if not present:
            if treat == "ignore":
                return Verdict(None, note="no data; missing data is ignored")
            return Verdict("INSUFFICIENT_DATA", f"Insufficient Data: {_plural(n, 'datapoint')} "
                                                f"{'was' if n == 1 else 'were'} unknown.")
        flags = [breaches(p.value, threshold) if p.value is not None else None for p in periods]
    count = sum(1 for f in flags if f)
    alarming = count >= m or (treat in ("missing", "ignore") and _premature_alarm(flags, m))
    considered = n if treat in ("breaching", "notBreaching") else len(present)
    if alarming:
        listed = [p for p, f in zip(periods, flags) if f and p.value is not None][::-1]
        k, verb, need, new = count, op_text, m, "ALARM"
    else:
        listed = [p for p, f in zip(periods, flags) if f is False and p.value is not None][::-1]
        k = sum(1 for f in flags if f is False)
        verb, need, new = f"not {op_text}", max(1, n - m + 1), "OK"
    if considered == 1 and n == 1:
        reason = (f"Threshold Crossed: 1 datapoint [{_points(listed)}] was {verb} the threshold "
                  f"({threshold!r}).")
    else:
        reason = (f"Threshold Crossed: {k} out of the last {considered} datapoints "
                  f"[{_points(listed)}] {'was' if k == 1 else 'were'} {verb} the threshold "
                  f"({threshold!r}) (minimum {_plural(need, 'datapoint')} for {old} -> {new} "
                  "transition).")
    return Verdict(new, reason)


def _premature_alarm(flags: list[bool | None], m: int) -> bool:
    """AWS goes to ALARM early when the oldest breaching datapoint is at least M periods old
    and every more recent datapoint is breaching or missing."""
    newest_first = flags[::-1]
    oldest = max((i for i, f in enumerate(newest_first) if f), default=None)
    if oldest is None or oldest + 1 < m:
        return False
    return all(f is not False for f in newest_first[:oldest])


def _low_sample_count(alarm: cw_models.Alarm, periods: list[Period]) -> bool:
    """EvaluateLowSampleCountPercentile=ignore: a percentile from fewer than
    10/(1-percentile) samples is not statistically significant."""
    match = re.match(rf"^p({_NUM})$", alarm.extended_statistic or "")
    if alarm.evaluate_low_sample_count_percentile != "ignore" or not match:
        return False
    fraction = float(match.group(1)) / 100
    needed = math.inf if fraction >= 1 else 10 / (1 - fraction)
    return any(p.sample_count is not None and p.sample_count < needed for p in periods)


def evaluate_alarm(alarm: cw_models.Alarm, now: dt.datetime) -> dict[str, Any]:
    report: dict[str, Any] = {"alarm_name": alarm.name, "region": alarm.region_name}
    if alarm.rule:
        return {**report, "state": alarm.state_value, "changed": False,
                "note": "composite alarms are not evaluated by the sandbox"}
    if alarm.comparison_operator not in COMPARISONS:
        return {**report, "state": alarm.state_value, "changed": False,
                "note": f"{alarm.comparison_operator} (anomaly detection) is not evaluated"}
    try:
        periods, period = _alarm_periods(alarm, now)
    except ExpressionError as err:
        return {**report, "state": alarm.state_value, "changed": False,
                "note": f"the alarm's expression cannot be evaluated: {err}"}
    verdict = judge(alarm, periods)
    if verdict.state is not None and _low_sample_count(alarm, periods):
        verdict = Verdict(None, note="too few samples for the percentile; ignored")
    if verdict.state is None:
        return {**report, "state": alarm.state_value, "changed": False, "note": verdict.note}
    present = [p for p in periods if p.value is not None]
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso(now),
                            "startDate": _iso(periods[0].start)}
    if not alarm.metric_data_queries:
        data["statistic"] = alarm.extended_statistic or alarm.statistic
        if alarm.unit:
            data["unit"] = alarm.unit
    data.update({"period": period, "recentDatapoints": [p.value for p in present],
                 "threshold": float(alarm.threshold)})
    evaluated = []
    for p in present[::-1]:
        point: dict[str, Any] = {"timestamp": _iso(p.start)}
        if p.sample_count is not None:
            point["sampleCount"] = p.sample_count
        point["value"] = p.value
        evaluated.append(point)
    data["evaluatedDatapoints"] = evaluated
    reason_data = json.dumps(data)
    old = alarm.state_value
    if verdict.state == old:
        if alarm.state_reason.startswith("Unchecked"):
            # The first evaluation replaces the creation reason without a transition.
            alarm.state_reason, alarm.state_reason_data = verdict.reason, reason_data
            alarm.state_updated_timestamp = _utcnow()
        return {**report, "state": old, "changed": False}
    alarm.update_state(verdict.reason, reason_data, verdict.state)
    return {**report, "state": verdict.state, "changed": True, "old_state": old,
            "new_state": verdict.state, "reason": verdict.reason, "reason_data": data,
            "actions": getattr(alarm, "sandbox_last_actions", [])}


def control(method: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
    if query.get("path") != "evaluate-alarms" or method != "POST":
        raise BadControlRequest(
            "cloudwatch control routes: POST /_sandbox/cloudwatch/evaluate-alarms "
            "{\"alarm_names\": [optional names], \"region\": optional}")
    if not isinstance(body, dict) or set(body) - {"alarm_names", "region"}:
        raise BadControlRequest("evaluate-alarms accepts {\"alarm_names\": [...], \"region\": "
                                "\"us-east-1\"}; both are optional")
    names = body.get("alarm_names")
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(n, str) for n in names)):
        raise BadControlRequest("'alarm_names' must be a list of alarm names")
    region = body.get("region")
    account = cw_models.cloudwatch_backends[ACCOUNT_ID]
    if region is not None:
        if not isinstance(region, str) or region not in account:
            raise BadControlRequest(f"unknown region {region!r}")
        backends = [account[region]]
    else:
        backends = list(account.values())
    now = _utcnow()
    evaluated = []
    with _LOCK:
        alarms = [a for b in backends for a in b.alarms.values()
                  if names is None or a.name in names]
        missing = sorted(set(names or []) - {a.name for a in alarms})
        if missing:
            raise BadControlRequest(f"no such alarm(s): {missing}")
        for alarm in alarms:
            evaluated.append(evaluate_alarm(alarm, now))
    transitions = [e for e in evaluated if e["changed"]]
    return 200, {"evaluated_at": _iso(now), "evaluated": evaluated, "transitions": transitions}


# ---------------------------------------------------------------------------
# DescribeAlarmHistory
# ---------------------------------------------------------------------------

def describe_alarm_history(call: Call) -> dict[str, Any]:
    p = call.params
    types = p.get("AlarmTypes") or ["MetricAlarm"]
    start = _naive(p["StartDate"]) if p.get("StartDate") else None
    end = _naive(p["EndDate"]) if p.get("EndDate") else None
    with _LOCK:
        items = [dict(item) for item in _history(_backend(call))]
    items = [i for i in items
             if (not p.get("AlarmName") or i["AlarmName"] == p["AlarmName"])
             and (not p.get("HistoryItemType") or i["HistoryItemType"] == p["HistoryItemType"])
             and i["AlarmType"] in types
             and (start is None or i["Timestamp"] >= start)
             and (end is None or i["Timestamp"] <= end)]
    items.sort(key=lambda i: i["Timestamp"],
               reverse=(p.get("ScanBy") or "TimestampDescending") == "TimestampDescending")
    token = p.get("NextToken") or "0"
    if not token.isdigit():
        raise ServiceError("InvalidNextToken", "The service returned an invalid NextToken.")
    offset, size = int(token), int(p.get("MaxRecords") or 100)
    page = items[offset:offset + size]
    out: dict[str, Any] = {"AlarmHistoryItems": page}
    if offset + size < len(items):
        out["NextToken"] = str(offset + size)
    return out


def install(sandbox: Sandbox) -> None:
    if not getattr(cw_models.CloudWatchBackend, "_sandbox_patched", False):
        cw_models.CloudWatchBackend.put_metric_data = _put_metric_data  # type: ignore[method-assign]
        cw_models.CloudWatchBackend.put_metric_alarm = _put_metric_alarm  # type: ignore[method-assign]
        cw_models.Alarm.update_state = _update_state  # type: ignore[method-assign]
        cw_models.CloudWatchBackend._sandbox_patched = True  # type: ignore[attr-defined]
    sandbox.handle("cloudwatch", "GetMetricStatistics")(get_metric_statistics)
    sandbox.handle("cloudwatch", "GetMetricData")(get_metric_data)
    sandbox.handle("cloudwatch", "PutMetricAlarm")(put_metric_alarm)
    sandbox.handle("cloudwatch", "DescribeAlarmHistory")(describe_alarm_history)
    sandbox.control("cloudwatch")(control)
