#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dynamodb_table_verify
version_added: 0.1.0
short_description: Verify a restored DynamoDB table before the application is pointed at it
description:
  - Read-only checks of O(table) (typically a point-in-time recovery table), each reported in
    RV(checks); the module fails when one fails (unless O(fail_on_mismatch=false)), so a play
    stops before the swap.
  - C(status) - the table exists and is ACTIVE, with all indexes ACTIVE.
  - C(key_schema) and C(indexes) - with O(source_table), the key schema (names, key types and
    attribute types) and the global and local secondary indexes (keys and projection) match the
    source's. O(ignore_indexes) leaves out indexes dropped on purpose by an index override.
  - C(item_count) - items are counted with a parallel segmented Scan (C(Select=COUNT)).
    V(exact) scans the whole table in O(parallel_segments) segments. V(sample) bounds the cost
    for large tables - the table is cut into S segments of about O(sample_items) /
    O(sample_segments) items each (S from the larger of the table's and the source's ItemCount,
    which DynamoDB refreshes about every six hours), O(sample_segments) of them, spread evenly,
    are scanned, and the count is scaled up by S / O(sample_segments); the items read stay near
    O(sample_items) however large the table is, and the result is marked C(estimated). V(auto)
    counts exactly up to O(exact_count_limit) items and samples above. The count is checked
    against O(min_item_count) and O(max_item_count) when given.
  - C(canaries) - items that must be present (optionally with given attribute values) or
    absent, read with strongly consistent BatchGetItem.
  - C(source_sample) - with O(source_table) and O(source_sample_size), that many items are read
    from the table and looked up in the source; the share that are identical must reach
    O(source_min_match_ratio). Items that changed since the restore point are expected to
    differ; a table restored from the wrong source matches nothing.
author:
  - PropIE platform team (@propie)
options:
  table:
    description: The table to verify.
    type: str
    required: true
  source_table:
    description: The table it was restored from, for the schema and sampled comparisons.
    type: str
  ignore_indexes:
    description: Index names left out of the index comparison.
    type: list
    elements: str
    default: []
  count:
    description: How to count items (see the description); V(none) skips the count.
    type: str
    choices: [auto, exact, sample, none]
    default: auto
  exact_count_limit:
    description: With O(count=auto), the largest estimated item count that is counted exactly.
    type: int
    default: 50000
  sample_items:
    description: With a sampled count, about how many items are read.
    type: int
    default: 10000
  sample_segments:
    description: With a sampled count, how many segments are scanned.
    type: int
    default: 8
  parallel_segments:
    description: With an exact count, into how many segments the Scan is split.
    type: int
    default: 4
  workers:
    description: How many segments are scanned at once.
    type: int
    default: 4
  min_item_count:
    description: The count must be at least this.
    type: int
  max_item_count:
    description: The count must be at most this.
    type: int
  canaries:
    description: Items that must be present or absent.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description:
          - "The item's primary key, as plain values, for example C({pk: PROPERTY#0001, sk: DETAILS})."
        type: dict
        required: true
      present:
        description: Whether the item must exist.
        type: bool
        default: true
      attributes:
        description: Attribute values the item must have (only with O(canaries[].present=true)).
        type: dict
  source_sample_size:
    description: How many items to compare with the source; V(0) skips the comparison.
    type: int
    default: 0
  source_min_match_ratio:
    description: Share (0 to 1) of the sampled items that must be identical in the source.
    type: float
    default: 0.0
  consistent_read:
    description: Use strongly consistent reads for the count and sample (twice the read cost).
    type: bool
    default: false
  fail_on_mismatch:
    description: Fail when a check fails. With V(false) the result just reports RV(ok).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same checks in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to diff.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Verify the recovery table before the swap
  propie.rollback.dynamodb_table_verify:
    table: "{{ restore.target_table }}"
    source_table: prop-ie-production-data
    min_item_count: 100
    canaries:
      - key: {pk: "PROPERTY#0001", sk: "DETAILS"}
      - key: {pk: "PROPERTY#0000", sk: "DETAILS"}
        attributes: {status: FOR_SALE}
    source_sample_size: 50
"""

RETURN = r"""
ok:
  description: Whether every check passed.
  returned: always
  type: bool
checks:
  description: One entry per check - C(name), C(ok) and C(detail).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "key_schema", "ok": true, "detail": "HASH pk:S, RANGE sk:S"}]
item_count:
  description: The count and what it cost - C(value), C(estimated), C(method) (exact or sample),
    C(items_counted), C(items_scanned), C(pages), C(segments_scanned), C(total_segments),
    C(fraction_scanned), C(consumed_capacity_units), C(seconds).
  returned: when O(count) is not V(none)
  type: dict
canaries:
  description: Each canary's key, whether it must be present, whether it was found, and the
    attributes that differ.
  returned: when O(canaries) is given
  type: list
  elements: dict
source_sample:
  description: C(compared), C(identical), C(different), C(missing_in_source), C(match_ratio) and
    up to ten example keys of items that differ or are missing.
  returned: when O(source_sample_size) is above 0
  type: dict
