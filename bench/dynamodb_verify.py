"""Benchmark: what verifying a restored DynamoDB table costs at 10k and 100k items.

    .venv/bin/python bench/dynamodb_verify.py [--sizes 10000 100000] [--port 0] [--table]

Starts a sandbox, fills a table per size, and runs dynamodb_table_verify's counting code
(plugins/module_utils/dynamodb.py) in exact mode (4 parallel segments, the whole table) and in
sample mode (defaults: about 10,000 items read over 8 segments). For each it prints the items
read, Scan pages, read capacity consumed and wall time, so the growth is visible: exact grows
with the table, sample stays near its bound. The sandbox is moto over HTTP, so wall times are
the sandbox's; items read and pages are what AWS would bill and serve.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / ".venv" / "collections")]

from sandbox.client import SandboxClient  # noqa: E402
from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb  # noqa: E402


class Wrapped:
    """The module passes aws_retry=True to its wrapped client; a plain boto3 client does not take it."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def call(*args, aws_retry=False, **kwargs):
            return method(*args, **kwargs)

        return call


def start_sandbox(port: int) -> tuple[subprocess.Popen, SandboxClient]:
    port_file = Path(tempfile.mkdtemp()) / "port"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "serve", "--port", str(port),
                             "--port-file", str(port_file)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("sandbox did not start")
        time.sleep(0.05)
    return proc, SandboxClient(f"http://127.0.0.1:{port_file.read_text()}")


def fill(client, table: str, count: int) -> float:
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    started = time.monotonic()
    for start in range(0, count, 25):
        client.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": f"ITEM#{n:07d}"}, "price": {"N": str(n)},
                                     "status": {"S": "FOR_SALE"}}}}
            for n in range(start, min(count, start + 25))]})
    return time.monotonic() - started


def measure(client, table: str, mode: str, estimate: int) -> dict:
    plan = ddb.plan_count(mode, estimate, exact_limit=50000, sample_items=10000, sample_segments=8,
                          parallel=4)
    result = ddb.count_items(Wrapped(client), table, plan, workers=4, consistent=False)
    return {k: result[k] for k in ("method", "value", "estimated", "items_scanned", "pages",
                                   "segments_scanned", "total_segments", "consumed_capacity_units",
                                   "seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--table", action="store_true", help="print a table instead of JSON")
    args = parser.parse_args()
    proc, sandbox = start_sandbox(args.port)
    rows = []
    try:
        client = sandbox.boto3_client("dynamodb")
        for size in args.sizes:
            table = f"bench-{size}"
            fill_seconds = fill(client, table, size)
            for mode in ("exact", "sample"):
                row = {"items": size, **measure(client, table, mode, size)}
                row["error_percent"] = round(100.0 * abs(row["value"] - size) / size, 2)
                rows.append(row)
            print(f"# filled {size} items in {fill_seconds:.1f}s", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if not args.table:
        print(json.dumps({"benchmark": "dynamodb_verify", "rows": rows}, indent=2))
        return
    head = ("items", "method", "value", "error_percent", "items_scanned", "pages", "segments_scanned",
            "total_segments", "consumed_capacity_units", "seconds")
    print(" | ".join(head))
    for row in rows:
        print(" | ".join(str(row[h]) for h in head))


if __name__ == "__main__":
    main()
