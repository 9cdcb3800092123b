"""DynamoDB point-in-time recovery fidelity on top of moto.

moto 5.2.5 restores "to a point in time" by copying the table as it is now, makes the new
table ACTIVE at once and never moves LatestRestorableDateTime. This module makes it behave
as AWS documents:

- every item write is recorded in an append-only, per-key version history kept on the
  table (no table copies), so a restore replays the data as it was at RestoreDateTime;
- UpdateContinuousBackups / DescribeContinuousBackups report a restore window whose
  latest edge lags "now" by 5 emulated minutes (300 s * time scale);
- RestoreTableToPointInTime validates like AWS (exact error codes from botocore's model),
  carries only what AWS carries (keys, attribute definitions, indexes, capacity,
  encryption; overrides honoured) and leaves out tags, TTL, streams, PITR and deletion
  protection; the new table is CREATING, with data-plane calls refused, for an emulated
  restore duration derived lazily from its start time.

And where moto differs from AWS on the tables themselves:

- table names are 3-255 characters of [a-zA-Z0-9_.-] (CreateTable, and the source and target
  of RestoreTableToPointInTime), else ValidationException;
- a KMS key given by id, alias or alias ARN is reported as its key ARN in
  SSEDescription.KMSMasterKeyArn (alias/aws/dynamodb: the AWS managed key, created on first
  use and reported by KMS with KeyManager AWS); an unknown key is a ValidationException;
- TagResource on a key the table already has overwrites its value (moto adds a duplicate).

Control routes (under /_sandbox/dynamodb/):
  GET|POST config   {"restore_seconds": s}  emulated CREATING time of new restores
  GET|POST backdate {"seconds": N}          record writes / PITR enabling N s in the past
  GET|POST lag      {"seconds": N}          LatestRestorableDateTime N emulated s before now (300)
"""

from __future__ import annotations

import bisect
import calendar
import copy
import datetime as dt
import functools
import math
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from moto.dynamodb.exceptions import MockValidationException, ResourceNotFoundException
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from sandbox.api import Call, Sandbox, ServiceError, require_moto
from sandbox.state import BadControlRequest, Clock

# The moto release the patches in this file (`_patch_moto`) were written against; checked at
# sandbox start (sandbox.api.check_moto_versions) and again before patching.
MOTO_VERSION = "5.2.5"
DEFAULT_RESTORE_SECONDS = 60.0
LATEST_RESTORABLE_LAG = 300.0  # "LatestRestorableDateTime is typically 5 minutes before now"
DEFAULT_RECOVERY_DAYS = 35
MAX_BACKDATE_SECONDS = DEFAULT_RECOVERY_DAYS * 86400
MAX_RESTORE_SECONDS = 7 * 86400
MAX_LAG_SECONDS = 86400
MAX_CONCURRENT_RESTORES = 50
TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]+")
TABLE_NAME_MIN, TABLE_NAME_MAX = 3, 255
MANAGED_KEY_ALIAS = "alias/aws/dynamodb"

Key = tuple[DynamoType, DynamoType | None]
Version = tuple[float, Item | None]  # (epoch seconds, item or None = deleted)

# Data-plane operations AWS refuses with ResourceNotFoundException while a table is not ACTIVE.
DATA_PLANE = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
              "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
              "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction")
# Control-plane operations that conflict with a table still being created, with AWS's code.
BUSY_CODES = {"DeleteTable": "ResourceInUseException", "UpdateTable": "ResourceInUseException",
              "UpdateTimeToLive": "ResourceInUseException", "TagResource": "ResourceInUseException",
              "UntagResource": "ResourceInUseException", "CreateBackup": "TableInUseException"}


# ---------------------------------------------------------------------------
# Settings (control routes) and the clock, shared with the moto patches below.
# ---------------------------------------------------------------------------

@dataclass
class Settings:
    restore_seconds: float = DEFAULT_RESTORE_SECONDS
    backdate_seconds: float = 0.0
    restorable_lag_seconds: float = LATEST_RESTORABLE_LAG
    clock: Clock = field(default_factory=Clock)

    def reset(self) -> None:
        self.restore_seconds = DEFAULT_RESTORE_SECONDS
        self.backdate_seconds = 0.0
        self.restorable_lag_seconds = LATEST_RESTORABLE_LAG

    def recorded_now(self) -> float:
        """Epoch seconds at which a write happening now is recorded (backdate applied)."""
        return self.clock.time() - self.backdate_seconds

    def to_json(self) -> dict[str, Any]:
        return {"restore_seconds": self.restore_seconds, "backdate_seconds": self.backdate_seconds,
                "restorable_lag_seconds": self.restorable_lag_seconds, "time_scale": self.clock.scale}


