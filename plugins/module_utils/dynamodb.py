# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DynamoDB plumbing shared by dynamodb_pitr_restore and dynamodb_table_verify.

- restore-window math: parsing a restore point, checking it against the source's
  Earliest/LatestRestorableDateTime, and the deterministic recovery-table name;
- recognising a table as a point-in-time restore of a given source (RestoreSummary plus the
  rollback-id tag), which is what makes a re-run resume instead of restoring again;
- key-schema / index signatures for comparing a restore with its source;
- item counting with a parallel segmented Scan, exact or as a bounded sample.

Naming rule for the recovery table (when the caller does not name it):
  restore point = a time T  -> "<source>-pitr-<T as YYYYMMDDTHHMMSSZ>"
  restore point = latest    -> "<source>-pitr-<rollback id>"
`latest` resolves to a different time on every run, so its name is anchored on the rollback
id instead: the same rollback id always names the same table.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import decimal
import math
import re
import time
import typing

try:
    from boto3.dynamodb.types import TypeDeserializer
    from boto3.dynamodb.types import TypeSerializer
    from botocore.exceptions import BotoCoreError
except ImportError:
    BotoCoreError = Exception  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.propie.rollback.plugins.module_utils import rollback_id as rbid
from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry
from ansible_collections.propie.rollback.plugins.module_utils.common import iso as common_iso

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Callable
    from typing import Dict
    from typing import List
    from typing import Optional
    from typing import Tuple

TABLE_NAME_MIN = 3
TABLE_NAME_MAX = 255
# Tags the restore module puts on every recovery table (tag keys may contain ':' and '-').
TAG_ROLLBACK_ID = rbid.TAG_KEY
TAG_SOURCE = "propie-rollback:source-table"
TAG_RESTORE_POINT = "propie-rollback:restore-point"
OWN_TAG_KEYS = (TAG_ROLLBACK_ID, TAG_SOURCE, TAG_RESTORE_POINT)
# Restore times are compared to the second: AWS restores to whole seconds.
TIME_SLACK = datetime.timedelta(seconds=1)
# DynamoDB accepts TotalSegments up to 1,000,000.
MAX_TOTAL_SEGMENTS = 1000000


class RestorePointError(ValueError):
    """A restore point that cannot be used; the message says why and what to do."""


class UnprocessedKeysError(BotoCoreError):
    """BatchGetItem kept returning UnprocessedKeys after every allowed attempt.

    A BotoCoreError, so a module's `except (ClientError, BotoCoreError)` reports it with
    fail_json_aws like any other AWS failure.
    """

    fmt = ("BatchGetItem on {table} left {left} key(s) unprocessed after {attempts} attempts: "
           "the table is throttling reads; retry later or raise its read capacity")


# How many BatchGetItem calls batch_get makes for one batch of 100 keys before giving up.
UNPROCESSED_ATTEMPTS = 8


