"""rollback_plan against the seeded PropIE incident: the module run in-process (run_module:
its real main(), argument spec and boto3 clients over HTTP), with the sandbox inventory's
values (inventories/group_vars/sandbox.yml) passed explicitly. playbooks/rollback.yml runs the
same module through ansible-playbook (tests/integration/test_rollback_playbook.py).
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.scenarios import propie_incident as incident
from tests.conftest import REPO

INCIDENT = "rb-20261130T034501Z-9f2c1a"
TASK = "Plan the rollback"
# Measured on the seeded estate: GetApp, GetBranch, GetDomainAssociation, ListJobs, GetJob;
# DescribeStacks; DescribeTable x2, DescribeContinuousBackups, GetParameter, GetDataSource.
MAX_CALLS = 11


def inventory_vars() -> dict[str, Any]:
    return yaml.safe_load((REPO / "inventories" / "group_vars" / "sandbox.yml").read_text())


def options(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """The module's options from the sandbox inventory, as playbooks/rollback.yml passes them."""
    inv = inventory_vars()
    args = {
        "incident_id": INCIDENT,
        "components": ["traffic", "frontend", "infra", "data"],
        "amplify": {
            "app_id": inv["rollback_amplify_app_id"],
            "blue_branch": inv["rollback_amplify_blue_branch"],
            "green_branch": inv["rollback_amplify_green_branch"],
            "domain": inv["rollback_amplify_domain"],
            "prefixes": inv["rollback_amplify_prefixes"],
        },
        "stacks": inv["rollback_cloudformation_stacks"],
        "snapshot_dir": str(tmp_path / "no-snapshots-yet"),
        "tables": copy.deepcopy(inv["rollback_dynamodb_tables"]),
        "restore_point": ago(30),
    }
    args.update(overrides)
    return args


def ago(minutes: int) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def seeded(sandbox):
    sandbox.set_time_scale(0.01)  # the seed restores this scale when it is done
    facts = incident.seed(sandbox)
    assert facts["app_id"] == inventory_vars()["rollback_amplify_app_id"]
    return sandbox


def plan(run_module, args, check=False):
    run = run_module("rollback_plan", args, check=check, task=TASK)
    return run, run.result(TASK)


def test_plans_all_four_components_of_the_seeded_incident_reading_only(seeded, run_module, tmp_path):
    sandbox = seeded
    args = options(tmp_path)
    seq = sandbox.last_seq()
    run, out = plan(run_module, args)
    assert run.rc == 0, run.stdout
    requests = sandbox.requests(seq)
    assert [r for r in requests if r["mutating"]] == []
    assert out["changed"] is False
    assert out["todo"] == ["traffic", "frontend", "infra", "data"]
    assert out["traffic_first"] is True
    parts = out["components"]
    assert set(parts) == {"traffic", "frontend", "infra", "data"}

    traffic = parts["traffic"]
    assert traffic["todo"] is True
    assert traffic["from"] == {"": incident.GREEN, "www": incident.GREEN}
    assert traffic["to"] == {"": incident.BLUE, "www": incident.BLUE}
    assert traffic["moves"] == [{"prefix": "", "from": incident.GREEN, "to": incident.BLUE},
                                {"prefix": "www", "from": incident.GREEN, "to": incident.BLUE}]
    assert (traffic["blue_branch"], traffic["blue_health"], traffic["blue_serving_job"]) == (incident.BLUE, "good", "4")
    assert traffic["domain_status"] == "AVAILABLE" and traffic["blue_health_reason"] and traffic["reason"]

    frontend = parts["frontend"]
    assert {k: frontend[k] for k in ("todo", "action", "method", "from_job", "target_job")} == {
        "todo": True, "action": "start", "method": "RETRY", "from_job": "5", "target_job": "4"}

    infra = parts["infra"]
    assert infra["todo"] is True
    assert [(s["stack_name"], s["status"], s["action"], s["snapshot"]) for s in infra["stacks"]] == [
        (incident.STACK, "UPDATE_ROLLBACK_FAILED", "continue", None)]

    data = parts["data"]
    assert data["todo"] is True
    [table] = data["tables"]
    assert table["table"] == incident.TABLE
    assert table["restore_point"] == args["restore_point"] == table["requested"]
    assert table["target_table"] == f"{incident.TABLE}-pitr-{INCIDENT}"
    assert (table["exists"], table["resumable"], table["target_status"]) == (False, False, None)
    assert table["window"]["earliest"] < table["restore_point"] < table["window"]["latest"]
    assert table["sse"]["type"]
    assert table["verify"] == {"min_item_count": 120, "canaries": 2}
    app_id = args["amplify"]["app_id"]
    assert table["swap_targets"] == [
        {"id": f"amplify_branch_env:{app_id}/production:DATA_TABLE_NAME", "type": "amplify_branch_env",
         "current": incident.TABLE, "to": table["target_table"]},
        {"id": f"ssm_parameter:{incident.TABLE_PARAMETER}", "type": "ssm_parameter",
         "current": incident.TABLE, "to": table["target_table"]},
        {"id": f"appsync_datasource:{incident.APPSYNC_API_ID}/PropertiesTable", "type": "appsync_datasource",
         "current": incident.TABLE, "to": table["target_table"]},
    ]

    lines = out["lines"]
    assert lines[0] == "traffic: prop-ie-app.com '' and 'www' green -> production (blue serves job 4, good)"
    assert lines[1] == "frontend: RETRY of job 4 on production (newest job 5 FAILED)"
    assert lines[2] == f"infra: {incident.STACK} UPDATE_ROLLBACK_FAILED -> ContinueUpdateRollback"
    assert lines[3] == (f"data: restore {incident.TABLE} to {table['restore_point']} as {table['target_table']}; "
                        "verify min 120 items, 2 canaries")
    assert f"data: swap ssm_parameter:{incident.TABLE_PARAMETER} {incident.TABLE} -> {table['target_table']}" in lines
    assert any("rebuilt once more after the swap" in line for line in lines), lines

    # Few reads, and the module counts what the sandbox saw.
    assert out["calls"] == len(requests) <= MAX_CALLS, [r["operation"] for r in requests]

    seq = sandbox.last_seq()
    check_run, check_out = plan(run_module, args, check=True)
    assert check_run.rc == 0, check_run.stdout
    assert sandbox.mutating_since(seq) == []
    assert same_plan(check_out) == same_plan(out)


