"""Decision latency of the traffic shift: breach in the metrics -> rollback started.

    .venv/bin/python bench/decision_latency.py [--intervals 2 5 10] [--runs 3]
                                               [--modes amplify weighted] [--seed 1]

Each run starts a real `ansible-playbook playbooks/shift.yml -e env=sandbox` against a fresh
sandbox estate (the same one the shift tests build), waits until the gate is baking, then
after a random part of one gate interval publishes a 5XX spike to CloudWatch. From the
sandbox's request log:

- breach:   the spike's PutMetricData (the moment the data is in CloudWatch);
- detected: the last gate evaluation (GetMetricData) before the revert;
- started:  the revert's first mutating call (Route 53 ChangeResourceRecordSets with a
            weighted layer, Amplify UpdateDomainAssociation without).

latency = started - breach = (detected - breach: waiting for the next gate evaluation, at most
one interval) + (started - detected: the gate returning and Ansible starting the revert).
Prints JSON: per mode and interval, every run and the median and max. The sandbox's clock
stamps every logged request, so the figures do not depend on the client's timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import start_sandbox
from tests.integration.test_shift import _estate, _mapping, _traffic
from tests.integration.test_shift_weighted import LAYER, _weights, _zone

PLAYBOOK = REPO / "playbooks" / "shift.yml"
REVERT_CALL = {"amplify": ("amplify", "UpdateDomainAssociation"),
               "weighted": ("route53", "ChangeResourceRecordSets")}


def _stamp(entry: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(entry["time"])


def _playbook(sandbox, extravars: dict) -> subprocess.Popen:
    env = {**os.environ, **sandbox.env(),
           "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".venv" / "collections"),
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("AWS_PROFILE", None)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(extravars, fh)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK),
           "-i", str(REPO / "inventories"), "-e", "@" + fh.name]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for(sandbox, seq: int, operation: str, proc: subprocess.Popen, timeout: float = 300) -> int:
    """Seq of the first `operation` logged after `seq` (the gate's first evaluation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in sandbox.requests(seq):
            if entry["operation"] == operation:
                return entry["seq"]
        if proc.poll() is not None:
            raise RuntimeError("the shift ended before its gate ran:\n" + proc.stdout.read()[-3000:])
        time.sleep(0.05)
    raise RuntimeError(f"no {operation} within {timeout}s")


def one_run(sandbox, mode: str, interval: int, rng: random.Random) -> dict:
    sandbox.reset()
    app_id = _estate(sandbox)[0]
    extravars = {"env": "sandbox", "shift_decision": "", "traffic_shift_gate_interval": interval,
                 "traffic_shift_bake_seconds": 20 * interval + 60, "traffic_shift_domain_delay": 1}
    if mode == "weighted":
        _zone(sandbox)
        extravars["rollback_weighted_layer"] = LAYER
    _traffic(sandbox, app_id)
    start = sandbox.last_seq()
    proc = _playbook(sandbox, extravars)
    try:
        gate_seq = _wait_for(sandbox, start, "GetMetricData", proc)
        # Any phase of the gate's cycle: the breach lands a random part of an interval later.
        time.sleep(rng.uniform(0, interval))
        spike_seq = sandbox.last_seq()
        _traffic(sandbox, app_id, errors_per_min=300.0, minutes=3)
        out = proc.communicate(timeout=20 * interval + 300)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    log = sandbox.requests(gate_seq - 1)
    breach = next(e for e in log if e["seq"] > spike_seq and e["operation"] == "PutMetricData")
    service, operation = REVERT_CALL[mode]
    revert = next((e for e in log if e["seq"] > breach["seq"] and e["mutating"]
                   and (e["service"], e["operation"]) == (service, operation)), None)
    aborted = "Traffic shift ABORTED (gate decided rollback" in " ".join(out.split())
    if revert is None or proc.returncode == 0 or not aborted:
        raise RuntimeError(f"{mode}/{interval}s: the shift did not abort on the spike:\n{out[-3000:]}")
    detected = [e for e in log if breach["seq"] < e["seq"] < revert["seq"] and e["operation"] == "GetMetricData"][-1]
    on_blue = _mapping(sandbox, app_id) == {"": "production", "www": "production"} and (
        mode == "amplify" or _weights(sandbox) == {"blue": 100, "green": 0})
    return {
        "latency_s": round((_stamp(revert) - _stamp(breach)).total_seconds(), 3),
        "detect_s": round((_stamp(detected) - _stamp(breach)).total_seconds(), 3),
        "act_s": round((_stamp(revert) - _stamp(detected)).total_seconds(), 3),
        "back_on_blue": on_blue,
    }


def summary(runs: list[dict]) -> dict:
    latencies = [r["latency_s"] for r in runs]
    return {"median_s": round(statistics.median(latencies), 3), "max_s": max(latencies),
            "detect_median_s": round(statistics.median(r["detect_s"] for r in runs), 3),
            "act_median_s": round(statistics.median(r["act_s"] for r in runs), 3),
            "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--intervals", type=int, nargs="+", default=[2, 5, 10],
                        help="gate intervals to measure, seconds")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode and interval")
    parser.add_argument("--modes", nargs="+", choices=sorted(REVERT_CALL), default=["amplify", "weighted"])
    parser.add_argument("--seed", type=int, default=1, help="seed of the breach phase")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    proc, sandbox = start_sandbox()
    result: dict = {"what": "breach in CloudWatch -> first mutating call of the revert (sandbox log)",
                    "runs_per_point": args.runs, "results": {}}
    try:
        for mode in args.modes:
            for interval in args.intervals:
                runs = [one_run(sandbox, mode, interval, rng) for _run in range(args.runs)]
                result["results"].setdefault(mode, {})[f"{interval}s"] = summary(runs)
                print(f"{mode} interval {interval}s: {summary(runs)['median_s']}s median",
                      file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