# ---------------------------------------------------------------------------
# Times
# ---------------------------------------------------------------------------


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def to_utc(value: Any) -> Optional[datetime.datetime]:
    """A botocore timestamp (datetime, or epoch seconds) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def iso(value: Any) -> Optional[str]:
    """common.iso (the one result time format, UTC with a 'Z') of a botocore timestamp that may
    also be epoch seconds; None stays None."""
    return common_iso(to_utc(value))


def stamp(value: datetime.datetime) -> str:
    return to_utc(value).strftime("%Y%m%dT%H%M%SZ")


def parse_restore_point(text: str) -> Any:
    """'latest' or an aware UTC datetime (whole seconds). A time without offset is UTC."""
    text = (text or "").strip()
    if text.lower() == "latest":
        return "latest"
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.datetime.fromisoformat(candidate)
    except ValueError:
        raise RestorePointError(
            "restore_point %r is neither 'latest' nor an ISO-8601 time such as "
            "2026-11-30T03:45:00Z" % text
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc).replace(microsecond=0)


def restore_window(pitr: Dict[str, Any]) -> Dict[str, Any]:
    """The PointInTimeRecoveryDescription part of DescribeContinuousBackups, normalised."""
    desc = (pitr or {}).get("PointInTimeRecoveryDescription") or {}
    return {
        "status": desc.get("PointInTimeRecoveryStatus", "DISABLED"),
        "earliest": to_utc(desc.get("EarliestRestorableDateTime")),
        "latest": to_utc(desc.get("LatestRestorableDateTime")),
        "recovery_period_in_days": desc.get("RecoveryPeriodInDays"),
    }


def check_restore_point(source: str, point: Any, window: Dict[str, Any], now: datetime.datetime) -> None:
    """Raise RestorePointError unless `point` can be restored from `window` right now."""
    if window["status"] != "ENABLED":
        raise RestorePointError(
            "point-in-time recovery is %s on source table %s, so it has no restore window; "
            "PITR must have been on at the time you want to restore to (enable it with "
            "UpdateContinuousBackups for future incidents)" % (window["status"], source)
        )
    if point == "latest":
        return
    earliest, latest = window["earliest"], window["latest"]
    if point > now:
        raise RestorePointError(
            "restore_point %s is in the future (now is %s)" % (iso(point), iso(now))
        )
    if earliest is not None and point < earliest - TIME_SLACK:
        raise RestorePointError(
            "restore_point %s is before the earliest restorable time %s of %s; the window is "
            "%s .. %s" % (iso(point), iso(earliest), source, iso(earliest), iso(latest))
        )
    if latest is not None and point > latest + TIME_SLACK:
        raise RestorePointError(
            "restore_point %s is after the latest restorable time %s of %s (DynamoDB keeps "
            "that about five minutes behind now); use 'latest' or a time in %s .. %s"
            % (iso(point), iso(latest), source, iso(earliest), iso(latest))
        )


def table_name_problem(name: str) -> Optional[str]:
    """Why `name` is not a DynamoDB table name (3-255 characters of A-Z a-z 0-9 _ - .), or None."""
    problems = []
    if not TABLE_NAME_MIN <= len(name) <= TABLE_NAME_MAX:
        problems.append("it is %d characters long" % len(name))
    bad = sorted(set(re.sub(r"[A-Za-z0-9_.-]", "", name)))
    if bad:
        problems.append("it contains %s" % " ".join(repr(c) for c in bad))
    return " and ".join(problems) or None


def shown_name(name: str) -> str:
    """A table name for a message: quoted, and cut after 64 characters."""
    return repr(name) if len(name) <= 64 else "%r... (%d characters)" % (name[:64], len(name))


def default_target_name(source: str, point: Any, rollback_id: str) -> str:
    suffix = "-pitr-" + (rollback_id if point == "latest" else stamp(point))
    return source[: TABLE_NAME_MAX - len(suffix)] + suffix


# ---------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------


def dynamodb_client(module: Any) -> Any:
    return module.client("dynamodb", retry_decorator=aws_retry)


def describe_table(client: Any, name: str) -> Optional[Dict[str, Any]]:
    try:
        return client.describe_table(TableName=name, aws_retry=True)["Table"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None


def list_tags(client: Any, arn: str) -> Dict[str, str]:
    tags = {}  # type: Dict[str, str]
    kwargs = {"ResourceArn": arn}
    while True:
        try:
            page = client.list_tags_of_resource(aws_retry=True, **kwargs)
        except is_boto3_error_code(["ResourceNotFoundException", "ResourceInUseException"]):
            return tags  # a table still being created has no tags yet

        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        if not page.get("NextToken"):
            return tags
        kwargs["NextToken"] = page["NextToken"]


def restore_source_arn(table: Dict[str, Any]) -> Optional[str]:
    return (table.get("RestoreSummary") or {}).get("SourceTableArn")


def restore_time(table: Dict[str, Any]) -> Optional[datetime.datetime]:
    return to_utc((table.get("RestoreSummary") or {}).get("RestoreDateTime"))


def same_time(a: Optional[datetime.datetime], b: Optional[datetime.datetime]) -> bool:
    return a is not None and b is not None and abs(a - b) <= TIME_SLACK


def recognise_restore(
    target: Dict[str, Any], tags: Dict[str, str], source: Dict[str, Any], point: Any,
    rollback_id: Optional[str],
) -> Optional[str]:
    """None when `target` is this rollback's restore of `source`, else why it is not.

    The rule: RestoreSummary names the source's ARN; for a given time, RestoreDateTime is
    that time; and the rollback-id tag, once present (it is written after the table is
    ACTIVE), equals the caller's rollback id when the caller gave one.
    """
    name = target["TableName"]
    source_arn = restore_source_arn(target)
    if source_arn is None:
        return "table %s exists and is not a restore (it has no RestoreSummary)" % name
    if source_arn != source["TableArn"]:
        return "table %s exists and is a restore of %s, not of %s" % (
            name, source_arn, source["TableArn"])
    if point != "latest" and not same_time(restore_time(target), point):
        return "table %s exists and is a restore of %s to %s, not to %s" % (
            name, source["TableName"], iso(restore_time(target)), iso(point))
    tagged = tags.get(TAG_ROLLBACK_ID)
    if rollback_id and tagged and tagged != rollback_id:
        return "table %s exists and belongs to rollback %s, not %s" % (name, tagged, rollback_id)
    return None


# ---------------------------------------------------------------------------
# Schema signatures
# ---------------------------------------------------------------------------


def _attribute_types(table: Dict[str, Any]) -> Dict[str, str]:
    return {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}


def _keys(schema: List[Dict[str, str]], types: Dict[str, str]) -> List[str]:
    order = {"HASH": 0, "RANGE": 1}
    return [
        "%s %s:%s" % (k["KeyType"], k["AttributeName"], types.get(k["AttributeName"], "?"))
        for k in sorted(schema, key=lambda k: order.get(k["KeyType"], 2))
    ]


def key_signature(table: Dict[str, Any]) -> List[str]:
    """e.g. ['HASH pk:S', 'RANGE sk:S']."""
    return _keys(table.get("KeySchema", []), _attribute_types(table))


def index_signatures(table: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """{'GSI byStatus': {'keys': [...], 'projection': 'KEYS_ONLY [..]'}, 'LSI ...': ...}."""
    types = _attribute_types(table)
    result = {}
    for kind, field in (("GSI", "GlobalSecondaryIndexes"), ("LSI", "LocalSecondaryIndexes")):
        for index in table.get(field) or []:
            projection = index.get("Projection") or {}
            text = projection.get("ProjectionType", "ALL")
            if projection.get("NonKeyAttributes"):
                text += " " + ",".join(sorted(projection["NonKeyAttributes"]))
            result["%s %s" % (kind, index["IndexName"])] = {
                "keys": _keys(index.get("KeySchema", []), types),
                "projection": text,
            }
    return result


# ---------------------------------------------------------------------------
# Items: typed <-> plain values
# ---------------------------------------------------------------------------


def _decimals(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return value


def to_typed(item: Dict[str, Any]) -> Dict[str, Any]:
    """{'pk': 'A', 'n': 1} -> {'pk': {'S': 'A'}, 'n': {'N': '1'}}."""
    serializer = TypeSerializer()
    return {k: serializer.serialize(_decimals(v)) for k, v in item.items()}


def to_plain(item: Dict[str, Any]) -> Dict[str, Any]:
    deserializer = TypeDeserializer()
    return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}


def key_of(item: Dict[str, Any], key_names: List[str]) -> Dict[str, Any]:
    return {k: item[k] for k in key_names if k in item}


def key_names(table: Dict[str, Any]) -> List[str]:
    return [k["AttributeName"] for k in sorted(table["KeySchema"], key=lambda k: k["KeyType"])]


def batch_get(client: Any, table: str, keys: List[Dict[str, Any]], consistent: bool) -> List[Dict[str, Any]]:
    """BatchGetItem for typed keys, 100 at a time, following UnprocessedKeys.

    Unprocessed keys are DynamoDB's throttling signal: they are asked for again after an
    exponential backoff (0.1 s doubling, at most 5 s), UNPROCESSED_ATTEMPTS times in all per
    batch; a batch still not read after that raises UnprocessedKeysError.
    """
    found = []  # type: List[Dict[str, Any]]
    for start in range(0, len(keys), 100):
        request = {table: {"Keys": keys[start:start + 100], "ConsistentRead": consistent}}
        attempts = 0
        while request:
            page = client.batch_get_item(RequestItems=request, aws_retry=True)
            found.extend(page.get("Responses", {}).get(table, []))
            request = page.get("UnprocessedKeys") or {}
            attempts += 1
            if request and attempts >= UNPROCESSED_ATTEMPTS:
                left = len(request.get(table, {}).get("Keys", []))
                raise UnprocessedKeysError(table=table, left=left, attempts=attempts)
            if request:
                time.sleep(min(0.05 * 2 ** attempts, 5))
    return found


# ---------------------------------------------------------------------------
# Counting: parallel segmented Scan, exact or a bounded sample
# ---------------------------------------------------------------------------


def plan_count(
    mode: str, estimate: int, exact_limit: int, sample_items: int, sample_segments: int,
    parallel: int,
) -> Dict[str, Any]:
    """Which segments to scan.

    exact: `parallel` segments, all scanned; the cost is the whole table.
    sample: the table is cut into S segments of about sample_items / sample_segments items
    each (S from the table's ItemCount estimate) and `sample_segments` of them, spread evenly,
    are scanned; the count is scaled by S / sample_segments. The items read stay near
    sample_items however large the table grows.
    auto: exact up to `exact_limit` estimated items, sample above.
    """
    if mode == "auto":
        mode = "exact" if estimate <= exact_limit else "sample"
    if mode == "exact":
        return {"mode": "exact", "total_segments": parallel, "segments": list(range(parallel))}
    per_segment = max(1, sample_items // max(1, sample_segments))
    total = max(sample_segments, int(math.ceil(float(estimate) / per_segment)))
    total = min(total, MAX_TOTAL_SEGMENTS)
    take = min(sample_segments, total)
    segments = sorted({(i * total) // take for i in range(take)})
    return {"mode": "sample", "total_segments": total, "segments": segments}


def _count_segment(client: Any, table: str, segment: int, total: int, consistent: bool) -> Dict[str, Any]:
    kwargs = {"TableName": table, "Select": "COUNT", "ConsistentRead": consistent,
              "ReturnConsumedCapacity": "TOTAL"}
    if total > 1:
        kwargs.update(Segment=segment, TotalSegments=total)
    count = scanned = pages = 0
    capacity = 0.0
    while True:
        page = client.scan(aws_retry=True, **kwargs)
        count += page.get("Count", 0)
        scanned += page.get("ScannedCount", 0)
        capacity += float((page.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0)
        pages += 1
        if not page.get("LastEvaluatedKey"):
            return {"count": count, "scanned": scanned, "pages": pages, "capacity": capacity}
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def count_items(client: Any, table: str, plan: Dict[str, Any], workers: int, consistent: bool) -> Dict[str, Any]:
    """Run a count plan; returns the (possibly estimated) count and what it cost."""
    started = time.monotonic()
    total = plan["total_segments"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        parts = list(pool.map(
            lambda s: _count_segment(client, table, s, total, consistent), plan["segments"]))
    counted = sum(p["count"] for p in parts)
    scanned_fraction = float(len(plan["segments"])) / total
    value = counted if plan["mode"] == "exact" else int(round(counted / scanned_fraction))
    return {
        "value": value,
        "estimated": scanned_fraction < 1,
        "method": plan["mode"],
        "items_counted": counted,
        "items_scanned": sum(p["scanned"] for p in parts),
        "pages": sum(p["pages"] for p in parts),
        "segments_scanned": len(plan["segments"]),
        "total_segments": total,
        "fraction_scanned": round(scanned_fraction, 6),
        "consumed_capacity_units": round(sum(p["capacity"] for p in parts), 2),
        "seconds": round(time.monotonic() - started, 3),
    }


def sample_items(client: Any, table: str, limit: int, consistent: bool) -> List[Dict[str, Any]]:
    """Up to `limit` items from the start of a Scan (typed)."""
    items = []  # type: List[Dict[str, Any]]
    kwargs = {"TableName": table, "ConsistentRead": consistent}
    while len(items) < limit:
        kwargs["Limit"] = min(1000, limit - len(items))
        page = client.scan(aws_retry=True, **kwargs)
        items.extend(page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items[:limit]