SETTINGS = Settings()
_lock = threading.RLock()  # guards every History and the restore bookkeeping
_local = threading.local()  # per-request flags: suppress (inside UpdateItem), journal (transactions)


# ---------------------------------------------------------------------------
# Version history
# ---------------------------------------------------------------------------

class History:
    """Per-key version lists of one table, appended on every write.

    Item objects referenced here are never mutated: moto mutates items in place only in
    UpdateItem, and the UpdateItem wrapper first swaps a copy into the table.
    """

    def __init__(self) -> None:
        self.versions: dict[Key, list[Version]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> "History":
        # moto deep-copies whole tables (transactions, backups); the history stays shared,
        # and transactions undo their own entries through the journal.
        return self

    def record(self, key: Key, item: Item | None, ts: float) -> None:
        versions = self.versions.get(key)
        if versions is None:
            self.versions[key] = [(ts, item)]
            return
        # Keep each key's list sorted even if a backdate is raised between writes.
        versions.append((max(ts, versions[-1][0]), item))

    def state_at(self, ts: float) -> Iterator[tuple[Key, Item]]:
        """The (key, item) pairs that existed at `ts` (inclusive)."""
        for key, versions in self.versions.items():
            if versions[-1][0] <= ts:
                item = versions[-1][1]
            else:
                index = bisect.bisect_right(versions, ts, key=itemgetter(0))
                if index == 0:
                    continue
                item = versions[index - 1][1]
            if item is not None:
                yield key, item


def _epoch(value: dt.datetime) -> float:
    if value.tzinfo is None:  # moto keeps naive UTC datetimes
        return calendar.timegm(value.timetuple()) + value.microsecond / 1e6
    return value.timestamp()


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def _history(table: Table) -> History:
    """The table's history, created on first use with its current items as a baseline.

    Called before any recorded write, so the baseline is what the table held since its
    creation (tables moto fills without put_item: restores from backup, our restores).
    """
    hist = table.__dict__.get("_sandbox_history")
    if hist is None:
        with _lock:
            hist = table.__dict__.get("_sandbox_history")
            if hist is None:
                hist = History()
                born = _epoch(table.created_at)
                for key, item in _iter_stored(table):
                    hist.record(key, item, born)
                table._sandbox_history = hist
    return hist


def _iter_stored(table: Table) -> Iterator[tuple[Key, Item]]:
    for hash_key, value in list(table.items.items()):
        if table.range_key_attr is None:
            yield (hash_key, None), value
        else:
            for range_key, item in list(value.items()):
                yield (hash_key, range_key), item


def _stored(table: Table, key: Key) -> Item | None:
    hash_key, range_key = key
    if range_key is None:
        return table.items.get(hash_key)
    bucket = table.items.get(hash_key)
    return bucket.get(range_key) if bucket else None


def _store(table: Table, key: Key, item: Item | None) -> None:
    hash_key, range_key = key
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def _record(table: Table, key: Key, item: Item | None) -> None:
    if getattr(_local, "suppress", False):
        return
    hist = _history(table)
    with _lock:
        hist.record(key, item, SETTINGS.recorded_now())
        journal = getattr(_local, "journal", None)
        if journal is not None:
            journal.append((hist, key))


def _item_key(table: Table, key_attrs: dict[str, Any]) -> Key | None:
    if not isinstance(key_attrs, dict) or table.hash_key_attr not in key_attrs:
        return None
    range_key = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in key_attrs:
            return None
        range_key = DynamoType(key_attrs[table.range_key_attr])
    return DynamoType(key_attrs[table.hash_key_attr]), range_key


# ---------------------------------------------------------------------------
# Wrappers around moto's models: every write path ends in one of these.
# ---------------------------------------------------------------------------

def _wrap_put_item(original: Callable[..., Item]) -> Callable[..., Item]:
    # PutItem, BatchWriteItem, TransactWriteItems Put, PartiQL, ImportTable
    @functools.wraps(original)
    def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
        _history(self)
        item = original(self, *args, **kwargs)
        _record(self, (item.hash_key, item.range_key), item)
        return item

    return put_item


def _wrap_delete_item(original: Callable[..., Item | None]) -> Callable[..., Item | None]:
    @functools.wraps(original)
    def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
        _history(self)
        item = original(self, hash_key, range_key)
        if item is not None:
            _record(self, (hash_key, range_key if self.range_key_attr else None), None)
        return item

    return delete_item


def _wrap_update_item(original: Callable[..., Item]) -> Callable[..., Item]:
    # moto mutates the stored item in place: swap in a copy first so history keeps the
    # old version intact, and record the final item once (not moto's inner put_item).
    @functools.wraps(original)
    def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any],
                    *args: Any, **kwargs: Any) -> Item:
        try:
            table = self.get_table(table_name)
        except ResourceNotFoundException:
            return original(self, table_name, key, *args, **kwargs)
        item_key = _item_key(table, key)
        if item_key is None:
            return original(self, table_name, key, *args, **kwargs)
        _history(table)
        before = _stored(table, item_key)
        if before is not None:
            _store(table, item_key, copy.deepcopy(before))
        _local.suppress = True
        try:
            result = original(self, table_name, key, *args, **kwargs)
        except BaseException:
            _store(table, item_key, before)  # a failed update changes nothing on AWS
            raise
        finally:
            _local.suppress = False
        _record(table, item_key, _stored(table, item_key))
        return result

    return update_item


