"""Metric math for GetMetricData and alarms: tokenizer, parser (no `eval`), evaluator."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from moto.cloudwatch import models as cw_models

from sandbox.api import Call, ServiceError
from sandbox.services.cloudwatch.common import Series, Value, _backend, _naive
from sandbox.services.cloudwatch.statistics import Grid, MetricRef, _check_period, metric_series, request_grid, stat_function


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
