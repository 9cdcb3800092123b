"""PutMetricData storage, statistics (percentiles, trimmed stats) and GetMetricStatistics."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from moto.cloudwatch import models as cw_models
from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue

from sandbox.api import Call, ServiceError
from sandbox.services.cloudwatch.common import HIGH_RESOLUTION_PERIODS, MissingParameter, Series, _backend, _naive, _utcnow


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
