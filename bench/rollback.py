"""The one-command rollback on the seeded incident: wall time against its slowest component.

    .venv/bin/python bench/rollback.py [--time-scale 0.05] [--tables 10] [--stacks 3]

Emulated AWS durations in realistic ratios (a restore 20 min, an Amplify build 5 min, stack
phases 1 min, a domain update 30 s), run at `--time-scale` real seconds per emulated second.
Each figure is one real `ansible-playbook playbooks/rollback.yml -e env=sandbox` on a freshly
seeded sandbox:

- wall: all four components (traffic, frontend, infra, data);
- critical: the slowest component alone (each component is run alone; the longest is it);
- sum: the four components run alone, one after the other (the runbook's sequential way);
- traffic_fraction: time to traffic restored (from the incident record) / wall;
- calls: AWS calls in the request log for the full run; mutating calls too;
- rerun: the same command on the rolled-back estate: wall and calls, against a one-task
  playbook (one module call) measured in the same run and the calls the plan strictly needs;
- scale: the same rollback of an estate with --tables tables and --stacks stacks, its wall
  over the one-table, one-stack wall.
Prints JSON; docs/measurements.md records the figures with this command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sandbox.scenarios import propie_incident as incident
from tests.conftest import start_sandbox

BIN = Path(sys.executable).parent
DURATIONS = {"restore_seconds": 1200, "job": {"PENDING": 2, "PROVISIONING": 10, "RUNNING": 288},
             "phase_seconds": 60, "domain_update_seconds": 30}
ONE_TASK = """
- name: One task
  hosts: rollback-sandbox
  gather_facts: false
  tasks:
    - name: Read the blue branch's jobs
      propie.rollback.amplify_job_info:
        app_id: d4cebxzd5u3ynb
        branch_name: production
        region: us-east-1
"""


def seed(sandbox, scale: float, tables: int = 1, stacks: int = 1) -> str:
    sandbox.reset()
    sandbox.set_time_scale(scale)
    incident.seed(sandbox)
    if tables > 1 or stacks > 1:
        extend(sandbox, tables, stacks)
    sandbox.control("POST", "dynamodb/config", {"restore_seconds": DURATIONS["restore_seconds"]})
    sandbox.control("POST", "amplify/config", {"job_durations": DURATIONS["job"],
                                               "domain_update_seconds": DURATIONS["domain_update_seconds"]})
    sandbox.control("POST", "cloudformation/config", {"phase_seconds": DURATIONS["phase_seconds"]})
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def extend(sandbox, tables: int, stacks: int) -> None:
    """More tables (the seeded table's history) and more stacks (UPDATE_ROLLBACK_FAILED)."""
    scale = sandbox.health()["time_scale"]
    sandbox.set_time_scale(incident.SEED_TIME_SCALE)
    ddb, cfn = sandbox.boto3_client("dynamodb"), sandbox.boto3_client("cloudformation")
    for n in range(2, tables + 1):
        name = f"{incident.TABLE}-{n:02d}"
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        sandbox.control("POST", "dynamodb/backdate", {"seconds": 7200})
        ddb.update_continuous_backups(TableName=name,
                                      PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        sandbox.control("POST", "dynamodb/backdate", {"seconds": 5400})
        for start in range(0, 50, 25):
            ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": f"K#{i:03d}"}}}}
                                                      for i in range(start, start + 25)]})
        sandbox.control("POST", "dynamodb/backdate", {"seconds": 0})
    for n in range(2, stacks + 1):
        name = f"{incident.STACK}-{n:02d}"
        # The seeded template names its SSM parameters: each copy gets its own names.
        body = json.dumps(incident.STACK_TEMPLATE).replace("/prop-ie/sandbox/appsync/", f"/prop-ie/sandbox/appsync-{n:02d}/")
        cfn.create_stack(StackName=name, TemplateBody=body,
                         Parameters=[{"ParameterKey": "SchemaVersion", "ParameterValue": "41"}])
        _settle(cfn, name, "CREATE_COMPLETE")
        failing = {"stack_name": name, "outcome": "UPDATE_ROLLBACK_FAILED", "failed_resources": ["ResolverConfigParameter"]}
        sandbox.control("POST", "cloudformation/next-update", failing)
        cfn.update_stack(StackName=name, TemplateBody=body,
                         Parameters=[{"ParameterKey": "SchemaVersion", "ParameterValue": "42"}])
        _settle(cfn, name, "UPDATE_ROLLBACK_FAILED")
    sandbox.set_time_scale(scale)


def _settle(cfn, name: str, status: str) -> None:
    deadline = time.monotonic() + 60
    while cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] != status:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} never reached {status}")
        time.sleep(0.05)