table:
  description: The verified table's name.
  returned: always
  type: str
"""

import typing

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List
    from typing import Optional

EXAMPLE_LIMIT = 10


def _check(name: str, ok: bool, detail: str) -> Dict[str, Any]:
    return {"name": name, "ok": bool(ok), "detail": detail}


def check_status(table: Dict[str, Any]) -> Dict[str, Any]:
    indexes = {i["IndexName"]: i.get("IndexStatus", "ACTIVE") for i in table.get("GlobalSecondaryIndexes") or []}
    busy = sorted(name for name, status in indexes.items() if status != "ACTIVE")
    ok = table["TableStatus"] == "ACTIVE" and not busy
    detail = "table %s" % table["TableStatus"]
    if busy:
        detail += "; indexes not ACTIVE: %s" % ", ".join(busy)
    return _check("status", ok, detail)


def check_schema(table: Dict[str, Any], source: Dict[str, Any], ignore: List[str]) -> List[Dict[str, Any]]:
    mine, theirs = ddb.key_signature(table), ddb.key_signature(source)
    checks = [_check("key_schema", mine == theirs,
                     ", ".join(mine) if mine == theirs else
                     "%s differs from the source's %s" % (", ".join(mine), ", ".join(theirs)))]
    mine_i = {k: v for k, v in ddb.index_signatures(table).items() if k.split(" ", 1)[1] not in ignore}
    theirs_i = {k: v for k, v in ddb.index_signatures(source).items() if k.split(" ", 1)[1] not in ignore}
    problems = []
    for name in sorted(set(mine_i) | set(theirs_i)):
        if name not in mine_i:
            problems.append("%s missing" % name)
        elif name not in theirs_i:
            problems.append("%s not in the source" % name)
        elif mine_i[name] != theirs_i[name]:
            problems.append("%s is %s, the source's is %s" % (name, mine_i[name], theirs_i[name]))
    checks.append(_check("indexes", not problems,
                         "; ".join(problems) or "%d indexes match: %s" % (len(mine_i), ", ".join(sorted(mine_i)) or "none")))
    return checks


def run_count(module: AnsibleAWSModule, client: Any, table: Dict[str, Any],
              source: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    p = module.params
    estimate = max(table.get("ItemCount", 0), (source or {}).get("ItemCount", 0))
    plan = ddb.plan_count(p["count"], estimate, p["exact_count_limit"], p["sample_items"],
                          p["sample_segments"], p["parallel_segments"])
    counted = ddb.count_items(client, table["TableName"], plan, p["workers"], p["consistent_read"])
    counted["item_count_estimate_used"] = estimate
    return counted


def check_count(counted: Dict[str, Any], low: Optional[int], high: Optional[int]) -> Dict[str, Any]:
    value = counted["value"]
    text = "%s%d items (%s, %d of %d segments, %d items read)" % (
        "about " if counted["estimated"] else "", value, counted["method"],
        counted["segments_scanned"], counted["total_segments"], counted["items_scanned"])
    ok = (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        text += "; expected %s" % " and ".join(
            x for x in ("at least %d" % low if low is not None else "",
                        "at most %d" % high if high is not None else "") if x)
    return _check("item_count", ok, text)


def run_canaries(client: Any, table: Dict[str, Any], canaries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    names = ddb.key_names(table)
    typed = [ddb.to_typed(c["key"]) for c in canaries]
    found = {}
    for item in ddb.batch_get(client, table["TableName"], _unique(typed), consistent=True):
        found[_key_id(ddb.to_plain(ddb.key_of(item, names)))] = ddb.to_plain(item)
    out = []
    for canary in canaries:
        item = found.get(_key_id(canary["key"]))
        wrong = {}
        for attr, value in (canary.get("attributes") or {}).items():
            if item is not None and item.get(attr) != value:
                wrong[attr] = {"expected": value, "found": item.get(attr)}
        ok = (item is not None) == canary["present"] and not wrong
        out.append({"key": canary["key"], "present": canary["present"], "found": item is not None,
                    "wrong_attributes": wrong, "ok": ok})
    return out


def _key_id(key: Dict[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in key.items()))


def _unique(keys: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    seen, out = set(), []
    for key in keys:
        ident = repr(sorted(key.items()))
        if ident not in seen:
            seen.add(ident)
            out.append(key)
    return out


def run_source_sample(client: Any, table: Dict[str, Any], source: Dict[str, Any], size: int,
                      consistent: bool) -> Dict[str, Any]:
    names = ddb.key_names(table)
    mine = ddb.sample_items(client, table["TableName"], size, consistent)
    keys = [ddb.key_of(i, names) for i in mine]
    theirs = {_key_id(ddb.to_plain(ddb.key_of(i, names))): i
              for i in ddb.batch_get(client, source["TableName"], keys, consistent)}
    identical, different, missing = 0, [], []
    for item in mine:
        ident = _key_id(ddb.to_plain(ddb.key_of(item, names)))
        other = theirs.get(ident)
        if other is None:
            missing.append(ddb.to_plain(ddb.key_of(item, names)))
        elif ddb.to_plain(other) == ddb.to_plain(item):
            identical += 1
        else:
            different.append(ddb.to_plain(ddb.key_of(item, names)))
    compared = len(mine)
    return {
        "compared": compared, "identical": identical, "different": len(different),
        "missing_in_source": len(missing),
        "match_ratio": round(float(identical) / compared, 4) if compared else None,
        "different_examples": different[:EXAMPLE_LIMIT], "missing_examples": missing[:EXAMPLE_LIMIT],
    }


def do(module: AnsibleAWSModule) -> None:
    p = module.params
    if p["source_sample_size"] and not p["source_table"]:
        module.fail_json(msg="source_sample_size needs source_table")
    if not 0 <= p["source_min_match_ratio"] <= 1:
        module.fail_json(msg="source_min_match_ratio must be between 0 and 1")
    for name in ("sample_items", "sample_segments", "parallel_segments", "workers"):
        if p[name] < 1:
            module.fail_json(msg="%s must be at least 1" % name)
    if p["parallel_segments"] > ddb.MAX_TOTAL_SEGMENTS:
        module.fail_json(msg="parallel_segments must be at most %d" % ddb.MAX_TOTAL_SEGMENTS)
    client = ddb.dynamodb_client(module)
    result = {"table": p["table"], "changed": False}  # type: Dict[str, Any]
    try:
        table = ddb.describe_table(client, p["table"])
        if table is None:
            module.fail_json(msg="table %s does not exist" % p["table"], ok=False,
                             checks=[_check("status", False, "table does not exist")], **result)
        source = None
        if p["source_table"]:
            source = ddb.describe_table(client, p["source_table"])
            if source is None:
                module.fail_json(msg="source table %s does not exist" % p["source_table"], **result)
        checks = [check_status(table)]
        if checks[0]["ok"]:
            if source is not None:
                checks += check_schema(table, source, p["ignore_indexes"])
            if p["count"] != "none":
                result["item_count"] = run_count(module, client, table, source)
                checks.append(check_count(result["item_count"], p["min_item_count"], p["max_item_count"]))
            if p["canaries"]:
                result["canaries"] = run_canaries(client, table, p["canaries"])
                bad = [c for c in result["canaries"] if not c["ok"]]
                checks.append(_check(
                    "canaries", not bad,
                    "%d of %d as expected" % (len(p["canaries"]) - len(bad), len(p["canaries"]))
                    + "".join("; %s should be %s%s" % (c["key"], "present" if c["present"] else "absent",
                                                       " with %s" % c["wrong_attributes"] if c["wrong_attributes"] else "")
                              for c in bad[:EXAMPLE_LIMIT])))
            if p["source_sample_size"]:
                sample = run_source_sample(client, table, source, p["source_sample_size"], p["consistent_read"])
                result["source_sample"] = sample
                ratio = sample["match_ratio"] or 0.0
                checks.append(_check(
                    "source_sample", sample["compared"] > 0 and ratio >= p["source_min_match_ratio"],
                    "%d of %d sampled items identical in the source (%.0f%%; at least %.0f%% required), "
                    "%d differ, %d not in the source" % (
                        sample["identical"], sample["compared"], ratio * 100,
                        p["source_min_match_ratio"] * 100, sample["different"], sample["missing_in_source"])))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="verifying table %s failed" % p["table"])
    result["checks"] = checks
    result["ok"] = all(c["ok"] for c in checks)
    failed = [c for c in checks if not c["ok"]]
    if failed and p["fail_on_mismatch"]:
        module.fail_json(msg="table %s failed verification: %s" % (
            p["table"], "; ".join("%s: %s" % (c["name"], c["detail"]) for c in failed)), **result)
    module.exit_json(**result)


def main() -> None:
    argument_spec = dict(
        table=dict(type="str", required=True),
        source_table=dict(type="str"),
        ignore_indexes=dict(type="list", elements="str", default=[]),
        count=dict(type="str", choices=["auto", "exact", "sample", "none"], default="auto"),
        exact_count_limit=dict(type="int", default=50000),
        sample_items=dict(type="int", default=10000),
        sample_segments=dict(type="int", default=8),
        parallel_segments=dict(type="int", default=4),
        workers=dict(type="int", default=4),
        min_item_count=dict(type="int"),
        max_item_count=dict(type="int"),
        canaries=dict(
            type="list", elements="dict", default=[],
            options=dict(
                key=dict(type="dict", required=True, no_log=False),
                present=dict(type="bool", default=True),
                attributes=dict(type="dict"),
            ),
        ),
        source_sample_size=dict(type="int", default=0),
        source_min_match_ratio=dict(type="float", default=0.0),
        consistent_read=dict(type="bool", default=False),
        fail_on_mismatch=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    do(module)


if __name__ == "__main__":
    main()
