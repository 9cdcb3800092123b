# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rollback per environment at a time: a lease item in a DynamoDB table.

The item, keyed by ``env``::

    env, incident_id, holder, host, started, renewed, expires (ISO 8601 UTC, 'Z'),
    expires_at (epoch seconds, a number: also the table's TTL attribute),
    version (1 on a fresh table, +1 on every write of the lease), heartbeat_pid (optional)

Acquiring is ONE conditional UpdateItem that succeeds when there is no item, or the item
has expired (``expires_at < :now``), or it is ours (same incident id: a re-run resumes and
keeps ``started``), or ``break_lock`` names its incident id. Everything here that decides is
a pure function of the item and ``now`` (epoch seconds), so it is unit-testable without
sleeps; the modules make the calls. ``read_item`` is the one read of the item (a consistent
GetItem), shared by rollback_lock and rollback_lock_info; ``lock_status`` and
``status_message`` say what a read found (free, expired or held).

The heartbeat half keeps the lease alive while a given process (the ansible-playbook main
process) lives: a detached grandchild that renews every ttl/3 seconds. Everything it runs is
imported here at module load, because the AnsiballZ payload it was loaded from is deleted
when the module returns.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
import re
import select
import signal
import sys
import tempfile
import time
import typing

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Callable
    from typing import Dict
    from typing import Optional
    from typing import Tuple

ACQUIRED = "acquired"
RENEWED = "renewed"
RESUMED = "resumed"
BROKEN = "broken"
RELEASED = "released"
ABSENT = "absent"
HELD = "held"
# What a read of the lock finds (lock_status); HELD above is the third.
FREE = "free"
EXPIRED = "expired"

# Attribute names, always sent as placeholders (some are DynamoDB reserved words).
NAMES = {
    "#env": "env",
    "#inc": "incident_id",
    "#holder": "holder",
    "#host": "host",
    "#started": "started",
    "#renewed": "renewed",
    "#expires": "expires",
    "#exp": "expires_at",
    "#ver": "version",
    "#hbpid": "heartbeat_pid",
}
NUMBER_FIELDS = ("expires_at", "version", "heartbeat_pid")

# The heartbeat gives up after this many consecutive failed renewals (each already retried
# by botocore's standard retry mode): by then the lease has expired several intervals ago.
HEARTBEAT_MAX_FAILURES = 5
HEARTBEAT_RETRIES = {"mode": "standard", "max_attempts": 3}
# How often the heartbeat checks that the process it follows is alive (seconds, at most).
HEARTBEAT_POLL = 1.0
# Why a heartbeat stops, when that is the normal end of a run (it then leaves no log behind).
RELEASED_REASON = "lock released"
CLEAN_ENDS = ("process gone", "stopped", RELEASED_REASON)


class LockError(Exception):
    """A lock state that stops the module; the message names the holder and the fix."""


# ---------------------------------------------------------------------------
# Times and items
# ---------------------------------------------------------------------------


def iso_utc(epoch: float) -> str:
    """Epoch seconds as ISO 8601 UTC with a 'Z' suffix, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def expires_at_for(now: float, ttl_seconds: int) -> int:
    """The lease end in whole epoch seconds, never shorter than ttl_seconds."""
    return int(math.ceil(now + ttl_seconds))


def number_text(value: float) -> str:
    """A number as DynamoDB N text (``now`` keeps its microseconds)."""
    if isinstance(value, int):
        return str(value)
    return "%.6f" % value


def to_typed(item: Dict[str, Any]) -> Dict[str, Dict[str, str]]:
    """A plain lock item as DynamoDB attribute values (None values are left out)."""
    typed = {}
    for key, value in item.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            typed[key] = {"S": str(value)}
        else:
            typed[key] = {"N": number_text(value)}
    return typed


def _plain_number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return float(text)


def from_typed(typed: Optional[Dict[str, Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
    """DynamoDB attribute values as a plain dict (None for no item)."""
    if not typed:
        return None
    item = {}
    for key, value in typed.items():
        if "S" in value:
            item[key] = value["S"]
        elif "N" in value:
            item[key] = _plain_number(value["N"])
        elif "BOOL" in value:
            item[key] = value["BOOL"]
        elif "NULL" in value:
            item[key] = None
        else:  # a type the lock never writes: keep something readable
            item[key] = str(list(value.values())[0])
    return item


def is_expired(item: Dict[str, Any], now: float) -> bool:
    """The same test as the condition ``expires_at < :now`` (no number: not expired)."""
    expires_at = item.get("expires_at")
    if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)):
        return False
    return expires_at < now


def read_item(module: Any, client: Any, table: str, env: str) -> Any:
    """The lock item of ``env`` (a consistent GetItem, retried by the client's retry policy) as
    a plain dict, or None; False when the table does not exist. Any other error fails the module."""
    try:
        found = client.get_item(TableName=table, Key={"env": {"S": env}}, ConsistentRead=True, aws_retry=True)
    except is_boto3_error_code("ResourceNotFoundException"):
        return False
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not read the lock of env %s from table %s" % (env, table))
    return from_typed(found.get("Item"))


def lock_status(item: Optional[Dict[str, Any]], now: float) -> str:
    """FREE (no item), EXPIRED (an item whose lease has ended: acquiring takes it over) or HELD."""
    if item is None:
        return FREE
    return EXPIRED if is_expired(item, now) else HELD


# ---------------------------------------------------------------------------
# Decisions (pure)
# ---------------------------------------------------------------------------


class Decision(object):
    """What a lock request does with the item found: action, whether the write may succeed,
    and whether it takes the lease over from another incident (new ``started``)."""

    def __init__(self, action: str, allowed: bool, takeover: bool = False) -> None:
        self.action = action
        self.allowed = allowed
        self.takeover = takeover

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Decision) and (self.action, self.allowed, self.takeover) == (
            other.action, other.allowed, other.takeover)

    def __repr__(self) -> str:
        return "Decision(%r, allowed=%r, takeover=%r)" % (self.action, self.allowed, self.takeover)


def decide_acquire(item: Optional[Dict[str, Any]], incident_id: str, break_lock: Optional[str], now: float,
                   heartbeat_pid: Optional[int] = None, host: Optional[str] = None) -> Decision:
    """What acquiring does given the current item; mirrors the write's condition exactly.

    no item -> acquired; ours -> renewed (same host and heartbeat pid: the same run) or
    resumed (a re-run); break_lock names the holder -> broken (whatever its expiry);
    expired -> acquired (taken over); otherwise held (the write would fail).
    """
    if item is None:
        return Decision(ACQUIRED, True)
    holder = item.get("incident_id")
    if holder == incident_id:
        same_run = heartbeat_pid is not None and item.get("heartbeat_pid") == heartbeat_pid and item.get("host") == host
        return Decision(RENEWED if same_run else RESUMED, True)
    if break_lock and holder == break_lock:
        return Decision(BROKEN, True, takeover=True)
    if is_expired(item, now):
        return Decision(ACQUIRED, True, takeover=True)
    return Decision(HELD, False)


def decide_release(item: Optional[Dict[str, Any]], incident_id: Optional[str], break_lock: Optional[str]) -> Decision:
    """What releasing does: delete our own item (released) or the one break_lock names
    (broken); no item -> absent; another incident's item -> held (left alone)."""
    if item is None:
        return Decision(ABSENT, False)
    holder = item.get("incident_id")
    if incident_id and holder == incident_id:
        return Decision(RELEASED, True)
    if break_lock and holder == break_lock:
        return Decision(BROKEN, True, takeover=True)
    return Decision(HELD, False)


def acquire_condition(incident_id: str, break_lock: Optional[str], now: float) -> Tuple[str, Dict[str, Dict[str, str]]]:
    """ConditionExpression and its values for the one acquiring write."""
    expr = "attribute_not_exists(#env) OR #exp < :now OR #inc = :inc"
    values = {":now": {"N": number_text(now)}, ":inc": {"S": incident_id}}
    if break_lock and break_lock != incident_id:
        expr += " OR #inc = :brk"
        values[":brk"] = {"S": break_lock}
    return expr, values


def acquire_request(table: str, fields: Dict[str, Any], break_lock: Optional[str], now: float,
                    ttl_seconds: int) -> Dict[str, Any]:
    """The UpdateItem parameters that acquire, renew or take over the lease in one write.

    ``fields``: env, incident_id, holder, host, heartbeat_pid (or None). ``started`` and
    ``version`` are kept/incremented with if_not_exists, so a fresh item starts at version 1
    and a re-run of the same incident keeps its ``started`` (a takeover is fixed up after).
    """
    expires_at = expires_at_for(now, ttl_seconds)
    cond, values = acquire_condition(fields["incident_id"], break_lock, now)
    values.update({
        ":holder": {"S": fields["holder"]},
        ":host": {"S": fields["host"]},
        ":renewed": {"S": iso_utc(now)},
        ":expires": {"S": iso_utc(expires_at)},
        ":exp": {"N": str(expires_at)},
        ":zero": {"N": "0"},
        ":one": {"N": "1"},
    })
    update = ("SET #inc = :inc, #holder = :holder, #host = :host, #started = if_not_exists(#started, :renewed), "
              "#renewed = :renewed, #expires = :expires, #exp = :exp, #ver = if_not_exists(#ver, :zero) + :one")
    if fields.get("heartbeat_pid") is not None:
        update += ", #hbpid = :hbpid"
        values[":hbpid"] = {"N": str(fields["heartbeat_pid"])}
    else:
        update += " REMOVE #hbpid"
    return dict(
        TableName=table,
        Key={"env": {"S": fields["env"]}},
        UpdateExpression=update,
        ConditionExpression=cond,
        ExpressionAttributeNames=_names_in(update + " " + cond),
        ExpressionAttributeValues=values,
        ReturnValues="ALL_OLD",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def takeover_fixup_request(table: str, env: str, incident_id: str, version: int, now: float) -> Dict[str, Any]:
    """After taking the lease over from another incident: our ``started`` is now (the one
    write kept the previous holder's). Guarded by the version just written."""
    return dict(
        TableName=table,
        Key={"env": {"S": env}},
        UpdateExpression="SET #started = :started",
        ConditionExpression="#inc = :inc AND #ver = :ver",
        ExpressionAttributeNames=_names_in("#started #inc #ver"),
        ExpressionAttributeValues={":started": {"S": iso_utc(now)}, ":inc": {"S": incident_id},
                                   ":ver": {"N": str(version)}},
    )


def release_request(table: str, env: str, incident_id: Optional[str], break_lock: Optional[str]) -> Dict[str, Any]:
    """DeleteItem parameters: only an item whose incident id is ours (or break_lock's)."""
    terms, values = [], {}
    if incident_id:
        terms.append("#inc = :inc")
        values[":inc"] = {"S": incident_id}
    if break_lock and break_lock != incident_id:
        terms.append("#inc = :brk")
        values[":brk"] = {"S": break_lock}
    return dict(
        TableName=table,
        Key={"env": {"S": env}},
        ConditionExpression=" OR ".join(terms),
        ExpressionAttributeNames=_names_in("#inc"),
        ExpressionAttributeValues=values,
        ReturnValues="ALL_OLD",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def renew_request(table: str, env: str, incident_id: str, now: float, ttl_seconds: int) -> Dict[str, Any]:
    """The heartbeat's UpdateItem: a new expiry, only while the item is still ours."""
    expires_at = expires_at_for(now, ttl_seconds)
    return dict(
        TableName=table,
        Key={"env": {"S": env}},
        UpdateExpression="SET #renewed = :renewed, #expires = :expires, #exp = :exp, #ver = #ver + :one",
        ConditionExpression="#inc = :inc",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ExpressionAttributeNames=_names_in("#renewed #expires #exp #ver #inc"),
        ExpressionAttributeValues={":renewed": {"S": iso_utc(now)}, ":expires": {"S": iso_utc(expires_at)},
                                   ":exp": {"N": str(expires_at)}, ":one": {"N": "1"},
                                   ":inc": {"S": incident_id}},
    )


def _names_in(expression: str) -> Dict[str, str]:
    return dict((k, v) for k, v in NAMES.items() if re.search(re.escape(k) + r"\b", expression))


def lock_after(previous: Optional[Dict[str, Any]], decision: Decision, fields: Dict[str, Any], now: float,
               ttl_seconds: int) -> Dict[str, Any]:
    """The item once an allowed acquire has been written (and a takeover fixed up)."""
    expires_at = expires_at_for(now, ttl_seconds)
    keep = previous is not None and not decision.takeover
    version = previous.get("version") if previous else None
    if isinstance(version, bool) or not isinstance(version, int):
        version = 0
    item = {
        "env": fields["env"],
        "incident_id": fields["incident_id"],
        "holder": fields["holder"],
        "host": fields["host"],
        "started": previous.get("started", iso_utc(now)) if keep else iso_utc(now),
        "renewed": iso_utc(now),
        "expires": iso_utc(expires_at),
        "expires_at": expires_at,
        "version": version + 1,
    }
    if fields.get("heartbeat_pid") is not None:
        item["heartbeat_pid"] = fields["heartbeat_pid"]
    return item


# ---------------------------------------------------------------------------
# Messages (pure)
# ---------------------------------------------------------------------------


def describe_holder(item: Dict[str, Any], now: float) -> str:
    """'incident INC-1 (who: alice, host: ctl-1, started ..., expires ...)'."""
    expiry = item.get("expires", "?")
    if is_expired(item, now):
        expiry = "expired %s" % expiry
    else:
        expiry = "expires %s" % expiry
    return "incident %s (who: %s, host: %s, started %s, %s)" % (
        item.get("incident_id", "?"), item.get("holder", "?"), item.get("host", "?"), item.get("started", "?"), expiry)


def held_message(env: str, item: Dict[str, Any], now: float, break_lock: Optional[str] = None) -> str:
    """Why the lock cannot be taken, naming the holder and the fix."""
    holder = item.get("incident_id", "?")
    text = "the rollback lock on env %s is held by %s" % (env, describe_holder(item, now))
    if break_lock:
        text += "; break_lock=%s does not name that holder, so nothing was changed" % break_lock
    else:
        text += "; nothing was changed"
    return "%s. Wait for it to finish, or if that run is dead: -e break_lock=%s" % (text, holder)


def status_message(env: str, table: str, item: Any, now: float) -> str:
    """What a read of the lock found (item as read_item returns it: False for no table)."""
    if item is False:
        return "no rollback lock on env %s: the lock table %s does not exist (yet)" % (env, table)
    status = lock_status(item, now)
    if status == FREE:
        return "no rollback lock on env %s" % env
    if status == EXPIRED:
        return "the rollback lock on env %s is free: the lease of %s has ended" % (env, describe_holder(item, now))
    return "the rollback lock on env %s is held by %s" % (env, describe_holder(item, now))


def acquire_message(env: str, decision: Decision, previous: Optional[Dict[str, Any]], lock: Dict[str, Any],
                    now: float, check_mode: bool = False) -> str:
    verb = {
        ACQUIRED: "acquired", RENEWED: "renewed", RESUMED: "resumed", BROKEN: "broke and took over",
    }[decision.action]
    text = "%s the rollback lock on env %s for incident %s until %s" % (verb, env, lock["incident_id"], lock["expires"])
    if decision.action == RESUMED:
        text += " (held by this incident since %s: a re-run resumes it)" % lock["started"]
    elif decision.takeover and previous is not None:
        text += "; previous holder: %s" % describe_holder(previous, now)
    return ("check mode: would have " + text) if check_mode else text


def release_message(env: str, decision: Decision, item: Optional[Dict[str, Any]], incident_id: Optional[str],
                    now: float, check_mode: bool = False) -> str:
    if decision.action == ABSENT:
        return "no rollback lock on env %s; nothing to release" % env
    if decision.action == HELD:
        return "the rollback lock on env %s is held by %s, not by incident %s; left it alone" % (
            env, describe_holder(item, now), incident_id)
    verb = "released" if decision.action == RELEASED else "broke"
    text = "%s the rollback lock on env %s held by %s" % (verb, env, describe_holder(item, now))
    return ("check mode: would have " + text) if check_mode else text


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def _proc_stat(pid: int) -> Optional[Tuple[str, str]]:
    """(state, start time in clock ticks) from /proc, or None where there is no /proc."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    fields = text[text.rfind(")") + 2:].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


def process_start_time(pid: int) -> Optional[str]:
    """A token that changes when the pid is reused (None without /proc)."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def pid_alive(pid: int, start_time: Optional[str] = None) -> bool:
    """Whether process ``pid`` runs (a zombie, or a reused pid when start_time is given, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, it is someone else's
    stat = _proc_stat(pid)
    if stat is None:
        return True
    if stat[0] in ("Z", "X"):
        return False
    return start_time is None or stat[1] == start_time


# ---------------------------------------------------------------------------
# The heartbeat
# ---------------------------------------------------------------------------


def heartbeat_interval(ttl_seconds: int) -> float:
    """Seconds between renewals: a third of the lease (at least half a second)."""
    return max(ttl_seconds / 3.0, 0.5)


class Heartbeat(object):
    """Renews the lease every ttl/3 seconds while ``alive()``; returns why it stopped.

    ``renew(now)`` returns None when renewed, or why the item is no longer ours (the
    heartbeat then stops), and raises on an AWS failure. Clock and sleep are injectable.
    """

    def __init__(self, renew: Callable[[float], Optional[str]], alive: Callable[[], bool], ttl_seconds: int,
                 max_failures: int = HEARTBEAT_MAX_FAILURES, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.renew = renew
        self.alive = alive
        self.interval = heartbeat_interval(ttl_seconds)
        self.max_failures = max_failures
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.log = log or (lambda text: None)
        self.renewals = 0

    def run(self, stop: Callable[[], bool] = lambda: False) -> str:
        failures = 0
        due = self.monotonic() + self.interval
        while True:
            if stop():
                return "stopped"
            if not self.alive():
                return "process gone"
            if self.monotonic() >= due:
                due = self.monotonic() + self.interval
                try:
                    lost = self.renew(self.clock())
                except Exception as e:
                    failures += 1
                    self.log("renewal failed (%d/%d): %s" % (failures, self.max_failures, e))
                    if failures >= self.max_failures:
                        return "%d consecutive renewal failures" % failures
                else:
                    if lost:
                        return lost
                    failures = 0
                    self.renewals += 1
                    self.log("renewed (%d)" % self.renewals)
            self.sleep(max(0.0, min(HEARTBEAT_POLL, self.interval, due - self.monotonic())))


def renewer(client: Any, table: str, env: str, incident_id: str, ttl_seconds: int) -> Callable[[float], Optional[str]]:
    """renew(now) for Heartbeat with a plain boto3 client: None, or why the lease is lost."""

    def renew(now: float) -> Optional[str]:
        try:
            client.update_item(**renew_request(table, env, incident_id, now, ttl_seconds))
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                return "lock table gone"
            if code != "ConditionalCheckFailedException":
                raise
            holder = from_typed(e.response.get("Item"))
            if holder is None:
                return RELEASED_REASON
            return "lock taken by incident %s" % holder.get("incident_id")
        return None

    return renew


def plain_client(region: Optional[str], endpoint_url: Optional[str], boto_params: Dict[str, Any]) -> Any:
    """A plain boto3 DynamoDB client from amazon.aws connection info, botocore standard retries."""
    params = dict(boto_params)
    profile = params.pop("profile_name", None)
    config = botocore.config.Config(retries=dict(HEARTBEAT_RETRIES), connect_timeout=5, read_timeout=10)
    user_config = params.pop("aws_config", None)
    if user_config is not None:
        config = user_config.merge(config)
    session = boto3.session.Session(profile_name=profile)
    return session.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config, **params)


# ---------------------------------------------------------------------------
# Pid files and the detached process
# ---------------------------------------------------------------------------


def default_heartbeat_dir() -> str:
    """~/.ansible/tmp/propie-rollback-locks, or a per-user directory in the temp dir."""
    home = os.path.expanduser("~/.ansible/tmp/propie-rollback-locks")
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
        if os.access(home, os.W_OK):
            return home
    except OSError:
        pass
    fallback = os.path.join(tempfile.gettempdir(), "propie-rollback-locks-%d" % os.getuid())
    os.makedirs(fallback, mode=0o700, exist_ok=True)
    if os.stat(fallback).st_uid != os.getuid():
        raise OSError(errno.EPERM, "%s belongs to another user" % fallback)
    return fallback


def pid_file_path(directory: str, env: str, incident_id: str, heartbeat_pid: int) -> str:
    """One pid file per (env, incident_id, heartbeat_pid): readable, and unique by a hash."""
    digest = hashlib.sha256(("%s\0%s\0%d" % (env, incident_id, heartbeat_pid)).encode("utf-8")).hexdigest()[:10]

    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:48]

    return os.path.join(directory, "%s--%s--%d-%s.pid" % (safe(env), safe(incident_id), heartbeat_pid, digest))


def claim_pid_file(path: str) -> Optional[int]:
    """An fd holding an exclusive flock on ``path``, or None when a live process holds it.

    The lock lives as long as the open file: a heartbeat killed with -9 releases it, so a
    stale pid file never blocks a new heartbeat and a reused pid never fakes a live one.
    """
    for _attempt in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                return None
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if same:
            return fd
        os.close(fd)  # a heartbeat unlinked it as we opened it: take the new file
    raise OSError(errno.EAGAIN, "could not lock %s" % path)


def read_pid_file(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as handle:
            return json.loads(handle.read() or "null")
    except (IOError, OSError, ValueError):
        return None


def heartbeat_running(path: str) -> Optional[Dict[str, Any]]:
    """The pid file's content when a heartbeat holds it, else None."""
    fd = claim_pid_file(path) if os.path.exists(path) else -1
    if fd is None:
        return read_pid_file(path) or {}
    if fd >= 0:
        os.close(fd)
    return None


def _close_fds(keep: Tuple[int, ...]) -> None:
    try:
        limit = os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        limit = 65536
    low = 3
    for fd in sorted(k for k in keep if k >= 3) + [limit]:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1


def _name_process(name: str) -> None:
    """What ps -o comm / top show (the command line still names the deleted AnsiballZ file)."""
    try:
        with open("/proc/self/comm", "w") as handle:
            handle.write(name[:15])
    except (IOError, OSError):
        pass


def _report(fd: int, payload: Dict[str, Any]) -> None:
    try:
        os.write(fd, json.dumps(payload).encode("utf-8"))
    finally:
        os.close(fd)


def _read_report(fd: int, timeout: float) -> Optional[Dict[str, Any]]:
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _w, _x = select.select([fd], [], [], remaining)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError:
        return None


def start_detached(path: str, describe: Dict[str, Any], prepare: Callable[[Callable[[str], None]], Callable[..., str]],
                   timeout: float = 15.0) -> Dict[str, Any]:
    """Run ``prepare(log)(stop)`` in a fully detached grandchild holding the pid file's lock.

    Double fork + setsid; stdin/stdout/stderr on /dev/null and every inherited fd closed
    (Ansible's local connection waits for EOF on the module's pipes). ``prepare`` runs in
    the grandchild and may fail: its error comes back here through a pipe. Returns
    {started, running, pid, pid_file, error}. At most one process per pid file: when one
    holds it, returns started=False, running=True and its pid.
    """
    result = {"started": False, "running": False, "pid": None, "pid_file": path, "error": None}
    fd = claim_pid_file(path)
    if fd is None:
        result.update(running=True, pid=(read_pid_file(path) or {}).get("pid"))
        return result
    os.ftruncate(fd, 0)
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    child = os.fork()
    if child == 0:  # first child: a new session, then the grandchild, then go
        status = 1
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() == 0:
                _grandchild(fd, write_end, path, describe, prepare)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    os.close(fd)
    os.waitpid(child, 0)
    report = _read_report(read_end, timeout)
    if report is None:
        result["error"] = "the heartbeat process ended or did not report within %ss" % timeout
    elif report.get("error"):
        result["error"] = report["error"]
    else:
        result.update(started=True, running=True, pid=report.get("pid"))
    return result


def _grandchild(fd: int, report_fd: int, path: str, describe: Dict[str, Any],
                prepare: Callable[[Callable[[str], None]], Callable[..., str]]) -> None:
    """Never returns: runs the heartbeat, removes its pid file, exits."""
    reported = False
    reason = "crashed"
    log_fd = -1
    try:
        os.chdir("/")
        devnull = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(devnull, target)
        if devnull > 2:
            os.close(devnull)
        _close_fds((fd, report_fd))
        _name_process("propie-lock-hb")
        log_path = path[:-len(".pid")] + ".log" if path.endswith(".pid") else path + ".log"
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

        def log(text: str) -> None:
            os.write(log_fd, ("%s pid %d: %s\n" % (iso_utc(time.time()), os.getpid(), text)).encode("utf-8"))

        stopping = []
        signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        run = prepare(log)
        record = dict(describe, pid=os.getpid(), since=iso_utc(time.time()))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        _report(report_fd, {"pid": os.getpid()})
        reported = True
        log("started: %s" % json.dumps(describe, sort_keys=True))
        reason = run(lambda: bool(stopping))
        log("exiting: %s" % reason)
    except BaseException as e:
        if not reported:
            try:
                _report(report_fd, {"error": "%s: %s" % (type(e).__name__, e)})
            except OSError:
                pass
        elif log_fd >= 0:
            try:
                os.write(log_fd, ("exiting after an error: %s: %s\n" % (type(e).__name__, e)).encode("utf-8"))
            except OSError:
                pass
    finally:
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                os.unlink(path)
            # A clean end (or a start whose error went back to the module) leaves nothing behind;
            # the log stays when the heartbeat ended badly.
            if log_fd >= 0 and (reason in CLEAN_ENDS or not reported):
                os.unlink(path[:-len(".pid")] + ".log" if path.endswith(".pid") else path + ".log")
        except OSError:
            pass
        os._exit(0)