def _wrap_transact_write_items(original: Callable[..., None]) -> Callable[..., None]:
    # moto rolls a cancelled transaction back by swapping in table copies; undo our
    # history entries for it too, so a cancelled write never shows up in a restore.
    @functools.wraps(original)
    def transact_write_items(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> None:
        outer = getattr(_local, "journal", None)
        _local.journal = journal = []
        try:
            original(self, *args, **kwargs)
        except BaseException:
            with _lock:
                for hist, key in reversed(journal):
                    versions = hist.versions[key]
                    versions.pop()
                    if not versions:
                        del hist.versions[key]
            raise
        finally:
            _local.journal = outer

    return transact_write_items


def _wrap_create_table(original: Callable[..., Table]) -> Callable[..., Table]:
    @functools.wraps(original)
    def create_table(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Table:
        sse = kwargs.get("sse_specification")
        if sse and sse.get("Enabled") and sse.get("KMSMasterKeyId"):
            arn = kms_key_arn(self.account_id, self.region_name, sse["KMSMasterKeyId"])
            if arn is None:
                raise MockValidationException(_unknown_key(sse["KMSMasterKeyId"]))
            kwargs["sse_specification"] = dict(sse, KMSMasterKeyId=arn)
        table = original(self, *args, **kwargs)
        if SETTINGS.backdate_seconds:
            table.created_at -= dt.timedelta(seconds=SETTINGS.backdate_seconds)
        return table

    return create_table


def _wrap_describe(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @functools.wraps(original)
    def describe(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
        result = original(self, base_key=base_key)
        restore: RestoreInfo | None = self.__dict__.get("_sandbox_restore")
        if restore is not None:
            desc = result[base_key]
            creating = restore.in_progress()
            desc["TableStatus"] = "CREATING" if creating else "ACTIVE"
            desc["RestoreSummary"] = {
                "SourceTableArn": restore.source_table_arn,
                "RestoreDateTime": _utc(restore.restore_time),
                "RestoreInProgress": creating,
            }
            if creating:
                for index in desc.get("GlobalSecondaryIndexes") or []:
                    index["IndexStatus"] = "CREATING"
        return result

    return describe


def _tag_resource(self: DynamoDBBackend, arn: str, tags: dict[str, str]) -> None:
    # AWS: "If a tag with the same key already exists, its value is overwritten."
    for table in self.tables.values():
        if table.table_arn == arn:
            merged = {tag["Key"]: tag["Value"] for tag in table.tags}
            merged.update(tags)
            table.tags = [{"Key": key, "Value": value} for key, value in merged.items()]


def _default_encryption_key(self: Table, account_id: str, region: str) -> str:
    return _managed_key_arn(account_id, region)


def _patch_moto() -> None:
    """Every change this module makes to moto's classes (once per process); the patches share
    the module-globals SETTINGS, _lock and _local above."""
    require_moto(MOTO_VERSION, __file__)
    if getattr(Table, "_sandbox_pitr_patched", False):
        return
    Table._get_default_encryption_key = _default_encryption_key
    DynamoDBBackend.tag_resource = _tag_resource
    Table.put_item = _wrap_put_item(Table.put_item)
    Table.delete_item = _wrap_delete_item(Table.delete_item)
    Table.describe = _wrap_describe(Table.describe)
    DynamoDBBackend.update_item = _wrap_update_item(DynamoDBBackend.update_item)
    DynamoDBBackend.transact_write_items = _wrap_transact_write_items(
        DynamoDBBackend.transact_write_items)
    DynamoDBBackend.create_table = _wrap_create_table(DynamoDBBackend.create_table)
    Table._sandbox_pitr_patched = True


# ---------------------------------------------------------------------------
# Restore state of a new table
# ---------------------------------------------------------------------------

@dataclass
class RestoreInfo:
    source_table_arn: str
    restore_time: float  # epoch seconds restored to
    started: dt.datetime  # real time the restore began
    duration: float  # emulated seconds until ACTIVE

    def in_progress(self) -> bool:
        return SETTINGS.clock.emulated_elapsed(self.started) < self.duration


def _is_creating(table: Table) -> bool:
    restore: RestoreInfo | None = table.__dict__.get("_sandbox_restore")
    return restore is not None and restore.in_progress()


# ---------------------------------------------------------------------------
# Continuous backups (PITR) window
# ---------------------------------------------------------------------------

def _pitr_description(table: Table) -> dict[str, Any]:
    enabled_at: float | None = table.__dict__.get("_sandbox_pitr_since")
    if enabled_at is None:
        return {"PointInTimeRecoveryStatus": "DISABLED"}
    days = table.__dict__.get("_sandbox_pitr_days", DEFAULT_RECOVERY_DAYS)
    earliest, latest = _window(table)
    return {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": days,
            "EarliestRestorableDateTime": _utc(earliest),
            "LatestRestorableDateTime": _utc(latest)}


def _window(table: Table) -> tuple[float, float]:
    """[earliest, latest] restorable epoch seconds.

    Earliest is a whole second so that a client passing it back (botocore may send whole
    seconds) is inside the window; latest only moves forward, so a read value stays valid.
    """
    now = SETTINGS.clock.time()
    days = table.__dict__.get("_sandbox_pitr_days", DEFAULT_RECOVERY_DAYS)
    earliest = math.floor(max(table._sandbox_pitr_since, now - days * 86400))
    latest = now - SETTINGS.clock.real_seconds(SETTINGS.restorable_lag_seconds)
    return earliest, max(earliest, latest)


def _set_pitr(table: Table, enabled: bool, days: int | None) -> None:
    if enabled:
        _history(table)
        if table.__dict__.get("_sandbox_pitr_since") is None:
            table._sandbox_pitr_since = math.floor(SETTINGS.recorded_now())
        if days is not None or "_sandbox_pitr_days" not in table.__dict__:
            table._sandbox_pitr_days = days or DEFAULT_RECOVERY_DAYS
        status = "ENABLED"
    else:
        table._sandbox_pitr_since = None
        table.__dict__.pop("_sandbox_pitr_days", None)
        status = "DISABLED"
    # moto's ExportTableToPointInTime reads this dict.
    table.continuous_backups = {"ContinuousBackupsStatus": "ENABLED",
                                "PointInTimeRecoveryDescription":
                                    {"PointInTimeRecoveryStatus": status}}


def _continuous_backups(table: Table) -> dict[str, Any]:
    return {"ContinuousBackupsDescription": {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": _pitr_description(table)}}


# ---------------------------------------------------------------------------
# RestoreTableToPointInTime
# ---------------------------------------------------------------------------

class RestoreError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _validation(message: str) -> RestoreError:
    return RestoreError("ValidationException", message)


def _restore_epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return _epoch(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _validation(f"RestoreDateTime {value!r} is not a timestamp") from None


def _throughput(spec: dict[str, Any] | None) -> dict[str, int] | None:
    if not spec or not (spec.get("ReadCapacityUnits") or spec.get("WriteCapacityUnits")):
        return None
    return {"ReadCapacityUnits": spec["ReadCapacityUnits"],
            "WriteCapacityUnits": spec["WriteCapacityUnits"]}


def _indexes(source_indexes: list[Any], override: list[dict[str, Any]] | None, kind: str,
             billing: str | None) -> list[dict[str, Any]]:
    """Index specs for the target: the source's, or the subset named by an override.

    billing is None for LSIs (no throughput of their own).
    """
    by_name = {index.name: index for index in source_indexes}
    if override is None:
        chosen = [{"IndexName": i.name, "KeySchema": copy.deepcopy(i.schema),
                   "Projection": copy.deepcopy(i.projection),
                   "ProvisionedThroughput": _throughput(getattr(i, "throughput", None))}
                  for i in source_indexes]
    else:
        chosen = copy.deepcopy(override)
    specs = []
    for spec in chosen:
        name = spec["IndexName"]
        source = by_name.get(name)
        if source is None:
            raise _validation(f"One or more parameter values were invalid: {kind} {name} "
                              f"does not exist on the source table; the overrides must match "
                              f"existing indexes ({', '.join(by_name) or 'none'})")
        if spec["KeySchema"] != source.schema:
            raise _validation(f"One or more parameter values were invalid: the KeySchema of "
                              f"{kind} {name} does not match the source table's index")
        out = {"IndexName": name, "KeySchema": spec["KeySchema"],
               "Projection": spec.get("Projection") or copy.deepcopy(source.projection)}
        if billing == "PROVISIONED":
            throughput = (_throughput(spec.get("ProvisionedThroughput"))
                          or _throughput(getattr(source, "throughput", None)))
            if throughput is None:
                raise _validation("One or more parameter values were invalid: "
                                  f"ProvisionedThroughput must be specified for index: {name}")
            out["ProvisionedThroughput"] = throughput
        specs.append(out)
    return specs


def _managed_key_arn(account: str, region: str) -> str:
    """The AWS managed key of DynamoDB (alias/aws/dynamodb), created on first use as AWS does."""
    from moto.kms import kms_backends

    key = kms_backends[account][region].describe_key(MANAGED_KEY_ALIAS)
    key.key_manager = "AWS"  # moto says CUSTOMER; AWS's own keys are AWS's
    return key.arn


def kms_key_arn(account: str, region: str, key_id: str) -> str | None:
    """The ARN of a KMS key given by key id, key ARN, alias name or alias ARN; None if unknown."""
    from moto.kms import kms_backends

    alias = key_id
    if key_id.startswith("arn:") and ":alias/" in key_id:
        alias = "alias/" + key_id.split(":alias/", 1)[1]
    if alias == MANAGED_KEY_ALIAS:
        return _managed_key_arn(account, region)
    try:
        return kms_backends[account][region].describe_key(key_id).arn
    except Exception:  # noqa: BLE001 - moto's KMS raises several not-found types
        return None


def _unknown_key(key_id: str) -> str:
    return f"KMS key {key_id!r} does not exist or is not accessible"


def table_name_errors(name: Any, member: str) -> list[str]:
    """AWS's constraint messages for a table name (3-255 characters of [a-zA-Z0-9_.-])."""
    if not isinstance(name, str):
        return []  # botocore's model check already refused it
    if member == "tableName" and name.startswith("arn:") and ":table/" in name:
        name = name.split(":table/", 1)[1]  # CreateTable also takes the table's ARN
    shown = name if len(name) <= 64 else name[:64] + "..."
    errors = []
    if len(name) < TABLE_NAME_MIN:
        errors.append(f"Value '{shown}' at '{member}' failed to satisfy constraint: Member must "
                      f"have length greater than or equal to {TABLE_NAME_MIN}")
    if len(name) > TABLE_NAME_MAX:
        errors.append(f"Value '{shown}' at '{member}' failed to satisfy constraint: Member must "
                      f"have length less than or equal to {TABLE_NAME_MAX}")
    if name and not TABLE_NAME.fullmatch(name):
        errors.append(f"Value '{shown}' at '{member}' failed to satisfy constraint: Member must "
                      f"satisfy regular expression pattern: {TABLE_NAME.pattern}")
    return errors


def validation_message(errors: list[str]) -> str:
    return (f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
            + "; ".join(errors))


def _sse(source: Table, override: dict[str, Any] | None, account: str, region: str
         ) -> dict[str, Any] | None:
    if override is None:
        return copy.deepcopy(source.sse_specification)
    if not override.get("Enabled"):
        return None  # AWS owned key: DescribeTable shows no SSEDescription
    spec: dict[str, Any] = {"Enabled": True, "SSEType": override.get("SSEType", "KMS")}
    if spec["SSEType"] != "KMS":
        raise _validation("One or more parameter values were invalid: SSEType must be KMS")
    if override.get("KMSMasterKeyId"):
        arn = kms_key_arn(account, region, override["KMSMasterKeyId"])
        if arn is None:
            raise _validation(_unknown_key(override["KMSMasterKeyId"]))
        spec["KMSMasterKeyId"] = arn
    return spec


def _target_spec(source: Table, params: dict[str, Any], account: str, region: str
                 ) -> dict[str, Any]:
    """CreateTable-like arguments for the target: what AWS carries, overrides applied."""
    billing = params.get("BillingModeOverride") or source.billing_mode or "PROVISIONED"
    source_billing = source.billing_mode or "PROVISIONED"
    override_tp = params.get("ProvisionedThroughputOverride")
    if billing == "PAY_PER_REQUEST":
        if override_tp:
            raise _validation("One or more parameter values were invalid: Neither "
                              "ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                              "BillingMode is PAY_PER_REQUEST")
        throughput = None
    else:
        throughput = _throughput(override_tp) or (
            _throughput(source.throughput) if source_billing == "PROVISIONED" else None)
        if throughput is None:
            raise _validation("ProvisionedThroughputOverride is required when restoring an "
                              "on-demand table with BillingModeOverride PROVISIONED")
    gsis = _indexes(source.global_indexes, params.get("GlobalSecondaryIndexOverride"),
                    "GlobalSecondaryIndex", billing)
    lsis = _indexes(source.indexes, params.get("LocalSecondaryIndexOverride"),
                    "LocalSecondaryIndex", None)
    # CreateTable accepts only attribute definitions that some key schema uses.
    used = {k["AttributeName"] for k in source.schema}
    for index in gsis + lsis:
        used |= {k["AttributeName"] for k in index["KeySchema"]}
    return {
        "schema": copy.deepcopy(source.schema),
        "attr": [copy.deepcopy(a) for a in source.attr if a["AttributeName"] in used],
        "throughput": throughput, "billing_mode": billing,
        "global_indexes": gsis, "indexes": lsis,
        "sse_specification": _sse(source, params.get("SSESpecificationOverride"), account,
                                  region),
        # Not restored by AWS: tags, streams, TTL, PITR, deletion protection.
        "streams": None, "tags": [], "deletion_protection_enabled": False,
        "warm_throughput": None,
    }


def restore_to_point_in_time(backend: DynamoDBBackend, params: dict[str, Any]) -> Table:
    errors = table_name_errors(params.get("TargetTableName"), "targetTableName")
    if params.get("SourceTableName") is not None:
        errors = table_name_errors(params["SourceTableName"], "sourceTableName") + errors
    if errors:
        raise _validation(validation_message(errors))
    source_ref = params.get("SourceTableArn") or params.get("SourceTableName")
    if not source_ref:
        raise _validation("Either SourceTableName or SourceTableArn must be specified")
    use_latest = bool(params.get("UseLatestRestorableTime"))
    has_time = params.get("RestoreDateTime") is not None
    if use_latest == has_time:
        raise _validation("Specify exactly one of RestoreDateTime or "
                          "UseLatestRestorableTime=true")
    try:
        source = backend.get_table(source_ref)
    except ResourceNotFoundException:
        raise RestoreError("TableNotFoundException", f"Table not found: {source_ref}") from None
    target_name = params["TargetTableName"]
    existing = backend.tables.get(target_name)
    if existing is not None:
        if _is_creating(existing):
            raise RestoreError("TableInUseException",
                               f"Table is being created: {target_name}")
        raise RestoreError("TableAlreadyExistsException", f"Table already exists: {target_name}")
    if source.__dict__.get("_sandbox_pitr_since") is None:
        raise RestoreError("PointInTimeRecoveryUnavailableException",
                           f"Point in time recovery is not enabled for table '{source.name}'")
    earliest, latest = _window(source)
    restore_time = latest if use_latest else _restore_epoch(params["RestoreDateTime"])
    if not earliest <= restore_time <= latest:
        raise RestoreError(
            "InvalidRestoreTimeException",
            f"RestoreDateTime {_utc(restore_time).isoformat()} must be between "
            f"EarliestRestorableDateTime {_utc(earliest).isoformat()} and "
            f"LatestRestorableDateTime {_utc(latest).isoformat()}")
    spec = _target_spec(source, params, backend.account_id, backend.region_name)
    history = _history(source)
    with _lock:
        if target_name in backend.tables:  # lost a race with a concurrent restore
            raise RestoreError("TableAlreadyExistsException",
                               f"Table already exists: {target_name}")
        in_flight = sum(1 for t in list(backend.tables.values()) if _is_creating(t))
        if in_flight >= MAX_CONCURRENT_RESTORES:
            raise RestoreError("LimitExceededException",
                               f"There can be at most {MAX_CONCURRENT_RESTORES} concurrent "
                               "restores in an account")
        target = Table(target_name, account_id=backend.account_id,
                       region=backend.region_name, **spec)
        target.created_at = _utc(SETTINGS.recorded_now()).replace(tzinfo=None)
        # Shared Item objects are safe: no write path mutates an item that history holds.
        items: defaultdict[Any, Any] = defaultdict(dict)
        for (hash_key, range_key), item in history.state_at(restore_time):
            if range_key is None:
                items[hash_key] = item
            else:
                items[hash_key][range_key] = item
        target.items = items
        target._sandbox_restore = RestoreInfo(source.table_arn, restore_time,
                                              SETTINGS.clock.now(), SETTINGS.restore_seconds)
        backend.tables[target_name] = target
    return target


# ---------------------------------------------------------------------------
# Request-level checks for tables that are still being created
# ---------------------------------------------------------------------------

def _tables_of(operation: str, params: dict[str, Any]) -> list[str]:
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return list(params.get("RequestItems") or {})
    if operation in ("TransactGetItems", "TransactWriteItems"):
        return [op["TableName"] for entry in params.get("TransactItems") or []
                for op in entry.values() if isinstance(op, dict) and "TableName" in op]
    if operation in ("ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"):
        statements = ([params] if operation == "ExecuteStatement"
                      else params.get("Statements") or params.get("TransactStatements") or [])
        return [name for stmt in statements for name in _partiql_tables(stmt.get("Statement"))]
    if operation in ("TagResource", "UntagResource"):
        return [params["ResourceArn"]] if params.get("ResourceArn") else []
    return [params["TableName"]] if params.get("TableName") else []


def _partiql_tables(statement: str | None) -> list[str]:
    if not statement:
        return []
    from moto.dynamodb.parsing import partiql

    try:
        return [name.split(".")[0] for name in
                partiql.get_query_metadata(statement).get_table_names()]
    except Exception:  # noqa: BLE001 - unparseable statements are moto's to reject
        return []


def _creating_tables(backend: DynamoDBBackend, names: list[str]) -> list[str]:
    found = []
    for name in names:
        try:
            table = backend.get_table(name)
        except ResourceNotFoundException:
            continue
        if _is_creating(table):
            found.append(table.name)
    return found


# ---------------------------------------------------------------------------
# Control routes
# ---------------------------------------------------------------------------

# route -> (body key, Settings attribute, maximum, example)
CONTROL_ROUTES = {
    "config": ("restore_seconds", "restore_seconds", MAX_RESTORE_SECONDS,
               '{"restore_seconds": 1200} makes new restores CREATING for 20 emulated minutes'),
    "backdate": ("seconds", "backdate_seconds", MAX_BACKDATE_SECONDS,
                 '{"seconds": 3600} records writes an hour ago; {"seconds": 0} turns it off'),
    "lag": ("seconds", "restorable_lag_seconds", MAX_LAG_SECONDS,
            '{"seconds": 900} puts the latest restorable time 15 emulated minutes behind now'),
}


def _setting(data: Any, name: str, maximum: float, example: str) -> float:
    value = data.get(name) if isinstance(data, dict) else None
    if (not isinstance(data, dict) or set(data) != {name} or isinstance(value, bool)
            or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not 0 <= value <= maximum):
        raise BadControlRequest(f"expected exactly {{\"{name}\": <number from 0 to "
                                f"{maximum:.0f}>}}, got {data!r}; e.g. {example}")
    return float(value)


def control(method: str, data: Any, query: dict[str, str]) -> tuple[int, Any]:
    route = query.get("path", "").strip("/")
    if route in CONTROL_ROUTES and method in ("GET", "POST"):
        if method == "POST":
            name, attribute, maximum, example = CONTROL_ROUTES[route]
            setattr(SETTINGS, attribute, _setting(data, name, maximum, example))
        return 200, SETTINGS.to_json()
    if route == "" and method == "GET":
        return 200, SETTINGS.to_json()
    raise BadControlRequest(
        f"unknown route {method} /_sandbox/dynamodb/{route}; known: GET /_sandbox/dynamodb, "
        "GET|POST /_sandbox/dynamodb/config {\"restore_seconds\": s}, "
        "GET|POST /_sandbox/dynamodb/backdate {\"seconds\": N}, "
        "GET|POST /_sandbox/dynamodb/lag {\"seconds\": N}")


# ---------------------------------------------------------------------------
# Installation
# ---------------------------------------------------------------------------

def install(sandbox: Sandbox) -> None:
    SETTINGS.clock = sandbox.clock
    _patch_moto()

    def backend(call: Call) -> DynamoDBBackend:
        return dynamodb_backends[call.account_id][call.region]

    def table_or_not_found(call: Call) -> Table:
        name = call.params.get("TableName", "")
        try:
            return backend(call).get_table(name)
        except ResourceNotFoundException:
            raise ServiceError("TableNotFoundException", f"Table not found: {name}") from None

    @sandbox.handle("dynamodb", "CreateTable")
    def create_table(call: Call) -> None:
        errors = table_name_errors(call.params.get("TableName"), "tableName")
        if errors:
            raise ServiceError("ValidationException", validation_message(errors))
        return None  # moto serves it (the KMS key is resolved in the backend's create_table)

    @sandbox.handle("dynamodb", "RestoreTableToPointInTime")
    def restore(call: Call) -> dict[str, Any]:
        try:
            table = restore_to_point_in_time(backend(call), call.params)
        except RestoreError as err:
            raise ServiceError(err.code, err.message) from None
        return {"TableDescription": table.describe()["TableDescription"]}

    @sandbox.handle("dynamodb", "UpdateContinuousBackups")
    def update_continuous_backups(call: Call) -> dict[str, Any]:
        table = table_or_not_found(call)
        if _is_creating(table):
            raise ServiceError("ContinuousBackupsUnavailableException",
                               f"Backups have not yet been enabled for table: {table.name}")
        spec = call.params["PointInTimeRecoverySpecification"]
        days = spec.get("RecoveryPeriodInDays")
        if days is not None and not 1 <= days <= DEFAULT_RECOVERY_DAYS:
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{days}' at "
                "'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy "
                f"constraint: Member must have value between 1 and {DEFAULT_RECOVERY_DAYS}")
        _set_pitr(table, bool(spec["PointInTimeRecoveryEnabled"]), days)
        return _continuous_backups(table)

    @sandbox.handle("dynamodb", "DescribeContinuousBackups")
    def describe_continuous_backups(call: Call) -> dict[str, Any]:
        return _continuous_backups(table_or_not_found(call))

    def refuse_while_creating(operation: str) -> None:
        @sandbox.handle("dynamodb", operation)
        def check(call: Call) -> None:
            creating = _creating_tables(backend(call), _tables_of(operation, call.params))
            if not creating:
                return None  # moto serves it
            if operation in DATA_PLANE:
                raise ServiceError("ResourceNotFoundException", "Requested resource not found")
            code = BUSY_CODES[operation]
            raise ServiceError(code, "Attempt to change a resource which is still in use: "
                                     f"Table is being created: {creating[0]}")

    for operation in DATA_PLANE + tuple(BUSY_CODES):
        refuse_while_creating(operation)

    sandbox.control("dynamodb")(control)
    sandbox.on_reset(SETTINGS.reset)
