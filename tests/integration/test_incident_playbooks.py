"""The per-procedure playbooks fix the seeded PropIE incident, and a re-run changes nothing."""

from __future__ import annotations

from sandbox.scenarios import propie_incident
from tests.integration.test_dynamodb_playbook import estate_mutations

FAST = {"env": "sandbox", "amplify_redeploy_wait_delay": 1, "amplify_traffic_rollback_wait_delay": 1,
        "cloudformation_rollback_wait_delay": 1}


def test_amplify_and_cloudformation_playbooks_fix_the_seeded_incident(sandbox, run_playbook, tmp_path):
    propie_incident.seed(sandbox)
    fast = {**FAST, "cloudformation_rollback_snapshot_dir": str(tmp_path / "snapshots")}
    sandbox.set_time_scale(0.01)
    amplify = sandbox.boto3_client("amplify")
    app_id = "d4cebxzd5u3ynb"

    run = run_playbook("playbooks/amplify_rollback.yml", extravars=fast)
    assert run.rc == 0, run.stdout
    newest = amplify.list_jobs(appId=app_id, branchName="production", maxResults=1)["jobSummaries"][0]
    assert (newest["jobType"], newest["status"], newest["commitId"]) == ("RETRY", "SUCCEED", "a1b2c34")
    domain = amplify.get_domain_association(appId=app_id, domainName="prop-ie-app.com")["domainAssociation"]
    assert {s["subDomainSetting"]["prefix"]: s["subDomainSetting"]["branchName"]
            for s in domain["subDomains"]} == {"": "production", "www": "production"}

    run = run_playbook("playbooks/cloudformation_rollback.yml", extravars=fast)
    assert run.rc == 0, run.stdout
    stack = sandbox.boto3_client("cloudformation").describe_stacks(
        StackName=propie_incident.STACK)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["SchemaVersion"] == "41"

    seq = sandbox.last_seq()
    for playbook in ("playbooks/amplify_rollback.yml", "playbooks/cloudformation_rollback.yml"):
        again = run_playbook(playbook, extravars=fast)
        assert again.rc == 0, again.stdout
    assert estate_mutations(sandbox, seq) == []  # the env's lease is taken and released, nothing else


def test_unknown_step_is_rejected_before_any_call(sandbox, run_playbook):
    seq = sandbox.last_seq()
    run = run_playbook("playbooks/amplify_rollback.yml", extravars={**FAST, "amplify_steps": "redeploy,dns"})
    assert run.rc != 0
    assert "amplify_steps must be a comma-separated subset of redeploy,traffic; got redeploy,dns" in run.stdout
    assert sandbox.requests(seq) == []