def inventory(work: Path, tables: int, stacks: int) -> Path:
    """The sandbox inventory with the extra tables and stacks (the shared group_vars/all)."""
    inv = work / f"inventory-{tables}-{stacks}"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "group_vars" / "all").symlink_to(REPO / "inventories" / "group_vars" / "all")
    facts = yaml.safe_load((REPO / "inventories" / "group_vars" / "sandbox.yml").read_text())
    facts["rollback_dynamodb_tables"] += [{"name": f"{incident.TABLE}-{n:02d}", "swap_targets": [],
                                           "verify_min_item_count": 50} for n in range(2, tables + 1)]
    facts["rollback_cloudformation_stacks"] += [f"{incident.STACK}-{n:02d}" for n in range(2, stacks + 1)]
    (inv / "group_vars" / "sandbox.yml").write_text(yaml.safe_dump(facts))
    (inv / "sandbox.yml").write_text((REPO / "inventories" / "sandbox.yml").read_text())
    return inv


def run(sandbox, work: Path, extra: dict, inv: Path | None = None, playbook: str | Path = "playbooks/rollback.yml") -> dict:
    env = {**os.environ, **sandbox.env(), "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".venv" / "collections"),
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PROPIE_ROLLBACK_STATE_DIR": str(work / "state")}
    cmd = [str(BIN / "ansible-playbook"), str(playbook), "-i", str(inv or REPO / "inventories")]
    for key, value in extra.items():
        cmd += ["-e", f"{key}={value}"]
    seq = sandbox.last_seq()
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}")
    calls = sandbox.requests(seq)
    print(f"bench: {' '.join(f'{k}={v}' for k, v in extra.items())} {inv.name if inv else ''}: {wall:.1f} s, "
          f"{len(calls)} calls", file=sys.stderr, flush=True)
    return {"wall": round(wall, 1), "calls": len(calls), "mutating": sum(1 for c in calls if c["mutating"]),
            "stdout": done.stdout}


def record_of(work: Path) -> dict:
    newest = max((work / "state" / "incidents" / "sandbox").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(newest.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--stacks", type=int, default=3)
    args = parser.parse_args()
    proc, sandbox = start_sandbox()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            point = seed(sandbox, args.time_scale)
            full = run(sandbox, work, {"env": "sandbox", "restore_point": point})
            record = record_of(work)
            rerun = run(sandbox, work, {"env": "sandbox", "restore_point": point})
            one_task = work / "one_task.yml"
            one_task.write_text(ONE_TASK)
            single = run(sandbox, work, {}, playbook=one_task)
            alone = {}
            for component in ("traffic", "frontend", "infra", "data"):
                point = seed(sandbox, args.time_scale)
                alone[component] = run(sandbox, work, {"env": "sandbox", "restore_point": point,
                                                       "components": component})["wall"]
            point = seed(sandbox, args.time_scale, args.tables, args.stacks)
            big = run(sandbox, work, {"env": "sandbox", "restore_point": point},
                      inv=inventory(work, args.tables, args.stacks))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    critical = max(alone.values())
    plan_calls = record.get("aws_calls", {}).get("plan")
    figures = {
        "time_scale": args.time_scale,
        "emulated_durations": DURATIONS,
        "wall_s": full["wall"],
        "components_alone_s": alone,
        "critical_s": critical,
        "critical_component": max(alone, key=alone.get),
        "sum_s": round(sum(alone.values()), 1),
        "wall_over_critical": round(full["wall"] / critical, 3),
        "sum_over_wall": round(sum(alone.values()) / full["wall"], 3),
        "time_to_traffic_restored_s": round(record["time_to_traffic_restored_s"], 1),
        "traffic_fraction": round(record["time_to_traffic_restored_s"] / full["wall"], 3),
        "aws_calls": full["calls"],
        "aws_mutating_calls": full["mutating"],
        "rerun_wall_s": rerun["wall"],
        "rerun_calls": rerun["calls"],
        "rerun_mutating_calls": rerun["mutating"],
        "one_task_playbook_wall_s": single["wall"],
        "rerun_over_one_task": round(rerun["wall"] / single["wall"], 2),
        "plan_calls_needed": plan_calls,
        "rerun_calls_over_needed": round(rerun["calls"] / plan_calls, 2) if plan_calls else None,
        "scaled_estate": {"tables": args.tables, "stacks": args.stacks, "wall_s": big["wall"],
                          "over_one_table_one_stack": round(big["wall"] / full["wall"], 3),
                          "aws_calls": big["calls"]},
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