def same_plan(out: dict[str, Any]) -> dict[str, Any]:
    """A plan without what moves on its own (the latest restorable time follows the clock)."""
    kept = copy.deepcopy({k: out[k] for k in ("components", "lines", "todo", "traffic_first", "calls")})
    for table in kept["components"].get("data", {}).get("tables", []):
        table["window"].pop("latest")
    return kept


def test_latest_is_resolved_and_a_recorded_point_wins(seeded, run_module, tmp_path):
    sandbox = seeded
    seq = sandbox.last_seq()
    run, out = plan(run_module, options(tmp_path, components=["data"], restore_point="latest"))
    assert run.rc == 0, run.stdout
    [table] = out["components"]["data"]["tables"]
    assert table["requested"] == "latest"
    # The latest restorable time, to the second (AWS restores to whole seconds).
    assert table["restore_point"] == table["window"]["latest"].split(".")[0].rstrip("Z") + "Z"
    assert dt.datetime.fromisoformat(table["restore_point"].replace("Z", "+00:00"))  # a concrete time
    assert table["restore_point"].endswith("Z")
    assert list(out["components"]) == ["data"] and out["todo"] == ["data"] and out["traffic_first"] is False

    recorded = ago(40)
    run, out = plan(run_module, options(tmp_path, components=["data"], restore_point="latest",
                                        recorded_restore_points={incident.TABLE: recorded}))
    assert run.rc == 0, run.stdout
    [table] = out["components"]["data"]["tables"]
    assert (table["requested"], table["restore_point"]) == ("latest", recorded)
    assert sandbox.mutating_since(seq) == []


BAD_INPUTS = [
    ("unknown app", lambda a: a["amplify"].update(app_id="d000000000000x"), "amplify.app_id"),
    ("unknown domain", lambda a: a["amplify"].update(domain="example.org"), "amplify.domain"),
    ("unknown stack", lambda a: a.update(stacks=["no-such-stack"]), "stacks"),
    ("unknown table", lambda a: a["tables"][0].update(name="no-such-table"), "tables[0]"),
    ("missing swap target", lambda a: a["tables"][0]["swap_targets"].append(
        {"type": "ssm_parameter", "name": "/prop-ie/sandbox/no-such-parameter"}), "tables[0].swap_targets[3]"),
    ("restore point older than the window", lambda a: a.update(restore_point=ago(60 * 24 * 40)), "-e restore_point="),
    ("missing restore_point", lambda a: a.pop("restore_point"), "-e restore_point="),
]


@pytest.mark.parametrize("change,named", [(c, n) for _i, c, n in BAD_INPUTS], ids=[i for i, _c, _n in BAD_INPUTS])
def test_bad_inputs_fail_naming_the_input_and_change_nothing(seeded, run_module, tmp_path, change, named):
    sandbox = seeded
    args = options(tmp_path)
    change(args)
    seq = sandbox.last_seq()
    run, out = plan(run_module, args)
    assert run.rc != 0 and out["_event"] == "runner_on_failed", run.stdout
    assert named in out["msg"] and "nothing was changed" in out["msg"], out["msg"]
    assert sandbox.mutating_since(seq) == []
